"""ZFNet: Figure 3 of Zeiler & Fergus 2013, and lecture 11's variant of its AlexNet table."""
import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.models.zfnet  # noqa: F401  (registers the ZFNet models)
from minicnn import models
from minicnn.models.zfnet import LECTURE_MAX_SIZE, LECTURE_MIN_SIZE, MAX_SIZE, MIN_SIZE, ZFNet
from minicnn.summary import summarize
from tests.models.helpers import PatchInput, assert_logits_match, assert_macs_match_torch, gradcheck_model, he_scale
from tests.models.test_alexnet import TABLES as ALEXNET_TABLES
from tests.models.test_alexnet import layer_macs, layer_params, torch_full_size

T = torch.nn

# Layer tables. conv: (filters, input channels, kernel, output side); fc: (units, inputs).
# paper, Figure 3: 224 -> conv1 7x7/2 110 -> pool 55 -> conv2 5x5/2 26 -> pool 13 -> 13 -> 13 -> 13 -> pool 6.
# lecture 11: its AlexNet table (227 input, no padding) with conv1 F = 7 and conv3/4/5 K = 512, 1024, 512.
TABLES = {
    "zfnet": {"conv": [(96, 3, 7, 110), (256, 96, 5, 26), (384, 256, 3, 13), (384, 384, 3, 13), (256, 384, 3, 13)],
              "fc": [(4096, 256 * 6 * 6), (4096, 4096), (1000, 4096)]},
    "zfnet_lecture": {"conv": [(96, 3, 7, 56), (256, 96, 5, 23), (512, 256, 3, 9), (1024, 512, 3, 7), (512, 1024, 3, 5)],
                      "fc": [(4096, 512 * 2 * 2), (4096, 4096), (1000, 4096)]},
}
SIDES = {"zfnet": [110, 55, 26, 13, 13, 13, 13, 6], "zfnet_lecture": [56, 27, 23, 11, 9, 7, 5, 2]}
INPUT = {"zfnet": 224, "zfnet_lecture": 227}
LAYOUT = {"zfnet": dict(strides=(2, 2), padding=(1, 0, 1, 1, 1), ceil_mode=True, pooled=6),
          "zfnet_lecture": dict(strides=(4, 1), padding=(0, 0, 0, 0, 0), ceil_mode=False, pooled=2,
                                widths=(96, 256, 512, 1024, 512))}
PARAMS = {"zfnet": 62_357_608, "zfnet_lecture": 40_518_760}
MACS = {"zfnet": 1_168_032_896, "zfnet_lecture": 843_261_952}


