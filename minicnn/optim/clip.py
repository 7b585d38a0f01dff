"""Gradient clipping by total norm (PyTorch's ``torch.nn.utils.clip_grad_norm_``).

The gradients of all parameters are treated as one long vector:

    total_norm = || (||g_1||_p, ||g_2||_p, ...) ||_p     (the p-norm of all entries together;
                                                          for p = inf, the largest |entry|)
    if total_norm > max_norm:  g_i = g_i * max_norm / (total_norm + 1e-6)   for every i

so the direction of the update is kept and only its length is capped. The 1e-6 keeps the
division finite when every gradient is zero. A NaN total norm leaves the gradients as they are
(PyTorch's version turns them all into NaN): check the returned norm to catch it.

On a GPU nothing is read on the host (that would make it wait at every step): every gradient is
multiplied by min(max_norm / (total_norm + 1e-6), 1), as PyTorch does. On the CPU the read is
free, and saves that pass over the gradients when nothing needs clipping.
"""
import numpy as np

from minicnn.backend import get_array_module
from minicnn.tensor import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients of ``parameters`` in place so that their total norm is at most ``max_norm``.

    Inputs:
    - parameters: a Tensor or an iterable of Tensors; those whose ``.grad`` is None are skipped
    - max_norm: the largest total norm allowed
    - norm_type: p of the p-norm (> 0), or ``float("inf")`` for the largest absolute value

    Returns the total norm of the gradients before clipping, a 0-d Tensor on their device (0.0 without gradients).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = [p.grad.array if isinstance(p.grad, Tensor) else p.grad for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(np.float64(0.0))
    xp = get_array_module(grads[0])
    # One norm per gradient, then the norm of those: the norm of all entries together.
    norms = xp.stack([xp.linalg.norm(g.ravel(), ord=norm_type) for g in grads])
    total = xp.linalg.norm(norms, ord=norm_type)
    coef = max_norm / (total + 1e-6)
    if xp is not np:
        coef = xp.where(coef < 1, coef, 1.0)         # NaN < 1 is False: a NaN norm changes nothing
    if xp is not np or coef < 1:
        for g in grads:
            g *= coef.astype(g.dtype)
    return Tensor(xp.asarray(total))
