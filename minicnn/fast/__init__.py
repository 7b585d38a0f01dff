"""Fast CPU kernels (numba) where NumPy alone makes many passes over memory on one core.

Each kernel here has a plain NumPy twin: ``conv.py`` of ``ops/conv.py``, ``batchnorm.py`` of
``ops/batchnorm.py`` (training mode), ``pool.py`` of max pooling in ``ops/pool.py``, ``sgd.py`` of
``optim/sgd.py``'s update, ``elementwise.py`` of ReLU and the residual add. The NumPy version is the
reference: it is what to read to learn the op, and the tests check both against each other,
against finite differences and against PyTorch.
The fast path is taken for NumPy arrays when numba is installed (``pip install -e ".[fast]"``)
unless ``MINICNN_FAST=0`` is set or ``set_enabled(False)`` is called; CuPy arrays never take it.

Threads. The kernels run on every core (numba ``prange``), between GEMMs that BLAS runs on every
core. Two thread pools must not spin at once on the same cores: after each GEMM OpenBLAS's idle
threads busy-wait for 2**28 cycles (about 0.1 s) before they sleep, so a parallel kernel started
then shares its cores with them and runs slower than on one thread. This package sets
``OPENBLAS_THREAD_TIMEOUT=4`` (sleep after 16 cycles) unless it is set already, and numba's
OpenMP workers to wait passively (``OMP_WAIT_POLICY=PASSIVE``). OpenBLAS reads its variable when
NumPy is first imported, so it only helps when minicnn is imported first (``minicnn/__init__.py``
imports this package before NumPy) or it is set in the environment. When NumPy came first
without it, the kernels run on one thread (``NUMBA_NUM_THREADS=1``), as they are then faster;
``threads()`` says how many they use.

Memory. Each op's new arrays would otherwise come as fresh pages from the kernel and fault on
first touch; ``memory.py`` makes glibc keep freed blocks for reuse instead (when MINICNN_FAST is
not 0 at import).

numba is imported on the first kernel call, not with minicnn, so ``import minicnn`` stays quick;
the compiled kernels are cached on disk (``cache=True``), so only the very first run compiles.
"""
import importlib.util
import os
import sys

__all__ = ["available", "enabled", "set_enabled", "use", "threads", "set_threads", "compiled_on_disk"]

_enabled = os.environ.get("MINICNN_FAST", "1").strip() not in ("0", "false", "no", "off")

# Decided before NumPy loads OpenBLAS and numba starts its threads (see the docstring).
if "OPENBLAS_THREAD_TIMEOUT" not in os.environ and "numpy" in sys.modules:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if _enabled:                    # large freed arrays stay in the heap for the next op (see memory.py)
    from minicnn.fast.memory import keep_freed_memory
    keep_freed_memory()


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
    import numpy as np          # not at the top: this package is imported before NumPy
    return all(type(a) is np.ndarray for a in arrays)


def threads():
    """How many threads the kernels use: the cores, ``NUMBA_NUM_THREADS``, or 1 when BLAS's idle
    threads spin (NumPy was imported before minicnn without ``OPENBLAS_THREAD_TIMEOUT``)."""
    import numba
    return numba.get_num_threads()


def set_threads(n):
    """Run the kernels started from this thread on ``n`` threads (at most ``threads()``), e.g. as
    many as BLAS uses (the benchmarks measure 1 and 2)."""
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def compiled_on_disk():
    """Whether numba's cache holds compiled kernels (its index files, ``*.nbi``, next to this package
    or in $NUMBA_CACHE_DIR): if not, the first training step compiles them, about 10 s."""
    from pathlib import Path
    folders = [Path(__file__).parent / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return any(next(folder.rglob("*.nbi"), None) for folder in folders if folder.is_dir())
