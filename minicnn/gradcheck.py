"""Check a backward pass against central finite differences, in float64.

For a function y = f(x1, x2, ...) and a random upstream gradient gy, backward gives
d<gy, y>/dxi. The numeric estimate for one element x[k] is

    (<gy, f(x + eps e_k)> - <gy, f(x - eps e_k)>) / (2 eps)

which has error O(eps^2); in float64 with eps = 1e-6 that leaves ~1e-9 of noise, so a
wrong backward stands out clearly. float32 would drown the signal, hence float64 only.
"""
import numpy as np

from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """A backward pass disagrees with finite differences; the message names the worst element."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0, raise_exception=True):
    """Compare analytic and numeric gradients of ``fn(*inputs)`` for every input with requires_grad.

    Args:
        fn: takes the tensors in ``inputs`` and returns one Tensor (any shape).
        inputs: Tensors; those with ``requires_grad=True`` are checked and must be float64.
        eps: finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        seed: seeds the random upstream gradient.
        raise_exception: raise GradcheckError on failure (default) instead of returning False.

    Returns True when every checked element is within tolerance.
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite differences need "
                            f"float64 (create it with dtype=np.float64)")
        xp = get_array_module(inputs[i].array)
        inputs[i].array = xp.ascontiguousarray(inputs[i].array)   # so reshape(-1) below is a view
        inputs[i].grad = None

    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(y).__name__}")
    xp = get_array_module(y.array)
    gy = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    y.backward(gy)

    def objective():
        with no_grad():
            return float((fn(*inputs).array * gy).sum())

    for i in checked:
        x = inputs[i]
        analytic = x.grad.array if x.grad is not None else xp.zeros_like(x.array)
        numeric = xp.zeros_like(x.array)
        flat, numeric_flat = x.array.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            original = float(flat[k])
            flat[k] = original + eps
            plus = objective()
            flat[k] = original - eps
            minus = objective()
            flat[k] = original
            numeric_flat[k] = (plus - minus) / (2 * eps)
        message = _compare(i, x.shape, analytic, numeric, atol, rtol)
        if message:
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def _compare(i, shape, analytic, numeric, atol, rtol):
    """None when all elements pass, else a report that names the worst one."""
    excess = abs(analytic - numeric) - (atol + rtol * abs(numeric))
    bad = int((excess > 0).sum())
    if bad == 0:
        return None
    k = int(excess.argmax())
    index = tuple(int(j) for j in np.unravel_index(k, shape))
    a, n = float(analytic.reshape(-1)[k]), float(numeric.reshape(-1)[k])
    return (f"gradcheck failed for input {i} (shape {tuple(shape)}): {bad} of {analytic.size} elements "
            f"out of tolerance; worst at index {index}: analytic {a:.10g}, numeric {n:.10g}, "
            f"|difference| {abs(a - n):.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|")
