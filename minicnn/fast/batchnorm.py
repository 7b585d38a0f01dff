"""numba twin of the training-mode batch norm in ``minicnn/ops/batchnorm.py``.

The NumPy version makes a new full-size array for each of its ~10 element-wise steps; here each
channel takes three passes over its values forward (sum, squared deviation, write) and two
backward (the two sums, write), and the channels run in parallel. Sums are accumulated in float64.
The maths is the reference's; x is seen as (N, C, L), with L = H*W (1 for BatchNorm1d input).
"""
import numba
import numpy as np
from numba import prange

__all__ = ["forward", "backward"]


# The sums over one image's row of a channel may be added in any order ("reassoc"): LLVM can then
# add several values at once in vector registers. The rows' partial sums are in float64, and
# added in order. Flat arrays with unsigned indices: see minicnn/fast/conv.py.
u = np.uintp


@numba.njit(fastmath={"reassoc"}, cache=True)
def _sum(a, start, L):
    s = 0.0
    for k in range(L):
        s += a[u(start + k)]
    return s


@numba.njit(fastmath={"reassoc"}, cache=True)
def _sum_sq_dev(a, start, L, mu):
    s = 0.0
    for k in range(L):
        d = a[u(start + k)] - mu
        s += d * d
    return s


@numba.njit(fastmath={"reassoc"}, cache=True)
def _dot(a, b, start, L):
    s = 0.0
    for k in range(L):
        s += a[u(start + k)] * np.float64(b[u(start + k)])
    return s


@numba.njit(parallel=True, cache=True)
def _forward(x, gamma, beta, eps, xhat, y, mean, var):
    N, C, L = x.shape
    M = N * L
    xf, hf, yf = x.reshape(-1), xhat.reshape(-1), y.reshape(-1)
    for c in prange(C):                 # channels are independent: one per task
        total = 0.0
        for n in range(N):              # a partial sum per image, then their sum: less round-off
            total += _sum(xf, (n * C + c) * L, L)
        mu = total / M
        sq = 0.0
        for n in range(N):
            sq += _sum_sq_dev(xf, (n * C + c) * L, L, mu)
        mean[c], var[c] = mu, sq / M
        invstd = 1.0 / np.sqrt(sq / M + eps)
        for n in range(N):
            start = (n * C + c) * L
            for k in range(L):
                h = (xf[u(start + k)] - mu) * invstd
                hf[u(start + k)] = h
                yf[u(start + k)] = h * gamma[c] + beta[c]


@numba.njit(parallel=True, cache=True)
def _backward(gy, xhat, gamma, invstd, gx, sum_gy, sum_gy_xhat):
    N, C, L = gy.shape
    M = N * L
    gf, hf, xf = gy.reshape(-1), xhat.reshape(-1), gx.reshape(-1)
    for c in prange(C):
        s1 = 0.0
        s2 = 0.0
        for n in range(N):
            s1 += _sum(gf, (n * C + c) * L, L)
            s2 += _dot(gf, hf, (n * C + c) * L, L)
        sum_gy[c], sum_gy_xhat[c] = s1, s2
        # gx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = gamma * gy
        scale = gamma[c] * invstd[c] / M
        for n in range(N):
            start = (n * C + c) * L
            for k in range(L):
                xf[u(start + k)] = scale * (M * gf[u(start + k)] - s1 - hf[u(start + k)] * s2)


def forward(x, gamma, beta, eps):
    """(xhat, y, mean, biased var) for x of shape (N, C, ...); gamma/beta (C,) arrays."""
    N, C = x.shape[:2]
    x3 = np.ascontiguousarray(x).reshape(N, C, -1)
    xhat, y = np.empty_like(x3), np.empty_like(x3)
    mean, var = np.empty(C, x.dtype), np.empty(C, x.dtype)
    _forward(x3, gamma, beta, eps, xhat, y, mean, var)
    return xhat.reshape(x.shape), y.reshape(x.shape), mean, var


def backward(gy, xhat, gamma, invstd):
    """(gx, sum(gy * xhat), sum(gy)) per channel; gamma and invstd are (C,) arrays."""
    N, C = gy.shape[:2]
    gy3 = np.ascontiguousarray(gy).reshape(N, C, -1)
    gx = np.empty_like(gy3)
    sum_gy, sum_gy_xhat = np.empty(C, gy.dtype), np.empty(C, gy.dtype)
    _backward(gy3, xhat.reshape(N, C, -1), gamma, invstd, gx, sum_gy, sum_gy_xhat)
    return gx.reshape(gy.shape), sum_gy_xhat, sum_gy
