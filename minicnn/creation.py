"""Functions that make new tensors, with PyTorch's names and arguments.

Sizes come as separate ints, as one tuple or as the keyword size (``rand(5, 3)``, ``rand((5, 3))``
or ``rand(size=(5, 3))``); ``dtype`` is a minicnn/NumPy dtype (float32 unless said otherwise, int64
for ``randint`` and integer ``arange``); ``device`` defaults to the default device
(``minicnn.set_default_device``).

Random values come from minicnn's CPU generator (``minicnn.manual_seed`` repeats them) and are then
moved to the device, so one seed gives the same values on every device. ``empty`` gives zeros:
NumPy could hand back uninitialised memory, but a value that changes from run to run only confuses.
"""
import builtins

import numpy as np

from minicnn import dtypes, random
from minicnn.tensor import DEFAULT_FLOAT, Tensor, _sizes

__all__ = ["zeros", "ones", "empty", "full", "eye", "arange", "rand", "randn", "randint", "from_numpy",
           "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like"]


def _size(name, sizes, size):
    """The size from ``*sizes`` or from the ``size=`` keyword (one of them), as a tuple."""
    if size is None:
        return _sizes(sizes)
    if sizes:
        raise TypeError(f"{name}: give the size as arguments or as size=, not both")
    return _sizes((size,))


def _make(array, dtype, device, requires_grad):
    return Tensor(array, requires_grad=requires_grad, dtype=dtypes.resolve(dtype) or DEFAULT_FLOAT, device=device)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (float32 by default)."""
    return _make(np.zeros(_size("zeros", sizes, size)), dtype, device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of ones (float32 by default)."""
    return _make(np.ones(_size("ones", sizes, size)), dtype, device, requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor to be filled later; minicnn gives zeros (see the module docstring)."""
    return zeros(_size("empty", sizes, size), dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``fill_value``; its dtype follows the value (bool, int64 or float32) unless given."""
    if dtype is None:
        dtype = (dtypes.bool if isinstance(fill_value, builtins.bool)
                 else dtypes.int64 if isinstance(fill_value, builtins.int) else DEFAULT_FLOAT)
    return _make(np.full(_sizes((size,)), fill_value), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """An n x m matrix (n x n without m) with ones on the diagonal."""
    return _make(np.eye(n, m), dtype, device, requires_grad)


def arange(start=0, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """start, start + step, ... up to but not including end (``arange(5)`` and ``arange(end=5)`` are 0..4).
    int64 when all three are ints, float32 otherwise, unless ``dtype`` is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (builtins.int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if integral else DEFAULT_FLOAT
    return _make(np.arange(start, end, step), dtype, device, requires_grad)


def _check_float(name, dtype):
    if dtype.kind != "f":
        raise TypeError(f"{name}: random floats need a floating-point dtype, got {dtype}; "
                        "pass dtype=minicnn.float32")
    return dtype


def _draw_dtype(dtype):
    # float32 tensors get float32 draws: a float64 draw just below 1 would round up to 1.0 in float32.
    return np.float64 if dtype == np.float64 else np.float32


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Uniform random numbers in [0, 1)."""
    dtype = _check_float("rand", dtypes.resolve(dtype) or np.dtype(DEFAULT_FLOAT))
    array = random.generator().random(_size("rand", sizes, size), _draw_dtype(dtype))
    return _make(array, dtype, device, requires_grad)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Standard normal random numbers (mean 0, variance 1)."""
    dtype = _check_float("randn", dtypes.resolve(dtype) or np.dtype(DEFAULT_FLOAT))
    array = random.generator().standard_normal(_size("randn", sizes, size), _draw_dtype(dtype))
    return _make(array, dtype, device, requires_grad)


def randint(low=0, high=None, size=None, dtype=None, device=None, requires_grad=False):
    """Random integers in [low, high) (int64): ``randint(10, (3,))``, ``randint(2, 10, (3,))`` or
    ``randint(high=10, size=(3,))``."""
    if size is None:                  # randint(10, (3,))
        low, high, size = 0, low, high
    elif high is None:                # randint(10, size=(3,))
        low, high = 0, low
    if size is None:
        raise TypeError("randint: the size is missing, e.g. randint(10, (3,)) or randint(0, 10, size=(3,))")
    return _make(random.generator().integers(low, high, _sizes((size,))), dtype or dtypes.int64, device,
                 requires_grad)


def from_numpy(array):
    """A tensor that shares ``array``'s memory (and keeps its dtype): a change to one shows in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor._from_op(array)


def _like(name, make, input, dtype, device, requires_grad, *args):
    dtype = dtypes.resolve(dtype) or input.dtype
    if make in (rand, randn):
        _check_float(name, dtype)
    return make(*args, input.shape, dtype=dtype, device=device or input.device, requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    """zeros with ``input``'s shape, dtype and device (each can be overridden)."""
    return _like("zeros_like", zeros, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like("ones_like", ones, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like("empty_like", empty, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    dtype = dtypes.resolve(dtype) or input.dtype
    return full(input.shape, fill_value, dtype=dtype, device=device or input.device, requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    """rand with ``input``'s shape, dtype and device; an integer input needs ``dtype=minicnn.float``."""
    return _like("rand_like", rand, input, dtype, device, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return _like("randn_like", randn, input, dtype, device, requires_grad)

