"""Reductions: sum, mean, max and the p-norm over some or all axes; argmax and argmin (indices: no gradient).

The p-norm, for p > 0:
    y = (sum |x|**p) ** (1/p)
    dx = gy * sign(x) * (|x| / y) ** (p - 1)        (p = 2: gy * x / y)
and dx = 0 where y = 0 or x = 0 (PyTorch's choice at those points, where |x|**p has no derivative
for p <= 1, and where y = 0 for p = 2 would divide 0 by 0).
"""
import numpy as np

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.tensor import Tensor

__all__ = ["sum", "mean", "max", "norm", "argmax", "argmin"]


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


class Norm(Function):
    """y = (sum |x|**p)**(1/p) over ``axes``;  dx = gy sign(x) (|x| / y)**(p - 1), 0 where y = 0 or x = 0."""

    def __init__(self, p, axis, keepdims):
        self.p, self.axis, self.keepdims = p, axis, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        self.axes = _axes(self.axis, x.ndim)
        if self.p == 2:
            y = xp.sqrt((x * x).sum(axis=self.axes, keepdims=True))
        else:
            y = (xp.abs(x) ** self.p).sum(axis=self.axes, keepdims=True) ** (1 / self.p)
        self.save_for_backward(x, y)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        xp = get_array_module(gy)
        x, y = self.saved
        safe_y = xp.where(y == 0, 1, y)
        if self.p == 2:
            dx = x / safe_y
        else:
            with np.errstate(divide="ignore", invalid="ignore"):    # 0 ** (p - 1) for p < 1: masked below
                dx = xp.sign(x) * (xp.abs(x) / safe_y) ** (self.p - 1)
            dx = xp.where(x == 0, 0, dx)
        dx = xp.where(y == 0, 0, dx)
        return (dx * _expand(gy, x.shape, self.axes, self.keepdims)).astype(x.dtype, copy=False)


def norm(x, p=2, axis=None, keepdims=False):
    """The p-norm of x (every element when axis is None), for a number p > 0; "fro" is p = 2."""
    if p == "fro":
        p = 2
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < float("inf"):
        raise ValueError(f"norm: p must be a positive finite number or 'fro', got {p!r}")
    return Norm(p, axis, keepdims)(x)


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
