"""Convolution on the GPU in three launches forward and at most five backward (the plain code: ~5 and ~25).

The twin of ``minicnn/ops/conv.py`` for groups = 1 when the batch's columns fit in one chunk. The
steps are the plain code's; what changes is that im2col and col2im are one CUDA kernel each, where
the plain code pads, copies, and adds one slice per kernel offset:

    forward:  col = im2col(x)                 one kernel, the padding read as zeros
              y = W (OC, C*KH*KW) @ col       one GEMM, then one copy to (N, OC, OH, OW) that adds b
    backward: gy as (OC, N*OH*OW)             one copy
              gW = gy @ col.T                 one GEMM (with the forward's columns, or rebuilt: one kernel)
              gb = sum of gy                  one reduction, when there is a bias
              gx = col2im(W.T @ gy)           one GEMM, one kernel

col2im gathers: each input pixel sums the column entries of the windows that read it, so no two
threads write the same place and the sum is the same on every run (a scatter with atomic adds
would not be). Each kernel's NumPy twin is the plain code (``NUMPY_TWINS``): the fake CuPy runs it,
and on a GPU the tests compare the two.
"""
import functools

from minicnn import backend
from minicnn.im2col import col2im, im2col

# Index arithmetic shared by both kernels: the geometry comes in as int arguments.
_GEOMETRY = "int32 N, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 SH, int32 SW, int32 DH, int32 DW, " \
            "int32 PT, int32 PL, int32 OH, int32 OW"

_IM2COL = """
    // i runs over col (C, KH, KW, N, OH, OW): one thread per column entry.
    ptrdiff_t t = i;
    const int ow = t % OW; t /= OW;
    const int oh = t % OH; t /= OH;
    const int n = t % N; t /= N;
    const int kw = t % KW; t /= KW;
    const int kh = t % KH;
    const int c = t / KH;
    const int h = oh * SH + kh * DH - PT, w = ow * SW + kw * DW - PL;
    col = (h >= 0 && h < H && w >= 0 && w < W) ? x[((ptrdiff_t)(n * C + c) * H + h) * W + w] : pad;
"""

_COL2IM = """
    // i runs over x (N, C, H, W): each pixel adds up the column entries of the windows that read it.
    ptrdiff_t t = i;
    const int w = t % W; t /= W;
    const int h = t % H; t /= H;
    const int c = t % C;
    const int n = t / C;
    T total = 0;
    for (int kh = 0; kh < KH; ++kh) {
        const int hp = h + PT - kh * DH;               // the window row oh with oh * SH = hp
        if (hp < 0 || hp % SH != 0 || hp / SH >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int wp = w + PL - kw * DW;
            if (wp < 0 || wp % SW != 0 || wp / SW >= OW) continue;
            total += col[(((ptrdiff_t)(c * KH + kh) * KW + kw) * N + n) * OH * OW + (hp / SH) * OW + wp / SW];
        }
    }
    x = total;
"""


def _pads(H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW):
    """The four paddings the plain code needs to read the same windows (bottom and right: what is read)."""
    bottom = max(0, (OH - 1) * SH + DH * (KH - 1) + 1 - H - PT)
    right = max(0, (OW - 1) * SW + DW * (KW - 1) + 1 - W - PL)
    return PT, bottom, PL, right


def _im2col_twin(x, pad, N, C, H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, col):
    pads = _pads(H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW)
    col[...] = im2col(x, KH, KW, SH, SW, pads, OH, OW, pad, dilation=(DH, DW))
    return col


def _col2im_twin(col, N, C, H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, x):
    windows = col.reshape(C, KH, KW, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)
    pads = _pads(H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW)
    x.reshape(N, C, H, W)[...] = col2im(windows, (N, C, H, W), SH, SW, pads, (DH, DW))
    return x


NUMPY_TWINS = {"minicnn_im2col": _im2col_twin, "minicnn_col2im": _col2im_twin}


