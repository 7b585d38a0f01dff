"""GoogLeNet (Szegedy et al. 2014): Table 1's widths, parameters and ops, the auxiliary heads, torch equivalence.

Where the numbers come from:
- TABLE below is Table 1 of the paper (lecture 002 copies it): the widths of every inception module
  and its "params" (K = 1024 weights, biases not counted) and "ops" (multiply-adds) columns;
- the exact parameter counts are derived from those widths by plain arithmetic (``module_weights``);
- the paper's total, ~6.8M, is the sum of Table 1's params column (2.7K + 112K + 159K + ... + 1000K).
"""

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.models.googlenet  # noqa: F401  (registers "googlenet")
from minicnn import models
from minicnn.models.googlenet import MAX_SIZE_AUX, MIN_SIZE, MIN_SIZE_AUX, BasicConv2d, GoogLeNet, InceptionAux
from minicnn.summary import summarize
from tests.models.helpers import (PatchInput, assert_logits_match, assert_macs_match_torch, assert_outputs_match,
                                  gradcheck_model, to_float64)

# Table 1: name: (input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, grid, params K, ops M)
TABLE = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32, 28, 159, 128),
    "inception3b": (256, 128, 128, 192, 32, 96, 64, 28, 380, 304),
    "inception4a": (480, 192, 96, 208, 16, 48, 64, 14, 364, 73),
    "inception4b": (512, 160, 112, 224, 24, 64, 64, 14, 437, 88),
    "inception4c": (512, 128, 128, 256, 24, 64, 64, 14, 463, 100),
    "inception4d": (512, 112, 144, 288, 32, 64, 64, 14, 580, 119),
    "inception4e": (528, 256, 160, 320, 32, 128, 128, 14, 840, 170),
    "inception5a": (832, 256, 160, 320, 32, 128, 128, 7, 1072, 54),
    "inception5b": (832, 384, 192, 384, 48, 128, 128, 7, 1388, 71),
}
# Two entries of the table disagree with its own widths (every other one is within 2%):
# - 4c's params, 463K: its widths give 509,440 weights = 497.5K (+7.5%); its ops column, 100M = 497.5K x 14^2,
#   agrees with the widths. (463K is what a 224-wide 3x3 branch, 4b's, would give.)
# - 5a's ops, 54M: its widths give 51.1M (-5.4%) and 1018K params (-5.0%); both printed numbers fit a 48-wide
#   5x5 reduce (5b's) rather than the printed 32, which the Caffe replication also uses.
TOLERANCE = {"params": {"inception4c": 0.08, "inception5a": 0.06}, "ops": {"inception5a": 0.06}}   # otherwise 5%
PAPER_TOTAL = 6.8e6                      # the sum of Table 1's params column
PARAMS = 13_378_280                      # exact, with the two auxiliary heads
PARAMS_NO_AUX = 6_998_552                # exact, without them
MACS = 1_582_671_872                     # one 224x224 image, main path (eval mode)


def module_weights(cin, c1, r3, c3, r5, c5, pp):
    """Weights (no biases) and biases of one inception module with Table 1's widths."""
    weights = cin * c1 + cin * r3 + 9 * r3 * c3 + cin * r5 + 25 * r5 * c5 + cin * pp
    return weights, c1 + r3 + c3 + r5 + c5 + pp


def derived_params(num_classes=1000, aux=True):
    stem = (7 * 7 * 3 * 64 + 64) + (64 * 64 + 64) + (3 * 3 * 64 * 192 + 192)
    modules = sum(sum(module_weights(*row[:7])) for row in TABLE.values())
    head = 1024 * num_classes + num_classes
    def aux_head(cin):      # 1x1 conv 128, FC 4x4x128 -> 1024, linear 1024 -> num_classes
        return (cin * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * num_classes + num_classes)
    return stem + modules + head + (aux_head(512) + aux_head(528) if aux else 0)


# ---- the PyTorch reference: torchvision's GoogLeNet layout, built as the paper draws it --------------------
class TorchBasicConv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x):
        return torch.relu(self.conv(x))


