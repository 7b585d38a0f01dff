"""``cupy.linalg``: NumPy's, on device arrays."""
import numpy as np

from cupy._core import device_function


def __getattr__(name):
    value = getattr(np.linalg, name)
    if callable(value) and not isinstance(value, type):
        value = device_function(value)
    globals()[name] = value
    return value
