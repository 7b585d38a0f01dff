"""Inception v2 (BN-Inception, Ioffe & Szegedy 2015 Figure 5) and Inception v3 (Szegedy et al. 2015, Table 1).

Where the numbers come from:
- inception_v3: torchvision's published parameter counts, 27,161,264 with the auxiliary head and
  23,834,568 without (its model docs), and its 5.71 GFLOPS (multiply-adds) at 299x299; the stage shapes
  35x35x288, 17x17x768, 8x8x1280, 8x8x2048 are the "input size" column of the Rethinking paper's Table 1;
- inception_v2: the exact count is derived from Figure 5's widths below (``derived_v2_params``); the
  paper's text says 13.6M, a gap the paper does not explain (see the model's docstring). Its cost, 1.95G
  multiply-adds, against the Rethinking paper's Table 3: "BN-Inception ... 2.0 Bn ops".
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
import minicnn.models.inception  # noqa: F401  (registers "inception_v2" and "inception_v3")
from minicnn import models
from minicnn.models.inception import (MIN_SIZE_V2, MIN_SIZE_V3, MIN_SIZE_V3_AUX, BNInception, Inception3,
                                      InceptionAux, InceptionBN, _conv_block)
from minicnn.summary import summarize
from tests.models.helpers import (PatchInput, assert_logits_match, assert_macs_match_torch, assert_outputs_match,
                                  gradcheck_model, to_float64, torch_macs)

V3_PARAMS, V3_PARAMS_NO_AUX = 27_161_264, 23_834_568      # torchvision's published counts
V3_MACS = 5_713_216_096                                   # torchvision: 5.71 GFLOPS
V2_PARAMS = 11_278_528                                    # derived from Figure 5 below
V2_MACS = 1_948_605_440                                   # Rethinking, Table 3: BN-Inception 2.0 Bn ops

# BN paper, Figure 5: name: (in, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, proj, stride)
FIGURE5 = {
    "inception3a": (192, 64, 64, 64, 64, 96, "avg", 32, 1),
    "inception3b": (256, 64, 64, 96, 64, 96, "avg", 64, 1),
    "inception3c": (320, 0, 128, 160, 64, 96, "max", 0, 2),
    "inception4a": (576, 224, 64, 96, 96, 128, "avg", 128, 1),
    "inception4b": (576, 192, 96, 128, 96, 128, "avg", 128, 1),
    "inception4c": (576, 160, 128, 160, 128, 160, "avg", 128, 1),
    "inception4d": (608, 96, 128, 192, 160, 192, "avg", 128, 1),
    "inception4e": (608, 0, 128, 192, 192, 256, "max", 0, 2),
    "inception5a": (1056, 352, 192, 320, 160, 224, "avg", 128, 1),
    "inception5b": (1024, 352, 192, 320, 192, 224, "max", 128, 1),
}
V2_SHAPES = {"inception3a": (256, 28, 28), "inception3b": (320, 28, 28), "inception3c": (576, 14, 14),
             "inception4a": (576, 14, 14), "inception4b": (576, 14, 14), "inception4c": (608, 14, 14),
             "inception4d": (608, 14, 14), "inception4e": (1056, 7, 7), "inception5a": (1024, 7, 7),
             "inception5b": (1024, 7, 7)}
V3_SHAPES = {  # Table 1 of the Rethinking paper, "input size" of the following row
    "Conv2d_1a_3x3": (32, 149, 149), "Conv2d_2a_3x3": (32, 147, 147), "Conv2d_2b_3x3": (64, 147, 147),
    "maxpool1": (64, 73, 73), "Conv2d_3b_1x1": (80, 73, 73), "Conv2d_4a_3x3": (192, 71, 71),
    "maxpool2": (192, 35, 35), "Mixed_5d": (288, 35, 35), "Mixed_6a": (768, 17, 17), "Mixed_6e": (768, 17, 17),
    "Mixed_7a": (1280, 8, 8), "Mixed_7c": (2048, 8, 8), "avgpool": (2048, 1, 1)}


def conv_bn(cin, cout, k=1):
    """Weights of a bias-free k x k convolution and its batch norm's scale and shift."""
    return cin * cout * k * k + 2 * cout


