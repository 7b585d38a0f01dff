import re
import sys
import types

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend


def test_cpu_is_numpy():
    x = np.zeros(3)
    assert backend.get_array_module(x) is np
    assert backend.device_of(x) == "cpu"
    assert mc.Tensor(x).device == "cpu"


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CUDA", "cuda:0"), ("gpu", "cuda:0"), ("cuda:1", "cuda:1")])
def test_normalize_device(name, expected):
    assert backend.normalize_device(name) == expected


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.normalize_device("tpu")


@pytest.mark.skipif(backend.cuda_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_says_why_and_how_to_fix():
    with pytest.raises(backend.DeviceError, match="device 'cuda' is not available: .*Use device 'cpu'"):
        mc.Tensor([1.0]).to("cuda")
    with pytest.raises(backend.DeviceError, match="not available"):
        mc.set_default_device("cuda")
    assert mc.get_default_device() == "cpu"
    assert not mc.cuda_available()


def test_default_device_from_environment(monkeypatch):
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setenv("MINICNN_DEVICE", "cpu")
    assert backend.get_default_device() == "cpu"
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setenv("MINICNN_DEVICE", "abacus")
    with pytest.raises(ValueError, match="unknown device 'abacus'"):
        backend.get_default_device()
    monkeypatch.setattr(backend, "_default_device", None)


def test_scatter_add_accumulates_repeated_indices():
    target = np.zeros(4)
    backend.scatter_add(target, np.array([1, 1, 3]), np.array([1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(target, [0, 3, 0, 5])


def test_as_strided_view_is_read_only_and_shares_memory():
    x = np.arange(6.0)
    v = backend.as_strided(x, (2, 2), (2 * x.itemsize, x.itemsize))
    np.testing.assert_array_equal(v, [[0, 1], [2, 3]])
    assert np.shares_memory(v, x) and not v.flags.writeable


@pytest.mark.gpu
def test_mixing_devices_names_both(cupy):
    a, b = mc.Tensor(np.ones(2)), mc.Tensor(np.ones(2)).to("cuda")
    with pytest.raises(backend.DeviceError, match="cpu and cuda:0"):
        a + b


def test_mixing_devices_error_without_gpu(monkeypatch):
    """The device check itself, with device_of faked so it runs on CPU-only machines."""
    a, b = mc.Tensor(np.ones(2)), mc.Tensor(np.ones(2))
    real = backend.device_of
    import minicnn.autograd as autograd
    monkeypatch.setattr(autograd, "device_of", lambda arr: "cuda:0" if arr is b.array else real(arr))
    with pytest.raises(backend.DeviceError, match=r"Add: inputs are on different devices \(cpu and cuda:0\)"):
        a + b


def test_device_name_is_readable():
    assert backend.device_name("cpu").startswith("cpu (") and "cores)" in backend.device_name("cpu")


def test_pick_device_auto_falls_back_to_cpu_without_a_gpu():
    assert backend.pick_device("auto") == ("cuda:0" if backend.cuda_available() else "cpu")
    assert backend.pick_device("CPU") == "cpu"


def test_device_objects_as_torch_names_them():
    import torch
    d = mc.device("cuda", 1)
    assert d == "cuda:1" and d.type == "cuda" and d.index == 1 and repr(d) == "device(type='cuda', index=1)"
    cpu = mc.device("cpu")
    assert cpu == "cpu" and cpu.index is None and repr(cpu) == repr(torch.device("cpu")) and str(cpu) == "cpu"
    assert mc.zeros(2, device=cpu).device == "cpu" and mc.zeros(2).to(cpu).device.type == "cpu"
    assert mc.nn.Linear(2, 2).to(cpu).weight.device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mc.device("tpu")


def test_cuda_and_accelerator_answer_like_torch_without_a_gpu():
    """On a machine without a working GPU both say so, as PyTorch does there; with one, they name it."""
    available = backend.cuda_available()
    assert mc.cuda.is_available() is available and mc.accelerator.is_available() is available
    assert mc.cuda.device_count() == (backend.cuda_device_count() if available else 0)
    assert mc.accelerator.current_accelerator() == ("cuda:0" if available else None)
    device = mc.device("cuda:0" if mc.cuda.is_available() else "cpu")      # the tutorials' line
    assert mc.ones(2).to(device).device == device


def test_backends_flags_are_recorded_and_mps_is_absent(monkeypatch):
    """The lines of PyTorch's examples run unchanged; the flags read back as set."""
    assert mc.backends.mps.is_available() is False and mc.backends.cudnn.benchmark is False
    for flag in ("benchmark", "deterministic"):
        monkeypatch.setattr(mc.backends.cudnn, flag, True)       # undone after the test: the namespace is global
        assert getattr(mc.backends.cudnn, flag) is True
    device = mc.device("cuda" if mc.cuda.is_available() else "mps" if mc.backends.mps.is_available() else "cpu")
    assert device == ("cuda:0" if mc.cuda.is_available() else "cpu")


def _first_contact_error(monkeypatch):
    """What loading CuPy says now, from scratch (the loaded module is put back after the test)."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    with pytest.raises(backend.DeviceError) as error:
        backend.cupy_module()
    message = str(error.value)
    assert message.startswith("device 'cuda' is not available: ") and "\n" not in message
    return message


def _failing(exception):
    def fail(*args, **kwargs):
        raise exception
    return fail


@pytest.mark.parametrize("breakage, expected", [
    (lambda cp, mp: mp.setattr(cp.cuda.runtime, "getDeviceCount", lambda: 0), "no CUDA device was found"),
    (lambda cp, mp: mp.setattr(cp.cuda.runtime, "driverGetVersion", lambda: 12040),
     r"driver supports CUDA 12.4 but cupy-cuda13x needs CUDA 13: update the driver, or install the wheel for "
     r"this driver \(cupy-cuda12x\)"),
    (lambda cp, mp: mp.setattr(cp.cuda.runtime, "getDeviceProperties",
                               lambda i: {"name": b"old", "totalGlobalMem": 2**30, "major": 6, "minor": 1}),
     r"compute capability 6.1\) is older than CUDA 13 supports \(7.5 and newer\): install cupy-cuda12x"),
    (lambda cp, mp: mp.setattr(cp, "multiply", _failing(RuntimeError("CuPy failed to load libnvrtc.so.13"))),
     r"cannot find the CUDA libraries .*pip install \"cupy-cuda13x\[ctk\]\", or install the CUDA 13 toolkit"),
    (lambda cp, mp: mp.setattr(cp, "matmul", _failing(RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED"))),
     r"cannot find the CUDA libraries"),
    (lambda cp, mp: mp.setattr(cp, "add", _failing(RuntimeError("an illegal memory access"))),
     "failed on its first kernel .*illegal memory access"),
    (lambda cp, mp: mp.setattr(cp.cuda, "runtime", None), "CuPy is installed but broken: AttributeError"),
])
def test_each_first_contact_failure_is_one_line_naming_cause_and_fix(cupy, monkeypatch, breakage, expected):
    breakage(cupy, monkeypatch)
    assert re.search(expected, _first_contact_error(monkeypatch))


def test_cupy_missing_or_failing_to_import_says_what_to_install(cupy, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy raises ImportError
    assert re.search(r"CuPy is not installed .*pip install -e \"\.\[gpu\]\"", _first_contact_error(monkeypatch))
    broken = types.ModuleType("cupy")
    broken.__getattr__ = _failing(OSError("libcudart.so.13: cannot open shared object file"))
    monkeypatch.setitem(sys.modules, "cupy", broken)
    assert "CuPy is installed but broken" in _first_contact_error(monkeypatch)
