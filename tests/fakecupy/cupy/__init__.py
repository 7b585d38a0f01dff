"""A fake CuPy for minicnn's tests: CuPy's rules on NumPy's arithmetic, one "CUDA device", no GPU.

With this folder first on the path (``PYTHONPATH=tests/fakecupy pytest -m gpu``) minicnn finds
"CuPy" and one CUDA device, and every GPU code path runs on the CPU. The arithmetic is NumPy's;
what is CuPy's is the boundary between host and device (see ``cupy/_core.py``), and the count of
host synchronisations (``cupy.fake``). It is a test tool: it says nothing about GPU speed.
"""
import numpy as _np

from cupy import fake
from cupy._core import device_function, memory_pool, ndarray, pinned_memory_pool, ufunc, wrap
from cupy import cuda, lib, linalg, random
from cupy._fusion import fuse
from cupy._kernels import ElementwiseKernel, RawKernel, ReductionKernel

__version__ = "13.6.0+fake"

# Functions that copy host data to the device: NumPy arrays are welcome here.
array, asarray, asanyarray, ascontiguousarray, asfortranarray = (
    device_function(getattr(_np, name), host_ok=True) for name in
    ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A host copy of ``a`` (waits for the device); NumPy input is returned as a NumPy array."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args):
    import cupy
    return cupy if any(isinstance(a, ndarray) for a in args) else _np


def get_default_memory_pool():
    return memory_pool


def get_default_pinned_memory_pool():
    return pinned_memory_pool


def is_available():
    return True


def show_config():
    print(f"CuPy Version          : {__version__} (fake: NumPy {_np.__version__} on the CPU, tests/fakecupy)")


def __getattr__(name):
    """The rest of NumPy's namespace, each function behind CuPy's rules (made once, then cached)."""
    try:
        value = getattr(_np, name)
    except AttributeError:
        raise AttributeError(f"module 'cupy' has no attribute {name!r}") from None
    if isinstance(value, _np.ufunc):
        value = ufunc(value)
    elif callable(value) and not isinstance(value, type):
        value = device_function(value)
    globals()[name] = value         # dtypes, constants and classes (float32, inf, newaxis) pass through
    return value
