"""DenseNet-121/169/201/161 (lecture 38, Huang et al. 2017 Table 1) and DenseNet-BC-100 (the paper's CIFAR model).

Where the numbers come from:
- parameter counts of the ImageNet models: torchvision's published counts (its model docs), which
  ``derived_params`` below also reproduces from the paper's table by plain arithmetic;
- their multiply-adds: torchvision lists 2.83, 3.36, 4.29 and 7.73 GFLOPS (it counts a multiply-add
  as one operation); minicnn's exact counts agree with torch forward hooks on the reference below;
- DenseNet-BC-100 (k = 12): the paper's Table 2 says 0.8M parameters; the exact count is derived below
  (769,162 for 10 classes, the same number osmr/imgclsmob lists for its CIFAR-10 model).
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
import minicnn.models.densenet  # noqa: F401  (registers the DenseNet names)
from minicnn import models
from minicnn.models.densenet import DenseNet, _DenseBlock
from minicnn.summary import summarize
from tests.models.helpers import assert_logits_match, assert_macs_match_torch, gradcheck_model, torch_macs

IMAGENET = {  # name: (growth rate k, dense block sizes, stem channels, torchvision's params, torchvision's GFLOPS)
    "densenet121": (32, (6, 12, 24, 16), 64, 7_978_856, 2.83),
    "densenet169": (32, (6, 12, 32, 32), 64, 14_149_480, 3.36),
    "densenet201": (32, (6, 12, 48, 32), 64, 20_013_928, 4.29),
    "densenet161": (48, (6, 12, 36, 24), 96, 28_681_000, 7.73),
}
EXACT_MACS = {"densenet121": 2_834_161_664, "densenet169": 3_359_843_328,
              "densenet201": 4_291_365_888, "densenet161": 7_727_907_072, "densenet_bc100": 287_929_692}
BC100_PARAMS = 769_162


# ---- the PyTorch reference, in torchvision's layout (torchvision/models/densenet.py) ------------------------
class TorchDenseLayer(torch.nn.Module):
    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate):
        super().__init__()
        self.norm1 = torch.nn.BatchNorm2d(num_input_features)
        self.relu1 = torch.nn.ReLU(inplace=True)
        self.conv1 = torch.nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = torch.nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, prev_features):
        bottleneck = self.conv1(self.relu1(self.norm1(torch.cat(prev_features, 1))))
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class TorchDenseBlock(torch.nn.ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            TorchDenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate))

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return torch.cat(features, 1)


class TorchTransition(torch.nn.Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = torch.nn.BatchNorm2d(num_input_features)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv = torch.nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = torch.nn.AvgPool2d(kernel_size=2, stride=2)


class TorchDenseNet(torch.nn.Module):
    """torchvision's DenseNet; ``small_inputs`` swaps its stem for the paper's CIFAR one (3x3 conv, 2k channels)."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 drop_rate=0.0, num_classes=1000, in_channels=3, small_inputs=False):
        super().__init__()
        if small_inputs:
            stem = [("conv0", torch.nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False))]
        else:
            stem = [("conv0", torch.nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3,
                                              bias=False)),
                    ("norm0", torch.nn.BatchNorm2d(num_init_features)),
                    ("relu0", torch.nn.ReLU(inplace=True)),
                    ("pool0", torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = torch.nn.Sequential(OrderedDict(stem))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     TorchDenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate))
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", TorchTransition(num_features, num_features // 2))
                num_features = num_features // 2
        self.features.add_module("norm5", torch.nn.BatchNorm2d(num_features))
        self.classifier = torch.nn.Linear(num_features, num_classes)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.classifier(torch.flatten(out, 1))


def torch_reference(name, **kwargs):
    if name == "densenet_bc100":
        return TorchDenseNet(12, (16, 16, 16), 24, num_classes=10, small_inputs=True, **kwargs)
    k, blocks, init, _, _ = IMAGENET[name]
    return TorchDenseNet(k, blocks, init, **kwargs)


