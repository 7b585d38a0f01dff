"""numba twins of ReLU (``ops/activation.py``) and of the residual add (``ops/arithmetic.py``).

NumPy runs each on one core; here each is one parallel pass, with the reference's arithmetic:
NaN passes through ReLU as in ``maximum``, and the backward multiplies gy by the mask y > 0 as
the reference does.
"""
import numba
import numpy as np
from numba import prange

__all__ = ["relu_forward", "relu_backward", "add"]

u = np.uintp          # unsigned indices: no negative-index check in the loops (see conv.py)


@numba.njit(parallel=True, cache=True)
def _relu(x, y):
    for i in prange(x.size):
        v = x[u(i)]
        y[u(i)] = v if v > 0 or v != v else 0


@numba.njit(parallel=True, cache=True)
def _mask(gy, y, gx):
    for i in prange(gy.size):
        gx[u(i)] = gy[u(i)] * (y[u(i)] > 0)


@numba.njit(parallel=True, cache=True)
def _add(a, b, y):
    for i in prange(a.size):
        y[u(i)] = a[u(i)] + b[u(i)]


def relu_forward(x):
    """max(x, 0)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _relu(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(gy, y):
    """gy * (y > 0), for y = max(x, 0)."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty_like(gy)
    _mask(gy.reshape(-1), np.ascontiguousarray(y).reshape(-1), gx.reshape(-1))
    return gx


def add(a, b):
    """a + b for two arrays of one shape and dtype."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    y = np.empty_like(a)
    _add(a.reshape(-1), b.reshape(-1), y.reshape(-1))
    return y
