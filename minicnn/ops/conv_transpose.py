"""Transposed convolution ("deconvolution"): convolution's backward-data pass, run forward.

Shapes: x (N, Cin, H, W), weight (Cin, Cout/G, KH, KW) (PyTorch's layout), bias (Cout,),
y (N, Cout, OH, OW) with
    OH = (H - 1)*SH - PT - PB + DH*(KH - 1) + OPH + 1        (OPH: output_padding, below S or D)
and likewise OW. A convolution with the same weight, stride, padding and dilation maps y's shape
back to x's: transposed convolution is that convolution's adjoint. Its forward is therefore the
input gradient of conv2d (ops/conv.py), with x in the role of the upstream gradient:
    forward:  y  = col2im(W.T @ x)           each input pixel adds a weighted copy of the kernel
              (+ bias)                       into the output, stride S apart
    backward: gx = conv2d(gy, W)             the adjoint of the adjoint
              gW = conv2d's weight gradient with gy as the input and x as the upstream gradient
              gb = sum of gy over N, OH, OW
So this file adds no new arithmetic: it runs conv2d's three passes in another order, and with
them their numba and GPU twins. output_padding adds rows and columns at the bottom and right. When
it reaches the stride (it may, below the dilation), the matching convolution of y has more output
rows than x: x is then extended by zero rows there, which add nothing, and gx drops them again.
"""
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.im2col import pad_spatial
from minicnn.ops.conv import Conv2d, conv_geometry
from minicnn.ops.utils import pair

__all__ = ["conv_transpose2d"]


def transposed_outsize(size, k, s, pad_before, pad_after, dilation, output_padding):
    return (size - 1) * s - pad_before - pad_after + dilation * (k - 1) + output_padding + 1


class ConvTranspose2d(Function):
    def __init__(self, stride, pads, output_padding, groups, dilation):
        self.conv = (stride, pads, groups, dilation)          # the convolution this one is the adjoint of
        self.output_padding = output_padding

    def _convolution(self, need_x=False, need_W=False):
        """The matching Conv2d, set up to run its forward or its backward on our arrays."""
        conv = Conv2d(*self.conv)
        conv.needs_input_grad, conv.columns = (need_x, need_W), None
        return conv

    def _conv_backward(self, upstream, conv_input, W, need_x, need_W):
        conv = self._convolution(need_x, need_W)
        conv.saved, conv.fused = (conv_input, W), conv._fused(conv_input, W)
        return conv.backward(upstream)[:2]

    def _extended(self, x):
        """x with zero rows and columns added at the bottom and right up to the size the matching
        convolution gives y (more than x's only when output_padding reaches the stride)."""
        return pad_spatial(x, (0, self.extra[0], 0, self.extra[1]))

    def forward(self, x, W, b=None):
        self.save_for_backward(x, W)
        N, (H, Wd), (KH, KW) = x.shape[0], x.shape[2:], W.shape[2:]
        (SH, SW), (PT, PB, PL, PR), groups, (DH, DW) = self.conv
        OPH, OPW = self.output_padding
        y_shape = (N, W.shape[1] * groups, transposed_outsize(H, KH, SH, PT, PB, DH, OPH),
                   transposed_outsize(Wd, KW, SW, PL, PR, DW, OPW))
        *_, CH, CW = conv_geometry(y_shape, W.shape, (SH, SW), (PT, PB, PL, PR), (DH, DW))
        self.extra = (CH - H, CW - Wd)
        xp = get_array_module(x)
        # The convolution's input is only a shape here: its backward reads no value of it for gx.
        shape_only = xp.broadcast_to(xp.zeros((), x.dtype), y_shape)
        y, _ = self._conv_backward(self._extended(x), shape_only, W, need_x=True, need_W=False)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, gy):
        x, W = self.saved
        need_x, need_W = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) == 3 and self.needs_input_grad[2]
        gx = self._convolution().forward(gy, W)[:, :, :x.shape[2], :x.shape[3]] if need_x else None
        gW = self._conv_backward(self._extended(x), gy, W, need_x=False, need_W=True)[1] if need_W else None
        return gx, gW, gy.sum(axis=(0, 2, 3)) if need_b else None


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution of an NCHW batch, as torch.nn.functional.conv_transpose2d.

    Inputs:
    - x: (N, Cin, H, W)
    - weight: (Cin, Cout / groups, KH, KW)
    - bias: (Cout,) or None
    - stride, padding, dilation: those of the convolution this is the adjoint of (int or pair)
    - output_padding: extra rows/columns at the bottom/right, smaller than the stride or the dilation
    - groups: G independent groups of Cin/G input and Cout/G output channels
    Returns y: (N, Cout, OH, OW), OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1.
    """
    op = "conv_transpose2d"
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    (PH, PW), (OPH, OPW) = pair(padding, "padding", op), pair(output_padding, "output_padding", op)
    _check_args(x, weight, bias, stride, (PH, PW), (OPH, OPW), groups, dilation)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d(stride, (PH, PH, PW, PW), (OPH, OPW), groups, dilation)(*inputs)


def _check_args(x, weight, bias, stride, padding, output_padding, groups, dilation):
    op = "conv_transpose2d"
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be (Cin, Cout/groups, KH, KW), got shape {tuple(weight.shape)}")
    Cin, Coutg, KH, KW = weight.shape
    if not isinstance(groups, int) or groups < 1 or Cin % groups:
        raise ValueError(f"{op}: groups={groups!r} must be a positive int dividing the weight's Cin={Cin}")
    if x.ndim != 4 or x.shape[1] != Cin:
        raise ValueError(f"{op}: x must be (N, Cin, H, W) with Cin = weight.shape[0] = {Cin}, got {tuple(x.shape)}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding non-negative, got stride={stride}, "
                         f"dilation={dilation}, padding={padding}")
    for o, s, d, axis in zip(output_padding, stride, dilation, "HW"):
        if not 0 <= o < max(s, d):
            raise ValueError(f"{op}: output_padding along {axis} must be in [0, max(stride, dilation)) = "
                             f"[0, {max(s, d)}), got {o}")
    for size, k, s, p, d, o, axis in zip(x.shape[2:], (KH, KW), stride, padding, dilation, output_padding, "HW"):
        if transposed_outsize(size, k, s, p, p, d, o) < 1:
            raise ValueError(f"{op}: padding {p} along {axis} leaves no output (input {size}, kernel {k}, "
                             f"stride {s}, dilation {d})")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if bias is not None and tuple(bias.shape) != (Coutg * groups,):
        raise ValueError(f"{op}: bias must have shape ({Coutg * groups},), got {tuple(bias.shape)}")
