"""2-D convolution (cross-correlation, as in every deep-learning framework) via im2col + GEMM.

Shapes: x (N, C, H, W), weight (OC, C/G, KH, KW), bias (OC,), y (N, OC, OH, OW), with G groups.
P = N*OH*OW is the number of output pixels in the whole batch.

Forward, for each group g (its C/G input and OC/G output channels):
    col = im2col(x)                          (C*KH*KW, P)   one column per output pixel
    y   = W (OC, C*KH*KW) @ col + b          (OC, P)        one matrix product for the batch
Backward, with gy seen as (OC, P):
    gb   = sum of gy over N, OH, OW
    gW   = gy @ col.T                        (OC, C*KH*KW)
    gcol = W.T @ gy                          (C*KH*KW, P)
    gx   = col2im(gcol)                      adds each window's gradient back where it was read
Output size: OH = floor((H + PT + PB - KH) / SH) + 1, and likewise OW (lecture 11's formula).
Dilation D spaces the kernel's taps D apart (DeepLab's atrous convolution): the window then spans
D*(KH - 1) + 1 rows, which replaces KH in the output size; im2col reads every D-th pixel and
col2im adds back to the same ones, so the maths above is unchanged.
The batch is cut into chunks whose columns stay under a cap (``minicnn.im2col.max_col_bytes``),
and backward rebuilds each chunk's columns instead of keeping them from the forward.

With numba, CPU arrays take the twin in ``minicnn/fast/conv.py``: the same steps in parallel
loops that skip the padded and transposed copies made here. On a GPU, ``minicnn/fused/conv.py``
does im2col and col2im as one kernel each (groups = 1, one chunk): 8 launches where this makes ~25.
"""
from minicnn import fast, fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.im2col import batch_chunks, col2im, conv_outsize, im2col
from minicnn.ops.utils import pair, padding4

__all__ = ["conv2d"]


def conv_geometry(x_shape, W_shape, stride, pads, dilation=(1, 1)):
    """(N, C, OC, KH, KW, SH, SW, OH, OW) of a convolution."""
    N, C, H, W = x_shape
    OC, _, KH, KW = W_shape
    (SH, SW), (PT, PB, PL, PR), (DH, DW) = stride, pads, dilation
    return N, C, OC, KH, KW, SH, SW, conv_outsize(H, KH, SH, PT, PB, DH), conv_outsize(W, KW, SW, PL, PR, DW)


