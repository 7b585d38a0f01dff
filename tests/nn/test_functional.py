"""minicnn.nn.functional against torch.nn.functional: the same values and gradients, and the
same Function classes as the layers (no second implementation); on the CPU and the GPU (``xp``)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.nn.functional as F
from minicnn import nn
from tests.oracle import compare_with_torch, gradcheck_arrays

rng = np.random.default_rng(7)
X4 = rng.standard_normal((2, 3, 6, 6))
W = rng.standard_normal((4, 3, 3, 3)) * 0.3
W_EVEN = rng.standard_normal((4, 3, 4, 2)) * 0.3
LABELS = np.array([2, 0])

CASES = [
    ("relu", lambda f, x: f.relu(x), [X4]),
    ("leaky_relu", lambda f, x: f.leaky_relu(x, 0.2), [X4]),
    ("sigmoid", lambda f, x: f.sigmoid(x), [X4]),
    ("tanh", lambda f, x: f.tanh(x), [X4]),
    ("softmax", lambda f, x: f.softmax(x, dim=1), [X4]),
    ("softmax_implicit_dim_3d", lambda f, x: f.softmax(x[0]) if f is F else f.softmax(x[0], dim=0), [X4]),
    ("log_softmax", lambda f, x: f.log_softmax(x, 1), [X4[:, :, 0, 0]]),
    ("conv2d", lambda f, x, w: f.conv2d(x, w, stride=2, padding=1), [X4, W]),
    ("conv2d_same", lambda f, x, w: f.conv2d(x, w, padding="same"), [X4, W]),
    ("conv2d_same_even_kernel", lambda f, x, w: f.conv2d(x, w, padding="same"), [X4, W_EVEN]),
    ("conv2d_valid", lambda f, x, w: f.conv2d(x, w, padding="valid"), [X4, W]),
    ("linear", lambda f, x, w: f.linear(x, w), [X4[:, :, 0, 0], W[:, :, 0, 0]]),
    ("max_pool2d", lambda f, x: f.max_pool2d(x, (2, 2)), [X4]),
    ("max_pool2d_stride", lambda f, x: f.max_pool2d(x, 3, stride=2, padding=1), [X4]),
    ("avg_pool2d", lambda f, x: f.avg_pool2d(x, 2), [X4]),
    ("adaptive_avg_pool2d", lambda f, x: f.adaptive_avg_pool2d(x, (2, 3)), [X4]),
    ("pad", lambda f, x: f.pad(x, (1, 2, 0, 3)), [X4]),
    ("pad_width_only", lambda f, x: f.pad(x, (2, 1)), [X4]),
    ("cross_entropy", lambda f, x: f.cross_entropy(x, _labels(f)), [X4[:, :, 0, 0]]),
    ("nll_loss", lambda f, x: f.nll_loss(f.log_softmax(x, 1), _labels(f)), [X4[:, :, 0, 0]]),
    ("nll_loss_sum", lambda f, x: f.nll_loss(x, _labels(f), reduction="sum"), [X4[:, :, 0, 0]]),
    ("mse_loss", lambda f, x, y: f.mse_loss(x, y), [X4, X4[::-1].copy()]),
    ("bce", lambda f, x, y: f.binary_cross_entropy(f.sigmoid(x), y), [X4, 1 / (1 + np.exp(X4))]),
    ("relu_inplace", lambda f, x: f.relu(x * 2, inplace=True), [X4]),
    ("leaky_relu_inplace", lambda f, x: f.leaky_relu(x - 0.1, 0.2, inplace=True), [X4]),
    ("bce_with_logits", lambda f, x, y: f.binary_cross_entropy_with_logits(x, y), [X4, 1 / (1 + np.exp(X4))]),
]


def _labels(f):
    return mc.tensor(LABELS) if f is F else torch.tensor(LABELS)


@pytest.mark.parametrize("name, call, arrays", CASES, ids=[c[0] for c in CASES])
def test_functional_matches_torch(name, call, arrays, xp):
    compare_with_torch(lambda *xs: call(F, *xs), lambda *xs: call(TF, *xs), arrays, xp)
    compare_with_torch(lambda *xs: call(F, *xs), lambda *xs: call(TF, *xs), arrays, xp, np.float32)


def test_functional_uses_the_ops_functions():
    """F.relu's graph node is the ReLU Function of minicnn/ops, the same one nn.ReLU records."""
    x = mc.randn(3, requires_grad=True)
    assert type(F.relu(x).grad_fn) is type(nn.ReLU()(x).grad_fn) is mc.ops.activation.ReLU
    assert type(F.nll_loss(F.log_softmax(mc.randn(2, 3, requires_grad=True), 1), mc.tensor([0, 1])).grad_fn) \
        .__name__ == "Div"        # the mean: a sum divided by N, gradients through GetItem


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_inplace_activation_overwrites_its_input_as_torch_does(name):
    a, ta = mc.tensor(X4, requires_grad=True), torch.tensor(X4, requires_grad=True)
    x, tx = a * 1, ta * 1
    y, ty = getattr(F, name)(x, inplace=True), getattr(TF, name)(tx, inplace=True)
    assert y is x and ty is tx
    np.testing.assert_array_equal(x.numpy(), tx.detach().numpy())
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match=f"{name}: a leaf tensor that requires grad cannot be changed in place"):
        getattr(F, name)(a, inplace=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(TF, name)(ta, inplace=True)
    np.testing.assert_array_equal(a.numpy(), X4)          # refused before anything was written


def test_nll_loss_gradcheck(xp):
    gradcheck_arrays(lambda x: F.nll_loss(x, mc.tensor(xp.asarray(LABELS))), [X4[:, :, 0, 0]], xp)


def test_one_hot_and_errors():
    got = F.one_hot(mc.tensor([0, 2, 1]))
    want = TF.one_hot(torch.tensor([0, 2, 1]))
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    assert F.one_hot(mc.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1, got stride=\\(2, 2\\)"):
        F.conv2d(mc.tensor(X4), mc.tensor(W), stride=2, padding="same")
    dilated = F.conv2d(mc.tensor(X4), mc.tensor(W), dilation=2, padding="same")     # supported now, as in torch
    np.testing.assert_allclose(dilated.numpy(), TF.conv2d(torch.tensor(X4), torch.tensor(W), dilation=2,
                                                          padding="same").numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="conv2d: dilation must be positive, got \\(0, 0\\)"):
        F.conv2d(mc.tensor(X4), mc.tensor(W), dilation=0)
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        F.pad(mc.tensor(X4), (1, 1), mode="reflect")
