"""Ops that move values around without arithmetic: reshape, transpose, flatten, indexing,
concatenation and padding. Each backward sends every gradient value back to where its
input value came from.
"""
import itertools

from minicnn.autograd import Function
from minicnn.backend import get_array_module, scatter_add
from minicnn.ops.utils import check_ndim, padding4

__all__ = ["reshape", "transpose", "flatten", "getitem", "concat", "pad", "pad_channels"]


class Reshape(Function):
    """y = x viewed with another shape;  dx = gy reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


def reshape(x, shape):
    return Reshape(tuple(shape))(x)


class Transpose(Function):
    """y = x with axes permuted;  dx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.transpose(inverse)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    return Transpose(None if axes is None else tuple(axes))(x)


def flatten(x, start_dim=1):
    """Merge the axes from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W) for the default 1."""
    return reshape(x, x.shape[:start_dim] + (-1,))


class GetItem(Function):
    """y = x[index];  dx = zeros with gy added at index (repeated indices accumulate)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        gx = get_array_module(gy).zeros(self.in_shape, gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy       # slices never repeat an element: plain assignment is enough
        else:
            scatter_add(gx, self.index, gy)
        return gx


def _is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def getitem(x, index):
    """Basic or advanced indexing, as in NumPy."""
    from minicnn.tensor import Tensor
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem(index)(x)


class Concat(Function):
    """y = [x1, x2, ...] joined along ``axis``;  dxi = the slice of gy that xi filled."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = list(itertools.accumulate(self.sizes[:-1]))
        return tuple(get_array_module(gy).split(gy, bounds, axis=self.axis))


def concat(xs, axis=1):
    """Join tensors along ``axis`` (channels by default: Inception branches, DenseNet features)."""
    xs = list(xs)
    if not xs:
        raise ValueError("concat: needs at least one tensor")
    ref = xs[0].shape
    for i, x in enumerate(xs):
        if x.ndim != len(ref) or any(a != b for k, (a, b) in enumerate(zip(x.shape, ref)) if k != axis % len(ref)):
            raise ValueError(f"concat: all shapes must match except along axis {axis}; "
                             f"tensor 0 has shape {ref}, tensor {i} has {x.shape}")
    return Concat(axis)(*xs)


class Pad(Function):
    """Constant padding of the last two axes (H, W);  dx = gy with the border cut off."""

    def __init__(self, pads, value):
        self.pads, self.value = pads, value

    def forward(self, x):
        xp = get_array_module(x)
        top, bottom, left, right = self.pads
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return xp.pad(x, widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        top, bottom, left, right = self.pads
        H, W = gy.shape[-2], gy.shape[-1]
        return gy[..., top:H - bottom, left:W - right]


def pad(x, padding, value=0.0):
    """Pad H and W of an (N, C, H, W) tensor.

    ``padding``: an int, (PH, PW), or ((top, bottom), (left, right)).
    """
    check_ndim(x, (3, 4), "(N, C, H, W) or (C, H, W)", "pad")
    return Pad(padding4(padding, "pad"), value)(x)


class PadChannels(Function):
    """Zeros added before and after the channel axis of (N, C, H, W);  dx = gy's middle channels."""

    def __init__(self, before, after):
        self.before, self.after = before, after

    def forward(self, x):
        xp = get_array_module(x)
        return xp.pad(x, [(0, 0), (self.before, self.after), (0, 0), (0, 0)])

    def backward(self, gy):
        return gy[:, self.before:gy.shape[1] - self.after]


def pad_channels(x, before, after):
    """ResNet's option-A shortcut: extra channels filled with zeros (no parameters).

    The usual option-A shortcut is ``pad_channels(x[:, :, ::2, ::2], C // 2, C // 2)``.
    """
    check_ndim(x, (4,), "(N, C, H, W)", "pad_channels")
    if before < 0 or after < 0:
        raise ValueError(f"pad_channels: before and after must be >= 0, got {before} and {after}")
    return PadChannels(before, after)(x)
