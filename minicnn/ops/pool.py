"""Pooling on NCHW batches: max, average, global average and adaptive average.

Max and average pooling look at the same windows as a convolution (see im2col.py), so
each is a reduction over the (KH, KW) axes of a strided window view, and each backward
sends gy back through col2im:
    max:  the whole gradient goes to the one element that won the window (the first, on ties)
    avg:  each element of the window gets gy / (window size)
Output size: OH = floor((H + 2P - K) / S) + 1, or ceil(...) with ceil_mode (GoogLeNet),
where a window may not start inside the right/bottom padding.
"""
import functools

from minicnn import fast, fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.im2col import col2im, pad_spatial, pool_outsize, window_view
from minicnn.ops.reduce import mean
from minicnn.ops.utils import check_ndim, pair

__all__ = ["max_pool2d", "avg_pool2d", "global_avg_pool2d", "adaptive_avg_pool2d"]


class _Pool2d(Function):
    """Window geometry shared by max and average pooling."""

    def __init__(self, kernel, stride, padding, ceil_mode):
        self.kernel, self.stride, self.padding, self.ceil_mode = kernel, stride, padding, ceil_mode

    def _geometry(self, x):
        (KH, KW), (SH, SW), (PH, PW) = self.kernel, self.stride, self.padding
        H, W = x.shape[2:]
        OH = pool_outsize(H, KH, SH, PH, self.ceil_mode)
        OW = pool_outsize(W, KW, SW, PW, self.ceil_mode)
        # ceil_mode's last window may hang over the bottom/right edge: pad a little more there.
        pads = (PH, max(PH, SH * (OH - 1) + KH - H - PH), PW, max(PW, SW * (OW - 1) + KW - W - PW))
        return KH, KW, SH, SW, OH, OW, pads


class MaxPool2d(_Pool2d):
    """y[n, c, oh, ow] = max over the window; gx = gy routed to each window's argmax."""

    def forward(self, x):
        xp = get_array_module(x)
        KH, KW, SH, SW, OH, OW, pads = self._geometry(x)
        self.x_shape, self.pads = x.shape, pads
        self.fused = fused.use(x)
        if self.fused:                  # on a GPU: minicnn/fused/pool.py, 5 launches forward and backward
            from minicnn.fused import pool as kernels
            y, argmax = kernels.max_forward(x, KH, KW, SH, SW, OH, OW, pads)
            self.save_for_backward(argmax)
            return y
        if fast.use(x):
            from minicnn.fast.pool import max_pool_forward
            y, argmax = max_pool_forward(x, KH, KW, SH, SW, pads, OH, OW)
            self.save_for_backward(argmax)
            return y
        padded = xp.ascontiguousarray(pad_spatial(x, pads, value=-xp.inf))
        col = window_view(padded, KH, KW, SH, SW, OH, OW).reshape(x.shape[0], x.shape[1], KH * KW, OH, OW)
        argmax = col.argmax(axis=2)                                     # (N, C, OH, OW)
        self.save_for_backward(argmax)
        return xp.take_along_axis(col, argmax[:, :, None], axis=2)[:, :, 0]

    def backward(self, gy):
        (argmax,) = self.saved
        xp = get_array_module(gy)
        KH, KW, SH, SW = *self.kernel, *self.stride
        if self.fused:
            from minicnn.fused import pool as kernels
            return kernels.max_backward(gy, argmax, self.x_shape, KH, KW, SH, SW, self.pads)
        if fast.use(gy):
            from minicnn.fast.pool import max_pool_backward
            return max_pool_backward(gy, argmax, self.x_shape, KW, SH, SW, self.pads)
        N, C, OH, OW = gy.shape
        winner = xp.arange(KH * KW).reshape(1, 1, -1, 1, 1) == argmax[:, :, None]
        gcol = (winner * gy[:, :, None]).reshape(N, C, KH, KW, OH, OW)
        return col2im(gcol, self.x_shape, SH, SW, self.pads)


