"""Every layer against its torch.nn counterpart with the same weights, forward and backward, float64,
on the CPU and on the GPU (the ``xp`` fixture)."""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import nn
from tests.oracle import device_for, rel_error


def copy_weights(ours, theirs):
    """Load torch's parameters and buffers into our module (same names by construction)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def run_both(ours, theirs, x, train=True, xp=np):
    ours.train(train)
    theirs.train(train)
    copy_weights(ours, theirs)
    ours.to(device_for(xp))
    for p in ours.parameters():
        p.array = p.array.astype(np.float64)
    for b in ours.buffers():
        if b.dtype.kind == "f":
            b.array = b.array.astype(np.float64)
    theirs.double()
    tx = torch.tensor(x, requires_grad=True)
    mx = mc.Tensor(xp.asarray(x), requires_grad=True)
    y, ty = ours(mx), theirs(tx)
    assert y.device == device_for(xp) and all(p.device == y.device for p in ours.parameters())
    assert rel_error(y.numpy(), ty.detach().numpy()) < 1e-10
    gy = np.random.default_rng(5).standard_normal(y.shape)
    y.backward(xp.asarray(gy))
    ty.backward(torch.tensor(gy))
    assert rel_error(mx.grad.numpy(), tx.grad.numpy()) < 1e-10
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_error(p.grad.numpy(), theirs_params[name].grad.numpy()) < 1e-10, name
    theirs_buffers = dict(theirs.named_buffers())
    for name, b in ours.named_buffers():
        assert rel_error(b.numpy(), theirs_buffers[name].numpy()) < 1e-10, name


LAYERS = {
    "conv": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
             lambda: torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 7)),
    "conv_transpose": (lambda: nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2),
                       lambda: torch.nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2), (2, 4, 3, 3)),
    "conv_transpose_positional": (lambda: nn.ConvTranspose2d(3, 2, 3, 2, 1, 1, 1, False, 2),  # PyTorch's order
                                  lambda: torch.nn.ConvTranspose2d(3, 2, 3, 2, 1, 1, 1, False, 2), (1, 3, 4, 5)),
    "conv_dilated_same": (lambda: nn.Conv2d(3, 4, 3, padding="same", dilation=2),
                          lambda: torch.nn.Conv2d(3, 4, 3, padding="same", dilation=2), (2, 3, 7, 8)),
    "conv_dilated_positional": (lambda: nn.Conv2d(4, 4, 3, 2, 1, 2, 2, False),     # PyTorch's argument order
                                lambda: torch.nn.Conv2d(4, 4, 3, 2, 1, 2, 2, False), (1, 4, 9, 9)),
    "conv_1x7_nobias": (lambda: nn.Conv2d(3, 2, (1, 7), padding=(0, 3), bias=False),
                        lambda: torch.nn.Conv2d(3, 2, (1, 7), padding=(0, 3), bias=False), (1, 3, 5, 9)),
    "linear": (lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), (4, 5)),
    "bn2d": (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 3, 3)),
    "bn2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False, momentum=0.3),
                       lambda: torch.nn.BatchNorm2d(3, affine=False, momentum=0.3), (4, 3, 2, 2)),
    "bn2d_untracked": (lambda: nn.BatchNorm2d(3, track_running_stats=False),
                       lambda: torch.nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 2, 2)),
    "bn1d": (lambda: nn.BatchNorm1d(5), lambda: torch.nn.BatchNorm1d(5), (6, 5)),
    "bn1d_3d": (lambda: nn.BatchNorm1d(2), lambda: torch.nn.BatchNorm1d(2), (3, 2, 4)),
    "maxpool": (lambda: nn.MaxPool2d(3, 2, ceil_mode=True), lambda: torch.nn.MaxPool2d(3, 2, ceil_mode=True),
                (1, 2, 8, 8)),
    "avgpool": (lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
                lambda: torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (1, 2, 7, 7)),
    "adaptive": (lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda: torch.nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
    "global": (lambda: nn.GlobalAvgPool2d(), lambda: torch.nn.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    "lrn": (lambda: nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0), lambda: torch.nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0),
            (1, 7, 3, 3)),
    "relu": (lambda: nn.ReLU(), lambda: torch.nn.ReLU(), (3, 4)),
    "leaky": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), (3, 4)),
    # In place on a Linear's output (a leaf that requires grad is refused by both), gradients through it.
    "inplace_activations": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 3),
                                                  nn.LeakyReLU(0.2, inplace=True)),
                            lambda: torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(inplace=True),
                                                        torch.nn.Linear(5, 3), torch.nn.LeakyReLU(0.2, inplace=True)),
                            (6, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (3, 4)),
    "tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (3, 4)),
    "flatten": (lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 2, 2)),
    "identity": (lambda: nn.Identity(), lambda: torch.nn.Identity(), (2, 3)),
    # No conv bias before batch norm: its gradient is exactly zero, so only round-off would be compared.
    "sequential": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Flatten(), nn.Linear(12, 4)),
                   lambda: torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 4)),
                   (3, 2, 6, 6)),
}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch(name, train, xp):
    ours, theirs, shape = LAYERS[name]
    x = np.random.default_rng(3).standard_normal(shape)
    if name == "maxpool":
        x = np.random.default_rng(3).permutation(x.size).reshape(shape) * 0.1
    run_both(ours(), theirs(), x, train, xp)


def test_dropout_layer_obeys_mode(xp):
    layer = nn.Dropout(0.5)
    x = mc.ones((1000,), device=device_for(xp))
    assert 300 < int((layer(x).numpy() == 0).sum()) < 700
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got 1.5"):
        nn.Dropout(1.5)


def test_bce_loss_layer_matches_torch_and_moves_its_weight(xp):
    rng = np.random.default_rng(1)
    x, y, w = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3)), rng.uniform(0, 2, 3)
    layer = nn.BCELoss(weight=mc.tensor(w), reduction="sum").to(device_for(xp))
    assert layer.weight.device == device_for(xp) and "weight" in layer.state_dict()
    ours = layer(mc.Tensor(xp.asarray(x)), mc.Tensor(xp.asarray(y))).item()
    theirs = torch.nn.BCELoss(weight=torch.tensor(w), reduction="sum")(torch.tensor(x), torch.tensor(y)).item()
    assert abs(ours - theirs) < 1e-12 * abs(theirs)
    assert repr(nn.BCELoss()) == "BCELoss(reduction='mean')"


def test_losses_match_torch(xp):
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    ours = nn.CrossEntropyLoss(label_smoothing=0.1)(mc.Tensor(xp.asarray(logits)), mc.Tensor(xp.asarray(labels))).item()
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.tensor(logits), torch.tensor(labels)).item()
    assert abs(ours - theirs) < 1e-12
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    assert abs(nn.MSELoss(reduction="sum")(mc.Tensor(xp.asarray(a)), mc.Tensor(xp.asarray(b))).item()
               - torch.nn.MSELoss(reduction="sum")(torch.tensor(a), torch.tensor(b)).item()) < 1e-12


@pytest.mark.parametrize("make, shape, message", [
    (lambda: nn.Conv2d(3, 8, 3), (2, 1, 8, 8),
     r"Conv2d\(3, 8, kernel_size=\(3, 3\), stride=\(1, 1\)\): expected input of shape \(N, 3, H, W\), got \(2, 1, 8, 8\)"),
    (lambda: nn.Linear(10, 2), (4, 12), r"Linear\(in_features=10, .*\): expected input of shape \(N, 10\), got \(4, 12\)"),
    (lambda: nn.BatchNorm2d(8), (2, 8, 4), r"BatchNorm2d\(8, .*\): expected input of shape \(N, 8, H, W\), got \(2, 8, 4\)"),
    (lambda: nn.BatchNorm1d(8), (2, 7), r"BatchNorm1d\(8, .*\): expected input of shape \(N, 8\) or \(N, 8, L\), got \(2, 7\)"),
])
def test_layer_errors_name_the_layer(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make()(mc.zeros(shape))


def test_conv_groups_must_divide_channels():
    with pytest.raises(ValueError, match="Conv2d: groups=3 must divide in_channels=4 and out_channels=6"):
        nn.Conv2d(4, 6, 3, groups=3)


@pytest.mark.parametrize("kernel_size", [3, 4, (1, 7), (2, 5)])
def test_conv_padding_same_keeps_the_size_as_torch(kernel_size, xp):
    ours = nn.Conv2d(2, 3, kernel_size, padding="same").to(device_for(xp))
    theirs = torch.nn.Conv2d(2, 3, kernel_size, padding="same")
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 8)).astype(np.float32)
    y = ours(mc.tensor(xp.asarray(x)))
    assert y.shape == (1, 3, 7, 8)
    np.testing.assert_allclose(y.numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert "padding='same'" in repr(ours)
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(2, 3, 3, stride=2, padding="same")


@pytest.mark.parametrize("dim, shape", [(1, (2, 5)), (None, (2, 5)), (None, (3, 4, 5)), (-1, (3, 4, 5))])
def test_softmax_layers_match_torch(dim, shape, xp):
    x = np.random.default_rng(1).standard_normal(shape)
    for ours, theirs in [(nn.Softmax(dim), torch.nn.Softmax(dim)), (nn.LogSoftmax(dim), torch.nn.LogSoftmax(dim))]:
        np.testing.assert_allclose(ours(mc.tensor(xp.asarray(x))).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12)
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