def randomize_batch_norms(torch_model, seed=0):
    """Give every BN non-trivial weights and running statistics, so that eval mode tests them too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return torch_model


def derived_params(k, blocks, init, stem_kernel, stem_norm, num_classes, in_channels=3, bn_size=4):
    """The parameter count from the paper's description alone: every conv without bias, BN = 2 per channel."""
    total = in_channels * init * stem_kernel ** 2 + (2 * init if stem_norm else 0)
    c = init
    for b, num_layers in enumerate(blocks):
        for i in range(num_layers):
            cin = c + i * k
            total += 2 * cin + cin * bn_size * k + 2 * bn_size * k + bn_size * k * k * 9   # norm1 conv1 norm2 conv2
        c += num_layers * k
        if b != len(blocks) - 1:
            total += 2 * c + c * (c // 2)                                                   # transition norm, conv
            c //= 2
    return total + 2 * c + c * num_classes + num_classes                                    # norm5, classifier


# ---- fixtures: each big model built (and summarised at its native size) once --------------------------------
@pytest.fixture(scope="module")
def zoo():
    cache = {}

    def get(name):
        if name not in cache:
            model = models.get(name)
            cache[name] = model, summarize(model, models.info(name).input_size)
        return cache[name]
    return get


ALL = list(IMAGENET) + ["densenet_bc100"]


@pytest.mark.parametrize("name", ALL)
def test_parameter_counts_output_shape_and_macs(zoo, name):
    model, summary = zoo(name)
    if name == "densenet_bc100":
        published, derived = BC100_PARAMS, derived_params(12, (16, 16, 16), 24, 3, False, 10)
        assert summary.rows[0].output_shape == (10,)
        assert summary.total_params == 769_162       # the paper's Table 2: "0.8M"
    else:
        k, blocks, init, published, gflops = IMAGENET[name]
        derived = derived_params(k, blocks, init, 7, True, 1000)
        assert summary.rows[0].output_shape == (1000,)
        assert abs(summary.total_macs / (gflops * 1e9) - 1) < 0.02     # torchvision's GFLOPS, rounded to 0.01G
    assert model.num_parameters() == summary.total_params == published == derived
    assert summary.total_macs == EXACT_MACS[name]
    # the torch hook count on the reference (float32, native size): assert_macs_match_torch's check, without
    # running the 224x224 summary a second time
    assert torch_macs(torch_reference(name), models.info(name).input_size) == summary.total_macs


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_at_min_size(zoo, name):
    model, _ = zoo(name)
    size = models.info(name).min_size
    x = mc.Tensor(np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32))
    model.train()
    logits = model(x)
    assert logits.shape == (2, 10 if name == "densenet_bc100" else 1000)
    mc.ops.cross_entropy(logits, np.array([1, 2])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.isfinite(p.grad.numpy()).all(), pname
        p.grad = None


def test_table_1_output_sizes_and_channels(zoo):
    """DenseNet-121 at 224x224: the sizes of lecture 38's table; channels 64 + L*k, halved by each transition."""
    rows = {r.name: r.output_shape for r in zoo("densenet121")[1].rows}
    assert rows["features.conv0"] == (64, 112, 112)
    assert rows["features.pool0"] == (64, 56, 56)
    assert rows["features.denseblock1"] == (64 + 6 * 32, 56, 56) == (256, 56, 56)
    assert rows["features.transition1"] == (128, 28, 28)
    assert rows["features.denseblock2"] == (128 + 12 * 32, 28, 28) == (512, 28, 28)
    assert rows["features.transition2"] == (256, 14, 14)
    assert rows["features.denseblock3"] == (256 + 24 * 32, 14, 14) == (1024, 14, 14)
    assert rows["features.transition3"] == (512, 7, 7)
    assert rows["features.denseblock4"] == (512 + 16 * 32, 7, 7) == (1024, 7, 7)
    assert rows["features.denseblock1.denselayer6.conv1"] == (4 * 32, 56, 56)      # the 4k bottleneck
    assert rows["features.denseblock1.denselayer6.conv2"] == (32, 56, 56)          # k new channels
    assert rows["classifier"] == (1000,)


def test_bc100_stages(zoo):
    """DenseNet-BC-100: 24 -> 216 -> 108 -> 300 -> 150 -> 342 channels on 32, 16 and 8 pixel maps."""
    model, summary = zoo("densenet_bc100")
    rows = {r.name: r.output_shape for r in summary.rows}
    assert rows["features.conv0"] == (24, 32, 32)
    assert rows["features.denseblock1"] == (216, 32, 32)
    assert rows["features.transition1"] == (108, 16, 16)
    assert rows["features.denseblock2"] == (300, 16, 16)
    assert rows["features.transition2"] == (150, 8, 8)
    assert rows["features.denseblock3"] == (342, 8, 8)
    convs = [m for m in model.modules() if isinstance(m, mc.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, mc.nn.Linear)]
    assert len(convs) + len(linears) == 100                                         # L = 100


def test_state_dict_names_are_torchvision_s():
    ours = models.get("densenet121").state_dict()
    theirs = torch_reference("densenet121").state_dict()
    assert list(ours) == list(theirs)
    assert all(tuple(ours[k].shape) == tuple(v.shape) for k, v in theirs.items())
    for key in ("features.conv0.weight", "features.norm0.running_var", "features.denseblock1.denselayer1.norm1.weight",
                "features.denseblock4.denselayer16.conv2.weight", "features.transition3.conv.weight",
                "features.norm5.bias", "classifier.weight"):
        assert key in ours


# ---- numerical equivalence with the torch reference (float64) --------------------------------------------
@pytest.mark.parametrize("size, train", [(29, True), (32, False)], ids=["29-train", "32-eval"])
def test_densenet121_matches_torch(size, train):
    torch.manual_seed(0)
    reference = randomize_batch_norms(torch_reference("densenet121"))
    x = np.random.default_rng(size).standard_normal((2, 3, size, size))
    # 121 layers of train-mode batch norm over batch 2 amplify float64 round-off: the order of a
    # sum alone (NumPy's vs the numba kernel's) moves the logits by ~1e-8 relative.
    assert_logits_match(models.get("densenet121"), reference, x, train=train, tol=1e-7)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_densenet_bc100_matches_torch(train):
    torch.manual_seed(1)
    reference = randomize_batch_norms(torch_reference("densenet_bc100"), seed=1)
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16))
    assert_logits_match(models.get("densenet_bc100"), reference, x, train=train)


