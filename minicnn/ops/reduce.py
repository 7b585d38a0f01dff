"""Reductions: sum, mean and max over some or all axes; argmax and argmin (indices: no gradient)."""
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.tensor import Tensor

__all__ = ["sum", "mean", "max", "argmax", "argmin"]


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _expand(gy, in_shape, axes, keepdims):
    """gy with the reduced axes put back (size 1) so it broadcasts against the input."""
    if keepdims:
        return gy
    return gy.reshape([1 if i in axes else n for i, n in enumerate(in_shape)])


class Sum(Function):
    """y = sum of x over ``axes``;  dx = gy broadcast back over those axes."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape, self.axes = x.shape, _axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.broadcast_to(_expand(gy, self.in_shape, self.axes, self.keepdims), self.in_shape).copy()


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``: a sum divided by the number of elements summed."""
    count = 1
    for a in _axes(axis, x.ndim):
        count *= x.shape[a]
    return sum(x, axis, keepdims) / count


class Max(Function):
    """y = max of x over ``axes``;  dx = gy shared equally by the elements equal to the max."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim)
        y = x.max(axis=self.axes, keepdims=True)
        self.save_for_backward(x, y)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        x, y = self.saved
        mask = x == y
        share = mask / mask.sum(axis=self.axes, keepdims=True)
        return (share * _expand(gy, x.shape, self.axes, self.keepdims)).astype(x.dtype, copy=False)


def max(x, axis=None, keepdims=False):
    return Max(axis, keepdims)(x)


def _arg(name, x, axis, keepdims):
    """Indices (int64) of the extremes of x along ``axis`` (of the flattened x when None); not in the graph."""
    data = x.array.reshape(-1) if axis is None else x.array
    out = getattr(data, name)(axis=0 if axis is None else axis)
    if keepdims:
        out = get_array_module(out).expand_dims(out, tuple(range(x.ndim)) if axis is None else axis)
    return Tensor._from_op(out.astype("int64", copy=False))


def argmax(x, axis=None, keepdims=False):
    """The index of the largest value along ``axis`` (the first one on ties), as an int64 tensor."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """The index of the smallest value along ``axis`` (the first one on ties), as an int64 tensor."""
    return _arg("argmin", x, axis, keepdims)
