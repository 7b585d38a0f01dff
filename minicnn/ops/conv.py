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
With stride 1, gx is itself a convolution: gy padded by K-1-P, correlated with the kernel
flipped in space and with in/out channels swapped. That is an im2col (a gather) plus a GEMM,
which is faster than col2im's KH*KW scatter-adds, and gives the same numbers, unless there are
many more output than input channels (its columns then outgrow col2im's).
Output size: OH = floor((H + PT + PB - KH) / SH) + 1, and likewise OW (lecture 11's formula).
"""
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.im2col import batch_chunks, col2im, conv_outsize, im2col, scratch
from minicnn.ops.utils import pair, padding4

__all__ = ["conv2d"]


class Conv2d(Function):
    def __init__(self, stride, pads, groups):
        self.stride, self.pads, self.groups = stride, pads, groups

    def _geometry(self, x, W):
        N, C, H, Wd = x.shape
        OC, _, KH, KW = W.shape
        (SH, SW), (PT, PB, PL, PR) = self.stride, self.pads
        return N, C, OC, KH, KW, SH, SW, conv_outsize(H, KH, SH, PT, PB), conv_outsize(Wd, KW, SW, PL, PR)

    def _chunks(self, x, W):
        """The batch in chunks whose column buffer stays under the configured size (for the
        backward's gy columns too: OC*KH*KW rows over the input's pixels)."""
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        per_sample = max(C * OH * OW, OC * x.shape[2] * x.shape[3]) * KH * KW
        return batch_chunks(N, per_sample * x.itemsize), per_sample

    def forward(self, x, W, b=None):
        xp = get_array_module(x)
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        G = self.groups
        Wg = W.reshape(G, OC // G, -1)                                  # (G, OC/G, C/G*KH*KW)
        y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
        chunks, per_sample = self._chunks(x, W)
        for s in chunks:
            n = s.stop - s.start
            col = im2col(x[s], KH, KW, SH, SW, self.pads, OH, OW, out=scratch(x, n * per_sample))
            y_s = xp.matmul(Wg, col.reshape(G, -1, n * OH * OW))          # (G, OC/G, n*OH*OW)
            y[s] = y_s.reshape(OC, n, OH, OW).transpose(1, 0, 2, 3)
        if b is not None:
            y += b.reshape(1, OC, 1, 1)
        # The column buffer is not kept: backward rebuilds it chunk by chunk in the same scratch
        # buffer, so memory stays bounded by one chunk instead of growing with the depth.
        self.save_for_backward(x, W)
        return y

    def backward(self, gy):
        x, W = self.saved
        xp = get_array_module(gy)
        N, C, OC, KH, KW, SH, SW, OH, OW = self._geometry(x, W)
        G = self.groups
        need_x, need_W = self.needs_input_grad[:2]
        Wg = W.reshape(G, OC // G, -1)
        gx = xp.empty_like(x) if need_x else None
        gW = xp.zeros_like(Wg) if need_W else None
        chunks, per_sample = self._chunks(x, W)
        for s in chunks:
            n = s.stop - s.start
            # gy as (G, OC/G, n*OH*OW): channels first, like the forward's GEMM output
            gy_s = xp.ascontiguousarray(gy[s].transpose(1, 0, 2, 3)).reshape(G, OC // G, -1)
            if need_W:
                col = im2col(x[s], KH, KW, SH, SW, self.pads, OH, OW, out=scratch(x, n * per_sample))
                gW += xp.matmul(gy_s, col.reshape(G, -1, n * OH * OW).transpose(0, 2, 1))
            if need_x:
                gx_s = self._input_grad(gy[s], gy_s, W, x[s].shape, scratch(x, n * per_sample))
                gx[s] = gx_s.transpose(1, 0, 2, 3)
        gb = gy.sum(axis=(0, 2, 3)) if len(self.needs_input_grad) == 3 and self.needs_input_grad[2] else None
        return gx, gW.reshape(W.shape) if need_W else None, gb

    def _input_grad(self, gy, gy_cols, W, x_shape, buffer):
        """gx for one chunk, channels first: (C, n, H, W)."""
        xp = get_array_module(gy)
        n, C, H, Wd = x_shape
        OC, Cg, KH, KW = W.shape
        G = self.groups
        (SH, SW), (PT, PB, PL, PR) = self.stride, self.pads
        full = (KH - 1 - PT, KH - 1 - PB, KW - 1 - PL, KW - 1 - PR)   # padding of the "full" correlation
        OH, OW = gy.shape[2:]
        # The gather's columns (OC*KH*KW, n*H*W) against col2im's (C*KH*KW, n*OH*OW): when many more
        # output than input channels (LeNet's 6 -> 16, a 3-channel image), col2im moves less memory.
        # Up to 2x (a stage doubling its channels) the gather still wins: it has no scatter-adds.
        if (SH, SW) == (1, 1) and min(full) >= 0 and OC * H * Wd <= 2 * C * OH * OW:
            # flip the kernel in space, swap in/out channels: (G, C/G, OC/G*KH*KW)
            Wt = W[:, :, ::-1, ::-1].reshape(G, OC // G, Cg, KH, KW).transpose(0, 2, 1, 3, 4)
            Wt = xp.ascontiguousarray(Wt).reshape(G, Cg, -1)
            col = im2col(gy, KH, KW, 1, 1, full, H, Wd, out=buffer)         # (OC*KH*KW, n*H*W)
            return xp.matmul(Wt, col.reshape(G, -1, n * H * Wd)).reshape(C, n, H, Wd)
        gcol = xp.matmul(W.reshape(G, OC // G, -1).transpose(0, 2, 1), gy_cols)   # (G, C/G*KH*KW, n*OH*OW)
        gcol = gcol.reshape(C, KH, KW, n, OH, OW).transpose(3, 0, 1, 2, 4, 5)
        return col2im(gcol, x_shape, SH, SW, self.pads).transpose(1, 0, 2, 3)


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """2-D convolution of an NCHW batch.

    Inputs:
    - x: (N, C, H, W)
    - weight: (OC, C / groups, KH, KW); KH != KW is fine (1x7, 7x1 as in Inception v3)
    - bias: (OC,) or None
    - stride: int or (SH, SW), positive
    - padding: zeros; an int, (PH, PW), or ((top, bottom), (left, right))
    - groups: G splits channels into G independent convolutions (AlexNet's two towers; G = C is depthwise)
    Returns y: (N, OC, OH, OW), OH = floor((H + PT + PB - KH) / SH) + 1.
    """
    stride, pads = pair(stride, "stride", "conv2d"), padding4(padding, "conv2d")
    _check_conv_args(x, weight, bias, stride, pads, groups)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, pads, groups)(*inputs)
def _check_conv_args(x, weight, bias, stride, pads, groups):
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
    Hp, Wp = x.shape[2] + pads[0] + pads[1], x.shape[3] + pads[2] + pads[3]
    if KH > Hp or KW > Wp:
        raise ValueError(f"conv2d: kernel {KH}x{KW} is larger than the padded input {Hp}x{Wp} "
                         f"(input {x.shape[2]}x{x.shape[3]}, padding {pads})")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: x is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if bias is not None and tuple(bias.shape) != (OC,):
        raise ValueError(f"conv2d: bias must have shape ({OC},), got {tuple(bias.shape)}")
