"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), PyTorch's equations.

For each parameter p with gradient g, at its step t = 1, 2, ... (counted per parameter):

    Adam:  g = g + weight_decay * p               (L2 penalty, added to the gradient)
    AdamW: p = p * (1 - lr * weight_decay)        (decoupled decay, applied to p before the update)
    m = beta1 * m + (1 - beta1) * g               (m, v start at 0: "exp_avg", "exp_avg_sq")
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)                    (bias correction: m and v start at 0)
    v_hat = v / (1 - beta2**t)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

PyTorch computes the last line as p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps),
which is what ``_update`` does. In Adam, weight decay passes through the 1/sqrt(v) scaling, so
parameters with large gradients are decayed less; AdamW's decoupled decay shrinks every weight
by the same factor, as SGD's weight decay does.
"""
from minicnn import fused
from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0).

    State per parameter: "step", "exp_avg", "exp_avg_sq".
    """

    decoupled_weight_decay = False       # AdamW sets True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        name = type(self).__name__
        self._check_nonnegative(group, "lr", "eps", "weight_decay")
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']}")
        for i, beta in enumerate(group["betas"]):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {beta}")

    def _update(self, p, g, state, group):
        xp = get_array_module(p.array)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.array)
            state["exp_avg_sq"] = xp.zeros_like(p.array)
        state["step"] += 1
        t = state["step"]
        if fused.use(p.array, g):
            return self._fused_update(p, g, state, group)
        if wd != 0:
            if self.decoupled_weight_decay:
                p.array *= 1 - lr * wd
            else:
                g = g + wd * p.array
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)           # PyTorch's lerp: the same as beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        step_size = lr / (1 - beta1 ** t)
        denom = xp.sqrt(v) / (1 - beta2 ** t) ** 0.5
        denom += group["eps"]
        p.array -= step_size * (m / denom)

    def _fused_update(self, p, g, state, group):
        """The same update as one GPU kernel (minicnn/fused/optim.py); the step count stays on the host."""
        from minicnn.fused import optim as kernels
        lr, (beta1, beta2), wd, t = group["lr"], group["betas"], group["weight_decay"], state["step"]
        step_size, bias_correction2_sqrt = lr / (1 - beta1 ** t), (1 - beta2 ** t) ** 0.5
        arrays = (p.array, g, state["exp_avg"], state["exp_avg_sq"], step_size, beta1, beta2, group["eps"],
                  bias_correction2_sqrt)
        if self.decoupled_weight_decay:
            kernels.adamw(*arrays, 1 - lr * wd)
        else:
            kernels.adam(*arrays, wd)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2): Adam with decoupled decay."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
