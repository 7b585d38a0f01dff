"""linear: y = x @ W.T + b against PyTorch, finite differences and its error messages."""
import numpy as np
import pytest
import torch.nn.functional as F

import minicnn as mc
from minicnn.ops import linear
from tests.oracle import compare_with_torch, gradcheck_arrays


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, IN, OUT", [(1, 3, 5), (7, 13, 4)])
def test_matches_torch(N, IN, OUT, dtype, xp, rng):
    x, W, b = rng.standard_normal((N, IN)), rng.standard_normal((OUT, IN)), rng.standard_normal(OUT)
    compare_with_torch(linear, F.linear, [x, W, b], xp, dtype=dtype)
    compare_with_torch(linear, F.linear, [x, W], xp, dtype=dtype)


@pytest.mark.parametrize("N, IN, OUT", [(1, 3, 2), (3, 5, 4)])
def test_gradcheck(N, IN, OUT, xp, rng):
    x, W, b = rng.standard_normal((N, IN)), rng.standard_normal((OUT, IN)), rng.standard_normal(OUT)
    gradcheck_arrays(linear, [x, W, b], xp)
    gradcheck_arrays(linear, [x, W], xp)


def test_only_requested_gradients_are_computed(xp, rng):
    x = mc.Tensor(xp.asarray(rng.standard_normal((2, 3))))
    W = mc.Tensor(xp.asarray(rng.standard_normal((4, 3))), requires_grad=True)
    linear(x, W).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(W.grad.numpy(), np.ones((4, 2)) @ x.numpy())


def _t(*shape, dtype=np.float64):
    return mc.Tensor(np.zeros(shape, dtype=dtype))


def test_error_in_features_mismatch():
    with pytest.raises(ValueError, match=r"linear: x has 5 input features but weight \(3, 4\) expects IN = 4: "
                                         r"x shape \(2, 5\)"):
        linear(_t(2, 5), _t(3, 4))


def test_error_x_not_2d():
    with pytest.raises(ValueError, match=r"linear: x must be \(N, IN\) = \(N, 4\), got shape \(2, 1, 4\)"):
        linear(_t(2, 1, 4), _t(3, 4))


def test_error_weight_not_2d():
    with pytest.raises(ValueError, match=r"linear: weight must be \(OUT, IN\), got shape \(4,\)"):
        linear(_t(2, 4), _t(4))


def test_error_bias_shape():
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(OUT,\) = \(3,\), got \(4,\)"):
        linear(_t(2, 4), _t(3, 4), _t(4))


def test_error_dtype_mismatch():
    with pytest.raises(TypeError, match="linear: x is float32 but weight is float64"):
        linear(_t(2, 4, dtype=np.float32), _t(3, 4))
    with pytest.raises(TypeError, match="linear: bias is float32 but weight is float64"):
        linear(_t(2, 4), _t(3, 4), _t(3, dtype=np.float32))