def derived_v2_params(num_classes=1000, in_channels=3):
    stem = (in_channels * 8 * 49 + in_channels * 8 * 64 + 2 * 64) + conv_bn(64, 64) + conv_bn(64, 192, 3)
    total = stem + 1024 * num_classes + num_classes
    for cin, c1, r3, c3, rd, cd, _, proj, _ in FIGURE5.values():
        total += (conv_bn(cin, c1) if c1 else 0) + conv_bn(cin, r3) + conv_bn(r3, c3, 3)
        total += conv_bn(cin, rd) + conv_bn(rd, cd, 3) + conv_bn(cd, cd, 3) + (conv_bn(cin, proj) if proj else 0)
    return total


# ---- the PyTorch references -------------------------------------------------------------------------------
class TorchSeparableConv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, depth_multiplier, kernel_size, stride=1, padding=0):
        super().__init__()
        self.depthwise = torch.nn.Conv2d(in_channels, in_channels * depth_multiplier, kernel_size, stride, padding,
                                         groups=in_channels, bias=False)
        self.pointwise = torch.nn.Conv2d(in_channels * depth_multiplier, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class TorchBasicConv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, depth_multiplier=None, **kwargs):
        super().__init__()
        if depth_multiplier:
            self.conv = TorchSeparableConv2d(in_channels, out_channels, depth_multiplier, **kwargs)
        else:
            self.conv = torch.nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = torch.nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def torch_conv_block(d):
    return lambda cin, cout, **kw: TorchBasicConv2d(cin // d, cout // d, **kw)


class TorchInceptionBN(torch.nn.Module):
    def __init__(self, cin, c1, r3, c3, rd, cd, pool, proj, stride, conv):
        super().__init__()
        self.branch1 = conv(cin, c1, kernel_size=1) if c1 else None
        self.branch2 = torch.nn.Sequential(conv(cin, r3, kernel_size=1),
                                           conv(r3, c3, kernel_size=3, stride=stride, padding=1))
        self.branch3 = torch.nn.Sequential(conv(cin, rd, kernel_size=1), conv(rd, cd, kernel_size=3, padding=1),
                                           conv(cd, cd, kernel_size=3, stride=stride, padding=1))
        pooling = torch.nn.AvgPool2d(3, 1, 1) if pool == "avg" else torch.nn.MaxPool2d(3, stride, 1)
        self.branch4 = torch.nn.Sequential(pooling, *([conv(cin, proj, kernel_size=1)] if proj else []))

    def forward(self, x):
        return torch.cat([b(x) for b in (self.branch1, self.branch2, self.branch3, self.branch4) if b is not None], 1)


class TorchBNInception(torch.nn.Module):
    def __init__(self, num_classes=1000, in_channels=3, d=1):
        super().__init__()
        conv = torch_conv_block(d)
        self.conv1 = TorchBasicConv2d(in_channels, 64 // d, depth_multiplier=8, kernel_size=7, stride=2, padding=3)
        self.conv2 = conv(64, 64, kernel_size=1)
        self.conv3 = conv(64, 192, kernel_size=3, padding=1)
        for name, row in FIGURE5.items():
            setattr(self, name, TorchInceptionBN(*row, conv))
        self.fc = torch.nn.Linear(1024 // d, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.conv3(self.conv2(x)), 3, 2, ceil_mode=True)
        for name in FIGURE5:
            x = getattr(self, name)(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# torchvision/models/inception.py, with conv_block dividing the widths for the tiny copies.
class TorchInceptionA(torch.nn.Module):
    def __init__(self, in_channels, pool_features, conv_block):
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = conv_block(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = conv_block(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, padding=1)
        self.branch_pool = conv_block(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class TorchInceptionB(torch.nn.Module):
    def __init__(self, in_channels, conv_block):
        super().__init__()
        self.branch3x3 = conv_block(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), branch3x3dbl, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class TorchInceptionC(torch.nn.Module):
    def __init__(self, in_channels, channels_7x7, conv_block):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = conv_block(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv_block(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x):
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b = self.branch7x7dbl_1(x)
        b = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(b))))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch7x7, b, branch_pool], 1)


class TorchInceptionD(torch.nn.Module):
    def __init__(self, in_channels, conv_block):
        super().__init__()
        self.branch3x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = conv_block(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = conv_block(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv_block(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv_block(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([branch3x3, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class TorchInceptionE(torch.nn.Module):
    def __init__(self, in_channels, conv_block):
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = conv_block(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv_block(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), b3, bd, branch_pool], 1)


class TorchInceptionAux(torch.nn.Module):
    def __init__(self, in_channels, num_classes, conv_block):
        super().__init__()
        self.conv0 = conv_block(in_channels, 128, kernel_size=1)
        self.conv1 = conv_block(128, 768, kernel_size=5)
        self.fc = torch.nn.Linear(self.conv1.conv.out_channels, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class TorchInception3(torch.nn.Module):
    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, dropout=0.5, d=1):
        super().__init__()
        conv = torch_conv_block(d)
        self.aux_logits = aux_logits
        self.Conv2d_1a_3x3 = TorchBasicConv2d(in_channels, 32 // d, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)
        self.Mixed_5b = TorchInceptionA(192, 32, conv)
        self.Mixed_5c = TorchInceptionA(256, 64, conv)
        self.Mixed_5d = TorchInceptionA(288, 64, conv)
        self.Mixed_6a = TorchInceptionB(288, conv)
        self.Mixed_6b = TorchInceptionC(768, 128, conv)
        self.Mixed_6c = TorchInceptionC(768, 160, conv)
        self.Mixed_6d = TorchInceptionC(768, 160, conv)
        self.Mixed_6e = TorchInceptionC(768, 192, conv)
        self.AuxLogits = TorchInceptionAux(768, num_classes, conv) if aux_logits else None
        self.Mixed_7a = TorchInceptionD(768, conv)
        self.Mixed_7b = TorchInceptionE(1280, conv)
        self.Mixed_7c = TorchInceptionE(2048, conv)
        self.dropout = torch.nn.Dropout(dropout)
        self.fc = torch.nn.Linear(2048 // d, num_classes)

    def forward(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(
            self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))))))))
        aux = self.AuxLogits(x) if self.aux_logits and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)))
        return (x, aux) if aux is not None else x


