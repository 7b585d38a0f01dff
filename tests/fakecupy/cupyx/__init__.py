"""A fake ``cupyx`` (see tests/fakecupy/cupy): the scatter functions and pinned host memory."""
import numpy as np

from cupy import fake
from cupy._core import ndarray, unwrap


def _scatter(np_ufunc):
    def scatter(a, slices, value):
        if not isinstance(a, ndarray):
            raise TypeError(f"cupyx scatter functions need a cupy.ndarray, got {type(a)}")
        fake.record_launch(f"cupyx.scatter_{np_ufunc.__name__}")
        np_ufunc.at(a._a, unwrap(slices, host_ok=True), unwrap(value))
    return scatter


scatter_add, scatter_max, scatter_min = _scatter(np.add), _scatter(np.maximum), _scatter(np.minimum)


def empty_pinned(shape, dtype=float, order="C"):
    return np.empty(shape, dtype, order=order)


def zeros_pinned(shape, dtype=float, order="C"):
    return np.zeros(shape, dtype, order=order)
