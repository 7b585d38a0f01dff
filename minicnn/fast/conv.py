"""numba twin of ``minicnn/ops/conv.py``: the same im2col -> GEMM -> col2im, in fewer passes and on every core.

The reference makes a padded copy of x, a strided copy into the columns, and a transposed copy
of every GEMM's output or input; each runs on one core while BLAS waits. Here each of those is
one parallel loop that reads its source once, with the padding handled by index ranges:
    forward   im2col (pads on the fly) -> GEMM (BLAS) -> columns to NCHW, + bias
    backward  gy to columns (and gb) -> im2col again -> gW GEMM -> gcol GEMM -> col2im into NCHW
The column arrays live in reusable per-thread buffers (``scratch.py``): a fresh array of tens of
MiB costs more in first-touch page faults than the copy that fills it.

With stride 1, at least 4x more input than output channels and 28x28 pixels, gx is found as the
forward convolution of gy with the flipped, transposed kernel (``_input_grad_as_conv``): its
columns have OC*KH*KW rows instead of gcol's C*KH*KW, so far less memory is written and read than
by GEMM + col2im (DenseNet's 128 -> 32 3x3 convolutions: a quarter).

A 1x1 convolution with stride 1 and no padding over a large enough image needs no columns: x[n]
seen as (C, H*W) already is image n's column array, so y[n] = W @ x[n] is written straight into
NCHW, one GEMM per image (``_pointwise``). Below 16x16 pixels those GEMMs are too small and
the single GEMM over the batch's columns measures faster.

Layouts: col[(c*KH + i)*KW + j, (n*OH + oh)*OW + ow] = x[n, c, oh*SH + i*DH - PT, ow*SW + j*DW - PL]
(0 in the padding; DH, DW the dilation), and a "columns" array of NCHW data is (C, N*H*W): channels first.
"""
import numba
import numpy as np
from numba import prange

from minicnn.fast.scratch import scratch
from minicnn.im2col import batch_chunks
from minicnn.ops.conv import conv_geometry

__all__ = ["conv2d_forward", "conv2d_backward"]


