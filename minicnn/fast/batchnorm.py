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


@numba.njit(parallel=True, cache=True)
def _forward(x, gamma, beta, eps, xhat, y, mean, var):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):                 # channels are independent: one per task
        total = 0.0
        for n in range(N):              # a partial sum per image, then their sum: less round-off
            row = 0.0
            for k in range(L):
                row += x[n, c, k]
            total += row
        mu = total / M
        sq = 0.0
        for n in range(N):
            row = 0.0
            for k in range(L):
                d = x[n, c, k] - mu
                row += d * d
            sq += row
        mean[c], var[c] = mu, sq / M
        invstd = 1.0 / np.sqrt(sq / M + eps)
        for n in range(N):
            for k in range(L):
                h = (x[n, c, k] - mu) * invstd
                xhat[n, c, k] = h
                y[n, c, k] = h * gamma[c] + beta[c]


@numba.njit(parallel=True, cache=True)
def _backward(gy, xhat, gamma, invstd, gx, sum_gy, sum_gy_xhat):
    N, C, L = gy.shape
    M = N * L
    for c in prange(C):
        s1 = 0.0
        s2 = 0.0
        for n in range(N):
            row1 = 0.0
            row2 = 0.0
            for k in range(L):
                row1 += gy[n, c, k]
                row2 += gy[n, c, k] * xhat[n, c, k]
            s1 += row1
            s2 += row2
        sum_gy[c], sum_gy_xhat[c] = s1, s2
        # gx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = gamma * gy
        scale = gamma[c] * invstd[c] / M
        for n in range(N):
            for k in range(L):
                gx[n, c, k] = scale * (M * gy[n, c, k] - s1 - xhat[n, c, k] * s2)


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
