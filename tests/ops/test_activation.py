"""relu, leaky_relu, sigmoid, tanh: against PyTorch, finite differences and edge values."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
from minicnn.ops import leaky_relu, relu, sigmoid, tanh
from tests.oracle import compare_with_torch, gradcheck_arrays

OPS = {
    "relu": (relu, F.relu),
    "leaky_relu": (leaky_relu, F.leaky_relu),
    "leaky_relu_0.2": (lambda x: leaky_relu(x, negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2)),
    "sigmoid": (sigmoid, torch.sigmoid),
    "tanh": (tanh, torch.tanh),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPS))
def test_matches_torch(name, dtype, xp, fast_path, rng):
    ours, theirs = OPS[name]
    x = 3 * rng.standard_normal((2, 3, 4, 5))
    compare_with_torch(ours, theirs, [x], xp, dtype=dtype)


@pytest.mark.parametrize("shape", [(1, 3), (3, 5, 1, 3)])
@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck(name, shape, xp, fast_path, rng):
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5          # keep the finite differences away from ReLU's kink
    gradcheck_arrays(OPS[name][0], [x], xp)


def test_relu_gradient_at_zero_is_zero_as_in_torch(xp, fast_path):
    x = mc.Tensor(xp.zeros((2, 3)), requires_grad=True)
    relu(x).backward(xp.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_relu_passes_nan_through_as_torch(fast_path):
    x = np.array([np.nan, -1.0, 2.0, -np.inf, np.inf], np.float32)
    np.testing.assert_array_equal(relu(mc.Tensor(x)).numpy(), F.relu(torch.tensor(x)).numpy())


def test_relu_keeps_no_memory_of_its_own_for_backward(fast_path):
    """It saves its output, which the next op holds anyway: the profiler counts no new bytes saved
    (a mask x > 0 would be one byte per element)."""
    x = mc.Tensor(np.linspace(-1, 1, 60, dtype=np.float32).reshape(3, 4, 5), requires_grad=True)
    with mc.profile() as prof:
        y = relu(x)
    (record,) = prof.records
    assert record.output_bytes == y.array.nbytes and record.saved_bytes == 0


def test_leaky_relu_values(xp):
    x = mc.Tensor(xp.asarray([-2.0, 0.0, 3.0]))
    np.testing.assert_allclose(leaky_relu(x, 0.1).numpy(), [-0.2, 0.0, 3.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_is_stable_for_large_inputs(dtype, xp):
    x = mc.Tensor(xp.asarray([-1000.0, -60.0, 0.0, 60.0, 1000.0], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid(x)
        y.backward(xp.ones(5, dtype=dtype))
    assert y.dtype == dtype
    expected = torch.sigmoid(torch.tensor(x.numpy())).numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=0)
    assert y.numpy()[0] == 0 and y.numpy()[2] == 0.5 and y.numpy()[4] == 1
    assert np.all(np.isfinite(x.grad.numpy())) and x.grad.numpy()[0] == 0 and x.grad.numpy()[4] == 0


def test_tanh_saturates(xp):
    x = mc.Tensor(xp.asarray([-500.0, 500.0]), requires_grad=True)
    y = tanh(x)
    y.backward(xp.ones(2))
    np.testing.assert_array_equal(y.numpy(), [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_leaky_relu_rejects_non_number_slope():
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a Python number, got str"):
        leaky_relu(mc.Tensor(np.ones(3)), negative_slope="0.1")