# ---- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def v3():
    mc.manual_seed(0)
    return models.get("inception_v3")


@pytest.fixture(scope="module")
def v2():
    mc.manual_seed(0)
    return models.get("inception_v2")


# ---- counts, shapes and multiply-adds ----------------------------------------------------------------------
def test_parameter_counts(v2, v3):
    assert v3.num_parameters() == V3_PARAMS
    assert models.get("inception_v3", aux_logits=False).num_parameters() == V3_PARAMS_NO_AUX
    assert v2.num_parameters() == derived_v2_params() == V2_PARAMS
    assert models.get("inception_v2", num_classes=10, in_channels=1).num_parameters() == derived_v2_params(10, 1)
    assert V2_PARAMS / 13.6e6 == pytest.approx(0.83, abs=0.01)      # the paper's 13.6M: see the module docstring


def test_v3_stage_shapes_and_macs(v3):
    summary = summarize(v3, (3, 299, 299))
    rows = {r.name: r for r in summary.rows}
    for name, shape in V3_SHAPES.items():
        assert rows[name].output_shape == shape, name
    assert summary.total_macs == V3_MACS and round(V3_MACS / 1e9, 2) == 5.71
    assert "AuxLogits" not in rows                                  # eval mode: the head does not run
    assert sum(r.params for n, r in rows.items() if n.startswith("Mixed_6") and n.count(".") == 0) == \
        1_153_280 + 1_297_408 + 2 * 1_691_008 + 2_141_952