@numba.njit(inline="always")
def _inside(j, pad, stride, size, out):
    """The output positions o in [lo, hi) whose input index o*stride + j - pad is in [0, size)."""
    lo = max(0, -((j - pad) // stride))
    hi = min(out, (size - 1 - j + pad) // stride + 1)
    return lo, max(lo, hi)


# The kernels index flat arrays with unsigned integers (u(...)): numba checks every signed index
# for a negative value (Python's a[-1]), and that check keeps LLVM from turning the inner loops
# into vector copies; these indices are never negative. It made im2col 2-3x faster.
u = np.uintp


@numba.njit(parallel=True, cache=True)
def _im2col(x, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, col):
    N, C, H, W = x.shape
    xf, cf = x.reshape(-1), col.reshape(-1)
    P = N * OH * OW
    for t in prange(C * N):                       # one (channel, image) plane per task
        c, n = t // N, t % N
        plane = (n * C + c) * H * W
        for i in range(KH):
            for j in range(KW):
                lo, hi = _inside(j * DW, PL, SW, W, OW)
                for oh in range(OH):
                    d = ((c * KH + i) * KW + j) * P + (n * OH + oh) * OW
                    h = oh * SH + i * DH - PT
                    if h < 0 or h >= H:               # a row of windows in the padding
                        lo_h = hi_h = OW
                    else:
                        lo_h, hi_h = lo, hi
                    s = plane + h * W + j * DW - PL   # x[n, c, h, ow*SW + j*DW - PL] = xf[s + ow*SW]
                    for ow in range(lo_h):
                        cf[u(d + ow)] = 0
                    if SW == 1:                       # a contiguous copy, which LLVM vectorises
                        for ow in range(lo_h, hi_h):
                            cf[u(d + ow)] = xf[u(s + ow)]
                    else:
                        for ow in range(lo_h, hi_h):
                            cf[u(d + ow)] = xf[u(s + ow * SW)]
                    for ow in range(hi_h, OW):
                        cf[u(d + ow)] = 0


@numba.njit(parallel=True, cache=True)
def _col2im(col, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, gx):
    """gx[n, c] = the sum of every column entry that im2col read from it (gx is overwritten)."""
    N, C, H, W = gx.shape
    cf, gf = col.reshape(-1), gx.reshape(-1)
    P = N * OH * OW
    for t in prange(C * N):                       # each task owns one plane of gx: no races
        c, n = t // N, t % N
        plane = (n * C + c) * H * W
        for k in range(H * W):
            gf[u(plane + k)] = 0
        for i in range(KH):
            for j in range(KW):
                lo, hi = _inside(j * DW, PL, SW, W, OW)
                for oh in range(OH):
                    h = oh * SH + i * DH - PT
                    if h < 0 or h >= H:
                        continue
                    s = ((c * KH + i) * KW + j) * P + (n * OH + oh) * OW
                    d = plane + h * W + j * DW - PL
                    if SW == 1:
                        for ow in range(lo, hi):
                            gf[u(d + ow)] += cf[u(s + ow)]
                    else:
                        for ow in range(lo, hi):
                            gf[u(d + ow * SW)] += cf[u(s + ow)]


@numba.njit(parallel=True, cache=True)
def _cols_to_nchw(cols, bias, y):
    """y[n, k] = cols[k, n*P:(n+1)*P] + bias[k], with y seen as (N, K, P)."""
    N, K, P = y.shape
    cf, yf = cols.reshape(-1), y.reshape(-1)
    for t in prange(N * K):
        n, k = t // K, t % K
        for p in range(P):
            yf[u(t * P + p)] = cf[u((k * N + n) * P + p)] + bias[k]


@numba.njit(parallel=True, cache=True)
def _nchw_to_cols(g, cols, total):
    """cols[k, n*P:(n+1)*P] = g[n, k] with g seen as (N, K, P); total[k] = the sum of channel k."""
    N, K, P = g.shape
    gf, cf = g.reshape(-1), cols.reshape(-1)
    for k in prange(K):
        s = 0.0                                   # accumulated in float64
        for n in range(N):
            for p in range(P):
                v = gf[u((n * K + k) * P + p)]
                cf[u((k * N + n) * P + p)] = v
                s += v
        total[k] = s


def _pointwise(x, W, stride, pads, groups):
    """Whether the convolution is a 1x1 one that needs no columns, on images of 16x16 or more."""
    return (W.shape[2:] == (1, 1) and tuple(stride) == (1, 1) and not any(pads) and groups == 1
            and x.shape[2] * x.shape[3] >= 256)


def conv2d_forward(x, W, b, stride, pads, dilation, groups, chunks):
    """y (N, OC, OH, OW) for x (N, C, H, W), W (OC, C/G, KH, KW), bias b (OC,) or None;
    ``chunks`` are the batch slices whose columns fit the column cap."""
    N, C, OC, KH, KW, SH, SW, OH, OW = conv_geometry(x.shape, W.shape, stride, pads, dilation)
    if _pointwise(x, W, stride, pads, groups):
        y = np.matmul(W.reshape(OC, C), x.reshape(N, C, OH * OW)).reshape(N, OC, OH, OW)
        if b is not None:
            y += b.reshape(1, OC, 1, 1)
        return y
    G, P = groups, OH * OW
    x = np.ascontiguousarray(x)
    Wg = W.reshape(G, OC // G, -1)
    bias = b if b is not None else np.zeros(OC, x.dtype)
    y = np.empty((N, OC, OH, OW), x.dtype)
    for s in chunks:
        n = s.stop - s.start
        col = scratch(x, C * KH * KW * n * P, "col").reshape(C * KH * KW, n * P)
        _im2col(x[s], KH, KW, SH, SW, *dilation, pads[0], pads[2], OH, OW, col)
        y_cols = scratch(x, OC * n * P, "out").reshape(G, OC // G, n * P)
        np.matmul(Wg, col.reshape(G, -1, n * P), out=y_cols)
        _cols_to_nchw(y_cols.reshape(OC, n * P), bias, y[s].reshape(n, OC, P))
    return y


def conv2d_backward(gy, x, W, stride, pads, dilation, groups, chunks, need_x, need_W):
    """(gx, gW, gb) of the convolution; gx or gW is None when not needed (gb is always made)."""
    N, C, OC, KH, KW, SH, SW, OH, OW = conv_geometry(x.shape, W.shape, stride, pads, dilation)
    G, P, rows = groups, OH * OW, C * KH * KW
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy)
    if _pointwise(x, W, stride, pads, groups):
        gx, gW, gb = _pointwise_backward(gy.reshape(N, OC, P), x.reshape(N, C, P), W.reshape(OC, C), need_x, need_W)
        return (gx.reshape(x.shape) if need_x else None), (gW.reshape(W.shape) if need_W else None), gb
    Wg = W.reshape(G, OC // G, -1)
    flipped = _input_grad_as_conv(x, W, stride, pads, dilation, groups) if need_x else None
    if flipped is not None:
        gx = conv2d_forward(gy, *flipped)                  # the input gradient as a convolution of gy
    else:
        gx = np.empty_like(x) if need_x else None          # filled chunk by chunk by col2im below
    gW = np.zeros_like(Wg) if need_W else None
    gb = np.zeros(OC, np.float64)
    part = np.empty(OC, np.float64)
    for s in chunks:
        n = s.stop - s.start
        gy_cols = scratch(x, OC * n * P, "out").reshape(OC, n * P)
        _nchw_to_cols(gy[s].reshape(n, OC, P), gy_cols, part)
        gb += part
        gy_g = gy_cols.reshape(G, OC // G, n * P)
        col = scratch(x, rows * n * P, "col").reshape(G, rows // G, n * P)
        if need_W:
            _im2col(x[s], KH, KW, SH, SW, *dilation, pads[0], pads[2], OH, OW, col.reshape(rows, n * P))
            gW += np.matmul(gy_g, col.transpose(0, 2, 1))
        if need_x and flipped is None:
            np.matmul(Wg.transpose(0, 2, 1), gy_g, out=col)        # gcol reuses the column buffer
            _col2im(col.reshape(rows, n * P), KH, KW, SH, SW, *dilation, pads[0], pads[2], OH, OW, gx[s])
    return gx, gW.reshape(W.shape) if need_W else None, gb.astype(x.dtype)


def _input_grad_as_conv(x, W, stride, pads, dilation, groups):
    """(W', None, (1, 1), pads', dilation, 1, chunks) such that gx = conv2d_forward(gy, ...), or None
    when gcol + col2im is the better way (stride > 1, groups, small images, OC above C/4).

    With stride 1, y[oh] = sum over i of W[i] x[oh + D*i - PT], so gx[h] = sum over i of
    W[i] gy[h - D*i + PT]: a convolution of gy with the kernel flipped (W'[c, k, i] = W[k, c, KH-1-i])
    padded by D*(KH-1) - PT above and D*(KH-1) - PB below (and likewise along the width)."""
    C, OC, (KH, KW), (DH, DW) = x.shape[1], W.shape[0], W.shape[2:], dilation
    pads_t = (DH * (KH - 1) - pads[0], DH * (KH - 1) - pads[1], DW * (KW - 1) - pads[2], DW * (KW - 1) - pads[3])
    # Measured on a 2-core EPYC: 1.2-1.3x faster for DenseNet's 128 -> 32 at 56x56 and 28x28, slower
    # at 14x14 and for 32 -> 16 at 16x16, where the extra passes over gy cost more than gcol saves.
    if tuple(stride) != (1, 1) or groups != 1 or C < 4 * OC or x.shape[2] * x.shape[3] < 784 or min(pads_t) < 0:
        return None
    W_t = np.ascontiguousarray(W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    chunks = batch_chunks(x.shape[0], OC * KH * KW * x.shape[2] * x.shape[3] * x.itemsize)
    return W_t, None, (1, 1), pads_t, dilation, 1, chunks


def _pointwise_backward(gy, x, W, need_x, need_W):
    """The 1x1 convolution's gradients for gy (N, OC, P), x (N, C, P), W (OC, C):
    gx[n] = W.T @ gy[n], gW = sum over n of gy[n] @ x[n].T, gb = gy summed over n and P."""
    gx = np.matmul(W.T, gy) if need_x else None
    gW = None
    if need_W:
        gW = np.zeros_like(W)
        for n in range(len(x)):
            gW += gy[n] @ x[n].T
    return gx, gW, gy.sum(axis=(0, 2), dtype=np.float64).astype(x.dtype)
