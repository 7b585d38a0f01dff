"""Max and average pooling on the GPU in two or three launches forward and two backward (the plain
code: about 5 and 13, and for average pooling's window sizes about 10 more).

Twins of ``MaxPool2d`` and ``AvgPool2d`` in ``minicnn/ops/pool.py``. The windows come from the
convolution's im2col kernel (``minicnn/fused/conv.py``) with x seen as N*C one-channel images, so
col is (KH*KW, N*C*OH*OW), one row per offset in the window; the padding reads -inf for max
pooling and 0 for average pooling, as in the plain code:
    max:     y = the max over the rows and its argmax (the first maximum wins a tie);
             gcol = gy in each window's argmax row, 0 elsewhere (one kernel); gx = col2im(gcol)
    average: y = the sum over the rows / the window's size;  gx = col2im(gy / size in every row)
"""
from minicnn import backend
from minicnn.fused import counting, kernel
from minicnn.fused.conv import gpu_col2im, gpu_im2col


@kernel
def route_to_winner(cp, offsets, argmax, gy):
    return cp.where(offsets == argmax, gy, 0)


def _columns(x, KH, KW, SH, SW, OH, OW, pads, pad_value):
    N, C, H, W = x.shape
    images = backend.get_array_module(x).ascontiguousarray(x).reshape(N * C, 1, H, W)
    return gpu_im2col(images, (1, 1, KH, KW), (SH, SW), pads, OH, OW, pad_value)


def _col2im(gcol, x_shape, KH, KW, SH, SW, OH, OW, pads):
    N, C, H, W = x_shape
    return gpu_col2im(gcol, (N * C, 1, H, W), (1, 1, KH, KW), (SH, SW), pads, OH, OW, out_shape=x_shape)


def max_forward(x, KH, KW, SH, SW, OH, OW, pads):
    """y (N, C, OH, OW) and the argmax of each window (N*C*OH*OW,)."""
    col = _columns(x, KH, KW, SH, SW, OH, OW, pads, float("-inf"))
    return col.max(axis=0).reshape(x.shape[:2] + (OH, OW)), col.argmax(axis=0)


def max_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    OH, OW = gy.shape[2:]
    offsets = counting(0, KH * KW, (KH * KW, 1))          # each row's offset in the window
    gcol = route_to_winner(offsets, argmax, gy.reshape(1, -1))
    return _col2im(gcol, x_shape, KH, KW, SH, SW, OH, OW, pads)


def avg_forward(x, KH, KW, SH, SW, OH, OW, pads, divisor):
    """y (N, C, OH, OW); ``divisor`` the windows' sizes (OH, OW), or None when every window counts KH*KW."""
    col = _columns(x, KH, KW, SH, SW, OH, OW, pads, 0.0)
    if divisor is None:
        return col.mean(axis=0).reshape(x.shape[:2] + (OH, OW))
    return col.sum(axis=0).reshape(x.shape[:2] + (OH, OW)) / divisor


def avg_backward(gy, x_shape, KH, KW, SH, SW, pads, divisor):
    OH, OW = gy.shape[2:]
    share = gy * (1 / (KH * KW)) if divisor is None else gy / divisor        # each window's share of gy
    gcol = backend.get_array_module(gy).broadcast_to(share.reshape(1, -1), (KH * KW, share.size))
    return _col2im(gcol, x_shape, KH, KW, SH, SW, OH, OW, pads)