class Conv2d(Function):
    def __init__(self, stride, pads, groups, dilation=(1, 1)):
        self.stride, self.pads, self.groups, self.dilation = stride, pads, groups, dilation

    def _geometry(self, x, W):
        return conv_geometry(x.shape, W.shape, self.stride, self.pads, self.dilation)

    def _chunks(self, x, W):
        """The batch in chunks whose column array, (C*KH*KW, n*OH*OW), fits under the cap."""
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        return batch_chunks(N, C * KH * KW * OH * OW * x.itemsize)

    def _fused(self, x, W):
        """Whether the GPU twin (minicnn/fused/conv.py) takes this convolution."""
        return fused.use(x, W) and self.groups == 1 and len(self._chunks(x, W)) == 1

    def forward(self, x, W, b=None):
        self.save_for_backward(x, W)
        self.fused = self._fused(x, W)
        if self.fused:
            from minicnn.fused import conv as kernels
            *_, OH, OW = self._geometry(x, W)
            y, columns = kernels.forward(x, W, b, self.stride, self.pads, self.dilation, OH, OW)
            self.columns = columns if self.needs_input_grad[1] else None     # kept for gW only
            return y
        if fast.use(x, W):
            from minicnn.fast.conv import conv2d_forward
            return conv2d_forward(x, W, b, self.stride, self.pads, self.dilation, self.groups, self._chunks(x, W))
        xp = get_array_module(x)
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        G = self.groups
        Wg = W.reshape(G, OC // G, -1)                                  # (G, OC/G, C/G*KH*KW)
        y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
        for s in self._chunks(x, W):
            n = s.stop - s.start
            col = im2col(x[s], KH, KW, SH, SW, self.pads, OH, OW, dilation=self.dilation)   # (C*KH*KW, n*OH*OW)
            y_s = xp.matmul(Wg, col.reshape(G, -1, n * OH * OW))          # (G, OC/G, n*OH*OW)
            y[s] = y_s.reshape(OC, n, OH, OW).transpose(1, 0, 2, 3)
        if b is not None:
            y += b.reshape(1, OC, 1, 1)
        return y

    def backward(self, gy):
        x, W = self.saved
        need_x, need_W = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) == 3 and self.needs_input_grad[2]
        if self.fused:
            from minicnn.fused import conv as kernels
            col, self.columns = self.columns, None                 # used once: freed with this backward
            gx, gW = kernels.backward(gy, x, W, self.stride, self.pads, self.dilation, need_x, need_W, col)
            return gx, gW, gy.sum(axis=(0, 2, 3)) if need_b else None
        if fast.use(gy, x, W):
            from minicnn.fast.conv import conv2d_backward
            gx, gW, gb = conv2d_backward(gy, x, W, self.stride, self.pads, self.dilation, self.groups,
                                         self._chunks(x, W), need_x, need_W)
            return gx, gW, gb if need_b else None
        xp = get_array_module(gy)
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        G = self.groups
        Wg = W.reshape(G, OC // G, -1)
        gx = xp.empty_like(x) if need_x else None
        gW = xp.zeros_like(Wg) if need_W else None
        for s in self._chunks(x, W):
            n = s.stop - s.start
            # gy as (G, OC/G, n*OH*OW): channels first, like the forward's GEMM output
            gy_s = xp.ascontiguousarray(gy[s].transpose(1, 0, 2, 3)).reshape(G, OC // G, -1)
            if need_W:
                col = im2col(x[s], KH, KW, SH, SW, self.pads, OH, OW, dilation=self.dilation)
                gW += xp.matmul(gy_s, col.reshape(G, -1, n * OH * OW).transpose(0, 2, 1))
            if need_x:
                gcol = xp.matmul(Wg.transpose(0, 2, 1), gy_s)             # (G, C/G*KH*KW, n*OH*OW)
                gcol = gcol.reshape(C, KH, KW, n, OH, OW).transpose(3, 0, 1, 2, 4, 5)
                gx[s] = col2im(gcol, x[s].shape, SH, SW, self.pads, self.dilation)
        gb = gy.sum(axis=(0, 2, 3)) if need_b else None
        return gx, gW.reshape(W.shape) if need_W else None, gb


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution of an NCHW batch.

    Inputs:
    - x: (N, C, H, W)
    - weight: (OC, C / groups, KH, KW); KH != KW is fine (1x7, 7x1 as in Inception v3)
    - bias: (OC,) or None
    - stride: int or (SH, SW), positive
    - padding: zeros; an int, (PH, PW), or ((top, bottom), (left, right))
    - dilation: int or (DH, DW), positive: the kernel's taps that far apart (1: a plain kernel)
    - groups: G splits channels into G independent convolutions (AlexNet's two towers; G = C is depthwise)
    Returns y: (N, OC, OH, OW), OH = floor((H + PT + PB - DH*(KH - 1) - 1) / SH) + 1.
    """
    stride, pads = pair(stride, "stride", "conv2d"), padding4(padding, "conv2d")
    dilation = pair(dilation, "dilation", "conv2d")
    _check_conv_args(x, weight, bias, stride, pads, dilation, groups)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, pads, groups, dilation)(*inputs)


def _check_conv_args(x, weight, bias, stride, pads, dilation, groups):
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be (OC, C/groups, KH, KW), got shape {tuple(weight.shape)}")
    OC, Cg, KH, KW = weight.shape
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if OC % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the out_channels={OC} of weight {tuple(weight.shape)}")
    if x.ndim != 4 or x.shape[1] != Cg * groups:
        raise ValueError(f"conv2d: x must be (N, C, H, W) with C = weight.shape[1] * groups = {Cg * groups}, "
                         f"got {tuple(x.shape)}")
    if min(stride) < 1:
        raise ValueError(f"conv2d: stride must be positive, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"conv2d: dilation must be positive, got {dilation}")
    Hp, Wp = x.shape[2] + pads[0] + pads[1], x.shape[3] + pads[2] + pads[3]
    span = (dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1)
    if span[0] > Hp or span[1] > Wp:
        dilated = f" (dilation {dilation}: it spans {span[0]}x{span[1]})" if dilation != (1, 1) else ""
        raise ValueError(f"conv2d: kernel {KH}x{KW}{dilated} is larger than the padded input {Hp}x{Wp} "
                         f"(input {x.shape[2]}x{x.shape[3]}, padding {pads})")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: x is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if bias is not None and tuple(bias.shape) != (OC,):
        raise ValueError(f"conv2d: bias must have shape ({OC},), got {tuple(bias.shape)}")
