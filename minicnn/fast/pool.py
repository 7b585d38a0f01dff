"""numba twin of the max pooling in ``minicnn/ops/pool.py``.

The NumPy version pads with -inf, reduces a strided window view with argmax, and backward
builds a one-hot (N, C, KH*KW, OH, OW) array for col2im. Here forward is one scan of each
window (padding is skipped, not copied) and backward adds each gy straight to its winner; the
(image, channel) planes run in parallel.
The winner is saved the same way in both: its index i*KW + j inside the window, the first
one on ties, a NaN winning as in NumPy's argmax.
"""
import numba
import numpy as np
from numba import prange

__all__ = ["max_pool_forward", "max_pool_backward"]


u = np.uintp          # unsigned indices: no negative-index check in the loops (see conv.py)


@numba.njit(parallel=True, cache=True)
def _forward(x, KH, KW, SH, SW, PT, PL, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    xf, yf, af = x.reshape(-1), y.reshape(-1), argmax.reshape(-1)
    for t in prange(N * C):             # one (image, channel) plane per task
        plane, out = t * H * W, t * OH * OW
        for oh in range(OH):
            for ow in range(OW):
                best, winner = -np.inf, -1
                for i in range(KH):
                    h = oh * SH + i - PT
                    if h < 0 or h >= H:
                        continue
                    for j in range(KW):
                        w = ow * SW + j - PL
                        if w < 0 or w >= W:
                            continue
                        v = xf[u(plane + h * W + w)]
                        if winner < 0 or v > best or (v != v and best == best):
                            best, winner = v, i * KW + j
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
