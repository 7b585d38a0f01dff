"""ResNet (He et al. 2015): ImageNet nets of Table 1, plain nets, options A/B/C, CIFAR nets of section 4.2."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
import minicnn.models.resnet as R                 # registers the family
from minicnn import models
from minicnn.summary import summarize
from tests.models.helpers import assert_logits_match, assert_macs_match_torch, gradcheck_model

# ---------------------------------------------------------------------------------------------------
# The numbers the tests assert, and where they come from.

# torchvision's published parameter counts (the "num_params" of its ImageNet weights, 1000 classes).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                      "resnet101": 44_549_160, "resnet152": 60_192_808}
# Projection shortcuts of the basic-block nets (option B), conv 1x1 + BN weight and bias, at the three
# stage changes 64->128, 128->256, 256->512. The plain nets (and option A) have none of them.
BASIC_PROJECTIONS = sum(c * 2 * c + 2 * 2 * c for c in (64, 128, 256))              # 173,824
PARAMS = {**TORCHVISION_PARAMS,
          "plain18": TORCHVISION_PARAMS["resnet18"] - BASIC_PROJECTIONS,             # 11,515,688
          "plain34": TORCHVISION_PARAMS["resnet34"] - BASIC_PROJECTIONS}             # 21,623,848
# Paper, Table 1: "FLOPs" (it counts multiply-adds) at 224x224.
PAPER_MACS = {"resnet18": 1.8e9, "resnet34": 3.6e9, "resnet50": 3.8e9, "resnet101": 7.6e9, "resnet152": 11.3e9}
# summary's exact counts at 224x224 (its counter equals torch's hooks: test_matches_torch_reference, at 40x40),
# with the paper's stride placement (the default, stride_in_1x1=True) in the bottleneck nets.
MACS = {"resnet18": 1_814_073_344, "resnet34": 3_663_761_408, "resnet50": 3_857_973_248,
        "resnet101": 7_570_194_432, "resnet152": 11_282_415_616,
        "plain18": 1_794_805_760, "plain34": 3_644_493_824}
# torchvision's "v1.5" bottleneck (stride on the 3x3, stride_in_1x1=False): same parameters, more MACs.
V15_MACS = {"resnet50": 4_089_184_256, "resnet101": 7_801_405_440, "resnet152": 11_513_626_624}


def cifar_params(n, num_classes=10):
    """Section 4.2 with option A: per block two 3x3 convs + two BN (2 * 9c^2 + 4c); the first block of
    stages 2 and 3 reads c/2 channels (9c^2/2 fewer); stem 3x3x3x16 + BN, fc 64 -> num_classes."""
    blocks = sum(n * (2 * 9 * c * c + 4 * c) for c in (16, 32, 64)) - 9 * 16 * 32 - 9 * 32 * 64
    return 3 * 16 * 9 + 2 * 16 + blocks + 64 * num_classes + num_classes              # 97,216 n - 21,926


CIFAR_N = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}
# Table 6's "# params" column.
TABLE6 = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}


def cifar_macs(n):
    """Multiply-adds at 32x32: per block two 3x3 convs of 9c^2 * HW, the same 4,718,592 in every stage
    (c doubles as HW quarters); the first convs of stages 2 and 3 read half the channels; stem, fc."""
    return n * 3 * 2 * 9 * 16 * 16 * 32 * 32 - 2 * 9 * 16 * 32 * 16 * 16 + 9 * 3 * 16 * 32 * 32 + 64 * 10


# ---------------------------------------------------------------------------------------------------
# The PyTorch reference: torchvision's resnet.py layout, with the shortcut options added.

class TorchZeroPad(torch.nn.Module):
    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.extra, self.stride = out_planes - in_planes, stride

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra))


class TorchBasicBlock(torch.nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, stride_in_1x1=False):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + identity)


class TorchBottleneck(torch.nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, stride_in_1x1=False):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 1, stride if stride_in_1x1 else 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1 if stride_in_1x1 else stride, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.conv3 = torch.nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(planes * 4)
        self.relu = torch.nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class TorchResNet(torch.nn.Module):
    """torchvision.models.ResNet (ImageNet stem, four stages) or, with ``cifar``, section 4.2's net."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3, shortcut="B", width=64,
                 stride_in_1x1=False, cifar=False):
        super().__init__()
        self.shortcut, self.stride_in_1x1, self.inplanes = shortcut, stride_in_1x1, width
        if cifar:
            self.conv1 = torch.nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        else:
            self.conv1 = torch.nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.relu = torch.nn.ReLU()
        self.maxpool = torch.nn.Identity() if cifar else torch.nn.MaxPool2d(3, 2, 1)
        for i, blocks in enumerate(layers):
            setattr(self, f"layer{i + 1}", self._make_layer(block, width * 2 ** i, blocks, 1 if i == 0 else 2))
        self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc = torch.nn.Linear(self.inplanes, num_classes)
        self.depth = len(layers)

    def _projection(self, planes, stride):
        if self.shortcut == "A":
            return TorchZeroPad(self.inplanes, planes, stride)
        return torch.nn.Sequential(torch.nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                   torch.nn.BatchNorm2d(planes))

    def _make_layer(self, block, planes, blocks, stride):
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            change = s != 1 or self.inplanes != planes * block.expansion
            downsample = self._projection(planes * block.expansion, s) if change or self.shortcut == "C" else None
            layers.append(block(self.inplanes, planes, s, downsample, self.stride_in_1x1))
            self.inplanes = planes * block.expansion
        return torch.nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.depth):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _torch_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------
