"""What the fake adds to CuPy's API, for tests only: counting host synchronisations.

A real GPU runs kernels asynchronously; every read of a device value on the host (``float(x)``,
``int(x)``, ``x.item()``, ``bool(x)``, ``x.get()``, ``cupy.asnumpy(x)``, printing, boolean-mask
indexing, a device synchronize) makes the CPU wait until the GPU has caught up. The fake counts
them, with the line that asked, so a test can hold a training step to its budget::

    with cupy.fake.host_syncs() as syncs:
        trainer.train_step(x, y)
    assert syncs.count <= 1, syncs.places
"""
import collections
import contextlib
import os
import sys

_FAKE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_recorders = []


class HostSyncs:
    """The host synchronisations seen inside one ``host_syncs()`` block."""

    def __init__(self):
        self.places = collections.Counter()    # "path:line (what)" -> how many times

    @property
    def count(self):
        return sum(self.places.values())


def _caller():
    """The first frame outside the fake: the code that asked for the value."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_FAKE_ROOT):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


def record(what):
    """Called by the fake wherever real CuPy would make the host wait for the device."""
    if _recorders:
        place = f"{_caller()} ({what})"
        for recorder in _recorders:
            recorder.places[place] += 1


@contextlib.contextmanager
def host_syncs():
    recorder = HostSyncs()
    _recorders.append(recorder)
    try:
        yield recorder
    finally:
        _recorders.remove(recorder)