def test_v2_module_shapes_and_macs(v2):
    summary = summarize(v2, (3, 224, 224))
    rows = {r.name: r for r in summary.rows}
    for name, shape in V2_SHAPES.items():
        assert rows[name].output_shape == shape, name
    assert rows["conv1"].params == 3 * 8 * 49 + 24 * 64 + 2 * 64                 # separable, depth multiplier 8
    assert rows["conv1"].macs == 112 * 112 * (3 * 8 * 49 + 24 * 64)             # 34.0M
    assert summary.total_macs == V2_MACS and abs(V2_MACS / 2.0e9 - 1) < 0.05
    assert summary.total_params == V2_PARAMS


def test_macs_match_torch_hooks(v2, v3):
    assert torch_macs(TorchInception3().float(), (3, 299, 299)) == V3_MACS        # summarize's count, tested above
    assert assert_macs_match_torch(v2, TorchBNInception().float(), (3, 224, 224)) == V2_MACS


# ---- modes and the auxiliary head ------------------------------------------------------------------------
def test_v3_shapes_and_a_train_step_with_label_smoothing(v3):
    """Native input (eval, batch 1); a forward + backward of the registered architecture at its smallest input
    (without the aux head, which needs 299: its train step runs in test_v3_gradients_match_torch)."""
    v3.eval()
    with mc.no_grad():
        assert v3(mc.zeros((1, 3, 299, 299))).shape == (1, 1000)
        assert v3(mc.zeros((1, 3, MIN_SIZE_V3, MIN_SIZE_V3))).shape == (1, 1000)
    assert v3.aux_loss_weight == 0.4 and models.info("inception_v3").min_size == MIN_SIZE_V3_AUX
    mc.manual_seed(0)
    model = models.get("inception_v3", num_classes=10, aux_logits=False).train()
    x = mc.Tensor(np.random.default_rng(0).standard_normal((2, 3, MIN_SIZE_V3, MIN_SIZE_V3)).astype(np.float32))
    loss = mc.nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), mc.Tensor(np.array([1, 9])))
    loss.backward()
    for p in (model.Conv2d_1a_3x3.conv.weight, model.Mixed_7c.branch_pool.bn.weight, model.fc.bias):
        assert np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).max() > 0


def test_v2_forward_backward_and_shape(v2):
    v2.train()
    out = v2(mc.Tensor(np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)))
    assert out.shape == (2, 1000)
    out.sum().backward()
    assert np.abs(v2.conv1.conv.depthwise.weight.grad.numpy()).max() > 0
    v2.zero_grad()
    v2.eval()
    with mc.no_grad():
        assert v2(mc.zeros((1, 3, 224, 224))).shape == (1, 1000)
        assert v2(mc.zeros((1, 3, MIN_SIZE_V2, MIN_SIZE_V2))).shape == (1, 1000)


# ---- numerical equivalence (float64) ---------------------------------------------------------------------
def test_v3_matches_torch_eval_at_the_smallest_input():
    mc.manual_seed(1)
    torch.manual_seed(1)
    x = np.random.default_rng(1).standard_normal((2, 3, MIN_SIZE_V3, MIN_SIZE_V3))
    assert_logits_match(models.get("inception_v3"), TorchInception3(), x)


def test_v3_matches_torch_train_with_aux():
    """At 299, the aux head's smallest input, batch 2 (batch norm over the head's 1x1 grid), dropout 0; half
    the widths (full width costs ~20 s here: the eval test above runs every full-width layer but the head)."""
    mc.manual_seed(2)
    torch.manual_seed(2)
    x = np.random.default_rng(2).standard_normal((2, 3, MIN_SIZE_V3_AUX, MIN_SIZE_V3_AUX))
    assert_outputs_match(Inception3(dropout=0.0, width_divisor=2), TorchInception3(dropout=0.0, d=2), x)


