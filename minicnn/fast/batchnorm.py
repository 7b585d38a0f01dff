"""numba twin of the training-mode batch norm in ``minicnn/ops/batchnorm.py``.

The NumPy version makes a new full-size array for each of its ~10 element-wise steps; here each
channel takes three passes over its values forward (sum, squared deviation, write y) and two
backward (the two sums, write gx), and the channels run in parallel. Sums are accumulated in
float64. As in the reference, backward gets x, mean and invstd, not xhat: it recomputes
xhat = (x - mean) * invstd as it reads x, so the forward writes no xhat.
The maths is the reference's; x is seen as (N, C, L), with L = H*W (1 for BatchNorm1d input).

x need not be contiguous, only each of its (image, channel) rows of L values: DenseNet's layers
read a channel slice of their block's shared feature buffer (minicnn/models/densenet.py), whose
images lie further apart than C*L values. The kernels read x as the flat span of memory from its
first to its last element, row (n, c) starting at n*sn + c*sc: a copy of the slice would cost
the memory the shared buffer saves, and indexing it as a strided 3-D array keeps LLVM from
vectorising the loops (4x slower).
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
def _dot_xhat(g, g_start, x, x_start, L, mu, invstd):
    """The sum over a row of g * xhat, xhat = (x - mu) * invstd."""
    s = 0.0
    for k in range(L):
        s += g[u(g_start + k)] * ((x[u(x_start + k)] - mu) * invstd)
    return s


@numba.njit(parallel=True, cache=True)
def _forward(x, sn, sc, N, gamma, beta, eps, y, mean, var):
    C = mean.size
    L = y.size // (N * C)
    M = N * L
    for c in prange(C):                 # channels are independent: one per task
        total = 0.0
        for n in range(N):              # a partial sum per image, then their sum: less round-off
            total += _sum(x, n * sn + c * sc, L)
        mu = total / M
        sq = 0.0
        for n in range(N):
            sq += _sum_sq_dev(x, n * sn + c * sc, L, mu)
        mean[c], var[c] = mu, sq / M
        invstd = 1.0 / np.sqrt(sq / M + eps)
        for n in range(N):
            xs, ys = n * sn + c * sc, (n * C + c) * L
            for k in range(L):
                y[u(ys + k)] = (x[u(xs + k)] - mu) * invstd * gamma[c] + beta[c]


@numba.njit(parallel=True, cache=True)
def _backward(gy, x, sn, sc, N, mean, invstd, gamma, gx, sum_gy, sum_gy_xhat):
    C = mean.size
    L = gy.size // (N * C)
    M = N * L
    for c in prange(C):
        mu, inv = np.float64(mean[c]), np.float64(invstd[c])
        s1 = 0.0
        s2 = 0.0
        for n in range(N):
            s1 += _sum(gy, (n * C + c) * L, L)
            s2 += _dot_xhat(gy, (n * C + c) * L, x, n * sn + c * sc, L, mu, inv)
        sum_gy[c], sum_gy_xhat[c] = s1, s2
        # gx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = gamma * gy
        scale = gamma[c] * inv / M
        for n in range(N):
            xs, gs = n * sn + c * sc, (n * C + c) * L
            for k in range(L):
                gx[u(gs + k)] = scale * (M * gy[u(gs + k)] - s1 - (x[u(xs + k)] - mu) * inv * s2)


def _rows(x):
    """(flat, sn, sc): x of shape (N, C, ...) as the 1-D span of memory from its first element to
    its last, in which row (n, c) of L = H*W values starts at n*sn + c*sc. x is copied first only
    when its rows are not contiguous."""
    N, C = x.shape[:2]
    x3 = x.reshape(N, C, -1)                     # a view whenever each row is contiguous
    contiguous_rows = x3.shape[2] == 1 or x3.strides[2] == x.itemsize
    if not contiguous_rows or min(x3.strides) < 0:
        x3 = np.ascontiguousarray(x3)
    sn, sc = (s // x.itemsize for s in x3.strides[:2])
    span = (N - 1) * sn + (C - 1) * sc + x3.shape[2]
    return np.lib.stride_tricks.as_strided(x3, (span,), (x.itemsize,), writeable=False), sn, sc


def forward(x, gamma, beta, eps):
    """(y, mean, biased var) for x of shape (N, C, ...); gamma/beta (C,) arrays."""
    C = x.shape[1]
    y = np.empty(x.shape, x.dtype)
    mean, var = np.empty(C, x.dtype), np.empty(C, x.dtype)
    _forward(*_rows(x), x.shape[0], gamma, beta, eps, y.reshape(-1), mean, var)
    return y, mean, var


def backward(gy, x, mean, invstd, gamma):
    """(gx, sum(gy * xhat), sum(gy)) per channel; mean, invstd and gamma are (C,) arrays."""
    C = gy.shape[1]
    gy = np.ascontiguousarray(gy)
    gx = np.empty(gy.shape, gy.dtype)
    sum_gy, sum_gy_xhat = np.empty(C, gy.dtype), np.empty(C, gy.dtype)
    _backward(gy.reshape(-1), *_rows(x), x.shape[0], mean, invstd, gamma, gx.reshape(-1), sum_gy, sum_gy_xhat)
    return gx, sum_gy_xhat, sum_gy
