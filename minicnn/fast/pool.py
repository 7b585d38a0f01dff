"""numba twins of the max and average pooling in ``minicnn/ops/pool.py``.

The NumPy version pads with -inf, reduces a strided window view with argmax, and backward
builds a one-hot (N, C, KH*KW, OH, OW) array for col2im. Here forward is one scan of each
window (padding is skipped, not copied) and backward adds each gy straight to its winner; the
(image, channel) planes run in parallel.
The winner is saved the same way in both: its index i*KW + j inside the window, the first
one on ties, a NaN winning as in NumPy's argmax.
Average pooling: NumPy sums a strided window view over its two kernel axes (slow on large
inputs: DenseNet's transitions) and spreads gy back with col2im; here each window is one scan,
with the same divisor array (how many cells each window counts).
"""
import numba
import numpy as np
from numba import prange

__all__ = ["max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward"]


u = np.uintp          # unsigned indices: no negative-index check in the loops (see conv.py)


@numba.njit(parallel=True, cache=True)
def _forward(x, KH, KW, SH, SW, PT, PL, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    xf, yf, af = x.reshape(-1), y.reshape(-1), argmax.reshape(-1)
    for t in prange(N * C):             # one (image, channel) plane per task
        plane, out = t * H * W, t * OH * OW
        for oh in range(OH):
            i0, i1 = max(0, PT - oh * SH), min(KH, H + PT - oh * SH)          # the window's rows inside x
            for ow in range(OW):
                j0, j1 = max(0, PL - ow * SW), min(KW, W + PL - ow * SW)
                winner = i0 * KW + j0
                best = xf[u(plane + (oh * SH + i0 - PT) * W + ow * SW + j0 - PL)]
                for i in range(i0, i1):
                    row = plane + (oh * SH + i - PT) * W + ow * SW - PL
                    for j in range(j0, j1):
                        v = xf[u(row + j)]
                        # a select, not a branch: on real activations "v > best" is a coin toss,
                        # and a mispredicted branch per element made this kernel 1.3x slower
                        take = (v > best) | ((v != v) & (best == best))
                        best = v if take else best
                        winner = i * KW + j if take else winner
                yf[u(out + oh * OW + ow)] = best
                af[u(out + oh * OW + ow)] = winner


@numba.njit(parallel=True, cache=True)
def _backward(gy, argmax, KW, SH, SW, PT, PL, gx):
    N, C, OH, OW = gy.shape
    H, W = gx.shape[2:]
    gf, af, xf = gy.reshape(-1), argmax.reshape(-1), gx.reshape(-1)
    for t in prange(N * C):             # each task owns one plane of gx: no races
        plane, out = t * H * W, t * OH * OW
        for k in range(H * W):
            xf[u(plane + k)] = 0
        for oh in range(OH):
            for ow in range(OW):
                i, j = divmod(af[u(out + oh * OW + ow)], KW)
                xf[u(plane + (oh * SH + i - PT) * W + ow * SW + j - PL)] += gf[u(out + oh * OW + ow)]


def max_pool_forward(x, KH, KW, SH, SW, pads, OH, OW):
    """(y, argmax) for x (N, C, H, W); argmax is each window's winner as i*KW + j."""
    N, C = x.shape[:2]
    y = np.empty((N, C, OH, OW), x.dtype)
    argmax = np.empty((N, C, OH, OW), np.int64)
    _forward(np.ascontiguousarray(x), KH, KW, SH, SW, pads[0], pads[2], y, argmax)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, KW, SH, SW, pads):
    """gx (x_shape): each gy added to the input element that won its window."""
    gx = np.empty(x_shape, gy.dtype)
    _backward(np.ascontiguousarray(gy), argmax, KW, SH, SW, pads[0], pads[2], gx)
    return gx


@numba.njit(parallel=True, cache=True)
def _avg_forward(x, KH, KW, SH, SW, PT, PL, divisor, y):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    xf, yf = x.reshape(-1), y.reshape(-1)
    for t in prange(N * C):
        plane, out = t * H * W, t * OH * OW
        for oh in range(OH):
            for ow in range(OW):
                total = 0.0
                for i in range(max(0, PT - oh * SH), min(KH, H + PT - oh * SH)):     # rows inside x
                    row = plane + (oh * SH + i - PT) * W
                    for j in range(max(0, PL - ow * SW), min(KW, W + PL - ow * SW)):
                        total += xf[u(row + ow * SW + j - PL)]
                yf[u(out + oh * OW + ow)] = total / divisor[oh, ow]


@numba.njit(parallel=True, cache=True)
def _avg_backward(gy, KH, KW, SH, SW, PT, PL, divisor, gx):
    N, C, OH, OW = gy.shape
    H, W = gx.shape[2:]
    gf, xf = gy.reshape(-1), gx.reshape(-1)
    for t in prange(N * C):             # each task adds into one plane of gx (zeroed): no races
        plane, out = t * H * W, t * OH * OW
        for oh in range(OH):
            for ow in range(OW):
                g = gf[u(out + oh * OW + ow)] / divisor[oh, ow]
                for i in range(max(0, PT - oh * SH), min(KH, H + PT - oh * SH)):
                    row = plane + (oh * SH + i - PT) * W
                    for j in range(max(0, PL - ow * SW), min(KW, W + PL - ow * SW)):
                        xf[u(row + ow * SW + j - PL)] += g


def avg_pool_forward(x, KH, KW, SH, SW, pads, OH, OW, divisor):
    """y (N, C, OH, OW): each window's sum over the cells inside x, over ``divisor`` (OH, OW)."""
    y = np.empty(x.shape[:2] + (OH, OW), x.dtype)
    _avg_forward(np.ascontiguousarray(x), KH, KW, SH, SW, pads[0], pads[2], divisor, y)
    return y


def avg_pool_backward(gy, x_shape, KH, KW, SH, SW, pads, divisor):
    """gx (x_shape): gy / divisor added to every cell of its window."""
    gx = np.zeros(x_shape, gy.dtype)
    _avg_backward(np.ascontiguousarray(gy), KH, KW, SH, SW, pads[0], pads[2], divisor, gx)
    return gx
