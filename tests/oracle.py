"""Helpers to compare minicnn ops with PyTorch (the test oracle; minicnn itself never imports torch)."""
import numpy as np
import torch

import minicnn as mc

# Tolerances on rel_error below.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def device_for(xp):
    """The minicnn device of the ``xp`` fixture's array module: 'cpu' for NumPy, 'cuda:0' for CuPy."""
    return "cpu" if xp is np else "cuda:0"


def rel_error(a, b):
    """CS231n's max|a-b| / max(1e-8, |a|+|b|), with |a|+|b| taken over the whole array.

    Measuring against the array's scale rather than element by element keeps an element that
    cancels to ~0 (a sum of float32 terms of both signs) from failing on pure round-off.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not a.size:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a)) + np.max(np.abs(b))))


def compare_with_torch(mc_fn, torch_fn, arrays, xp, dtype=np.float64, seed=0, grad=None):
    """Run ``mc_fn`` on minicnn Tensors and ``torch_fn`` on torch tensors made from the same
    NumPy ``arrays``; check the outputs and the gradients of every array (or those flagged in
    ``grad``) for one random upstream gradient. Returns the minicnn output Tensor.
    """
    grad = [True] * len(arrays) if grad is None else grad
    arrays = [a.astype(dtype) for a in arrays]
    ours = [mc.Tensor(xp.asarray(a), requires_grad=g) for a, g in zip(arrays, grad)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    y, ty = mc_fn(*ours), torch_fn(*theirs)
    tol = TOLERANCE[dtype]
    assert y.shape == tuple(ty.shape), f"shape {y.shape} != torch {tuple(ty.shape)}"
    assert y.dtype == dtype
    err = rel_error(y.numpy(), ty.detach().numpy())
    assert err < tol, f"forward differs from torch: rel error {err:.3g} >= {tol}"
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(xp.asarray(gy))
    ty.backward(torch.tensor(gy))
    for i, (t, tt, g) in enumerate(zip(ours, theirs, grad)):
        if g:
            assert t.grad is not None, f"no gradient reached input {i}"
            err = rel_error(t.grad.numpy(), tt.grad.numpy())
            assert err < tol, f"gradient of input {i} differs from torch: rel error {err:.3g} >= {tol}"
    return y


def gradcheck_arrays(fn, arrays, xp, grad=None, **kwargs):
    """mc.gradcheck on float64 copies of NumPy ``arrays`` placed on ``xp``."""
    grad = [True] * len(arrays) if grad is None else grad
    tensors = [mc.Tensor(xp.asarray(a, dtype=np.float64), requires_grad=g) for a, g in zip(arrays, grad)]
    assert mc.gradcheck(fn, tensors, **kwargs)