def test_tiny_variant_matches_torch():
    """A reduced configuration (k = 3, bottleneck 2k, odd channel counts for the halving) agrees too."""
    reference = randomize_batch_norms(TorchDenseNet(3, (2, 3), 5, bn_size=2, num_classes=4, in_channels=2), seed=3)
    model = DenseNet(3, (2, 3), 5, bn_size=2, num_classes=4, in_channels=2)
    x = np.random.default_rng(3).standard_normal((3, 2, 9, 9))
    assert assert_macs_match_torch(model, reference, (2, 9, 9)) > 0
    assert_logits_match(model, reference, x, train=True)


# ---- memory kept for backward ----------------------------------------------------------------------------
def _graph_functions(y):
    """Every Function recorded in the graph of ``y``."""
    found, stack = {}, [y.creator]
    while stack:
        f = stack.pop()
        if f is not None and id(f) not in found:
            found[id(f)] = f
            stack.extend(x.creator for x in f.inputs)
    return list(found.values())


def test_a_dense_block_keeps_what_backward_needs_once(fast_path):
    """The layers' joined inputs are views of one buffer of the block's output size (separate
    concatenations kept 8 + 12 + 16 + 20 channels here, and ~num_layers/2 times the output in
    general), and the batch norms and ReLUs keep nothing of a feature map's size of their own:
    the profiler counts only each batch norm's mean and 1/std saved."""
    mc.manual_seed(0)
    block = _DenseBlock(num_layers=4, num_input_features=8, growth_rate=4, bn_size=2, drop_rate=0)
    x = mc.Tensor(np.random.default_rng(0).standard_normal((2, 8, 5, 5)).astype(np.float32), requires_grad=True)
    with mc.profile() as prof:
        y = block(x)
    assert y.shape == (2, 24, 5, 5)
    joined = {}
    for f in _graph_functions(y):
        if type(f).__name__ == "Concat":
            array = f.outputs[0]().array
            root = array.base if array.base is not None else array
            joined[id(root)] = root.nbytes
    assert list(joined.values()) == [2 * 24 * 5 * 5 * 4]
    bn_channels = sum(8 + 4 * i + 2 * 4 for i in range(4))                     # norm1: C0 + i*k, norm2: bn_size*k
    saved = sum(r.saved_bytes for r in prof.records if r.op in ("BatchNorm", "ReLU"))
    assert saved == bn_channels * 2 * 4


