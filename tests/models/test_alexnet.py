"""AlexNet: the paper's two-GPU model (Krizhevsky et al. 2012) and lecture 11's 227x227 table."""
import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.models.alexnet  # noqa: F401  (registers the AlexNet models)
from minicnn import models
from minicnn.models.alexnet import AlexNet, LECTURE_MAX_SIZE, LECTURE_MIN_SIZE, MAX_SIZE, MIN_SIZE
from minicnn.summary import summarize
from tests.models.helpers import PatchInput, assert_logits_match, assert_macs_match_torch, gradcheck_model, he_scale
from tests.oracle import rel_error

T = torch.nn

# Layer tables. conv: (filters, input channels each filter sees, kernel, output side); fc: (units, inputs).
# paper, section 3 / Figure 2: conv2, conv4, conv5 see only their GPU's half of the maps (48, 192, 192).
# lecture 11 / lecture 004: one tower, 227x227 input, no padding.
TABLES = {
    "alexnet": {"conv": [(96, 3, 11, 55), (256, 48, 5, 27), (384, 256, 3, 13), (384, 192, 3, 13), (256, 192, 3, 13)],
                "fc": [(4096, 256 * 6 * 6), (4096, 4096), (1000, 4096)]},
    "alexnet_lecture": {"conv": [(96, 3, 11, 55), (256, 96, 5, 23), (384, 256, 3, 9), (384, 384, 3, 7), (256, 384, 3, 5)],
                        "fc": [(4096, 256 * 2 * 2), (4096, 4096), (1000, 4096)]},
}
# the output side of every conv and pooling layer: Figure 2's 55, 27, 13, 6; the lecture's 55 -> 27 -> 23 -> 11 -> 9 -> 7 -> 5 -> 2
SIDES = {"alexnet": [55, 27, 27, 13, 13, 13, 13, 6], "alexnet_lecture": [55, 27, 23, 11, 9, 7, 5, 2]}
INPUT = {"alexnet": 224, "alexnet_lecture": 227}
LAYOUT = {"alexnet": dict(padding=(2, 2, 1, 1, 1), groups=2, pooled=6),
          "alexnet_lecture": dict(padding=(0, 0, 0, 0, 0), groups=1, pooled=2)}


def layer_params(table):
    return [k * k * c * oc + oc for oc, c, k, _ in table["conv"]] + [n * i + n for n, i in table["fc"]]


def layer_macs(table):
    return sum(s * s * oc * c * k * k for oc, c, k, s in table["conv"]) + sum(n * i for n, i in table["fc"])


