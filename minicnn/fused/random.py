"""Uniform random numbers and dropout on the GPU in one kernel each (the plain code: about 13 and 6).

Twins of ``CounterGenerator.random`` in ``minicnn/random.py`` and of ``Dropout`` in
``minicnn/ops/dropout.py``: the same SplitMix64 words, so the same numbers for a seed, bit for bit,
and the same masks. The counter 1, 2, ..., n of a draw is made once per size and kept.
"""
import functools

import numpy as np

from minicnn.fused import kernel
from minicnn.random import _GAMMA, _MIX1, _MIX2      # SplitMix64's constants


@functools.lru_cache(maxsize=None)
def uniform(dtype):
    """The kernel making uniforms of ``dtype`` (float32 or float64) from counters, offset and seed."""
    bits = 24 if dtype == np.float32 else 53
    shift, scale = np.uint64(64 - bits), dtype.type(2.0 ** -bits)

    def uniform_words(cp, k, first, seed):
        """Word first + k of the stream, its top bits as a float in [0, 1) (see CounterGenerator)."""
        z = (k + first) * _GAMMA + seed
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        return (z >> shift).astype(dtype) * scale

    uniform_words.__name__ = f"uniform_{dtype.name}"
    return kernel(uniform_words)


@kernel
def dropout_forward(cp, x, u, p, scale):
    """y and the mask kept for backward (u >= p: kept with probability 1 - p)."""
    keep = u >= p
    return cp.where(keep, x * scale, 0), keep


@kernel
def dropout_backward(cp, gy, keep, scale):
    return cp.where(keep, gy * scale, 0)
