"""im2col / col2im: the array plumbing that turns convolution and pooling into plain array maths.

No autograd here, only arrays (NumPy or CuPy). Layout of a column array (``col``):

    col[c, i, j, n, oh, ow] = x_padded[n, c, oh*SH + i, ow*SW + j]

i.e. one row per (channel, kernel offset) and one column per output pixel of every image.
A convolution is then ONE matrix product of the weights (OC, C*KH*KW) with col reshaped to
(C*KH*KW, N*OH*OW): a single large GEMM keeps both cores busy, where one small GEMM per image
would not. Pooling reduces a window view (N, C, KH, KW, OH, OW) over its (i, j) axes instead.
"""
import math
import os

from minicnn.backend import as_strided, get_array_module

__all__ = ["conv_outsize", "pool_outsize", "pad_spatial", "window_view", "im2col", "col2im",
           "batch_chunks", "set_max_col_bytes"]

# Upper bound on one column buffer; a larger batch is processed in chunks.
max_col_bytes = int(float(os.environ.get("MINICNN_IM2COL_MB", "256")) * 2**20)


def set_max_col_bytes(nbytes):
    """Cap the size of the im2col buffer (bytes); conv2d chunks the batch to stay under it."""
    global max_col_bytes
    if nbytes <= 0:
        raise ValueError(f"set_max_col_bytes: the limit must be positive, got {nbytes}")
    max_col_bytes = int(nbytes)


def batch_chunks(N, bytes_per_sample):
    """Slices over the batch such that each chunk's column buffer fits in ``max_col_bytes``
    (at least one sample per chunk, however large)."""
    step = max(1, max_col_bytes // max(1, bytes_per_sample))
    return [slice(start, min(start + step, N)) for start in range(0, N, step)]


def conv_outsize(size, k, s, pad_before, pad_after, dilation=1):
    """Output length along one axis: floor((W1 - F + P_before + P_after) / S) + 1.

    With symmetric padding this is lecture 11's W2 = (W1 - F + 2P) / S + 1. A dilated kernel
    (taps ``dilation`` apart) spans F = dilation * (k - 1) + 1 input positions.
    """
    return (size + pad_before + pad_after - (dilation * (k - 1) + 1)) // s + 1


def pool_outsize(size, k, s, p, ceil_mode):
    """Like conv_outsize with symmetric padding p; ``ceil_mode`` rounds up instead of down,
    but a window may not start in the right padding (the rule PyTorch and Caffe use)."""
    if not ceil_mode:
        return conv_outsize(size, k, s, p, p)
    out = math.ceil((size + 2 * p - k) / s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


def pad_spatial(x, pads, value=0.0):
    """Pad the last two axes by pads = (top, bottom, left, right); no copy when all are zero.
    (A filled array and one slice assignment: a few times faster than np.pad.)"""
    if not any(pads):
        return x
    top, bottom, left, right = pads
    H, W = x.shape[-2:]
    xp = get_array_module(x)
    padded = xp.full(x.shape[:-2] + (H + top + bottom, W + left + right), value, dtype=x.dtype)
    padded[..., top:top + H, left:left + W] = x
    return padded


def window_view(x_padded, KH, KW, SH, SW, OH, OW, dilation=(1, 1)):
    """A strided *view* (no copy) of shape (N, C, KH, KW, OH, OW) over the padded input; the kernel's
    taps are ``dilation`` = (DH, DW) apart (1: next to each other)."""
    N, C = x_padded.shape[:2]
    sN, sC, sH, sW = x_padded.strides
    DH, DW = dilation
    return as_strided(x_padded, (N, C, KH, KW, OH, OW), (sN, sC, sH * DH, sW * DW, sH * SH, sW * SW))


def im2col(x, KH, KW, SH, SW, pads, OH, OW, pad_value=0.0, dilation=(1, 1)):
    """(N, C, H, W) -> col of shape (C*KH*KW, N*OH*OW): one strided copy, no Python loop.
    (``pad_value``: what the padding reads; max pooling's is -inf. ``dilation``: see window_view.)"""
    xp = get_array_module(x)
    view = window_view(xp.ascontiguousarray(pad_spatial(x, pads, pad_value)), KH, KW, SH, SW, OH, OW, dilation)
    view = view.transpose(1, 2, 3, 0, 4, 5)                           # (C, KH, KW, N, OH, OW)
    N, C = x.shape[:2]
    return xp.ascontiguousarray(view).reshape(C * KH * KW, N * OH * OW)


def col2im(col, x_shape, SH, SW, pads, dilation=(1, 1)):
    """The adjoint of the window view: add every window value back where it was read from.

    ``col`` has shape (N, C, KH, KW, OH, OW), as a window view or an im2col result viewed as
    ``col.reshape(C, KH, KW, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)`` (no copy).

    Windows overlap when the stride is smaller than the kernel, so values add up. We loop
    over the KH*KW kernel offsets and add a whole strided slice at a time (vectorised over
    N, C, OH, OW); np.add.at over every element would be over ten times slower.
    """
    xp = get_array_module(col)
    N, C, KH, KW, OH, OW = col.shape
    H, W = x_shape[2:]
    top, bottom, left, right = pads
    DH, DW = dilation
    x_padded = xp.zeros((N, C, H + top + bottom, W + left + right), dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            x_padded[:, :, i * DH:i * DH + SH * OH:SH, j * DW:j * DW + SW * OW:SW] += col[:, :, i, j]
    return x_padded[:, :, top:top + H, left:left + W]
