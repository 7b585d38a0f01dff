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


def _kinds(recorded):
    """The kinds of launch seen, in sorted order (each place ends with "(kind)")."""
    return sorted(place.rsplit("(", 1)[1].rstrip(")") for place, n in recorded.places.items() for _ in range(n))


def test_each_kind_of_launch_is_counted_and_views_are_free(cp):
    x = cp.arange(12.0).reshape(3, 4)
    with cp.fake.launches() as views:
        x.T, x.reshape(4, 3), x[1:, ::2], x[None], cp.transpose(x), cp.empty((2, 2)), x.shape, x.astype(x.dtype, copy=False)
        cp.lib.stride_tricks.as_strided(x, shape=(2, 2), strides=(8, 8)), cp.ascontiguousarray(x)
    assert views.count == 0, views.places
    with cp.fake.launches() as counted:
        x + 1                                   # elementwise (an operator)
        cp.exp(x)                               # a ufunc
        x.sum(axis=0)                           # a reduction
        x.astype(cp.float32)                    # a copy
        cp.ascontiguousarray(x.T)               # a copy, as the view is not contiguous
        x[cp.asarray([0, 2])]                   # a host-to-device copy, then a gather
        y = cp.zeros((3, 4))                    # a fill
        y[...] = x                              # a setitem from another array
        cp.random.default_rng(0).random(3)      # a random draw
        cp.cupyx.scatter_add(y, cp.asarray([0]), 1.0)   # a host-to-device copy, then a scatter
    assert _kinds(counted) == sorted(["add", "exp", "sum", "astype", "ascontiguousarray", "asarray: host to device",
                                      "advanced indexing", "zeros", "setitem", "random random",
                                      "asarray: host to device", "cupyx.scatter_add"])


def test_a_matrix_product_counts_the_operand_copies_cublas_needs(cp):
    a, b = cp.ones((4, 3)), cp.ones((3, 5))
    with cp.fake.launches() as two_d:
        a @ b, a.T.T @ b, cp.matmul(b.T, a.T)   # C- or F-contiguous: cuBLAS reads them as they are
    assert two_d.count == 3
    batch, right, stacked = cp.ones((2, 4, 3)), cp.ones((2, 4, 5)), cp.ones((2, 3, 5))
    with cp.fake.launches() as batched:
        cp.matmul(batch.transpose(0, 2, 1), right)      # a transposed batch is copied
        cp.matmul(a, stacked)                           # and so is a broadcast one
    assert _kinds(batched) == ["matmul", "matmul", "matmul: operand copy", "matmul: operand copy"]
    with cp.fake.launches() as joined:
        cp.concatenate([a.ravel(), b.ravel()])  # tables of pointers, offsets and strides, then one kernel
    assert joined.count == 4


def test_a_fused_function_is_one_launch_and_computes_as_numpy(cp):
    @cp.fuse()
    def scaled_relu(x, s):
        return cp.maximum(x * s, 0)

    @cp.fuse()
    def centred_square_sum(x, mean):
        return cp.sum((x - mean) * (x - mean), axis=0) / 2        # one reduction, then its own post-map

    @cp.fuse()
    def step(p, g, lr):
        p -= lr * g                             # in place on an argument

    x = cp.asarray(np.array([[-1.0, 2.0], [3.0, -4.0]]))
    p, g = cp.ones(2), cp.ones(2)
    with cp.fake.launches() as launches:
        y = scaled_relu(x, 2.0)
        s = centred_square_sum(x, x.mean(axis=0))
        step(p, g, 0.5)
    assert _kinds(launches) == ["fused centred_square_sum", "fused scaled_relu", "fused step", "mean"]
    assert y.get().tolist() == [[0.0, 4.0], [6.0, 0.0]] and s.get().tolist() == [4.0, 9.0]
    assert p.get().tolist() == [0.5, 0.5]


@pytest.mark.parametrize("body, message", [
    (lambda cp, x: x @ x, "matrix product"),
    (lambda cp, x: x[0] + 1, "indexing"),
    (lambda cp, x: x.reshape(4), "reshape"),
    (lambda cp, x: cp.sum(x, axis=0) + cp.sum(x, axis=1), "before the reduction|second reduction"),
    (lambda cp, x: cp.sum(x, axis=0) + x, "before the reduction"),
    (lambda cp, x: x + 1 if x > 0 else x, "read on the host"),
    (lambda cp, x: cp.cumsum(x), "cumsum"),
    (lambda cp, x: (lambda twice: (cp.sum(x, axis=0), twice))(x * 2), "every output"),
])
def test_fuse_refuses_what_cupy_cannot_compile_into_one_kernel(cp, body, message):
    fused = cp.fuse(kernel_name="refused")(lambda x: body(cp, x))
    with pytest.raises(TypeError, match=message):
        fused(cp.ones((2, 2)))


# The fake runs a custom kernel through the NumPy twin that the module making it names here.
NUMPY_TWINS = {"twice": lambda x, out: out.__setitem__(Ellipsis, x * 2), "total": lambda x: x.sum(),
               "raw_twice": lambda x, out, n: out.__setitem__(Ellipsis, x * 2)}


def test_a_custom_kernel_runs_its_modules_numpy_twin_as_one_launch(cp):
    twice = cp.ElementwiseKernel("T x", "T y", "y = 2 * x", name="twice")
    total = cp.ReductionKernel("T x", "T y", "x", "a + b", "y = a", "0", name="total")
    raw_twice = cp.RawKernel(r'extern "C" __global__ void raw_twice(const double* x, double* y, int n) {}',
                             "raw_twice")
    x, out, raw_out = cp.arange(3.0), cp.empty(3), cp.empty(3)
    with cp.fake.launches() as launches:
        twice(x, out)
        summed = total(x)
        raw_twice((1,), (3,), (x, raw_out, 3))
    assert _kinds(launches) == ["kernel raw_twice", "kernel total", "kernel twice"]
    assert out.get().tolist() == raw_out.get().tolist() == [0.0, 2.0, 4.0] and float(summed) == 3.0
    with pytest.raises(NotImplementedError, match="no NumPy twin"):
        cp.ElementwiseKernel("T x", "T y", "y = x", name="untwinned")
