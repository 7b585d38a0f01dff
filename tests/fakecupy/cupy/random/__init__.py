"""``cupy.random``: NumPy's generators, drawing device arrays (the legacy functions take ``dtype`` as CuPy's do)."""
import numpy as np

from cupy import fake
from cupy._core import unwrap, wrap


class Generator:
    """``cupy.random.Generator``: draws as NumPy's Generator does, into device arrays."""

    def __init__(self, numpy_generator):
        self._g = numpy_generator

    def __getattr__(self, name):
        method = getattr(self._g, name)

        def draw(*args, **kwargs):
            fake.record_launch(f"random {name}")
            return wrap(method(*unwrap(args), **unwrap(kwargs)))
        return draw


def default_rng(seed=None):
    return Generator(np.random.default_rng(seed))


def _legacy(func):
    def draw(*args, dtype=None, **kwargs):
        fake.record_launch(f"random {func.__name__}")
        values = func(*unwrap(args), **unwrap(kwargs))
        return wrap(np.asarray(values) if dtype is None else np.asarray(values).astype(dtype))
    return draw


def __getattr__(name):
    """seed, rand, randn, random, randint, normal, uniform, permutation ... on NumPy's global RandomState."""
    value = getattr(np.random, name)
    if callable(value) and not isinstance(value, type) and name != "seed":
        value = _legacy(value)
    globals()[name] = value
    return value
