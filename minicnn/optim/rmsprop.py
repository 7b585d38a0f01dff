"""RMSprop (Hinton's lecture 6e), optionally centered and with momentum (PyTorch's RMSprop).

For each parameter p with gradient g (PyTorch's equations; every operation is elementwise):

    g = g + weight_decay * p                          (if weight_decay != 0)
    v = alpha * v + (1 - alpha) * g**2                (v starts at 0: "square_avg")
    centered:     m = alpha * m + (1 - alpha) * g     (m starts at 0: "grad_avg")
                  avg = sqrt(v - m**2) + eps          (an estimate of the gradient's std)
    not centered: avg = sqrt(v) + eps
    momentum > 0: buf = momentum * buf + g / avg;  p = p - lr * buf     (buf starts at 0)
    otherwise:    p = p - lr * g / avg

There is no bias correction (unlike Adam), so early steps divide by a small sqrt(v).

PyTorch adds eps *outside* the square root. TensorFlow's RMSProp, with which Inception v3 was
trained ("RMSProp with decay of 0.9 and epsilon = 1.0", lr 0.045 decayed by 0.94 every two epochs),
adds it inside, sqrt(v + eps), and folds lr into its momentum buffer. Where v is small,
sqrt(v + eps) is close to sqrt(eps), so TensorFlow's eps corresponds to PyTorch's sqrt(eps); for
eps = 1.0 the two coincide. ``RMSprop(params, lr=0.045, alpha=0.9, eps=1.0)`` is its direct
PyTorch translation: close to that recipe, not bit for bit the same.
"""
from minicnn import fused
from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False).

    State per parameter: "step", "square_avg", and "momentum_buffer" (momentum > 0),
    "grad_avg" (centered).
    """

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def _update(self, p, g, state, group):
        xp = get_array_module(p.array)
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.array)
        state["step"] += 1
        if fused.use(p.array, g):
            return self._fused_update(p, g, state, group)
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            m = state["grad_avg"]
            m += (1 - alpha) * (g - m)       # PyTorch's lerp: the same as alpha * m + (1 - alpha) * g
            avg = xp.sqrt(v - m * m)
        else:
            avg = xp.sqrt(v)
        avg += eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg
            p.array -= group["lr"] * buf
        else:
            p.array -= group["lr"] * (g / avg)

    def _fused_update(self, p, g, state, group):
        """The same update as one GPU kernel (minicnn/fused/optim.py)."""
        from minicnn.fused import optim as kernels
        update = kernels.rmsprop(group["centered"], group["momentum"] > 0)
        update(p.array, g, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"), group["lr"],
               group["alpha"], group["eps"], group["weight_decay"], group["momentum"])
