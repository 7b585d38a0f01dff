"""Ops that move values around without arithmetic: reshape, transpose, flatten, indexing, index
assignment, broadcasting, copying, concatenation and padding. Each backward sends every gradient
value back to where its input value came from.
"""
import itertools

from minicnn.autograd import Function
from minicnn.backend import get_array_module, scatter_add
from minicnn.ops.utils import as_tensor, check_ndim, padding4, unbroadcast

__all__ = ["reshape", "transpose", "flatten", "unsqueeze", "squeeze", "getitem", "setitem", "expand", "clone",
           "concat", "ConcatBuffer", "stack", "pad", "pad_channels"]


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


def flatten(x, start_dim=1, end_dim=-1):
    """Merge the axes from ``start_dim`` to ``end_dim``: (N, C, H, W) -> (N, C*H*W) for the defaults."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {tuple(x.shape)}")
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def unsqueeze(x, dim):
    """A new axis of length 1 at ``dim`` (negative counts from the end of the new shape)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with {x.ndim} dimensions")
    dim %= x.ndim + 1
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    """Drop the axes of length 1 (only ``dim``, when given; nothing if that axis is longer)."""
    dims = range(x.ndim) if dim is None else [dim % x.ndim] if x.ndim else []
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1)))


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


def _index_arrays(index):
    """An index with its Tensors replaced by their arrays (a 0-d integer tensor indexes like an int)."""
    from minicnn.tensor import Tensor
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(x, index):
    """Basic or advanced indexing, as in NumPy."""
    return GetItem(_index_arrays(index))(x)


class SetItem(Function):
    """y = x with y[index] = v;  dx = gy with zeros at index,  dv = gy[index] summed back to v's shape.

    Used by ``x[index] = v``, which then writes y into x's own array (Tensor._inplace).
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        self.v_shape = v.shape
        y = x.copy()
        y[self.index] = v
        return y

    def backward(self, gy):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = gy.copy()
            gx[self.index] = 0
        if self.needs_input_grad[1]:
            gv = unbroadcast(gy[self.index], self.v_shape)
        return gx, gv


def setitem(x, index, value):
    """x with the values at ``index`` replaced by ``value`` (a Tensor, array or number), out of place."""
    from minicnn.tensor import Tensor
    value = value if isinstance(value, Tensor) else as_tensor(value, x)
    return SetItem(_index_arrays(index))(x, value.to(dtype=x.dtype))


class Expand(Function):
    """y = x broadcast to ``shape`` (no copy);  dx = gy summed over the broadcast axes."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return unbroadcast(gy, self.in_shape)


def expand(x, shape):
    """``x`` broadcast to ``shape`` (NumPy's rules: new axes on the left, axes of length 1 stretched)."""
    return Expand(tuple(shape))(x)


class Clone(Function):
    """y = a copy of x;  dx = gy."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def clone(x):
    """A copy of ``x`` in its own memory, still in the graph."""
    return Clone()(x)


class Concat(Function):
    """y = [x1, x2, ...] joined along ``axis``;  dxi = the slice of gy that xi filled.

    With a ConcatBuffer, y is a view of the buffer instead of a new array (see ConcatBuffer)."""

    def __init__(self, axis, buffer=None):
        self.axis, self.buffer = axis, buffer

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        buffer, self.buffer = self.buffer, None        # the graph needs no reference to it after this
        if buffer is not None:
            return buffer.write(xs, self.axis)
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = list(itertools.accumulate(self.sizes[:-1]))
        return tuple(get_array_module(gy).split(gy, bounds, axis=self.axis))


class ConcatBuffer:
    """One array that the concatenations of a growing list share: memory-efficient DenseNet's
    shared storage (Pleiss et al. 2017), here for the joined features.

    A dense block joins [x0], [x0, x1], [x0, x1, x2], ...: L new arrays that hold x0 L times, x1
    L - 1 times, and so on, about L/2 times the block's output in all, each kept for backward
    by the batch norm that reads it. Written into one buffer of the final ``size`` along the
    axis, each x is copied in once, when it first comes, and the l-th result is the view of the
    buffer's first C0 + ... + C(l-1) channels: the block then costs its output once. A later
    write only fills channels past the earlier views, so what they show never changes.

    Each call must pass the list of the call before with new tensors added at its end, and the
    tensors must not change in between: the buffer holds the copies made at the earlier calls.
    The results share one version counter and count as views: an in-place op on one of them,
    which would change what the others show, is refused while a graph is recorded.
    """

    def __init__(self, size):
        self.size = size
        self.array = None
        self.written = []              # the arrays copied in so far, in order
        self.version_counter = [0]     # shared by every result, as by views of one array

    def write(self, xs, axis):
        """The view of the buffer that holds ``xs`` joined along ``axis``; copies the new ones in."""
        if len(xs) < len(self.written) or any(a is not b for a, b in zip(self.written, xs)):
            raise ValueError("concat: a ConcatBuffer joins one growing list: each call must pass the tensors "
                             "of the call before, in the same order, then the new ones")
        if self.array is None:
            shape = list(xs[0].shape)
            shape[axis] = self.size
            self.array = get_array_module(*xs).empty(shape, get_array_module(*xs).result_type(*xs))
        index = [slice(None)] * self.array.ndim
        start = sum(x.shape[axis] for x in self.written)
        for x in xs[len(self.written):]:
            if start + x.shape[axis] > self.size:
                raise ValueError(f"concat: the joined tensors need more than the ConcatBuffer's {self.size} "
                                 f"along axis {axis}")
            index[axis] = slice(start, start + x.shape[axis])
            self.array[tuple(index)] = x
            start += x.shape[axis]
        self.written = list(xs)
        index[axis] = slice(0, start)
        return self.array[tuple(index)]


def concat(xs, axis=1, buffer=None):
    """Join tensors along ``axis`` (channels by default: Inception branches, DenseNet features).

    ``buffer``: a ConcatBuffer that successive calls on one growing list share (DenseNet's
    blocks); the result is then a view of it, and only the tensors new since the last call are
    copied."""
    xs = list(xs)
    if not xs:
        raise ValueError("concat: needs at least one tensor")
    ref = xs[0].shape
    for i, x in enumerate(xs):
        if x.ndim != len(ref) or any(a != b for k, (a, b) in enumerate(zip(x.shape, ref)) if k != axis % len(ref)):
            raise ValueError(f"concat: all shapes must match except along axis {axis}; "
                             f"tensor 0 has shape {ref}, tensor {i} has {x.shape}")
    y = Concat(axis, buffer)(*xs)
    if buffer is not None:
        y._version_counter, y._is_view = buffer.version_counter, True
    return y


def stack(xs, axis=0):
    """Join tensors of one shape along a new axis: a concat of their unsqueezed copies."""
    return concat([unsqueeze(x, axis) for x in xs], axis)


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
