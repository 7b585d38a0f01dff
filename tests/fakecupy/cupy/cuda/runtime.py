"""``cupy.cuda.runtime``: one fake device, CUDA 13's version numbers."""
from cupy import fake

DEVICE_COUNT = 1
TOTAL_MEMORY = 16 * 2**30


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount():
    return DEVICE_COUNT


def getDeviceProperties(device):
    if not 0 <= device < DEVICE_COUNT:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"fake CUDA device (NumPy on the CPU)", "totalGlobalMem": TOTAL_MEMORY, "major": 9, "minor": 0,
            "multiProcessorCount": 1}


def driverGetVersion():
    return 13000


def runtimeGetVersion():
    return 13000


def deviceSynchronize():
    fake.record("cuda.runtime.deviceSynchronize")
