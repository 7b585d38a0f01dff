"""The one place that knows about NumPy vs CuPy.

Ops never import numpy or cupy for array work; they ask ``xp = get_array_module(x)``
and write ``xp.zeros``, ``xp.matmul`` ... so that the same code runs on both.
CuPy is optional: it is imported lazily, the first time "cuda" is asked for.

Devices are plain strings: ``"cpu"`` or ``"cuda:N"`` (``"cuda"`` means ``"cuda:0"``).
"""
import os
import platform

import numpy as np
from numpy.lib.stride_tricks import as_strided as _np_as_strided

__all__ = [
    "DeviceError", "is_array", "get_array_module", "device_of", "to_device", "normalize_device", "pick_device",
    "cuda_available", "device_name", "device_report", "get_default_device", "set_default_device", "as_strided",
    "scatter_add", "synchronize", "cuda_device_count", "device", "is_cupy_array", "cupy_module",
]


class DeviceError(RuntimeError):
    """Raised when a device cannot be used (no CuPy, no GPU, driver problem) or devices are mixed."""


_cupy = None          # the cupy module once successfully imported
_cupy_error = None    # why cupy could not be used, once we know


# CUDA 13 builds for Turing (compute capability 7.5) and newer; CUDA 12 still runs older GPUs.
_OLDEST_GPU = {13: (7, 5), 12: (5, 0)}
_WHEEL = {13: "cupy-cuda13x", 12: "cupy-cuda12x"}


