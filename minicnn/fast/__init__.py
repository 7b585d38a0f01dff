"""Fast CPU kernels (numba) where NumPy alone makes many passes over memory.

Each kernel here has a plain NumPy twin: ``batchnorm.py`` of ``ops/batchnorm.py`` (training mode),
``pool.py`` of max pooling in ``ops/pool.py``, ``sgd.py`` of ``optim/sgd.py``'s update. The NumPy
version is the reference: it is what to read to learn the op, and the tests check both against
each other, against finite differences and against PyTorch.
The fast path is taken for NumPy arrays when numba is installed (``pip install -e ".[fast]"``)
unless ``MINICNN_FAST=0`` is set or ``set_enabled(False)`` is called; CuPy arrays never take it.

The kernels run on one thread: the GEMMs between them already use every core through BLAS, and
numba's OpenMP workers spin-waiting beside OpenBLAS's threads made a ResNet-20 step 40% slower
on two cores, where single-threaded kernels made it faster.

numba is imported on the first kernel call, not with minicnn, so ``import minicnn`` stays quick;
the compiled kernels are cached on disk (``cache=True``), so only the very first run compiles.
"""
import importlib.util
import os

import numpy as np

__all__ = ["available", "enabled", "set_enabled", "use"]

_enabled = os.environ.get("MINICNN_FAST", "1").strip() not in ("0", "false", "no", "off")


def available():
    """True when numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def enabled():
    """True when the fast path is switched on and numba is installed."""
    return _enabled and available()


def set_enabled(flag):
    """Switch the fast path on or off for this process (the tests run both paths); returns
    the previous setting, so that a caller can put it back."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


def use(*arrays):
    """Whether an op on these arrays takes the fast path: enabled, and all of them NumPy arrays."""
    if not enabled():
        return False
    return all(type(a) is np.ndarray for a in arrays)