class AvgPool2d(_Pool2d):
    """y = (sum over the window) / divisor;  gx = col2im(gy / divisor) spread over each window.

    count_include_pad=True (PyTorch's default): the divisor counts the zero padding but not
    the extra cells ceil_mode adds; False: it counts only real input cells.
    """

    def __init__(self, kernel, stride, padding, ceil_mode, count_include_pad):
        super().__init__(kernel, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad

    def _divisor(self, xp, H, W, OH, OW, dtype):
        """(OH, OW): how many values each window averages; made once per geometry (on a GPU ~10 launches)."""
        return _window_sizes(xp, H, W, OH, OW, self.kernel, self.stride, self.padding, self.count_include_pad,
                             dtype)

    def forward(self, x):
        xp = get_array_module(x)
        KH, KW, SH, SW, OH, OW, pads = self._geometry(x)
        self.divisor = self._divisor(xp, x.shape[2], x.shape[3], OH, OW, x.dtype)
        self.x_shape, self.pads = x.shape, pads
        self.fused = fused.use(x)
        if self.fused:                  # on a GPU: minicnn/fused/pool.py, 2 or 3 launches forward, 2 backward
            from minicnn.fused import pool as kernels
            every_window_full = self.count_include_pad and not self.ceil_mode
            self.divisor = None if every_window_full else self.divisor
            return kernels.avg_forward(x, KH, KW, SH, SW, OH, OW, pads, self.divisor)
        if fast.use(x):
            from minicnn.fast.pool import avg_pool_forward
            return avg_pool_forward(x, KH, KW, SH, SW, pads, OH, OW, self.divisor)
        padded = xp.ascontiguousarray(pad_spatial(x, pads))
        return window_view(padded, KH, KW, SH, SW, OH, OW).sum(axis=(2, 3)) / self.divisor

    def backward(self, gy):
        xp = get_array_module(gy)
        KH, KW, SH, SW = *self.kernel, *self.stride
        if self.fused:
            from minicnn.fused import pool as kernels
            return kernels.avg_backward(gy, self.x_shape, KH, KW, SH, SW, self.pads, self.divisor)
        if fast.use(gy):
            from minicnn.fast.pool import avg_pool_backward
            return avg_pool_backward(gy, self.x_shape, KH, KW, SH, SW, self.pads, self.divisor)
        N, C, OH, OW = gy.shape
        gcol = xp.broadcast_to((gy / self.divisor)[:, :, None, None], (N, C, KH, KW, OH, OW))
        return col2im(gcol, self.x_shape, SH, SW, self.pads)


@functools.lru_cache(maxsize=64)
def _window_sizes(xp, H, W, OH, OW, kernel, stride, padding, count_include_pad, dtype):
    """How many values each window of average pooling counts, (OH, OW): with count_include_pad the
    padding counts too, but never the part of a ceil_mode window beyond it."""
    (KH, KW), (SH, SW), (PH, PW) = kernel, stride, padding

    def lengths(size, K, S, P, O):
        start = xp.arange(O) * S - P
        end = xp.minimum(start + K, size + P)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        return end - start

    return (lengths(H, KH, SH, PH, OH)[:, None] * lengths(W, KW, SW, PW, OW)[None, :]).astype(dtype)


def _pool_args(op, x, kernel_size, stride, padding):
    check_ndim(x, (4,), "(N, C, H, W)", op)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"{op}: kernel_size and stride must be positive, got {kernel} and {stride}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2 or min(padding) < 0:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {kernel}, got {padding}")
    H, W = x.shape[2:]
    if kernel[0] > H + 2 * padding[0] or kernel[1] > W + 2 * padding[1]:
        raise ValueError(f"{op}: kernel {kernel[0]}x{kernel[1]} is larger than the padded input "
                         f"{H + 2 * padding[0]}x{W + 2 * padding[1]}")
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling. x: (N, C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size; overlapping pooling (AlexNet) is kernel 3, stride 2.
    Padding counts as -inf, so it never wins a window.
    """
    kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d(kernel, stride, padding, ceil_mode)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling. x: (N, C, H, W) -> (N, C, OH, OW); see AvgPool2d for the divisor."""
    kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad)(x)


def global_avg_pool2d(x):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1) (GoogLeNet, ResNet, DenseNet heads)."""
    check_ndim(x, (4,), "(N, C, H, W)", "global_avg_pool2d")
    return mean(x, axis=(2, 3), keepdims=True)


class AdaptiveAvgPool2d(Function):
    """Average over bins that tile the input: bin i spans rows floor(i*H/OH) .. ceil((i+1)*H/OH).

    An average over a rectangle is an average over rows then over columns, so with averaging
    matrices Ph (OH, H) and Pw (OW, W):  y = Ph @ x @ Pw.T  and  gx = Ph.T @ gy @ Pw.
    An output of 1x1 is the mean over H and W (the matrices would be all 1/H and 1/W).
    """

    def __init__(self, output_size):
        self.output_size = output_size

    @staticmethod
    @functools.lru_cache(maxsize=64)    # made once per shape (and device): on a GPU each is ~10 launches
    def _bins(xp, size, out, dtype):
        i = xp.arange(out)
        start, end = (i * size) // out, -((-(i + 1) * size) // out)     # floor and ceil
        j = xp.arange(size)
        inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
        return (inside / (end - start)[:, None]).astype(dtype)

    def forward(self, x):
        xp = get_array_module(x)
        (OH, OW), (H, W) = self.output_size, x.shape[2:]
        self.x_shape = x.shape
        if (OH, OW) == (1, 1):
            return x.mean(axis=(2, 3), keepdims=True)
        self.Ph, self.Pw = self._bins(xp, H, OH, x.dtype), self._bins(xp, W, OW, x.dtype)
        return self.Ph @ x @ self.Pw.T

    def backward(self, gy):
        if self.output_size == (1, 1):
            H, W = self.x_shape[2:]
            return get_array_module(gy).broadcast_to(gy, self.x_shape) * (1 / (H * W))
        return self.Ph.T @ gy @ self.Pw


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (N, C, OH, OW) whatever H and W are."""
    check_ndim(x, (4,), "(N, C, H, W)", "adaptive_avg_pool2d")
    output_size = pair(output_size, "output_size", "adaptive_avg_pool2d")
    if min(output_size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    return AdaptiveAvgPool2d(output_size)(x)
