"""Fused GPU kernels: twins of the plain CuPy code that do several lines' work in one kernel launch.

On a GPU each CuPy call launches a kernel, and each launch costs the host about 10 us whatever the
work. For a small CNN that is the bound: a ResNet-20 step of the plain code makes about 1,850 launches
(about 20 ms of launching) for a millisecond or two of GPU work. Most kernels here are plain Python
functions of elementwise maths with at most one reduction, which ``cupy.fuse`` compiles into a single
CUDA kernel: batch norm's normalisation, ReLU's gradient, an optimiser's update. Two are CUDA C:
im2col and col2im (``conv.py``), which convolution, pooling and LRN use. ``flat.py`` keeps SGD's
parameters in one buffer per group, so one kernel updates them all.

Each has a plain twin in ``minicnn/ops`` or ``minicnn/optim``, the code to read to learn the op; the
tests run both on the fake CuPy (``tests/fakecupy``, where ``cupy.fuse`` runs the Python body, counts
one launch and refuses what CuPy could not fuse into one kernel, and a CUDA kernel runs its NumPy
twin) and compare them; on a GPU the same tests compare the CUDA C with the plain code.
The fused path is taken for CuPy arrays unless ``MINICNN_FUSED=0`` is set or ``set_enabled(False)``
is called: if a fused kernel fails on a GPU, switching it off leaves the plain path.
``python benchmarks/gpu_launches.py`` counts the launches of a training step with and without it.
"""
import functools
import os

from minicnn import backend

__all__ = ["enabled", "set_enabled", "use", "kernel", "counting"]

_enabled = os.environ.get("MINICNN_FUSED", "1").strip() not in ("0", "false", "no", "off")


def enabled():
    """True when the fused kernels are switched on."""
    return _enabled


def set_enabled(flag):
    """Switch the fused kernels on or off for this process; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


def use(*arrays):
    """Whether an op on these arrays takes a fused kernel: switched on, and all of them CuPy arrays."""
    return _enabled and all(backend.is_cupy_array(a) for a in arrays)


def kernel(func):
    """``func(cp, *arrays_and_scalars)`` as one CuPy kernel, compiled on its first call.

    ``cp`` is the cupy module, passed in so that the body can name ``cp.where``, ``cp.sum`` ...;
    everything else the body does is operators on its arguments.
    """
    fused = None

    @functools.wraps(func)
    def call(*args):
        nonlocal fused
        if fused is None:
            cupy = backend.cupy_module()
            fused = cupy.fuse(kernel_name=func.__name__)(functools.partial(func, cupy))
        return fused(*args)

    return call


@functools.lru_cache(maxsize=64)
def counting(start, stop, shape, dtype="int64"):
    """start, start + 1, ..., stop - 1 on the device in ``shape``, made once and kept: the kernels compare
    with it (class numbers, window offsets) or count from it (random-number counters)."""
    cupy = backend.cupy_module()
    return cupy.arange(start, stop, dtype=dtype).reshape(shape)