@functools.lru_cache(maxsize=None)
def _kernels():
    cupy = backend.cupy_module()
    return (cupy.ElementwiseKernel(f"raw T x, T pad, {_GEOMETRY}", "T col", _IM2COL, name="minicnn_im2col"),
            cupy.ElementwiseKernel(f"raw T col, {_GEOMETRY}", "T x", _COL2IM, name="minicnn_col2im"))


def _geometry(x_shape, W_shape, stride, pads, dilation, OH, OW):
    N, C, H, W = x_shape
    return (N, C, H, W, W_shape[2], W_shape[3], *stride, *dilation, pads[0], pads[2], OH, OW)


def gpu_im2col(x, W_shape, stride, pads, OH, OW, pad_value=0.0, dilation=(1, 1)):
    """col (C*KH*KW, N*OH*OW) of a contiguous x (N, C, H, W), as one kernel; W_shape (OC, C, KH, KW);
    the padding reads ``pad_value``."""
    xp = backend.get_array_module(x)
    N, C = x.shape[:2]
    col = xp.empty((C * W_shape[2] * W_shape[3], N * OH * OW), dtype=x.dtype)
    _kernels()[0](x, pad_value, *_geometry(x.shape, W_shape, stride, pads, dilation, OH, OW), col)
    return col


def gpu_col2im(col, x_shape, W_shape, stride, pads, OH, OW, out_shape=None, dilation=(1, 1)):
    """x (N, C, H, W) from col (C*KH*KW, N*OH*OW): each pixel the sum of the entries read from it, one kernel.
    ``out_shape``: the same elements in another shape (pooling's (N, C, H, W) of N*C one-channel images)."""
    x = backend.get_array_module(col).empty(out_shape or x_shape, dtype=col.dtype)
    _kernels()[1](col, *_geometry(x_shape, W_shape, stride, pads, dilation, OH, OW), x)
    return x


# Backward needs the columns again for gW: it keeps the forward's when they are at most this big
# (one launch saved per layer, at their memory), and rebuilds larger ones.
KEEP_COLUMNS_BYTES = 64 * 2**20


def forward(x, W, b, stride, pads, dilation, OH, OW):
    """y (N, OC, OH, OW), and the columns if backward may keep them (else None)."""
    xp = backend.get_array_module(x)
    N, OC = x.shape[0], W.shape[0]
    col = gpu_im2col(xp.ascontiguousarray(x), W.shape, stride, pads, OH, OW, dilation=dilation)
    y_channels_first = (W.reshape(OC, -1) @ col).reshape(OC, N, OH, OW).transpose(1, 0, 2, 3)
    y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
    if b is None:
        y[...] = y_channels_first
    else:                               # the bias added on the way to (N, OC, OH, OW): still one launch
        xp.add(y_channels_first, b.reshape(1, OC, 1, 1), out=y)
    return y, col if col.nbytes <= KEEP_COLUMNS_BYTES else None


def backward(gy, x, W, stride, pads, dilation, need_x, need_W, col=None):
    """gx (or None), gW (or None); ``col`` the forward's columns if it kept them."""
    xp = backend.get_array_module(gy)
    OC, (N, OH, OW) = W.shape[0], (gy.shape[0],) + gy.shape[2:]
    gy2d = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(OC, -1)        # (OC, N*OH*OW)
    gW = gx = None
    if need_W:
        gW = xp.empty_like(W)         # its own array, so that autograd keeps it as .grad without a copy
        if col is None:
            col = gpu_im2col(xp.ascontiguousarray(x), W.shape, stride, pads, OH, OW, dilation=dilation)
        xp.matmul(gy2d, col.T, out=gW.reshape(OC, -1))
    if need_x:
        gcol = W.reshape(OC, -1).T @ gy2d                                           # (C*KH*KW, N*OH*OW)
        gx = gpu_col2im(gcol, x.shape, W.shape, stride, pads, OH, OW, dilation=dilation)
    return gx, gW
