"""Small helpers shared by the ops: argument normalisation and broadcasting bookkeeping."""
from minicnn.backend import get_array_module
from minicnn.tensor import Tensor


def as_tensor(x, like):
    """``x`` as a Tensor; numbers and arrays take ``like``'s dtype and device (constants, no grad)."""
    if isinstance(x, Tensor):
        return x
    xp = get_array_module(like.array)
    return Tensor._from_op(xp.asarray(x, dtype=like.dtype))


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, so it gets ``shape`` back."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def pair(value, name, op):
    """An int or a 2-sequence as a pair of ints: ``pair(3) == (3, 3)``."""
    if isinstance(value, int):
        return (value, value)
    if len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def padding4(padding, op):
    """Spatial padding as (top, bottom, left, right) from an int, (PH, PW) or ((top, bottom), (left, right))."""
    if isinstance(padding, int):
        pads = (padding,) * 4
    elif len(padding) == 2 and all(isinstance(p, int) for p in padding):
        pads = (padding[0], padding[0], padding[1], padding[1])
    elif len(padding) == 2 and all(len(p) == 2 for p in padding):
        pads = (*padding[0], *padding[1])
    else:
        raise ValueError(f"{op}: padding must be an int, (PH, PW) or ((top, bottom), (left, right)), got {padding!r}")
    if any(not isinstance(p, int) or p < 0 for p in pads):
        raise ValueError(f"{op}: padding must be non-negative ints, got {padding!r}")
    return pads


def check_ndim(x, ndims, layout, op):
    """Raise a ValueError naming the op when ``x`` has the wrong number of dimensions."""
    if x.ndim not in ndims:
        raise ValueError(f"{op}: input must be {layout}, got shape {tuple(x.shape)}")
