"""``cupy.lib.stride_tricks.as_strided``: a strided view of a device array (no copy)."""
import numpy as np

from cupy._core import unwrap, wrap


def as_strided(x, shape=None, strides=None):
    return wrap(np.lib.stride_tricks.as_strided(unwrap(x), shape=shape, strides=strides))
