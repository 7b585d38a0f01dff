"""VGG (Simonyan & Zisserman 2014), configurations A, B, D and E of the paper's Table 1, in torchvision's layout.

Table 1 (every conv is 3x3, stride 1, padding 1, followed by ReLU; "M" is 2x2 max pooling, stride 2):

    stage  output (224 in)  A (vgg11)   B (vgg13)   D (vgg16)   E (vgg19)
    1      64 x 112x112     64          64, 64      64, 64      64, 64
    2      128 x 56x56      128         128, 128    128, 128    128, 128
    3      256 x 28x28      256, 256    256, 256    256 x 3     256 x 4
    4      512 x 14x14      512, 512    512, 512    512 x 3     512 x 4
    5      512 x 7x7        512, 512    512, 512    512 x 3     512 x 4
    head   FC-4096, FC-4096, FC-1000 (ReLU and dropout 0.5 after the two hidden layers), soft-max

Parameters (Table 2 of the paper, in millions: 133, 133, 138, 144) and multiply-adds for one 224x224 image:

    model      conv layers    fc layers      total          (torchvision)   multiply-adds
    vgg11       9,220,480     123,642,856    132,863,336     132,863,336      7,609,090,048
    vgg13       9,404,992     123,642,856    133,047,848     133,047,848     11,308,466,176
    vgg16      14,714,688     123,642,856    138,357,544     138,357,544     15,470,264,320
    vgg19      20,024,384     123,642,856    143,667,240     143,667,240     19,632,062,464

The ``_bn`` versions put BatchNorm2d after every convolution (torchvision's layout; batch norm came a
year after the paper). Each adds a weight and a bias per channel, 2 x (sum of the conv widths) more
parameters (its running mean and variance are buffers, not parameters): vgg11_bn 132,868,840,
vgg13_bn 133,053,736, vgg16_bn 138,365,992, vgg19_bn 143,678,248, torchvision's counts too.

Lecture 11 and the overview (lecture 004) say VGG-16 has ~16M parameters in its conv layers, ~122M in
its fully connected ones and ~102M in the first FC layer. The exact split is 14.7M / 123.6M, and FC6
alone has 512*7*7*4096 + 4096 = 102,764,544: the overview's FC sum writes the last layer as 4096 x 1024
(instead of 4096 x 1000) and rounds, and its "16M" is the rounded rest of 138M. The overview also
quotes the ResNet paper's 15.3 and 19.6 billion FLOPs (multiply-adds) for VGG-16 and VGG-19; the
exact counts above are 15.47G and 19.63G.

``avgpool`` (AdaptiveAvgPool2d(7), torchvision's) is the identity for 224x224 inputs and lets
smaller images through: anything from 32x32 (the five 2x2 poolings leave 1x1) works, and the
classifier always sees 512x7x7 features. The initialisation is torchvision's: convs kaiming_normal_
(fan_out, ReLU) with zero bias, batch norm weight 1 and bias 0, linear layers N(0, 0.01) with zero bias.

``width`` (the first stage's channels, 64 in the paper; every stage scales with it) and ``hidden``
(4096) build a narrow model with the same layers, which the tests use to check the numerics cheaply.
"""
from minicnn import nn
from minicnn.models.registry import check_input, register
from minicnn.ops import flatten

__all__ = ["VGG", "make_layers", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

MIN_SIZE = 32       # five 2x2 poolings halve 32 down to 1; at 31 the last one would leave 0x0

# Table 1: numbers are conv output channels, "M" a 2x2 max pooling.
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The conv stack of one Table 1 column: Conv3x3(pad 1) [-> BatchNorm] -> ReLU, or MaxPool 2x2/2 for "M"."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features (the conv stack) -> avgpool to 7x7 -> flatten -> classifier (FC-hidden, FC-hidden, FC-classes)."""

    def __init__(self, features, num_classes=1000, in_channels=3, hidden=4096, dropout=0.5):
        super().__init__()
        self.in_channels = in_channels
        channels = [m.out_channels for m in features if isinstance(m, nn.Conv2d)][-1]
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(channels * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout),     # FC6: 25088 -> 4096
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),               # FC7: 4096 -> 4096
            nn.Linear(hidden, num_classes),                                          # FC8: 4096 -> 1000
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, MIN_SIZE)
        x = self.features(x)          # 512 x 7x7 for a 224x224 input
        x = self.avgpool(x)           # 512 x 7x7 whatever the input size
        x = flatten(x, 1)             # 25088
        return self.classifier(x)


def _vgg(cfg, batch_norm, num_classes=1000, in_channels=3, width=64, hidden=4096, dropout=0.5):
    if cfg not in cfgs:
        raise ValueError(f"vgg: configuration {cfg!r} is not supported; choose one of {', '.join(cfgs)} "
                         f"(Table 1's A, B, D, E; C's 1x1 convolutions and A-LRN are not built)")
    if width < 1 or hidden < 1:
        raise ValueError(f"vgg: width and hidden must be positive, got width={width}, hidden={hidden}")
    layers = [v if v == "M" else max(1, v * width // 64) for v in cfgs[cfg]]
    return VGG(make_layers(layers, batch_norm, in_channels), num_classes, in_channels, hidden, dropout)


_SOURCE = "Simonyan & Zisserman 2014, Table 1 configuration {} (torchvision layout{})"


@register("vgg11", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("A", ""))
def vgg11(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("A", False, num_classes, in_channels, **kwargs)


@register("vgg11_bn", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("A", ", batch norm"))
def vgg11_bn(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("A", True, num_classes, in_channels, **kwargs)


@register("vgg13", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("B", ""))
def vgg13(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("B", False, num_classes, in_channels, **kwargs)


@register("vgg13_bn", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("B", ", batch norm"))
def vgg13_bn(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("B", True, num_classes, in_channels, **kwargs)


@register("vgg16", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("D", ""))
def vgg16(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("D", False, num_classes, in_channels, **kwargs)


@register("vgg16_bn", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("D", ", batch norm"))
def vgg16_bn(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("D", True, num_classes, in_channels, **kwargs)


@register("vgg19", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("E", ""))
def vgg19(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("E", False, num_classes, in_channels, **kwargs)


@register("vgg19_bn", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE.format("E", ", batch norm"))
def vgg19_bn(num_classes=1000, in_channels=3, **kwargs):
    return _vgg("E", True, num_classes, in_channels, **kwargs)