class TorchZFNet(T.Module):
    """The reference: Figure 3's order (ReLU, max pool, then normalisation across maps in layers 1 and 2)."""

    def __init__(self, strides, padding, ceil_mode, pooled, num_classes=1000, in_channels=3,
                 widths=(96, 256, 384, 384, 256), hidden=4096, dropout=0.5):
        super().__init__()
        (c1, c2, c3, c4, c5), p = widths, padding
        norm = lambda: T.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
        pool = lambda: T.MaxPool2d(3, 2, ceil_mode=ceil_mode)  # noqa: E731
        self.features = T.Sequential(
            T.Conv2d(in_channels, c1, 7, strides[0], p[0]), T.ReLU(), pool(), norm(),
            T.Conv2d(c1, c2, 5, strides[1], p[1]), T.ReLU(), pool(), norm(),
            T.Conv2d(c2, c3, 3, 1, p[2]), T.ReLU(),
            T.Conv2d(c3, c4, 3, 1, p[3]), T.ReLU(),
            T.Conv2d(c4, c5, 3, 1, p[4]), T.ReLU(), pool())
        self.classifier = T.Sequential(
            T.Linear(c5 * pooled * pooled, hidden), T.ReLU(), T.Dropout(dropout),
            T.Linear(hidden, hidden), T.ReLU(), T.Dropout(dropout),
            T.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def test_lecture_differences_to_its_alexnet():
    """Lecture 11 lists ZFNet's changes layer by layer; the exact differences of the two layer tables."""
    alex, zf = layer_params(ALEXNET_TABLES["alexnet_lecture"]), layer_params(TABLES["zfnet_lecture"])
    diff = [b - a for a, b in zip(alex, zf)]
    assert diff[0] == -((11 ** 2 - 7 ** 2) * 3) * 96 == -20_736            # "20.7K" (fewer: 7x7 instead of 11x11)
    assert diff[1] == 0                                                     # "no difference"
    assert diff[2] == (3 * 3 * 256) * (512 - 384) + 128 == 295_040          # "0.29M" (+128 biases)
    assert diff[3] == 3 * 3 * (512 * 1024 - 384 * 384) + 640 == 3_392_128    # slide: "0.8M"
    assert diff[4] == 3 * 3 * (1024 * 512 - 384 * 256) + 256 == 3_834_112   # slide: "0.36M"
    assert diff[5] == (2 * 2 * 512 - 2 * 2 * 256) * 4096 == 4_194_304       # slide: "no difference" (conv5 has 512 maps)
    assert diff[6:] == [0, 0]
    assert sum(diff) == 11_694_848 and sum(zf) == PARAMS["zfnet_lecture"] == 28_823_912 + 11_694_848


@pytest.mark.parametrize("name", ["zfnet", "zfnet_lecture"])
def test_full_size_model(name):
    """Built once: counts per layer, initialisation, the output for one native image (no_grad), the
    summary's sizes and MACs (= torch's hook count), and forward + backward at the smallest input."""
    table, size = TABLES[name], INPUT[name]
    model = models.get(name)
    spec = models.info(name)
    assert spec.input_size == (3, size, size) and spec.min_size == model.min_size
    layers = [m for m in model.modules() if isinstance(m, (mc.nn.Conv2d, mc.nn.Linear))]
    assert [m.num_parameters() for m in layers] == layer_params(table)
    assert model.num_parameters() == sum(layer_params(table)) == PARAMS[name]
    with torch.device("meta"):
        assert sum(p.numel() for p in TorchZFNet(**LAYOUT[name]).parameters()) == PARAMS[name]

    # section 3: weights "10^-2" (N(0, 0.01)), biases 0
    assert all(not m.bias.numpy().any() and abs(m.weight.numpy().std() / 0.01 - 1) < 0.03 for m in layers)

    with mc.no_grad():
        assert model.eval()(mc.zeros((1, 3, size, size))).shape == (1, 1000)
    s = summarize(model, (3, size, size))
    assert [r.output_shape[-1] for r in s.rows if r.type in ("Conv2d", "MaxPool2d")] == SIDES[name]
    assert s.total_macs == layer_macs(table) == MACS[name]
    assert assert_macs_match_torch(model, torch_full_size(TorchZFNet, **LAYOUT[name]), (3, size, size)) == s.total_macs

    model.train()
    x = np.random.default_rng(0).standard_normal((1, 3, model.min_size, model.min_size)).astype(np.float32)
    out = model(mc.Tensor(x))
    assert out.shape == (1, 1000)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def narrow(name, **kwargs):
    widths = (8, 12, 16, 16, 12) if name == "zfnet" else (8, 12, 16, 24, 16)
    return dict(widths=widths, hidden=16, num_classes=5, **kwargs)


def reference_layout(name):
    return {k: v for k, v in LAYOUT[name].items() if k != "widths"}


@pytest.mark.parametrize("name", ["zfnet", "zfnet_lecture"])
def test_matches_torch(name):
    """A narrow model in float64: eval at the native, smallest and largest inputs, train mode (dropout 0) at
    the smallest. Torch's ceil_mode pooling checks our rounding; the state_dict names map 1:1."""
    rng = np.random.default_rng(1)
    probe = models.get(name, **narrow(name))
    for size in (INPUT[name], probe.min_size, probe.max_size):
        assert_logits_match(models.get(name, **narrow(name)), TorchZFNet(**reference_layout(name), **narrow(name)),
                            rng.standard_normal((2, 3, size, size)))
    assert_logits_match(models.get(name, **narrow(name, dropout=0.0)),
                        TorchZFNet(**reference_layout(name), **narrow(name, dropout=0.0)),
                        rng.standard_normal((2, 3, probe.min_size, probe.min_size)), train=True)


def test_layout():
    model = models.get("zfnet", **narrow("zfnet"))
    assert [type(m).__name__ for m in model.features] == [
        "Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm", "Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm",
        "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    convs = [m for m in model.features if isinstance(m, mc.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.groups) for c in convs[:2]] == [((7, 7), (2, 2), 1), ((5, 5), (2, 2), 1)]
    assert all(m.ceil_mode for m in model.features if isinstance(m, mc.nn.MaxPool2d))
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    lecture = models.get("zfnet_lecture", hidden=8)
    assert [m.out_channels for m in lecture.features if isinstance(m, mc.nn.Conv2d)] == [96, 256, 512, 1024, 512]
    assert lecture.features[0].stride == (4, 4) and lecture.classifier[0].in_features == 2048


@pytest.mark.parametrize("name", ["zfnet", "zfnet_lecture"])
def test_gradcheck_end_to_end(name):
    """float64, train mode (ceil-mode pooling, normalisation across maps, dropout with a fixed mask): the
    gradient of a 5x5 patch in the middle of the smallest input, of conv1's weight and of fc8's bias."""
    model = he_scale(models.get(name, num_classes=3, in_channels=1, widths=(2, 4, 4, 4, 2), hidden=8).train())
    size = model.min_size
    base = np.random.default_rng(4).standard_normal((1, 1, size, size))
    gradcheck_model(PatchInput(model, base, size // 2 - 2, size // 2 - 2),
                    np.random.default_rng(5).standard_normal((1, 1, 5, 5)))


@pytest.mark.parametrize("name", ["zfnet", "zfnet_lecture"])
def test_input_sizes_are_named(name):
    model = models.get(name, **narrow(name))
    lo, hi = model.min_size, model.max_size
    assert (lo, hi) == {"zfnet": (MIN_SIZE, MAX_SIZE), "zfnet_lecture": (LECTURE_MIN_SIZE, LECTURE_MAX_SIZE)}[name]
    fc6 = model.classifier[0].in_features
    with mc.no_grad():
        for size in (lo, hi):                          # the extremes work ...
            assert model(mc.zeros((1, 3, size, size))).shape == (1, 5)
        for size in (lo - 1, hi + 1):                  # ... and one pixel more or less would not reach fc6's size
            assert mc.ops.flatten(model.features(mc.zeros((1, 3, size, size))), 1).shape[1] != fc6
    with pytest.raises(ValueError, match=f"ZFNet: input {lo - 1}x{lo - 1} is too small; the smallest input "
                                         f"this model supports is {lo}x{lo}"):
        model(mc.zeros((1, 3, lo - 1, lo - 1)))
    with pytest.raises(ValueError, match=f"ZFNet: input {hi + 1}x{lo} is too large; fc6 takes the pooled maps "
                                         f"of inputs from {lo}x{lo} to {hi}x{hi}"):
        model(mc.zeros((1, 3, hi + 1, lo)))
    with pytest.raises(ValueError, match=r"ZFNet: expected input of shape \(N, 3, H, W\), got \(1, 1, 224, 224\)"):
        model(mc.zeros((1, 1, 224, 224)))


def test_unsupported_configurations():
    with pytest.raises(ValueError, match="ZFNet: layout must be one of paper, lecture, got 'table2'"):
        ZFNet(layout="table2")
    with pytest.raises(ValueError, match="ZFNet: widths must give the filters of conv1..conv5"):
        models.get("zfnet", widths=(96, 256, 384))