# 1. Every registered model: exact parameters, multiply-adds, output shape, a training step.

def _train_step(model, size, batch=2):
    x = mc.Tensor(np.random.default_rng(0).standard_normal((batch, model.in_channels, size, size)).astype(np.float32))
    model.train()
    logits = model(x)
    mc.ops.cross_entropy(logits, np.arange(batch) % logits.shape[1]).backward()
    for p in (model.conv1.weight, model.fc.weight):
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).sum() > 0
    return logits


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34"])
def test_imagenet_models(name):
    """Built once: Table 1's shapes and counts at 224x224 (the summary runs one no-grad eval forward),
    then a training step at 32x32 (every stride-2 layer still halves the map: conv5_x is 1x1)."""
    model = models.get(name)
    assert models.info(name).input_size == (3, 224, 224) and models.info(name).min_size == 1
    s = summarize(model, (3, 224, 224))
    assert s.total_params == model.num_parameters() == PARAMS[name]
    assert s.rows[0].output_shape == (1000,)
    e = 4 if name in ("resnet50", "resnet101", "resnet152") else 1
    stages = {r.name: r.output_shape for r in s.rows if r.name in ("maxpool", "layer1", "layer2", "layer3", "layer4")}
    assert stages == {"maxpool": (64, 56, 56), "layer1": (64 * e, 56, 56), "layer2": (128 * e, 28, 28),
                      "layer3": (256 * e, 14, 14), "layer4": (512 * e, 7, 7)}
    assert s.total_macs == MACS[name]
    if name in PAPER_MACS:
        assert abs(s.total_macs / PAPER_MACS[name] - 1) < 0.05
    assert _train_step(model, 32).shape == (2, 1000)


def test_v15_stride_placement_macs():
    """The paper (the default) strides the bottleneck's first 1x1; torchvision's v1.5 its 3x3, so that the
    1x1 of conv3_1, conv4_1 and conv5_1 reads 4x as many positions: 231M more multiply-adds, the same in
    resnet50, 101 and 152 (they differ only in unstrided blocks), and resnet50's 4.09e9 is 7.6% above 3.8e9."""
    extra = sum(3 * c_in * c * hw * hw for c_in, c, hw in ((256, 128, 28), (512, 256, 14), (1024, 512, 7)))
    s = summarize(models.get("resnet50", stride_in_1x1=False), (3, 224, 224))
    assert s.total_params == TORCHVISION_PARAMS["resnet50"]
    assert s.total_macs == MACS["resnet50"] + extra == V15_MACS["resnet50"]
    assert V15_MACS["resnet50"] / PAPER_MACS["resnet50"] - 1 == pytest.approx(0.076, abs=0.001)
    for name in ("resnet50", "resnet101", "resnet152"):
        assert MACS[name] + extra == V15_MACS[name]


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_models(depth):
    n = CIFAR_N[depth]
    for name in (f"resnet{depth}", f"plain{depth}"):
        model = models.get(name)
        assert models.info(name).input_size == (3, 32, 32) and models.info(name).min_size == 1
        s = summarize(model, (3, 32, 32))
        assert s.total_params == cifar_params(n) == 97_216 * n - 21_926      # option A = plain: same count
        assert abs(s.total_params / TABLE6[depth] - 1) < 0.03                # Table 6 rounds to 2 digits
        assert s.rows[0].output_shape == (10,)
        stages = {r.name: r.output_shape for r in s.rows if r.name in ("layer1", "layer2", "layer3")}
        assert stages == {"layer1": (16, 32, 32), "layer2": (32, 16, 16), "layer3": (64, 8, 8)}
        assert s.total_macs == cifar_macs(n) == 14_155_776 * n - 1_916_288
        assert _train_step(model, 8).shape == (2, 10)
    # 6n + 2 weighted layers: 6n 3x3 convs in the blocks, the first conv and the fc
    assert sum(isinstance(m, (mc.nn.Conv2d, mc.nn.Linear)) for m in model.modules()) == depth