class TorchInception(torch.nn.Module):
    def __init__(self, cin, c1, r3, c3, r5, c5, pp, conv):
        super().__init__()
        self.branch1 = conv(cin, c1, kernel_size=1)
        self.branch2 = torch.nn.Sequential(conv(cin, r3, kernel_size=1), conv(r3, c3, kernel_size=3, padding=1))
        self.branch3 = torch.nn.Sequential(conv(cin, r5, kernel_size=1), conv(r5, c5, kernel_size=5, padding=2))
        self.branch4 = torch.nn.Sequential(torch.nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                           conv(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchInceptionAux(torch.nn.Module):
    def __init__(self, cin, num_classes, conv, fc_features, dropout):
        super().__init__()
        self.conv = conv(cin, 128, kernel_size=1)
        self.fc1 = torch.nn.Linear(self.conv.conv.out_channels * 16, fc_features)
        self.fc2 = torch.nn.Linear(fc_features, num_classes)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x):
        x = self.conv(torch.nn.functional.avg_pool2d(x, 5, stride=3))
        return self.fc2(self.dropout(torch.relu(self.fc1(torch.flatten(x, 1)))))


class TorchGoogLeNet(torch.nn.Module):
    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, lrn=True, dropout=0.4, dropout_aux=0.7, d=1):
        super().__init__()
        conv = lambda cin, cout, **kw: TorchBasicConv2d(cin // d, cout // d, **kw)  # noqa: E731
        self.aux_logits = aux_logits
        self.conv1 = TorchBasicConv2d(in_channels, 64 // d, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else torch.nn.Identity()
        self.conv2 = conv(64, 64, kernel_size=1)
        self.conv3 = conv(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, row in TABLE.items():
            setattr(self, name, TorchInception(*row[:7], conv))
        self.maxpool3 = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        if aux_logits:
            self.aux1 = TorchInceptionAux(512, num_classes, conv, 1024 // d, dropout_aux)
            self.aux2 = TorchInceptionAux(528, num_classes, conv, 1024 // d, dropout_aux)
        self.dropout = torch.nn.Dropout(dropout)
        self.fc = torch.nn.Linear(1024 // d, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.lrn(self.conv3(self.conv2(self.lrn(self.maxpool1(self.conv1(x)))))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux = self.aux_logits and self.training
        aux1 = self.aux1(x) if aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)))
        return (x, aux1, aux2) if aux else x


@pytest.fixture(scope="module")
def model():
    mc.manual_seed(0)
    return models.get("googlenet")


@pytest.fixture(scope="module")
def summary(model):
    return summarize(model, (3, 224, 224))


# ---- counts against Table 1 ------------------------------------------------------------------------------
def test_parameter_counts(model):
    assert model.num_parameters() == derived_params() == PARAMS
    no_aux = models.get("googlenet", aux_logits=False)
    assert no_aux.num_parameters() == derived_params(aux=False) == PARAMS_NO_AUX
    # Against the paper's ~6.8M (Table 1's column summed): +2.9%, mostly Table 1's K of 1024 (the weights are
    # 6,826K in those units against the column's 6,798K) and the 8,280 biases it leaves out.
    assert abs(PARAMS_NO_AUX / PAPER_TOTAL - 1) < 0.05
    assert models.get("googlenet", num_classes=10, in_channels=1).num_parameters() == \
        derived_params(10) - 7 * 7 * 2 * 64


def test_every_inception_module_against_table_1(summary):
    rows = {r.name: r for r in summary.rows}
    for name, (cin, c1, r3, c3, r5, c5, pp, grid, paper_k, paper_m) in TABLE.items():
        weights, biases = module_weights(cin, c1, r3, c3, r5, c5, pp)
        row = rows[name]
        assert row.params == weights + biases, name
        assert row.macs == weights * grid * grid, name        # ops = every weight once per output position
        assert row.output_shape == (c1 + c3 + c5 + pp, grid, grid), name
        assert abs(weights / 1024 / paper_k - 1) < TOLERANCE["params"].get(name, 0.05), name
        assert abs(row.macs / 1e6 / paper_m - 1) < TOLERANCE["ops"].get(name, 0.05), name
    # The stem and the head against their rows of Table 1 (conv1 is discussed in the model's docstring).
    assert (rows["conv2"].macs + rows["conv3"].macs) / 1e6 == pytest.approx(360, rel=0.01)
    assert (rows["conv2"].params + rows["conv3"].params - 64 - 192) / 1024 == 112
    assert rows["fc"].params - 1000 == 1000 * 1024 and rows["fc"].macs == 1024 * 1000
    assert [rows[f"maxpool{i}"].output_shape[1] for i in (1, 2, 3, 4)] == [56, 28, 14, 7]
    assert summary.total_macs == MACS            # ~1.58G; the paper's "1.5 billion multiply-adds"


def test_macs_match_torch_hooks(model):
    assert assert_macs_match_torch(model, TorchGoogLeNet().float(), (3, 224, 224)) == MACS


# ---- shapes, modes and the auxiliary heads ----------------------------------------------------------------
def test_output_shapes_and_modes(model):
    x = mc.Tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    model.train()
    logits, aux1, aux2 = model(x)
    assert logits.shape == aux1.shape == aux2.shape == (1, 1000)
    model.eval()
    with mc.no_grad():
        assert model(x).shape == (1, 1000)
        assert model(mc.zeros((2, 3, MIN_SIZE, MIN_SIZE))).shape == (2, 1000)   # no aux heads in eval mode
    assert model.aux_loss_weight == 0.3
    assert models.info("googlenet").min_size == MIN_SIZE_AUX


def test_train_step_with_the_auxiliary_loss():
    """Forward + backward of the paper's loss, loss + 0.3 * (aux1 + aux2), at the smallest training input."""
    mc.manual_seed(1)
    model = models.get("googlenet", num_classes=10).train()
    x = mc.Tensor(np.random.default_rng(1).standard_normal((1, 3, MIN_SIZE_AUX, MIN_SIZE_AUX)).astype(np.float32))
    labels = mc.Tensor(np.array([3]))
    criterion = mc.nn.CrossEntropyLoss()
    logits, aux1, aux2 = model(x)
    loss = criterion(logits, labels) + model.aux_loss_weight * (criterion(aux1, labels) + criterion(aux2, labels))
    loss.backward()
    for p in (model.conv1.conv.weight, model.aux1.fc2.weight, model.aux2.conv.conv.weight, model.fc.bias):
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).max() > 0


# ---- numerical equivalence with the torch reference (float64) --------------------------------------------
def test_matches_torch_eval_at_the_smallest_input():
    mc.manual_seed(2)
    x = np.random.default_rng(2).standard_normal((2, 3, MIN_SIZE, MIN_SIZE))
    torch.manual_seed(2)
    assert_logits_match(models.get("googlenet"), TorchGoogLeNet(), x)


def test_matches_torch_train_with_aux_heads():
    """Dropout p = 0 in both, so train mode is deterministic; the smallest input the aux heads take."""
    mc.manual_seed(3)
    torch.manual_seed(3)
    x = np.random.default_rng(3).standard_normal((1, 3, MIN_SIZE_AUX, MIN_SIZE_AUX))
    assert_outputs_match(GoogLeNet(dropout=0.0, dropout_aux=0.0), TorchGoogLeNet(dropout=0.0, dropout_aux=0.0), x)


def test_gradients_match_torch_with_aux_heads():
    """Backward of the whole network and both heads, every parameter: the tiny copy (full width costs ~15 s)."""
    mc.manual_seed(4)
    torch.manual_seed(4)
    x = np.random.default_rng(4).standard_normal((2, 1, MIN_SIZE_AUX, MIN_SIZE_AUX))
    assert_outputs_match(GoogLeNet(7, 1, dropout=0.0, dropout_aux=0.0, width_divisor=8),
                             TorchGoogLeNet(7, 1, dropout=0.0, dropout_aux=0.0, d=8), x, grads=True)


@pytest.mark.parametrize("lrn", [True, False])
def test_tiny_variant_matches_torch(lrn):
    """The width_divisor copy the gradcheck uses, with and without LRN, in eval and (dropout 0) train mode."""
    mc.manual_seed(4)
    torch.manual_seed(4)
    x = np.random.default_rng(4).standard_normal((2, 1, 50, 50))
    model = GoogLeNet(num_classes=5, in_channels=1, aux_logits=False, lrn=lrn, dropout=0.0, width_divisor=8)
    reference = TorchGoogLeNet(5, 1, aux_logits=False, lrn=lrn, dropout=0.0, d=8)
    assert_logits_match(model, reference, x)
    assert_logits_match(model, reference, x, train=True)


# ---- end-to-end gradcheck of a tiny GoogLeNet ------------------------------------------------------------
def test_gradcheck_tiny_googlenet():
    """Train mode (dropout drawn afresh but reseeded each pass), LRN on: the window's gradient crosses every layer."""
    mc.manual_seed(5)
    model = to_float64(GoogLeNet(num_classes=3, in_channels=1, aux_logits=False, width_divisor=8)).train()
    image = np.random.default_rng(5).standard_normal((1, 1, MIN_SIZE, MIN_SIZE))
    window = np.random.default_rng(6).standard_normal((1, 1, 5, 5))
    gradcheck_model(PatchInput(model, image, 20, 21), window, params=1)     # the window and fc.bias


def test_gradcheck_auxiliary_head():
    mc.manual_seed(6)
    small = lambda cin, cout, **kw: BasicConv2d(cin, cout // 16, **kw)  # noqa: E731  (128 -> 8 filters)
    head = InceptionAux(2, num_classes=3, conv_block=small, fc_features=8).train()   # dropout 0.7, reseeded
    x = np.random.default_rng(7).standard_normal((2, 2, 14, 14))
    gradcheck_model(head, x)


# ---- errors ----------------------------------------------------------------------------------------------
def test_too_small_or_too_large_inputs_are_named(model):
    model.eval()
    with pytest.raises(ValueError, match=f"GoogLeNet: input 46x46 is too small; the smallest input this model "
                                         f"supports is {MIN_SIZE}x{MIN_SIZE}"):
        model(mc.zeros((1, 3, 46, 46)))
    model.train()
    with pytest.raises(ValueError, match=f"the smallest input this model supports is {MIN_SIZE_AUX}x{MIN_SIZE_AUX}"):
        model(mc.zeros((1, 3, 222, 222)))
    with pytest.raises(ValueError, match=f"too large for the auxiliary classifiers, which need inputs of "
                                         f"{MIN_SIZE_AUX} to {MAX_SIZE_AUX} pixels"):
        model(mc.zeros((1, 3, MAX_SIZE_AUX + 1, MAX_SIZE_AUX + 1)))
    with pytest.raises(ValueError, match="width_divisor=3 must divide every channel count"):
        GoogLeNet(width_divisor=3)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        model(mc.zeros((1, 1, 224, 224)))
