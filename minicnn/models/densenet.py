"""DenseNet (Huang, Liu, van der Maaten & Weinberger, CVPR 2017), as lecture 38 tabulates it.

Inside a dense block every layer sees the feature maps of all layers before it, joined along the
channels (lecture 38's slide: x_l = H_l([x_0, x_1, ..., x_{l-1}])). A layer adds k new channels,
the growth rate, so block input C0 grows to C0 + L*k after L layers. Each H_l is the paper's
DenseNet-B layer, BN-ReLU-Conv(1x1, 4k) then BN-ReLU-Conv(3x3, k): the 1x1 bottleneck keeps the
3x3's input at 4k channels however wide the concatenation grows. Between blocks a transition
layer, BN-ReLU-Conv(1x1)-AvgPool(2x2, stride 2), halves the size and keeps floor(theta * m) of
its m channels, with compression theta = 0.5 (DenseNet-BC = bottleneck + compression).

Lecture 38's table (the paper's Table 1), ImageNet models, 224x224 input:

    layers                 output    DenseNet-121   DenseNet-169   DenseNet-201   DenseNet-161
                                     (k = 32)       (k = 32)       (k = 32)       (k = 48)
    convolution            112x112   7x7 conv, stride 2 (2k channels: 64, 64, 64, 96)
    pooling                56x56     3x3 max pool, stride 2
    dense block (1)        56x56     [1x1 conv, 3x3 conv] x 6 (all four)
    transition layer (1)   56x56     1x1 conv
                           28x28     2x2 average pool, stride 2
    dense block (2)        28x28     [1x1, 3x3] x 12 (all four)
    transition layer (2)   28x28     1x1 conv
                           14x14     2x2 average pool, stride 2
    dense block (3)        14x14     x 24           x 32           x 48           x 36
    transition layer (3)   14x14     1x1 conv
                           7x7       2x2 average pool, stride 2
    dense block (4)        7x7       x 16           x 32           x 32           x 24
    classification layer   1x1       7x7 global average pool; 1000-way fully connected, softmax

    parameters (exact; torchvision's published counts)
                                     7,978,856      14,149,480     20,013,928     28,681,000
    multiply-adds, 224x224 (exact; torchvision lists 2.83, 3.36, 4.29, 7.73 "GFLOPS", i.e. GMACs)
                                     2,834,161,664  3,359,843,328  4,291,365,888  7,727,907,072

The layers are named as in torchvision (features.conv0, features.denseblock1.denselayer1.norm1,
features.transition1.conv, features.norm5, classifier), so its weights load one to one. No
convolution has a bias: every one's output reaches a batch norm (directly, or through the
concatenation or an average pool), which would subtract it again. The last block is followed by
batch norm (norm5) and a ReLU before the global pooling, as in torchvision.

``densenet_bc100`` is the paper's CIFAR model (Section 3 "Implementation Details", Table 2):
DenseNet-BC with L = 100 and k = 12, 32x32 input. Its first layer is a 3x3 convolution with 2k = 24
channels (no stride, batch norm or pooling), then three dense blocks of (100 - 4) / 6 = 16
bottleneck layers each (16 * 2 convolutions * 3 blocks + first conv + 2 transitions + the fully
connected layer = 100 layers), feature maps 32x32, 16x16 and 8x8; then BN, ReLU, global average
pooling and a 10-way fully connected layer. Channels: 24 -> 24 + 16*12 = 216 -> 108 -> 300 -> 150
-> 342. The paper reports "0.8M" parameters; the exact count is 769,162 (10 classes; osmr/imgclsmob
lists the same) and 287,929,692 multiply-adds at 32x32.
"""
import math
from collections import OrderedDict

from minicnn import nn, ops
from minicnn.models.registry import check_input, register

__all__ = ["DenseNet", "densenet121", "densenet169", "densenet201", "densenet161", "densenet_bc100"]


def _min_size(num_transitions, small_inputs):
    """The smallest H = W the forward pass accepts: each transition's 2x2/2 average pool needs 2 pixels,
    so the first block needs 2**T; the ImageNet stem (7x7/2 conv, 3x3/2 max pool, each H -> floor((H-1)/2)+1)
    turns that into 4 * 2**T - 3."""
    need = 2 ** num_transitions
    return need if small_inputs else 4 * need - 3


MIN_SIZE_IMAGENET = _min_size(3, small_inputs=False)   # 29 -> 15 -> 8 -> 4 -> 2 -> 1 (28 ends at 0)
MIN_SIZE_CIFAR = _min_size(2, small_inputs=True)       # 4 -> 2 -> 1 (3 -> 1 -> 0 fails)


class _DenseLayer(nn.Module):
    """H_l of the paper, DenseNet-B: BN-ReLU-Conv(1x1, bn_size*k) then BN-ReLU-Conv(3x3, k).

    Takes every earlier feature map of the block joined along the channels, [x_0, ..., x_{l-1}],
    and returns the k new channels.
    """

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, x):
        x = self.conv1(self.relu1(self.norm1(x)))               # bottleneck: -> bn_size * k channels
        x = self.conv2(self.relu2(self.norm2(x)))               # -> k new channels
        return ops.dropout(x, self.drop_rate, self.training) if self.drop_rate > 0 else x