def test_resnet1202_trains_on_one_image():
    """3,700+ ops deep: forward and backward run without recursion (autograd's iterative backward)."""
    model = models.get("resnet1202")
    assert model.num_parameters() == cifar_params(200) == 19_421_274
    assert abs(model.num_parameters() / TABLE6[1202] - 1) < 0.01
    assert cifar_macs(200) == 2_829_238_912                 # the formula test_cifar_models checks, at n = 200
    assert _train_step(model, 32, batch=1).shape == (1, 10)


# ---------------------------------------------------------------------------------------------------
# 2. Shortcut options A / B / C (Table 3) and the plain nets.

def _projection(c_in, c_out):
    return c_in * c_out + 2 * c_out          # 1x1 conv without bias + BN weight and bias


@pytest.mark.parametrize("builder, b_minus_a, c_minus_b", [
    # B: a projection at each stage change; C: also one on every other block.
    (R.resnet18, BASIC_PROJECTIONS,
     2 * _projection(64, 64) + _projection(128, 128) + _projection(256, 256) + _projection(512, 512)),
    (R.resnet50, _projection(64, 256) + _projection(256, 512) + _projection(512, 1024) + _projection(1024, 2048),
     2 * _projection(256, 256) + 3 * _projection(512, 512) + 5 * _projection(1024, 1024) + 2 * _projection(2048, 2048)),
    (R.resnet20, _projection(16, 32) + _projection(32, 64),
     3 * _projection(16, 16) + 2 * _projection(32, 32) + 2 * _projection(64, 64)),
])
def test_shortcut_options_parameters(builder, b_minus_a, c_minus_b):
    counts = {o: builder(shortcut=o).num_parameters() for o in "ABC"}
    assert counts["B"] - counts["A"] == b_minus_a
    assert counts["C"] - counts["B"] == c_minus_b


def test_shortcut_options_counts_and_layout():
    assert BASIC_PROJECTIONS == 173_824
    assert R.resnet18(shortcut="A").num_parameters() == PARAMS["plain18"] == 11_515_688   # A is parameter free
    assert R.resnet18(shortcut="C").num_parameters() == 12_043_816
    assert R.resnet20(shortcut="B").num_parameters() == 272_474                            # 269,722 + 2,752
    b = R.resnet20(shortcut="B").state_dict()
    assert b["layer2.0.downsample.0.weight"].shape == (32, 16, 1, 1) and "layer1.0.downsample.0.weight" not in b
    a = R.resnet20()
    assert isinstance(a.layer2[0].downsample, R.ZeroPadShortcut) and a.layer1[0].downsample is None
    assert not any("downsample" in k for k in a.state_dict())
    plain = R.plain20()
    assert not any(m.residual for m in plain.modules() if isinstance(m, R.BasicBlock))
    assert list(plain.state_dict()) == list(a.state_dict())      # same layers, same names


def test_zero_pad_shortcut_subsamples_and_appends_zeros():
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 5))
    y = R.ZeroPadShortcut(3, 8, stride=2)(mc.Tensor(x)).numpy()
    assert y.shape == (2, 8, 3, 3)
    np.testing.assert_array_equal(y[:, :3], x[:, :, ::2, ::2])
    np.testing.assert_array_equal(y[:, 3:], 0)


# ---------------------------------------------------------------------------------------------------
# 3. The same numbers as PyTorch, in float64, eval and train mode; MACs as torch's hooks count them.

def _pair(name, **kwargs):
    """The minicnn model and its torch reference, same configuration."""
    if name in ("resnet18", "resnet50"):
        block = TorchBasicBlock if name == "resnet18" else TorchBottleneck
        # stride_in_1x1=True: the paper's placement, minicnn's default (basic blocks ignore it).
        torch_model = TorchResNet(block, [2, 2, 2, 2] if name == "resnet18" else [3, 4, 6, 3], stride_in_1x1=True,
                                  **kwargs)
        return models.get(name, **kwargs), torch_model
    return models.get(name, **kwargs), TorchResNet(TorchBasicBlock, [3, 3, 3], 10, width=16, shortcut="A", cifar=True)


