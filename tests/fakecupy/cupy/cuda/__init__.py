"""``cupy.cuda``: Device, streams, events and the runtime of one fake CUDA device."""
import time

from cupy import fake
from cupy._core import memory_pool
from cupy.cuda import runtime


class Device:
    """A CUDA device: ``with Device(0): ...``, ``.synchronize()`` (a host synchronisation)."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        fake.record("Device.synchronize")

    @property
    def compute_capability(self):
        return "90"

    @property
    def mem_info(self):
        return runtime.TOTAL_MEMORY - memory_pool.total_bytes(), runtime.TOTAL_MEMORY

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    def __init__(self, null=False, non_blocking=False, ptds=False):
        pass

    def synchronize(self):
        fake.record("Stream.synchronize")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream(null=True)


def get_current_stream():
    return Stream.null


class Event:
    """An event's time is the host clock when it is recorded (the fake device is never behind)."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.seconds = None

    def record(self, stream=None):
        self.seconds = time.perf_counter()

    def synchronize(self):
        fake.record("Event.synchronize")


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events."""
    return 1000.0 * (end_event.seconds - start_event.seconds)


def get_device_id():
    return 0


def is_available():
    return True
