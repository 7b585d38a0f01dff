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

from minicnn import fast, fused
from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer
from minicnn.tensor import Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).

    State per parameter: "momentum_buffer" (only when momentum != 0).
    """

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))
        self._flat_groups = {}      # id(group) -> FlatGroup, for the GPU's one-kernel step (minicnn/fused/flat.py)

    def _step_group(self, group):
        params = group["params"]
        grads = [p.grad.array if isinstance(p.grad, Tensor) else p.grad for p in params if p.grad is not None]
        if group["momentum"] == 0 or len(grads) < len(params) or not fused.use(*grads, *(p.array for p in params)) \
                or len({a.dtype for a in grads + [p.array for p in params]}) > 1:
            return super()._step_group(group)
        self._flat_step(group, params, grads)

    def _flat_step(self, group, params, grads):
        """Momentum SGD over the whole group as one GPU kernel, on flat copies (minicnn/fused/flat.py)."""
        from minicnn.fused import optim as kernels
        from minicnn.fused.flat import FlatGroup
        xp = get_array_module(grads[0])
        dampening = group["dampening"]
        states = [self.state.setdefault(p, {}) for p in params]
        if not all("momentum_buffer" in state for state in states):
            if any("momentum_buffer" in state for state in states):     # some params stepped before: one by one
                return super()._step_group(group)
            for p, state in zip(params, states):      # the first step: buf = g, as in _fused_update
                state["momentum_buffer"] = xp.zeros_like(p.array)
            dampening = 0
        flat_params, flat_buffers = self._flat_groups.setdefault(id(group), FlatGroup()).bind(params, self.state)
        flat_grads = xp.concatenate([g.ravel() for g in grads])
        update = kernels.sgd_nesterov if group["nesterov"] else kernels.sgd_momentum
        update(flat_params, flat_grads, flat_buffers, group["lr"], group["momentum"], dampening,
               group["weight_decay"])

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, g, state, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        if fused.use(p.array, g):
            return self._fused_update(p, g, state, group)
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

    def _fused_update(self, p, g, state, group):
        """The same update as one GPU kernel (minicnn/fused/optim.py)."""
        from minicnn.fused import optim as kernels
        lr, momentum, dampening, weight_decay = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if momentum == 0:
            return kernels.sgd(p.array, g, lr, weight_decay)
        if "momentum_buffer" not in state:
            # The first step sets buf = g: the kernel's update of a zero buffer without dampening.
            state["momentum_buffer"] = get_array_module(p.array).zeros_like(p.array)
            dampening = 0
        update = kernels.sgd_nesterov if group["nesterov"] else kernels.sgd_momentum
        update(p.array, g, state["momentum_buffer"], lr, momentum, dampening, weight_decay)
