"""VGG-11/13/16/19 (+ _bn): Table 1 of Simonyan & Zisserman 2014, torchvision's layout and counts."""
import math

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.models.vgg  # noqa: F401  (registers the VGG models)
from minicnn import models
from minicnn.models import vgg
from minicnn.summary import summarize
from tests.models.helpers import PatchInput, assert_logits_match, assert_macs_match_torch, gradcheck_model, he_scale

# Table 1 of the paper, written out again here so that the reference does not share the model file's.
TABLE1 = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + [512] * 4 + ["M"] + [512] * 4 + ["M"],
}
NAMES = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
ALL = [n + bn for n in NAMES for bn in ("", "_bn")]

# torchvision's published parameter counts (VGG11_Weights ... VGG19_BN_Weights meta["num_params"]);
# rounded to millions they are the paper's Table 2: 133, 133, 138, 144.
TORCHVISION_PARAMS = {
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
}


def table1_macs(cfg, size=224, num_classes=1000):
    """Multiply-adds from Table 1: each 3x3 conv costs H*W*OC*C*9 at its stage's size, then the three FC layers."""
    macs, c = 0, 3
    for v in cfg:
        if v == "M":
            size //= 2
        else:
            macs, c = macs + size * size * v * c * 9, v
    return macs + 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * num_classes