class _DenseBlock(nn.ModuleDict):
    """num_layers dense layers; layer i gets num_input_features + i * growth_rate channels.

    The joined features live in one buffer of the block's output size (ops.ConcatBuffer, after
    Pleiss et al. 2017): layer l reads a view of its first C0 + l*k channels, and each new map is
    copied in once. Separate concatenations would copy x_0 num_layers times and keep every copy
    for backward, about num_layers/2 times the block's output.
    """

    def __init__(self, num_layers, num_input_features, growth_rate, bn_size, drop_rate):
        super().__init__()
        self.num_output_features = num_input_features + num_layers * growth_rate
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x):
        features, shared = [x], ops.ConcatBuffer(self.num_output_features)
        for layer in self.values():
            features.append(layer(ops.concat(features, axis=1, buffer=shared)))   # [x_0, ..., x_{l-1}]
        return ops.concat(features, axis=1, buffer=shared)      # C0 + num_layers * k channels


class _Transition(nn.Sequential):
    """BN-ReLU-Conv(1x1)-AvgPool(2x2, stride 2) between two dense blocks."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(num_input_features, num_output_features, 1, bias=False)),
            ("pool", nn.AvgPool2d(2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks with transitions between them, BN, global pooling, a linear layer.

    growth_rate: k, the channels each dense layer adds.  block_config: layers per dense block.
    num_init_features: the stem's output channels (2k in the paper).  bn_size: the bottleneck is
    bn_size * k channels wide.  compression: theta, the fraction of channels a transition keeps.
    drop_rate: dropout on each dense layer's k new channels, where torchvision puts it (the paper drops
    after every convolution but the first, at 0.2, when it trains on CIFAR without augmentation).
    small_inputs: the CIFAR stem (3x3 conv) instead of the ImageNet one (7x7/2 conv, BN, ReLU, max pool).
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 compression=0.5, drop_rate=0.0, num_classes=1000, in_channels=3, small_inputs=False):
        super().__init__()
        if growth_rate < 1 or num_init_features < 1 or bn_size < 1 or not block_config \
                or min(block_config) < 1:
            raise ValueError(f"DenseNet: growth_rate, num_init_features, bn_size and every entry of block_config "
                             f"must be positive, got growth_rate={growth_rate}, num_init_features={num_init_features}, "
                             f"bn_size={bn_size}, block_config={tuple(block_config)}")
        if not 0 < compression <= 1:
            raise ValueError(f"DenseNet: compression must be in (0, 1], got {compression}")
        if not 0 <= drop_rate < 1:
            raise ValueError(f"DenseNet: drop_rate must be in [0, 1), got {drop_rate}")
        self.in_channels = in_channels
        self.min_size = _min_size(len(block_config) - 1, small_inputs)
        if small_inputs:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False))]
        else:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU()),
                    ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))

        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                num_output_features = math.floor(compression * num_features)
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_output_features))
                num_features = num_output_features
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        # torchvision's initialisation: kaiming_normal_ (fan_in) convolutions, BN weight 1 and bias 0,
        # linear bias 0 (its weight keeps the default uniform initialisation).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.min_size)
        x = self.features(x)                     # stem, dense blocks and transitions, norm5
        x = ops.relu(x)
        x = ops.global_avg_pool2d(x)             # 7x7 (ImageNet) or 8x8 (CIFAR) global average pool
        x = ops.flatten(x, 1)
        return self.classifier(x)


def _densenet(growth_rate, block_config, num_init_features, num_classes, in_channels, **kwargs):
    return DenseNet(growth_rate, block_config, num_init_features, num_classes=num_classes,
                    in_channels=in_channels, **kwargs)


_SOURCE = "Lecture 38 / Huang et al. 2017 Table 1: DenseNet-{} (k = {}); torchvision's parameter count"


@register("densenet121", input_size=(3, 224, 224), min_size=MIN_SIZE_IMAGENET, source=_SOURCE.format(121, 32))
def densenet121(num_classes=1000, in_channels=3, **kwargs):
    return _densenet(32, (6, 12, 24, 16), 64, num_classes, in_channels, **kwargs)


@register("densenet169", input_size=(3, 224, 224), min_size=MIN_SIZE_IMAGENET, source=_SOURCE.format(169, 32))
def densenet169(num_classes=1000, in_channels=3, **kwargs):
    return _densenet(32, (6, 12, 32, 32), 64, num_classes, in_channels, **kwargs)


@register("densenet201", input_size=(3, 224, 224), min_size=MIN_SIZE_IMAGENET, source=_SOURCE.format(201, 32))
def densenet201(num_classes=1000, in_channels=3, **kwargs):
    return _densenet(32, (6, 12, 48, 32), 64, num_classes, in_channels, **kwargs)


@register("densenet161", input_size=(3, 224, 224), min_size=MIN_SIZE_IMAGENET, source=_SOURCE.format(161, 48))
def densenet161(num_classes=1000, in_channels=3, **kwargs):
    return _densenet(48, (6, 12, 36, 24), 96, num_classes, in_channels, **kwargs)


@register("densenet_bc100", input_size=(3, 32, 32), min_size=MIN_SIZE_CIFAR,
          source="Huang et al. 2017, Section 3 and Table 2: DenseNet-BC (L = 100, k = 12) for CIFAR")
def densenet_bc100(num_classes=10, in_channels=3, **kwargs):
    return _densenet(12, (16, 16, 16), 24, num_classes, in_channels, small_inputs=True, **kwargs)
