"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's SGD).

For each parameter p with gradient g, at step t (PyTorch's equations, lr = learning rate):

    g = g + weight_decay * p                         (if weight_decay != 0)
    buf = g                                          (first step: no dampening)
    buf = momentum * buf + (1 - dampening) * g       (later steps)
    g = g + momentum * buf   if nesterov   else   g = buf      (if momentum != 0)
    p = p - lr * g

Sutskever et al. (2013) put lr inside the velocity (v = momentum * v + lr * g; p = p - v); PyTorch
applies lr when the velocity is used, so a new lr from a schedule takes effect at once (the two
agree while lr is constant). AlexNet and VGG (momentum 0.9, weight decay 5e-4) and ResNet
(momentum 0.9, weight decay 1e-4) trained with this optimiser.
"""
import numpy as np

from minicnn import fast
from minicnn.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).

    State per parameter: "momentum_buffer" (only when momentum != 0).
    """

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, g, state, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        buf = state.get("momentum_buffer")
        if self._fast_path(p, g, buf):
            return self._fast_update(p, g, state, group)
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        if momentum != 0:
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.array -= lr * g

    @staticmethod
    def _fast_path(p, g, buf):
        """The numba loop writes p and the buffer through flat views: both contiguous, p's dtype."""
        written = [p.array] if buf is None else [p.array, buf]
        return fast.use(g, *written) and all(a.flags.c_contiguous and a.dtype == p.array.dtype for a in written)

    def _fast_update(self, p, g, state, group):
        """The same update as one numba loop (minicnn/fast/sgd.py), without temporary arrays."""
        from minicnn.fast.sgd import sgd_update
        first = group["momentum"] != 0 and "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = np.empty_like(p.array)  # the first step fills it
        buf = state.get("momentum_buffer", p.array)             # unused when momentum is 0
        sgd_update(p.array, g, buf, group["lr"], group["momentum"], group["dampening"], group["weight_decay"],
                   group["nesterov"], first)