class TorchVGG(torch.nn.Module):
    """The reference: torchvision's VGG (features / avgpool / classifier), with hidden and dropout as arguments."""

    def __init__(self, cfg, batch_norm=False, num_classes=1000, in_channels=3, hidden=4096, dropout=0.5):
        super().__init__()
        layers, c = [], in_channels
        for v in cfg:
            if v == "M":
                layers.append(torch.nn.MaxPool2d(2, 2))
                continue
            layers.append(torch.nn.Conv2d(c, v, 3, padding=1))
            layers += [torch.nn.BatchNorm2d(v)] if batch_norm else []
            layers.append(torch.nn.ReLU())
            c = v
        self.features = torch.nn.Sequential(*layers)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(7)
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(c * 49, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def narrow(cfg, width):
    return [v if v == "M" else v * width // 64 for v in cfg]


def torch_full_size(name):
    """The full reference with uninitialised weights: counting MACs needs only the shapes, and filling
    138M values costs seconds on a machine slow to touch fresh memory."""
    with torch.device("meta"):
        model = TorchVGG(TABLE1[NAMES[name.removesuffix("_bn")]], name.endswith("_bn"))
    return model.to_empty(device="cpu")


def test_torch_reference_has_torchvisions_counts():
    for name in ALL:
        with torch.device("meta"):
            ref = TorchVGG(TABLE1[NAMES[name.removesuffix("_bn")]], name.endswith("_bn"))
        assert sum(p.numel() for p in ref.parameters()) == TORCHVISION_PARAMS[name], name


@pytest.mark.parametrize("name", ALL)
def test_full_size_model(name, monkeypatch):
    """Counts, output shape and MACs at 224x224, and a forward + backward at the smallest input.

    Parameter counts, shapes and MACs do not depend on the weights' values, so these ~138M-parameter
    builds skip the random fill (5-8 s each on a 2-core machine: nn.init draws 102M float64 normals
    for fc6 alone). test_initialisation checks the fill on a narrow model, and
    tests/test_summary.py builds every registered model with it.
    """
    for fn in ("default_layer_init", "normal_", "kaiming_normal_"):
        monkeypatch.setattr(mc.nn.init, fn, lambda *args, **kwargs: None)
    model = models.get(name)                               # built once in this module
    assert model.num_parameters() == TORCHVISION_PARAMS[name]
    assert models.info(name).input_size == (3, 224, 224) and models.info(name).min_size == vgg.MIN_SIZE == 32

    s = summarize(model, (3, 224, 224))                    # one 224x224 image under no_grad, in eval mode
    assert s.rows[0].output_shape == (1000,) and s.total_params == TORCHVISION_PARAMS[name]
    rows = {r.name: r for r in s.rows}
    assert rows["features"].output_shape == (512, 7, 7) and rows["avgpool"].output_shape == (512, 7, 7)
    assert s.total_macs == table1_macs(TABLE1[NAMES[name.removesuffix("_bn")]])
    if name == "vgg19":                                   # the overview (lecture 004) quotes the ResNet paper's 19.6G
        assert abs(s.total_macs - 19.6e9) / 19.6e9 < 0.002
    if name == "vgg16":
        assert assert_macs_match_torch(model, torch_full_size(name), (3, 224, 224)) == s.total_macs
        # the usual 15.47G (the overview's 15.3G, quoted from the ResNet paper, is 1.1% lower)
        assert s.total_macs == 15_470_264_320 and abs(s.total_macs - 15.47e9) / 15.47e9 < 0.01
        conv, fc, fc6 = rows["features"].params, rows["classifier"].params, rows["classifier.0"].params
        assert (conv, fc, fc6) == (14_714_688, 123_642_856, 102_764_544)
        assert fc6 == 512 * 7 * 7 * 4096 + 4096            # lecture 11: "most parameters are in the first FC layer (~102M)"
        assert abs(fc6 - 102.76e6) < 0.005e6
        # lecture 11: "~16M" in the conv layers and "~122M" in the FC layers of the 138M: 10.6% and 89.4% exactly,
        # the lecture's split being 11.6% / 88.4% (its FC sum uses 4096 x 1024 and rounds; see minicnn/models/vgg.py)
        assert abs(conv / s.total_params - 16 / 138) < 0.011 and abs(fc / s.total_params - 122 / 138) < 0.011
        assert fc6 / s.total_params > 0.74

    model.train()
    x = mc.Tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    out = model(x)                                         # the smallest input: stage 5 runs at 2x2
    assert out.shape == (1, 1000)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


@pytest.mark.parametrize("name, train", [(name, False) for name in ALL] + [(name, True) for name in ALL if "_bn" in name])
def test_matches_torch(name, train):
    """Same weights, float64: a narrow model (width 4: 4..32 channels, hidden 16), two images.

    The state_dict names are torchvision's (load_state_dict is strict). In train mode (the _bn models:
    without batch norm, train mode with dropout 0 is eval mode) dropout is 0 in both, and batch norm's
    running statistics are compared too.
    """
    cfg, bn = TABLE1[NAMES[name.removesuffix("_bn")]], name.endswith("_bn")
    dropout = 0.0 if train else 0.5
    kwargs = dict(num_classes=5, width=4, hidden=16, dropout=dropout)
    rng = np.random.default_rng(1)
    # 40 leaves 1x1 maps before avgpool (20, 10, 5, 2, 1: floors); 64 leaves 2x2, and avgpool's 7x7 bins overlap.
    # A fresh reference for each size, so each comparison starts from initial running statistics.
    for size in (40, 64):
        ref = TorchVGG(narrow(cfg, 4), bn, num_classes=5, hidden=16, dropout=dropout)
        assert_logits_match(models.get(name, **kwargs), ref, rng.standard_normal((2, 3, size, size)), train=train)


@pytest.mark.parametrize("name", ALL)
def test_macs_match_torch_on_narrow_models(name):
    """Summary == torch hooks for every configuration (the full-size comparison is vgg16's, above)."""
    cfg, bn = TABLE1[NAMES[name.removesuffix("_bn")]], name.endswith("_bn")
    model = models.get(name, num_classes=10, in_channels=1, width=8, hidden=32)
    ref = TorchVGG(narrow(cfg, 8), bn, num_classes=10, in_channels=1, hidden=32)
    assert assert_macs_match_torch(model, ref, (1, 48, 48)) > 0


@pytest.mark.parametrize("name", ["vgg11_bn", "vgg13"])
def test_gradcheck_end_to_end(name):
    """float64, train mode: every layer type of the family (conv, batch norm with the batch's statistics,
    ReLU, max pool, adaptive average pool 1x1 -> 7x7, dropout with a fixed mask, linear); width 2,
    hidden 8, two 32x32 images. The input's gradient is checked on a 5x5 patch of each image and channel
    (all 2x3x32x32 pixels would take ~12,000 forward passes), with conv1's weight and fc8's bias."""
    model = he_scale(models.get(name, num_classes=3, width=2, hidden=8).train())
    base = np.random.default_rng(2).standard_normal((2, 3, 32, 32))
    gradcheck_model(PatchInput(model, base, 13, 13), np.random.default_rng(3).standard_normal((2, 3, 5, 5)))


def test_initialisation_is_torchvisions():
    mc.manual_seed(0)
    model = models.get("vgg16_bn", width=16, hidden=512)
    convs = [m for m in model.modules() if isinstance(m, mc.nn.Conv2d)]
    for conv in (convs[0], convs[-1]):                     # kaiming_normal_(fan_out, relu): std sqrt(2 / (OC * 9))
        w = conv.weight.numpy()
        assert abs(w.std() / math.sqrt(2 / (conv.out_channels * 9)) - 1) < 0.1 and not conv.bias.numpy().any()
    for bn in (m for m in model.modules() if isinstance(m, mc.nn.BatchNorm2d)):
        assert (bn.weight.numpy() == 1).all() and not bn.bias.numpy().any()
    for fc in (m for m in model.modules() if isinstance(m, mc.nn.Linear)):
        assert abs(fc.weight.numpy().std() / 0.01 - 1) < 0.05 and not fc.bias.numpy().any()
    assert [m.p for m in model.modules() if isinstance(m, mc.nn.Dropout)] == [0.5, 0.5]


def test_layout_is_torchvisions():
    model = models.get("vgg16_bn", width=4, hidden=8)
    assert type(model.avgpool).__name__ == "AdaptiveAvgPool2d" and model.avgpool.output_size == 7
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    keys = list(model.state_dict())
    assert keys[:7] == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert keys[-2:] == ["classifier.6.weight", "classifier.6.bias"]


def test_wrong_input_and_configuration_are_named():
    model = models.get("vgg16", width=4, hidden=8)
    assert model(mc.zeros((1, 3, 32, 32))).shape == (1, 1000)
    with pytest.raises(ValueError, match="VGG: input 31x31 is too small; the smallest input this model supports is 32x32"):
        model(mc.zeros((1, 3, 31, 31)))
    with pytest.raises(ValueError, match="VGG: input 224x16 is too small"):
        model(mc.zeros((1, 3, 224, 16)))
    with pytest.raises(ValueError, match=r"VGG: expected input of shape \(N, 3, H, W\), got \(1, 1, 32, 32\)"):
        model(mc.zeros((1, 1, 32, 32)))
    with pytest.raises(ValueError, match="vgg: configuration 'C' is not supported; choose one of A, B, D, E"):
        vgg._vgg("C", False)
    with pytest.raises(ValueError, match="vgg: width and hidden must be positive"):
        models.get("vgg11", width=0)


def test_torchvision_style_builders_at_the_top_of_models():
    """models.vgg16() / models.resnet18() as in torchvision; pretrained weights are refused clearly."""
    assert type(models.vgg11(num_classes=10)).__name__ == type(models.get("vgg11", num_classes=10)).__name__
    assert models.resnet18(num_classes=3).fc.out_features == 3
    assert all(callable(getattr(models, name)) for name in models.list())
    with pytest.raises(ValueError, match="models.vgg16: weights='IMAGENET1K_V1': minicnn has no pretrained weights"):
        models.vgg16(weights="IMAGENET1K_V1")