def _load_cupy():
    """Import CuPy, check that a CUDA device answers and runs a first kernel and matrix product;
    raise DeviceError saying why not, and what to install."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy
        except ImportError as e:
            _cupy_error = (f"CuPy is not installed ({e}). Install the GPU extra: "
                           "pip install -e \".[gpu]\" (cupy-cuda13x, for an NVIDIA driver for CUDA 13; "
                           "\".[gpu-cuda12]\" for CUDA 12).")
        except Exception as e:      # a broken install fails in its own ways (missing .so, version clash)
            _cupy_error = f"CuPy is installed but broken: importing it failed: {e}. Reinstall it (pip install --force-reinstall)."
        else:
            _cupy_error = _first_contact(cupy)
            if _cupy_error is None:
                _cupy = cupy
                return cupy
    raise DeviceError(f"device 'cuda' is not available: {_cupy_error} Use device 'cpu' instead.")


def _first_contact(cupy):
    """Why this CuPy cannot run on this machine (a sentence with the fix), or None when it can."""
    def version(v):
        return f"{v // 1000}.{v % 1000 // 10}"

    try:
        runtime = cupy.cuda.runtime
        built_for = runtime.runtimeGetVersion() // 1000
        wheel = _WHEEL.get(built_for, f"the cupy-cuda{built_for}x wheel")
        try:
            count = runtime.getDeviceCount()
        except Exception as e:      # CUDARuntimeError subclasses differ across versions
            return f"CuPy is installed but the CUDA driver/runtime failed: {e}. Check `nvidia-smi`."
        if count == 0:
            return "CuPy is installed but no CUDA device was found (getDeviceCount() == 0)."
        driver = runtime.driverGetVersion()
        if driver // 1000 < built_for:
            return (f"the NVIDIA driver supports CUDA {version(driver)} but {wheel} needs CUDA {built_for}: update the "
                    f"driver, or install the wheel for this driver ({_WHEEL.get(driver // 1000, 'see CuPy')}).")
        props = runtime.getDeviceProperties(0)
        capability, oldest = (props["major"], props["minor"]), _OLDEST_GPU.get(built_for, (0, 0))
        if capability < oldest:
            return (f"this GPU (compute capability {capability[0]}.{capability[1]}) is older than CUDA {built_for} "
                    f"supports ({oldest[0]}.{oldest[1]} and newer): install cupy-cuda12x instead of {wheel}.")
    except Exception as e:
        return f"CuPy is installed but broken: {type(e).__name__}: {e}. Reinstall it (pip install --force-reinstall)."
    try:                            # the first kernel compiles through NVRTC; the matrix product needs cuBLAS
        a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
        cupy.matmul(cupy.add(cupy.multiply(a, 2), 1), a.T)
        cupy.cuda.Device().synchronize()
    except Exception as e:
        text = str(e)
        if any(name in text.lower() for name in ("nvrtc", "cublas", "shared object", "libcu", "cuda_path")):
            return (f"CuPy cannot find the CUDA libraries ({type(e).__name__}: {text}). Install them with the wheel: "
                    f"pip install \"{wheel}[ctk]\", or install the CUDA {built_for} toolkit.")
        return f"CuPy failed on its first kernel ({type(e).__name__}: {text}). Reinstall it, or check `nvidia-smi`."
    return None


def cuda_available():
    """True when CuPy imports and at least one CUDA device is present."""
    try:
        _load_cupy()
    except DeviceError:
        return False
    return True


def cuda_device_count():
    """How many CUDA devices CuPy sees (0 when CuPy or the driver is missing)."""
    return _load_cupy().cuda.runtime.getDeviceCount() if cuda_available() else 0


def is_cupy_array(a):
    """True for a CuPy ndarray (without importing CuPy when it was never asked for)."""
    return _cupy is not None and isinstance(a, _cupy.ndarray)



def cupy_module():
    """The cupy module, loaded and checked (``DeviceError`` saying why when it cannot be used)."""
    return _load_cupy()


def is_array(value):
    """True for a NumPy or CuPy ndarray."""
    return isinstance(value, np.ndarray) or is_cupy_array(value)


def synchronize(array):
    """Wait until the GPU has run the work queued on ``array``'s device; nothing for NumPy arrays.
    CuPy calls return before their kernels finish, so a timer must call this before reading the clock."""
    if is_cupy_array(array):
        array.device.synchronize()


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        if is_cupy_array(a):
            return _cupy
    return np


def normalize_device(device):
    """'cpu' -> 'cpu'; 'cuda' / 'gpu' -> 'cuda:0'; 'cuda:1' -> 'cuda:1'; anything else is an error."""
    d = str(device).strip().lower()
    if d == "cpu":
        return "cpu"
    if d in ("cuda", "gpu"):
        return "cuda:0"
    if d.startswith("cuda:") and d[5:].isdigit():
        return d
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


class device(str):
    """A device as PyTorch names it: ``device('cuda')``, ``device('cuda', 1)``, ``device('cpu')``.

    It is the normalised device string ('cpu', 'cuda:0') with ``type`` and ``index`` attributes, so it
    goes wherever a device string does (``tensor.to(d)``, ``model.to(d)``) and equals that string.
    """

    def __new__(cls, type, index=None):
        name = normalize_device(type if index is None else f"{type}:{index}")
        self = super().__new__(cls, name)
        self.type, _, number = name.partition(":")
        self.index = int(number) if number else None
        return self

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")


def pick_device(name):
    """A command-line device choice: 'auto' is 'cuda:0' when a GPU works, else 'cpu'; others as normalize_device."""
    if str(name).strip().lower() == "auto":
        return "cuda:0" if cuda_available() else "cpu"
    return normalize_device(name)


def device_of(array):
    """The device string of an array: 'cpu' for NumPy, 'cuda:N' for CuPy."""
    if is_cupy_array(array):
        return f"cuda:{array.device.id}"
    return "cpu"


def device_name(device):
    """A readable name: the CPU's model and core count, or the GPU's name."""
    device = normalize_device(device)
    if device == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    cupy = _load_cupy()
    name = cupy.cuda.runtime.getDeviceProperties(int(device.split(":")[1]))["name"]
    return f"{device} ({name.decode() if isinstance(name, bytes) else name})"


def device_report(device):
    """What a GPU is and runs with: name, memory, compute capability, driver, CUDA runtime and CuPy
    versions (a dict of strings); for 'cpu', the processor."""
    device = normalize_device(device)
    if device == "cpu":
        return {"device": device_name(device)}
    cupy = _load_cupy()
    index = int(device.split(":")[1])
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(index)
    cuda_version = lambda v: f"{v // 1000}.{v % 1000 // 10}"        # noqa: E731  (13000 -> "13.0")
    return {"device": device_name(device), "memory": f"{props['totalGlobalMem'] / 2**30:.1f} GiB",
            "compute_capability": f"{props['major']}.{props['minor']}",
            "driver": f"CUDA {cuda_version(runtime.driverGetVersion())}",
            "runtime": f"CUDA {cuda_version(runtime.runtimeGetVersion())}", "cupy": cupy.__version__}


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = normalize_device(device)
    if device == "cpu":
        return _cupy.asnumpy(array) if is_cupy_array(array) else np.asarray(array)
    cupy = _load_cupy()
    index = int(device.split(":")[1])
    if index >= cupy.cuda.runtime.getDeviceCount():
        raise DeviceError(f"device {device!r} does not exist: "
                          f"{cupy.cuda.runtime.getDeviceCount()} CUDA device(s) found")
    with cupy.cuda.Device(index):
        return cupy.asarray(array)


_default_device = None


def get_default_device():
    """The device new tensors go to: set_default_device(), else $MINICNN_DEVICE, else 'cpu'."""
    global _default_device
    if _default_device is None:
        _default_device = normalize_device(os.environ.get("MINICNN_DEVICE", "cpu"))
    return _default_device


def set_default_device(device):
    """Make ``device`` the default for new tensors; asking for 'cuda' checks it works now."""
    global _default_device
    device = normalize_device(device)
    if device != "cpu":
        _load_cupy()
    _default_device = device


def as_strided(x, shape, strides):
    """A strided view of ``x`` (no copy); strides are in bytes, as in NumPy."""
    if is_cupy_array(x):
        return _cupy.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    return _np_as_strided(x, shape=shape, strides=strides, writeable=False)


def scatter_add(target, indices, values):
    """``target[indices] += values`` where repeated indices accumulate (unbuffered)."""
    if is_cupy_array(target):
        import cupyx
        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)
