"""Max pooling on the GPU in three launches forward and two backward (the plain code: about 5 and 13).

The twin of ``MaxPool2d`` in ``minicnn/ops/pool.py`` without padding. The windows come from the
convolution's im2col kernel (``minicnn/fused/conv.py``) with x seen as N*C one-channel images, so
col is (KH*KW, N*C*OH*OW), one row per offset in the window:
    forward:  argmax and max over the rows (the first maximum wins a tie, as in the plain code)
    backward: gcol = gy in each window's argmax row, 0 elsewhere (one kernel); gx = col2im(gcol)
"""
import functools

from minicnn import backend
from minicnn.fused import kernel
from minicnn.fused.conv import gpu_col2im, gpu_im2col


@functools.lru_cache(maxsize=None)
def window_offsets(K):
    """(K, 1): the row number of each offset in the window, on the device, made once per size."""
    return backend.cupy_module().arange(K).reshape(K, 1)


@kernel
def route_to_winner(cp, offsets, argmax, gy):
    return cp.where(offsets == argmax, gy, 0)


def _as_images(shape):
    N, C, H, W = shape
    return (N * C, 1, H, W)


def forward(x, KH, KW, SH, SW, OH, OW):
    """y (N, C, OH, OW) and the argmax of each window (N*C*OH*OW,)."""
    N, C, H, W = x.shape
    images = backend.get_array_module(x).ascontiguousarray(x).reshape(_as_images(x.shape))
    col = gpu_im2col(images, (1, 1, KH, KW), (SH, SW), (0, 0, 0, 0), OH, OW)
    return col.max(axis=0).reshape(N, C, OH, OW), col.argmax(axis=0)


def backward(gy, argmax, x_shape, KH, KW, SH, SW):
    N, C, OH, OW = gy.shape
    gcol = route_to_winner(window_offsets(KH * KW), argmax, gy.reshape(1, -1))
    gx = gpu_col2im(gcol, _as_images(x_shape), (1, 1, KH, KW), (SH, SW), (0, 0, 0, 0), OH, OW)
    return gx.reshape(x_shape)