def test_v3_gradients_match_torch():
    """Backward through the whole network and the aux head, every parameter: the tiny copy."""
    mc.manual_seed(3)
    torch.manual_seed(3)
    x = np.random.default_rng(3).standard_normal((2, 1, MIN_SIZE_V3_AUX, MIN_SIZE_V3_AUX))
    assert_outputs_match(Inception3(7, 1, dropout=0.0, width_divisor=16), TorchInception3(7, 1, dropout=0.0, d=16),
                         x, grads=True)


def test_v2_matches_torch():
    mc.manual_seed(4)
    torch.manual_seed(4)
    model, reference = models.get("inception_v2"), TorchBNInception()
    x = np.random.default_rng(4).standard_normal((2, 3, 32, 32))
    assert_logits_match(model, reference, x)
    assert_logits_match(model, reference, x, train=True)


def test_v2_matches_torch_at_odd_sizes():
    """The stride-2 modules' padded max pool keeps their branches aligned for odd grids too: 120 pixels give
    15x15 -> 8x8 -> 4x4 (Caffe's unpadded ceil_mode pool would give 7x7 beside the convolutions' 8x8)."""
    mc.manual_seed(5)
    torch.manual_seed(5)
    x = np.random.default_rng(5).standard_normal((2, 1, 120, 120))
    assert_logits_match(BNInception(5, 1, width_divisor=16), TorchBNInception(5, 1, d=16), x, train=True)


# ---- end-to-end gradchecks of tiny copies, batch norm in train mode --------------------------------------
def test_gradcheck_tiny_v3():
    mc.manual_seed(6)
    model = to_float64(Inception3(3, 1, aux_logits=False, dropout=0.2, width_divisor=16)).train()
    images = np.random.default_rng(6).standard_normal((2, 1, MIN_SIZE_V3, MIN_SIZE_V3))
    gradcheck_model(PatchInput(model, images, 30, 31), np.random.default_rng(7).standard_normal((1, 1, 4, 4)), params=1)


def test_gradcheck_tiny_v3_aux_head():
    mc.manual_seed(7)
    head = to_float64(InceptionAux(16, 3, conv_block=_conv_block(16, "test"))).train()     # 1 -> 8 -> 48 -> 3
    x = np.random.default_rng(8).standard_normal((2, 1, 17, 17))
    gradcheck_model(PatchInput(head, x, 6, 5), np.random.default_rng(9).standard_normal((2, 1, 4, 4)))


def test_gradcheck_tiny_v2():
    mc.manual_seed(8)
    model = to_float64(BNInception(3, 1, width_divisor=32)).train()
    images = np.random.default_rng(10).standard_normal((2, 1, 24, 24))
    gradcheck_model(PatchInput(model, images, 9, 10), np.random.default_rng(11).standard_normal((1, 1, 4, 4)),
                    params=1)


# ---- errors ----------------------------------------------------------------------------------------------
def test_errors_name_the_smallest_input(v2, v3):
    v3.eval()
    with pytest.raises(ValueError, match=f"Inception3: input 74x74 is too small; the smallest input this model "
                                         f"supports is {MIN_SIZE_V3}x{MIN_SIZE_V3}"):
        v3(mc.zeros((1, 3, 74, 74)))
    v3.train()
    with pytest.raises(ValueError, match=f"supports is {MIN_SIZE_V3_AUX}x{MIN_SIZE_V3_AUX}"):
        v3(mc.zeros((2, 3, 298, 298)))
    v2.eval()
    with pytest.raises(ValueError, match=f"BNInception: input 10x10 is too small; the smallest input this model "
                                         f"supports is {MIN_SIZE_V2}x{MIN_SIZE_V2}"):
        v2(mc.zeros((1, 3, 10, 10)))
    with pytest.raises(ValueError, match="width_divisor=3 must divide every channel count"):
        Inception3(width_divisor=3)
    with pytest.raises(ValueError, match="InceptionBN: unsupported row"):
        InceptionBN(64, 32, 16, 16, 16, 16, "max", 0, stride=2)