# ---- end-to-end gradcheck on tiny variants, batch norm in train mode --------------------------------------
def test_gradcheck_tiny_imagenet_stem():
    mc.manual_seed(0)
    model = DenseNet(growth_rate=2, block_config=(2, 2), num_init_features=4, bn_size=2, num_classes=3,
                     in_channels=1).train()
    assert model.min_size == 5
    x = np.random.default_rng(4).standard_normal((3, 1, 7, 7))         # 7 -> 4 -> 2 -> transition -> 1
    gradcheck_model(model, x)       # the input, conv0.weight, classifier.bias: the input's gradient crosses every op


def test_gradcheck_tiny_cifar_stem_with_dropout():
    mc.manual_seed(1)
    model = DenseNet(growth_rate=2, block_config=(2, 2), num_init_features=4, bn_size=2, drop_rate=0.2,
                     num_classes=3, in_channels=2, small_inputs=True).train()
    assert model.min_size == 2
    x = np.random.default_rng(5).standard_normal((2, 2, 4, 4))
    gradcheck_model(model, x, params=4)     # conv0.weight, the first norm1.weight, the classifier's weight and bias


def test_dropout_only_in_training():
    model = DenseNet(2, (2,), 4, bn_size=2, drop_rate=0.5, num_classes=3, small_inputs=True)
    x = mc.Tensor(np.random.default_rng(6).standard_normal((2, 3, 4, 4)).astype(np.float32))
    model.eval()
    assert np.array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    mc.manual_seed(0)
    a = model(x).numpy()
    mc.manual_seed(1)
    assert not np.allclose(a, model(x).numpy())


# ---- input sizes and configurations ------------------------------------------------------------------------
@pytest.mark.parametrize("name, min_size", [("densenet121", 29), ("densenet_bc100", 4)])
def test_min_size_is_the_smallest_that_works(zoo, name, min_size):
    assert models.info(name).min_size == min_size
    reference = torch_reference(name).eval()
    with torch.no_grad():
        reference(torch.zeros(1, 3, min_size, min_size))                 # the reference runs at min_size ...
        with pytest.raises(RuntimeError):
            reference(torch.zeros(1, 3, min_size - 1, min_size - 1))     # ... and fails one pixel below
    model = zoo(name)[0]
    with mc.no_grad():
        assert model.eval()(mc.zeros((1, 3, min_size, min_size))).shape[0] == 1
    with pytest.raises(ValueError, match=f"DenseNet: input {min_size - 1}x{min_size - 1} is too small; the smallest "
                                         f"input this model supports is {min_size}x{min_size}"):
        model(mc.zeros((1, 3, min_size - 1, min_size - 1)))
    with pytest.raises(ValueError, match=r"DenseNet: expected input of shape \(N, 3, H, W\), got \(1, 1, 32, 32\)"):
        model(mc.zeros((1, 1, 32, 32)))


def test_num_classes_and_in_channels():
    model = models.get("densenet_bc100", num_classes=100, in_channels=1)
    assert model.num_parameters() == derived_params(12, (16, 16, 16), 24, 3, False, 100, in_channels=1)
    with mc.no_grad():
        assert model.eval()(mc.zeros((1, 1, 8, 8))).shape == (1, 100)


@pytest.mark.parametrize("kwargs, message", [
    (dict(block_config=()), "block_config"),
    (dict(block_config=(2, 0)), "block_config"),
    (dict(growth_rate=0), "growth_rate"),
    (dict(compression=0), "compression must be in"),
    (dict(compression=1.5), "compression must be in"),
    (dict(drop_rate=1.0), "drop_rate must be in"),
])
def test_unsupported_configurations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseNet(**{"growth_rate": 2, "block_config": (1, 1), "num_init_features": 4, **kwargs})


def test_compression_keeps_floor_theta_m_channels():
    model = DenseNet(growth_rate=3, block_config=(3, 1), num_init_features=4, compression=0.3, small_inputs=True)
    assert model.features.transition1.conv.out_channels == int(0.3 * (4 + 3 * 3)) == 3
    assert model.classifier.in_features == 3 + 1 * 3


def test_initialisation_is_torchvision_s():
    mc.manual_seed(0)
    model = models.get("densenet_bc100")
    w = model.features.denseblock3.denselayer16.conv1.weight.numpy()           # kaiming_normal_, fan_in = C * 1 * 1
    assert abs(w.std() / np.sqrt(2.0 / w.shape[1]) - 1) < 0.05
    assert np.all(model.features.norm5.weight.numpy() == 1) and np.all(model.features.norm5.bias.numpy() == 0)
    assert np.all(model.classifier.bias.numpy() == 0)