# 40x40 leaves conv5_x a 2x2 map: at 32x32 it is 1x1, and train-mode BN over a batch of two values per
# channel, (x1 - x2) / |x1 - x2|, amplifies float64 round-off (from ~1e-13 to ~1e-7 for resnet50).
@pytest.mark.parametrize("name, size", [("resnet18", 40), ("resnet50", 40), ("resnet20", 16)])
def test_matches_torch_reference(name, size):
    torch.manual_seed(0)
    ours, theirs = _pair(name)
    if name in TORCHVISION_PARAMS:
        assert _torch_params(theirs) == TORCHVISION_PARAMS[name]      # the reference is torchvision's net
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 3, size, size))
    assert_logits_match(ours, theirs, x)
    assert_macs_match_torch(ours, theirs, (3, size, size))
    assert_logits_match(ours, theirs, x, train=True)      # reloads the same weights and buffers first


@pytest.mark.parametrize("block, torch_block, shortcut, stride_in_1x1", [
    (R.BasicBlock, TorchBasicBlock, "A", False), (R.BasicBlock, TorchBasicBlock, "C", False),
    (R.Bottleneck, TorchBottleneck, "A", False), (R.Bottleneck, TorchBottleneck, "B", True),
])
def test_other_options_match_torch(block, torch_block, shortcut, stride_in_1x1):
    """Narrow nets (width 4) through every code path: zero padding, projections everywhere, the paper's stride."""
    kwargs = dict(num_classes=5, in_channels=2, shortcut=shortcut, width=4, stride_in_1x1=stride_in_1x1)
    torch.manual_seed(0)
    theirs = TorchResNet(torch_block, [2, 1, 2, 1], **kwargs)
    x = np.random.default_rng(3).standard_normal((2, 2, 40, 40))
    for train in (False, True):
        assert_logits_match(R._resnet(block, [2, 1, 2, 1], **kwargs), theirs, x, train=train)
    assert_macs_match_torch(R._resnet(block, [2, 1, 2, 1], **kwargs), theirs, (2, 40, 40))


# ---------------------------------------------------------------------------------------------------
# 4. End-to-end float64 gradcheck of tiny variants, batch norm in train mode.

@pytest.mark.parametrize("build, size", [
    (lambda: R._resnet(R.BasicBlock, [1, 1, 1, 1], 3, 1, shortcut="A", width=2), 16),
    (lambda: R._resnet(R.BasicBlock, [1, 1, 1, 1], 3, 1, shortcut="B", width=2), 16),
    (lambda: R._resnet(R.Bottleneck, [1, 1, 1, 1], 3, 1, shortcut="B", width=2), 16),
    (lambda: R._cifar_resnet(8, 3, 1, shortcut="A", width=2), 8),
], ids=["basic-A", "basic-B", "bottleneck-B", "cifar-A"])
def test_gradcheck_end_to_end(build, size):
    mc.manual_seed(0)
    model = build()
    assert model.training
    gradcheck_model(model, np.random.default_rng(4).standard_normal((2, 1, size, size)))


# ---------------------------------------------------------------------------------------------------
# 5. Inputs, errors, initialisation.

def test_smallest_input_runs_and_smaller_is_named():
    """Every layer pads, so a 1x1 image stays 1x1 through every stride: MIN_SIZE = 1."""
    for model in (R._resnet(R.Bottleneck, [1, 1, 1, 1], 4, shortcut="A", width=2), R._cifar_resnet(8, width=2)):
        assert model(mc.Tensor(np.random.default_rng(5).standard_normal((2, 3, 1, 1)).astype(np.float32))).shape[0] == 2
        with pytest.raises(ValueError, match="input 0x0 is too small; the smallest input this model supports is 1x1"):
            model(mc.zeros((1, 3, 0, 0)))
    with pytest.raises(ValueError, match=r"ResNet: expected input of shape \(N, 1, H, W\), got \(1, 3, 32, 32\)"):
        R._resnet(R.BasicBlock, [1, 1, 1, 1], in_channels=1, width=2)(mc.zeros((1, 3, 32, 32)))


def test_unsupported_configurations():
    with pytest.raises(ValueError, match="shortcut must be 'A'.*got 'D'"):
        R.resnet18(shortcut="D")
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2 .*got 21"):
        R._cifar_resnet(21)
    with pytest.raises(ValueError, match="four stages"):
        R._resnet(R.BasicBlock, [2, 2, 2])


def test_torchvision_initialisation():
    mc.manual_seed(0)
    model = R.resnet18()
    w = model.layer4[1].conv2.weight.numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.01)       # kaiming normal, fan_out, relu
    assert abs(w.mean()) < 1e-3
    assert all((m.weight.numpy() == 1).all() and (m.bias.numpy() == 0).all()
               for m in model.modules() if isinstance(m, mc.nn.BatchNorm2d))
