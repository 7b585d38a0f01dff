"""Adadelta (Zeiler, 2012), PyTorch's equations: the default optimiser of PyTorch's MNIST example.

For each parameter p with gradient g (every operation is elementwise):

    g = g + weight_decay * p                          (if weight_decay != 0)
    v = rho * v + (1 - rho) * g**2                    (v starts at 0: "square_avg")
    delta = sqrt(u + eps) / sqrt(v + eps) * g         (u starts at 0: "acc_delta")
    u = rho * u + (1 - rho) * delta**2
    p = p - lr * delta

Zeiler's idea: the ratio of the two root-mean-squares carries the units of p (a step size that
needs no tuning), so the paper has no lr at all; PyTorch keeps one (default 1.0) as a multiplier.
Both square roots hold eps inside, so the first step is about sqrt(eps) * g / |g|: tiny (1e-3 for
eps = 1e-6), and u grows from there.
"""
from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0).

    State per parameter: "step", "square_avg", "acc_delta".
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "eps", "weight_decay")
        if not 0 <= group["rho"] <= 1:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got {group['rho']}")

    def _update(self, p, g, state, group):
        xp = get_array_module(p.array)
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            state["acc_delta"] = xp.zeros_like(p.array)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * g * g
        delta = xp.sqrt(u + eps)
        delta /= xp.sqrt(v + eps)
        delta *= g
        u *= rho
        u += (1 - rho) * delta * delta
        p.array -= group["lr"] * delta
