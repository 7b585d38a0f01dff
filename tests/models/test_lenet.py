import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import models
from minicnn.summary import summarize
from tests.models.helpers import assert_logits_match, assert_macs_match_torch, gradcheck_model


class TorchLeNet5(torch.nn.Module):
    """The reference, in the same layout (features / classifier)."""

    def __init__(self, num_classes=10, padding=0):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5, padding=padding), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
            torch.nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_parameter_counts_of_the_overview():
    """Lecture 004: conv1 150, conv2 2400 (weights only), fc 48120, 10164, 850 (with biases)."""
    model = models.get("lenet5")
    convs = [m for m in model.modules() if isinstance(m, mc.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, mc.nn.Linear)]
    assert [c.weight.numel() for c in convs] == [150, 2400]
    assert [f.num_parameters() for f in fcs] == [48120, 10164, 850]
    assert model.num_parameters() == 150 + 6 + 2400 + 16 + 48120 + 10164 + 850 == 61706
    assert models.get("lenet5_28").num_parameters() == 61706


@pytest.mark.parametrize("name, size, padding", [("lenet5", 32, 0), ("lenet5_28", 28, 2)])
def test_matches_torch_and_shapes(name, size, padding):
    model = models.get(name)
    x = np.random.default_rng(0).standard_normal((2, 1, size, size))
    assert_logits_match(model, TorchLeNet5(padding=padding), x)
    assert model(mc.Tensor(x)).shape == (2, 10)
    assert assert_macs_match_torch(model, TorchLeNet5(padding=padding).float(), (1, size, size)) == 416520


def test_summary_receptive_fields():
    rows = {r.name: r for r in summarize(models.get("lenet5"), (1, 32, 32)).rows}
    assert [rows[f"features.{i}"].receptive_field for i in (0, 2, 3, 5)] == [(5, 5), (6, 6), (14, 14), (16, 16)]


def test_gradcheck_end_to_end():
    gradcheck_model(models.get("lenet5_28", num_classes=3), np.random.default_rng(1).standard_normal((2, 1, 28, 28)))


def test_wrong_input_is_named():
    with pytest.raises(ValueError, match="LeNet5: input 16x16 is too small; the smallest input this model supports is 32x32"):
        models.get("lenet5")(mc.zeros((1, 1, 16, 16)))
    with pytest.raises(ValueError, match=r"LeNet5: input must be 32x32 .*got 36x36"):
        models.get("lenet5")(mc.zeros((1, 1, 36, 36)))
    with pytest.raises(ValueError, match=r"LeNet5: expected input of shape \(N, 1, H, W\), got \(1, 3, 32, 32\)"):
        models.get("lenet5")(mc.zeros((1, 3, 32, 32)))
