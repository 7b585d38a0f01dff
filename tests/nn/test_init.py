"""Initialisers: the same distributions as PyTorch's (statistics, not bitwise equality), on the CPU and on a
GPU tensor (``xp``), where they draw from minicnn.random's device stream."""
import math

import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import nn
from minicnn.nn import init
from tests.oracle import device_for


SHAPE = (128, 64, 3, 3)     # fan_in 576, fan_out 1152; 73728 values pin a std to ~0.3%

CASES = [
    ("normal", lambda t: init.normal_(t, 0.5, 2.0), lambda t: torch.nn.init.normal_(t, 0.5, 2.0)),
    ("uniform", lambda t: init.uniform_(t, -3, 1), lambda t: torch.nn.init.uniform_(t, -3, 1)),
    ("xavier_uniform", lambda t: init.xavier_uniform_(t, gain=2.0), lambda t: torch.nn.init.xavier_uniform_(t, gain=2.0)),
    ("xavier_normal", init.xavier_normal_, torch.nn.init.xavier_normal_),
    ("kaiming_uniform_relu", lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
     lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu")),
    ("kaiming_normal_fan_out", lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
     lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")),
    ("kaiming_leaky", lambda t: init.kaiming_normal_(t, a=0.2), lambda t: torch.nn.init.kaiming_normal_(t, a=0.2)),
    ("trunc_normal", lambda t: init.trunc_normal_(t, 0.1, 1.0, -1.0, 1.5),
     lambda t: torch.nn.init.trunc_normal_(t, 0.1, 1.0, -1.0, 1.5)),
]


@pytest.mark.parametrize("name, ours, theirs", CASES, ids=[c[0] for c in CASES])
def test_distribution_matches_torch(name, ours, theirs, xp):
    mc.manual_seed(0)
    torch.manual_seed(0)
    t = mc.zeros(SHAPE, device=device_for(xp))
    a = ours(t).numpy()
    assert t.device == device_for(xp)
    b = theirs(torch.zeros(SHAPE)).numpy()
    assert a.dtype == np.float32
    assert abs(a.mean() - b.mean()) < 0.02 * b.std()
    assert abs(a.std() / b.std() - 1) < 0.02
    if "uniform" in name or "trunc" in name:      # bounded: the same support
        assert abs(a.min() - b.min()) < 0.01 * b.std() and abs(a.max() - b.max()) < 0.01 * b.std()
    np.testing.assert_allclose(np.percentile(a, [10, 50, 90]), np.percentile(b, [10, 50, 90]), atol=0.03 * b.std())


def test_constants_and_gain():
    t = mc.zeros((2, 3))
    assert init.ones_(t).numpy().sum() == 6 and init.zeros_(t).numpy().sum() == 0
    assert (init.constant_(t, 0.25).numpy() == 0.25).all()
    for nonlinearity, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("sigmoid", None), ("linear", None)]:
        assert math.isclose(init.calculate_gain(nonlinearity, param), torch.nn.init.calculate_gain(nonlinearity, param))
    with pytest.raises(ValueError, match="calculate_gain: unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(mc.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(mc.zeros((2, 2)), mode="fan")


@pytest.mark.parametrize("ours, theirs, fan_in", [
    (lambda: nn.Conv2d(64, 128, 3), lambda: torch.nn.Conv2d(64, 128, 3), 64 * 9),
    (lambda: nn.Linear(500, 300), lambda: torch.nn.Linear(500, 300), 500),
])
def test_layer_defaults_match_torch(ours, theirs, fan_in):
    """PyTorch's default: weight and bias uniform on +-1/sqrt(fan_in)."""
    a, b = ours(), theirs()
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        x, y = getattr(a, name).numpy(), getattr(b, name).detach().numpy()
        for values in (x, y):
            assert 0.9 * bound < np.abs(values).max() <= bound
            assert abs(values.std() / (bound / math.sqrt(3)) - 1) < 0.2
    assert abs(a.weight.numpy().std() / b.weight.detach().numpy().std() - 1) < 0.02


def test_batchnorm_defaults():
    bn = nn.BatchNorm2d(4)
    assert (bn.weight.numpy() == 1).all() and (bn.bias.numpy() == 0).all()
    assert (bn.running_var.numpy() == 1).all() and bn.num_batches_tracked.dtype == np.int64


def test_manual_seed_makes_models_reproducible(xp):
    def draw():
        return nn.Conv2d(3, 4, 3).weight.numpy().copy(), init.kaiming_uniform_(mc.zeros((4, 3), device=device_for(xp))).numpy()

    mc.manual_seed(7)
    first = draw()
    mc.manual_seed(7)
    for a, b in zip(first, draw()):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(first, draw()))


def test_initialisers_draw_on_the_tensors_device_from_its_stream(xp):
    """A GPU tensor is filled from minicnn.random's device stream, on the device (no host draw copied over)."""
    t = mc.zeros((4, 3), device=device_for(xp))
    mc.manual_seed(7)
    init.normal_(t, 0.5, 2.0)
    assert t.device == device_for(xp) and mc.get_array_module(t.array) is xp
    mc.manual_seed(7)
    expected = mc.random.generator(xp).standard_normal((4, 3), dtype=np.float32) * 2.0 + 0.5
    np.testing.assert_allclose(t.numpy(), mc.backend.to_device(expected, "cpu"), rtol=1e-6)