class TorchAlexNet(T.Module):
    """The reference: the same layers (torch's LRN divides alpha by n too, so the constants are the same)."""

    def __init__(self, padding, groups, pooled, num_classes=1000, in_channels=3, widths=(96, 256, 384, 384, 256),
                 hidden=4096, dropout=0.5):
        super().__init__()
        (c1, c2, c3, c4, c5), p, g = widths, padding, groups
        lrn = lambda: T.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
        self.features = T.Sequential(
            T.Conv2d(in_channels, c1, 11, 4, p[0]), T.ReLU(), lrn(), T.MaxPool2d(3, 2),
            T.Conv2d(c1, c2, 5, 1, p[1], groups=g), T.ReLU(), lrn(), T.MaxPool2d(3, 2),
            T.Conv2d(c2, c3, 3, 1, p[2]), T.ReLU(),
            T.Conv2d(c3, c4, 3, 1, p[3], groups=g), T.ReLU(),
            T.Conv2d(c4, c5, 3, 1, p[4], groups=g), T.ReLU(), T.MaxPool2d(3, 2))
        self.classifier = T.Sequential(
            T.Linear(c5 * pooled * pooled, hidden), T.ReLU(), T.Dropout(dropout),
            T.Linear(hidden, hidden), T.ReLU(), T.Dropout(dropout),
            T.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def torch_full_size(cls, **layout):
    """A full-size reference with uninitialised weights (counting MACs needs only the shapes)."""
    with torch.device("meta"):
        model = cls(**layout)
    return model.to_empty(device="cpu")


def test_torch_reference_has_the_papers_count():
    """Section 3: "60 million parameters"; the exact sum of Figure 2's layers is 60,965,224."""
    with torch.device("meta"):
        ref = TorchAlexNet(**LAYOUT["alexnet"])
    assert sum(p.numel() for p in ref.parameters()) == sum(layer_params(TABLES["alexnet"])) == 60_965_224


def test_lecture_table_and_its_rounding():
    """Lecture 11's entries are the weights of each layer; its total 27.55M is their rounded sum."""
    conv, fc = TABLES["alexnet_lecture"]["conv"], TABLES["alexnet_lecture"]["fc"]
    weights = [k * k * c * oc for oc, c, k, _ in conv] + [n * i for n, i in fc]
    assert weights == [(11 * 11 * 3) * 96, (5 * 5 * 96) * 256, (3 * 3 * 256) * 384, (3 * 3 * 384) * 384,
                       (3 * 3 * 384) * 256, (2 * 2 * 256) * 4096, 4096 * 4096, 4096 * 1000]
    rounded = [34e3, 0.6e6, 0.8e6, 1.327e6, 0.8e6, 4e6, 16e6, 4e6]           # as the slides print them
    assert abs(sum(rounded) - 27.55e6) < 0.015e6                             # 27.561M: the lecture's "27.55M"
    assert sum(weights) == 28_813_344 and sum(layer_params(TABLES["alexnet_lecture"])) == 28_823_912


@pytest.mark.parametrize("name", ["alexnet", "alexnet_lecture"])
def test_full_size_model(name):
    """Built once: counts per layer, the paper's initialisation, the output for one native image (no_grad),
    the summary's sizes and MACs (= torch's hook count), and forward + backward at the smallest input."""
    table, size = TABLES[name], INPUT[name]
    model = models.get(name)
    spec = models.info(name)
    assert spec.input_size == (3, size, size) and spec.min_size == model.min_size
    layers = [m for m in model.modules() if isinstance(m, (mc.nn.Conv2d, mc.nn.Linear))]
    assert [m.num_parameters() for m in layers] == layer_params(table)
    assert model.num_parameters() == sum(layer_params(table)) == {"alexnet": 60_965_224, "alexnet_lecture": 28_823_912}[name]

    # section 5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 in conv1, conv3, fc8
    assert [float(m.bias.numpy()[0]) for m in layers] == [0, 1, 0, 1, 1, 1, 1, 0]
    assert all(abs(m.weight.numpy().std() / 0.01 - 1) < 0.03 for m in layers)

    with mc.no_grad():
        assert model.eval()(mc.zeros((1, 3, size, size))).shape == (1, 1000)
    s = summarize(model, (3, size, size))
    sides = [r.output_shape[-1] for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    assert sides == SIDES[name]
    assert s.total_macs == layer_macs(table) == {"alexnet": 724_406_816, "alexnet_lecture": 614_310_432}[name]
    assert assert_macs_match_torch(model, torch_full_size(TorchAlexNet, **LAYOUT[name]), (3, size, size)) == s.total_macs

    model.train()
    x = np.random.default_rng(0).standard_normal((1, 3, model.min_size, model.min_size)).astype(np.float32)
    out = model(mc.Tensor(x))
    assert out.shape == (1, 1000)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


NARROW = dict(widths=(8, 12, 16, 16, 12), hidden=16, num_classes=5)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_lecture"])
def test_matches_torch(name):
    """A narrow model (same layers, 8..16 filters) in float64: eval at the native, smallest and largest
    inputs, train mode (dropout 0 in both) at the smallest. The state_dict names map 1:1."""
    rng = np.random.default_rng(1)
    lo, hi = models.get(name, **NARROW).min_size, models.get(name, **NARROW).max_size
    for size in (INPUT[name], lo, hi):
        assert_logits_match(models.get(name, **NARROW), TorchAlexNet(**LAYOUT[name], **NARROW),
                            rng.standard_normal((2, 3, size, size)))
    assert_logits_match(models.get(name, dropout=0.0, **NARROW), TorchAlexNet(**LAYOUT[name], dropout=0.0, **NARROW),
                        rng.standard_normal((2, 3, lo, lo)), train=True)


def test_lrn_uses_the_papers_constants():
    """Section 3.3: b = a / (k + alpha * sum over n = 5 neighbouring maps of a^2)^beta, k=2, alpha=1e-4, beta=0.75."""
    model = models.get("alexnet", **NARROW)
    lrn = model.features[2]
    a = 30 * np.random.default_rng(3).standard_normal((2, 8, 3, 3))
    padded = np.pad(a ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(padded[:, i:i + 8] for i in range(5))
    expected = a / (2 + 1e-4 * window) ** 0.75
    assert rel_error(lrn(mc.Tensor(a)).numpy(), expected) < 1e-12
    assert [type(m).__name__ for m in model.features] == [
        "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
        "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert [m.groups for m in model.features if isinstance(m, mc.nn.Conv2d)] == [1, 2, 1, 2, 2]
    assert [m.p for m in model.classifier if isinstance(m, mc.nn.Dropout)] == [0.5, 0.5]


@pytest.mark.parametrize("name", ["alexnet", "alexnet_lecture"])
def test_gradcheck_end_to_end(name):
    """float64, train mode (LRN, overlapping max pooling, groups, dropout with a fixed mask): the gradient
    of a 5x5 patch in the middle of the smallest input, of conv1's weight and of fc8's bias."""
    model = he_scale(models.get(name, num_classes=3, in_channels=1, widths=(2, 4, 4, 4, 2), hidden=8).train())
    size = model.min_size
    base = np.random.default_rng(4).standard_normal((1, 1, size, size))
    wrapper = PatchInput(model, base, size // 2 - 2, size // 2 - 2)
    gradcheck_model(wrapper, np.random.default_rng(5).standard_normal((1, 1, 5, 5)))


@pytest.mark.parametrize("name", ["alexnet", "alexnet_lecture"])
def test_input_sizes_are_named(name):
    model = models.get(name, **NARROW)
    lo, hi = model.min_size, model.max_size
    assert (lo, hi) == {"alexnet": (MIN_SIZE, MAX_SIZE), "alexnet_lecture": (LECTURE_MIN_SIZE, LECTURE_MAX_SIZE)}[name]
    fc6 = model.classifier[0].in_features
    with mc.no_grad():
        for size in (lo, hi):                          # the extremes work ...
            assert model(mc.zeros((1, 3, size, size))).shape == (1, 5)
        for size in (lo - 1, hi + 1):                  # ... and one pixel more or less would not reach fc6's size
            assert mc.ops.flatten(model.features(mc.zeros((1, 3, size, size))), 1).shape[1] != fc6
    with pytest.raises(ValueError, match=f"AlexNet: input {lo - 1}x{lo - 1} is too small; the smallest input "
                                         f"this model supports is {lo}x{lo}"):
        model(mc.zeros((1, 3, lo - 1, lo - 1)))
    with pytest.raises(ValueError, match=f"AlexNet: input {lo}x{hi + 1} is too large; fc6 takes the pooled maps "
                                         f"of inputs from {lo}x{lo} to {hi}x{hi}"):
        model(mc.zeros((1, 3, lo, hi + 1)))
    with pytest.raises(ValueError, match=r"AlexNet: expected input of shape \(N, 3, H, W\), got \(1, 1, 224, 224\)"):
        model(mc.zeros((1, 1, 224, 224)))


def test_unsupported_configurations():
    with pytest.raises(ValueError, match="AlexNet: layout must be one of paper, lecture, got 'caffe'"):
        AlexNet(layout="caffe")
    with pytest.raises(ValueError, match="AlexNet: widths must give the filters of conv1..conv5"):
        models.get("alexnet", widths=(96, 256))
    with pytest.raises(ValueError, match="groups=2 must divide"):            # two GPUs need even widths
        models.get("alexnet", widths=(7, 12, 16, 16, 12), hidden=8)
