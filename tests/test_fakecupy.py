"""The fake CuPy of tests/fakecupy is a test tool: each rule it keeps is shown to fire here.

It is imported from its folder for this file only (and forgotten afterwards), so the rest of
this process still sees no CuPy; ``PYTHONPATH=tests/fakecupy pytest -m gpu`` runs the GPU cases on it.
"""
import os
import sys

import numba
import numpy as np
import pytest

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakecupy")


@pytest.fixture(scope="module")
def cp():
    already = "cupy" in sys.modules
    sys.path.insert(0, FAKE)
    try:
        import cupy
        import cupyx
        assert cupy.__file__.startswith(FAKE), cupy.__file__
        cupy.cupyx = cupyx
        yield cupy
    finally:
        sys.path.remove(FAKE)
        if not already:     # the other tests in this process keep seeing no CuPy
            for name in [n for n in sys.modules if n.split(".")[0] in ("cupy", "cupyx")]:
                del sys.modules[name]


def test_implicit_conversion_to_numpy_raises_and_get_is_the_way(cp):
    x = cp.arange(3.0)
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="implicit conversion"):
        np.array([x, x])
    host = x.get()
    assert type(host) is np.ndarray and host.tolist() == [0.0, 1.0, 2.0]
    assert type(cp.asnumpy(x)) is np.ndarray and cp.asnumpy(np.ones(2)).tolist() == [1.0, 1.0]


def test_mixing_with_numpy_arrays_raises(cp):
    x, host = cp.ones(3), np.ones(3)
    for mix in (lambda: x + host, lambda: host * x, lambda: cp.maximum(x, host), lambda: np.add(host, x),
                lambda: cp.matmul(x, host), lambda: cp.exp(host)):
        with pytest.raises(TypeError, match="NumPy array cannot take part"):
            mix()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[:] = host
    assert (x + np.float32(2)).get().tolist() == [3.0] * 3         # NumPy scalars are fine
    assert cp.asarray(host).get().tolist() == [1.0] * 3            # and asarray copies host data in


def test_numpy_functions_on_device_arrays_stay_on_the_device(cp):
    x = cp.arange(6.0).reshape(2, 3)
    assert type(np.exp(x)) is cp.ndarray and type(np.sum(x, axis=0)) is cp.ndarray
    total = x.sum()
    assert type(total) is cp.ndarray and total.shape == ()         # reductions give 0-d device arrays
    assert cp.get_array_module(x) is cp and cp.get_array_module(np.ones(1)) is np
    assert cp.asarray(x) is x and cp.add(x, 1, out=x) is x
    owner = cp.zeros(4)
    view = owner[1:]
    assert view.base is owner and owner.base is None                # views know the array they view


def test_numba_kernels_refuse_device_arrays(cp):
    @numba.njit
    def total(a):
        return a.sum()

    assert total(np.ones(3)) == 3.0
    with pytest.raises(numba.core.errors.TypingError):
        total(cp.ones(3))


def test_reading_a_value_on_the_host_is_counted(cp):
    x = cp.arange(4.0)
    with cp.fake.host_syncs() as syncs:
        y = (x * 2).sum()                       # device work only
        assert syncs.count == 0
        assert float(y) == 12.0 and int(x[1]) == 1 and x[2].item() == 2.0 and bool(x[3])
        x.get()
        cp.asnumpy(x)
        x[x > 1]                                # a mask's result size is read on the host
        cp.cuda.Device().synchronize()
    assert syncs.count == 8
    kinds = sorted(place.rsplit("(", 1)[1].rstrip(")") for place in syncs.places)
    assert kinds == ["Device.synchronize", "bool", "boolean mask index", "float", "get", "get", "int", "item"]
    assert all(place.startswith("tests/test_fakecupy.py:") for place in syncs.places), syncs.places


def test_device_runtime_random_memory_and_strides(cp):
    assert cp.cuda.runtime.getDeviceCount() == 1
    assert b"fake" in cp.cuda.runtime.getDeviceProperties(0)["name"]
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError):
        cp.cuda.Device(1)
    with cp.cuda.Device(0):
        x = cp.zeros((2, 3), cp.float32)
    assert x.device.id == 0 and x.device == cp.cuda.Device(0)
    a = cp.random.default_rng(3).random((2, 2), dtype=cp.float32)
    assert type(a) is cp.ndarray and a.dtype == np.float32
    assert cp.random.default_rng(3).random((2, 2), dtype=cp.float32).get().tolist() == a.get().tolist()
    pool = cp.get_default_memory_pool()
    before = pool.used_bytes()
    big = cp.empty(1000, cp.float64)
    assert pool.used_bytes() == before + 8000 and pool.total_bytes() >= pool.used_bytes()
    del big
    assert pool.used_bytes() == before
    windows = cp.lib.stride_tricks.as_strided(cp.arange(5.0), shape=(3, 3), strides=(8, 8))
    assert type(windows) is cp.ndarray and windows.get()[2].tolist() == [2.0, 3.0, 4.0]


def test_scatter_add_accumulates_repeated_indices(cp):
    target = cp.zeros(3)
    cp.cupyx.scatter_add(target, cp.asarray([0, 0, 2]), cp.asarray([1.0, 2.0, 5.0]))
    assert target.get().tolist() == [3.0, 0.0, 5.0]
    with pytest.raises(TypeError, match="cupy.ndarray"):
        cp.cupyx.scatter_add(np.zeros(3), [0], 1.0)
