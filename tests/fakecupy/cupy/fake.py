"""What the fake adds to CuPy's API, for tests only: counting host synchronisations and kernel launches.

Host synchronisations. A real GPU runs kernels asynchronously; every read of a device value on the
host (``float(x)``, ``int(x)``, ``x.item()``, ``bool(x)``, ``x.get()``, ``cupy.asnumpy(x)``,
printing, boolean-mask indexing, a device synchronize) makes the CPU wait until the GPU has caught
up. The fake counts them, with the line that asked, so a test can hold a training step to its budget::

    with cupy.fake.host_syncs() as syncs:
        trainer.train_step(x, y)
    assert syncs.count <= 1, syncs.places

Kernel launches. Each CuPy call that runs on the device costs the host about 10 us to launch,
whatever the size of its work, so a small CNN's step on a GPU is bounded by how many launches it
makes. ``launches()`` counts them the same way, each with its place and what it was:

- one per elementwise operation or ufunc, reduction, matrix product (cuBLAS), random draw,
  scatter (``cupyx``), fill (``zeros``, ``full``, ``x[...] = v``) and copy (``astype``,
  ``ascontiguousarray``, ``copy``, a setitem from another array, advanced indexing, host to device);
- one per call of a fused kernel (``cupy.fuse``);
- a matrix product also copies each operand that cuBLAS cannot read as it is (see ``_core``);
- nothing for views (reshape, transpose, basic indexing, ``as_strided``), shapes and ``empty``.
"""
import collections
import contextlib
import os
import sys

_FAKE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_sync_recorders = []
_launch_recorders = []
total_launches = 0        # every launch since the fake was imported: a cheap clock for attributing them
_fusing = 0               # > 0 while a fused function runs: its steps are one kernel, counted once


class Recorded:
    """The events (host synchronisations or launches) seen inside one counting block."""

    def __init__(self):
        self.places = collections.Counter()    # "path:line (what)" -> how many times

    @property
    def count(self):
        return sum(self.places.values())


HostSyncs = Recorded


def _caller():
    """The first frame outside the fake: the code that asked."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_FAKE_ROOT):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


def _tell(recorders, what):
    if recorders:
        place = f"{_caller()} ({what})"
        for recorder in recorders:
            recorder.places[place] += 1


def record(what):
    """Called by the fake wherever real CuPy would make the host wait for the device."""
    _tell(_sync_recorders, what)


def record_launch(what):
    """Called by the fake wherever real CuPy would launch a kernel (or a copy) on the device."""
    global total_launches
    if _fusing:
        return
    total_launches += 1
    _tell(_launch_recorders, what)


@contextlib.contextmanager
def _counting(recorders):
    recorder = Recorded()
    recorders.append(recorder)
    try:
        yield recorder
    finally:
        recorders.remove(recorder)


@contextlib.contextmanager
def inside_fused_kernel():
    global _fusing
    _fusing += 1
    try:
        yield
    finally:
        _fusing -= 1


def host_syncs():
    return _counting(_sync_recorders)


def launches():
    return _counting(_launch_recorders)
