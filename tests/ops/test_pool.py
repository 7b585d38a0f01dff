import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import fast, ops
from tests.oracle import compare_with_torch, gradcheck_arrays

# (x shape, kernel, stride, padding, ceil_mode)
WINDOWS = {
    "2x2_s2": ((2, 3, 6, 6), 2, 2, 0, False),
    "alexnet_3x3_s2_overlap": ((1, 2, 7, 7), 3, 2, 0, False),
    "googlenet_ceil": ((1, 2, 8, 8), 3, 2, 0, True),
    "ceil_pad_odd": ((2, 1, 7, 6), 3, 2, 1, True),
    "padding1_stride1": ((1, 2, 5, 5), 3, 1, 1, False),
    "rect_kernel": ((1, 1, 6, 7), (2, 3), (2, 1), (1, 1), False),
    "batch1_whole_image": ((1, 2, 3, 3), 3, 3, 0, False),
}


def distinct_values(rng, shape):
    """Max-pool's gradient is not differentiable at ties: use well-separated values."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape)


# The max- and average-pool tests run on the NumPy reference and on the numba kernels (fast_path fixture).
@pytest.mark.parametrize("name", WINDOWS)
def test_max_pool_gradcheck(xp, rng, name, fast_path):
    shape, k, s, p, ceil = WINDOWS[name]
    gradcheck_arrays(lambda x: ops.max_pool2d(x, k, s, p, ceil), [distinct_values(rng, shape)], xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", WINDOWS)
def test_max_pool_matches_torch(xp, rng, dtype, name, fast_path):
    shape, k, s, p, ceil = WINDOWS[name]
    compare_with_torch(lambda x: ops.max_pool2d(x, k, s, p, ceil), lambda x: F.max_pool2d(x, k, s, p, ceil_mode=ceil),
                       [distinct_values(rng, shape)], xp, dtype)


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("name", WINDOWS)
def test_avg_pool_gradcheck(xp, rng, name, include_pad, fast_path):
    shape, k, s, p, ceil = WINDOWS[name]
    gradcheck_arrays(lambda x: ops.avg_pool2d(x, k, s, p, ceil, include_pad), [rng.standard_normal(shape)], xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("name", WINDOWS)
def test_avg_pool_matches_torch(xp, rng, dtype, name, include_pad, fast_path):
    shape, k, s, p, ceil = WINDOWS[name]
    compare_with_torch(lambda x: ops.avg_pool2d(x, k, s, p, ceil, include_pad),
                       lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include_pad),
                       [rng.standard_normal(shape)], xp, dtype)


def test_max_pool_tie_routes_gradient_to_one_element(fast_path):
    x = mc.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    ops.max_pool2d(x, 2).sum().backward()
    assert x.grad.numpy().sum() == 1.0 and x.grad.numpy()[0, 0, 0, 0] == 1.0     # the first of the ties


def test_max_pool_nan_wins_its_window(fast_path):
    """As in NumPy's argmax (and torch): a NaN in a window is the window's max."""
    x = np.array([[[[1.0, np.nan, 3.0, 2.0]]]])
    t = mc.Tensor(x, requires_grad=True)
    y = ops.max_pool2d(t, (1, 2))
    assert np.isnan(y.numpy()[0, 0, 0, 0]) and y.numpy()[0, 0, 0, 1] == 3.0
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[[[0, 1, 1, 0]]]])


def test_googlenet_ceil_mode_sizes():
    """GoogLeNet pools 112 -> 56 and 28 -> 14 with 3x3 stride 2 in ceil mode."""
    assert ops.max_pool2d(mc.Tensor(np.zeros((1, 1, 112, 112))), 3, 2, ceil_mode=True).shape == (1, 1, 56, 56)
    assert ops.max_pool2d(mc.Tensor(np.zeros((1, 1, 112, 112))), 3, 2).shape == (1, 1, 55, 55)
    assert ops.max_pool2d(mc.Tensor(np.zeros((1, 1, 28, 28))), 3, 2, ceil_mode=True).shape == (1, 1, 14, 14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_avg_pool(xp, rng, dtype):
    x = rng.standard_normal((2, 3, 4, 5))
    gradcheck_arrays(ops.global_avg_pool2d, [x], xp)
    compare_with_torch(ops.global_avg_pool2d, lambda t: F.adaptive_avg_pool2d(t, 1), [x], xp, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, out", [((2, 3, 6, 6), (2, 2)), ((1, 2, 7, 5), (3, 2)), ((1, 2, 5, 5), (7, 7)),
                                        ((1, 1, 13, 13), 6)])
def test_adaptive_avg_pool(xp, rng, dtype, shape, out):
    x = rng.standard_normal(shape)
    gradcheck_arrays(lambda t: ops.adaptive_avg_pool2d(t, out), [x], xp)
    compare_with_torch(lambda t: ops.adaptive_avg_pool2d(t, out), lambda t: F.adaptive_avg_pool2d(t, out),
                       [x], xp, dtype)


@pytest.mark.parametrize("numba_path", [False, True], ids=["numpy", "numba"])
@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 9), W=st.integers(1, 9), K=st.integers(1, 4), S=st.integers(1, 3), P=st.integers(0, 2),
       ceil=st.booleans(), include_pad=st.booleans(), seed=st.integers(0, 99))
def test_pool_property_matches_torch(numba_path, H, W, K, S, P, ceil, include_pad, seed):
    if numba_path and not fast.available():
        pytest.skip("numba test skipped: numba is not installed")
    previous = fast.set_enabled(numba_path)
    try:
        _check_pool_against_torch(H, W, K, S, P, ceil, include_pad, seed)
    finally:
        fast.set_enabled(previous)


def _check_pool_against_torch(H, W, K, S, P, ceil, include_pad, seed):
    if P > K // 2 or K > H + 2 * P or K > W + 2 * P:
        with pytest.raises(ValueError, match="max_pool2d: (padding must be between|kernel .* is larger)"):
            ops.max_pool2d(mc.Tensor(np.zeros((1, 1, H, W))), K, S, P, ceil)
        return
    x = distinct_values(np.random.default_rng(seed), (2, 2, H, W))
    y = compare_with_torch(lambda t: ops.max_pool2d(t, K, S, P, ceil), lambda t: F.max_pool2d(t, K, S, P, ceil_mode=ceil),
                           [x], np)
    expected = -(-(H + 2 * P - K) // S) + 1 if ceil else (H + 2 * P - K) // S + 1
    if ceil and (expected - 1) * S >= H + P:
        expected -= 1
    assert y.shape[2] == expected
    compare_with_torch(lambda t: ops.avg_pool2d(t, K, S, P, ceil, include_pad),
                       lambda t: F.avg_pool2d(t, K, S, P, ceil_mode=ceil, count_include_pad=include_pad), [x], np)


def T(shape):
    return mc.Tensor(np.zeros(shape))


@pytest.mark.parametrize("call, message", [
    (lambda: ops.max_pool2d(T((1, 8, 8)), 2), r"max_pool2d: input must be \(N, C, H, W\), got shape \(1, 8, 8\)"),
    (lambda: ops.max_pool2d(T((1, 1, 8, 8)), 2, stride=0), r"max_pool2d: kernel_size and stride must be positive"),
    (lambda: ops.max_pool2d(T((1, 1, 8, 8)), 2, padding=2), r"max_pool2d: padding must be between 0 and half"),
    (lambda: ops.avg_pool2d(T((1, 1, 2, 2)), 3), r"avg_pool2d: kernel 3x3 is larger than the padded input 2x2"),
    (lambda: ops.avg_pool2d(T((1, 1, 4, 4)), (2, 2, 2)), r"avg_pool2d: kernel_size must be an int or a pair"),
    (lambda: ops.adaptive_avg_pool2d(T((1, 1, 4, 4)), 0), r"adaptive_avg_pool2d: output_size must be positive"),
    (lambda: ops.global_avg_pool2d(T((4, 4))), r"global_avg_pool2d: input must be \(N, C, H, W\)"),
])
def test_pool_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
