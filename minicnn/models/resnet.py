"""ResNet (He et al. 2015, "Deep Residual Learning for Image Recognition"), Table 1, and its plain nets.

    layer    output   18-layer         34-layer         50-layer                101-layer   152-layer
    conv1    112x112  7x7, 64, stride 2, then 3x3 max pool, stride 2 (56x56)
    conv2_x  56x56    [3x3, 64]  x2    [3x3, 64]  x3    [1x1, 64;  3x3, 64;  1x1, 256]  x3    x3    x3
    conv3_x  28x28    [3x3, 128] x2    [3x3, 128] x4    [1x1, 128; 3x3, 128; 1x1, 512]  x4    x4    x8
    conv4_x  14x14    [3x3, 256] x2    [3x3, 256] x6    [1x1, 256; 3x3, 256; 1x1, 1024] x6    x23   x36
    conv5_x  7x7      [3x3, 512] x2    [3x3, 512] x3    [1x1, 512; 3x3, 512; 1x1, 2048] x3    x3    x3
             1x1      average pool, 1000-d fc
    FLOPs (multiply-adds)  1.8e9       3.6e9            3.8e9                   7.6e9       11.3e9
    parameters (torchvision)  11,689,512  21,797,672    25,557,032              44,549,160  60,192,808

``layerK`` is the paper's conv(K+1)_x; conv3_1, conv4_1 and conv5_1 downsample with stride 2. Every
convolution is followed by batch norm (no conv bias); a block computes relu(F(x) + shortcut(x)) with
F = bn2(conv2(relu(bn1(conv1(x))))) (Fig. 2; Fig. 5 right for the bottleneck's three layers).

Shortcuts (section 3.3, Table 3), the ``shortcut`` argument:
    "A"  identity; where the shape changes, x is subsampled (x[:, :, ::2, ::2], a 1x1 "pool" with
         stride 2) and the new channels are zeros appended after the old ones: no parameters.
    "B"  identity; a projection (1x1 conv with the block's stride + BN) where the shape changes.
         The default, as torchvision and the paper's ResNet-50/101/152.
    "C"  a projection (1x1 conv + BN) on every block.
    None no shortcut at all: the plain network of Fig. 3 / Table 2 (``plain18``, ``plain34``).
Parameters at 1000 classes (B - A = the projections where the shape changes; C adds one per block):
    shortcut     A (= plain net)   B (default)    C
    resnet18     11,515,688        11,689,512     12,043,816
    resnet34     21,623,848        21,797,672     22,716,840
    resnet50     22,780,456        25,557,032     40,128,552

The bottleneck follows the paper (and Caffe's released model): a down-sampling block strides its
first 1x1 conv. torchvision ("ResNet v1.5") moved the stride to the 3x3, so that the 1x1 computes
on the unstrided map; ``stride_in_1x1=False`` builds that. Parameters and names are the same (a
torchvision state dict loads either way), multiply-adds are not:
    MACs at 224x224   v1.5 (False)     the paper (True, default)   paper's Table 1
    resnet50          4,089,184,256    3,857,973,248                3.8e9   (v1.5: 6.0% above ours)
    resnet101         7,801,405,440    7,570,194,432                7.6e9
    resnet152         11,513,626,624   11,282,415,616               11.3e9
The basic-block nets count 1,814,073,344 (resnet18) and 3,663,761,408 (resnet34) multiply-adds.

``resnet20`` ... ``resnet1202`` and ``plain20`` ... ``plain110`` are the CIFAR-10 nets of section 4.2
(``CifarResNet`` below, with the same blocks).

Weights are initialised as torchvision does: kaiming_normal_(fan_out, relu) for convolutions,
BN weight 1 and bias 0, PyTorch's default for the fc layer.
"""
from minicnn import nn
from minicnn.models.registry import check_input, register
from minicnn.ops import flatten, pad_channels

__all__ = ["ResNet", "CifarResNet", "BasicBlock", "Bottleneck", "ZeroPadShortcut", "conv3x3", "conv1x1",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
           "plain20", "plain32", "plain44", "plain56", "plain110"]

# Every layer pads so that it accepts any size down to 1x1: a 1x1 image stays 1x1 through the stride-2
# layers, so the smallest input is 1x1 (a 32x32 image gives conv5_x a 1x1 map, 224 gives 7x7).
MIN_SIZE = 1
SHORTCUTS = ("A", "B", "C", None)
_SOURCE = "He et al. 2015, Table 1 (lecture 002: ResNet)"


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding 1 and no bias (batch norm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A: subsample with ``stride`` and append zero channels up to ``out_planes`` (no parameters)."""

    def __init__(self, in_planes, out_planes, stride=1):
        super().__init__()
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return pad_channels(x, 0, self.out_planes - self.in_planes)

    def extra_repr(self):
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def _shortcut(in_planes, out_planes, stride, shortcut):
    """The block's ``downsample``: None for the identity (or for no shortcut at all)."""
    if shortcut is None or (shortcut != "C" and stride == 1 and in_planes == out_planes):
        return None
    if shortcut == "A":
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (Fig. 5 left): ResNet-18/34 and the CIFAR nets."""
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, shortcut="B", stride_in_1x1=False):
        super().__init__()
        self.residual = shortcut is not None
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(in_planes, planes, stride, shortcut)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand to 4 * planes (Fig. 5 right): ResNet-50/101/152."""
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, shortcut="B", stride_in_1x1=True):
        super().__init__()
        self.residual = shortcut is not None
        self.conv1 = conv1x1(in_planes, planes, stride if stride_in_1x1 else 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1 if stride_in_1x1 else stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_planes, planes * self.expansion, stride, shortcut)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def _make_layer(block, in_planes, planes, blocks, stride=1, shortcut="B", stride_in_1x1=True):
    """One stage: ``blocks`` blocks, the first with ``stride``; returns it and its output channels."""
    layers = [block(in_planes, planes, stride, shortcut, stride_in_1x1)]
    for _ in range(1, blocks):
        layers.append(block(planes * block.expansion, planes, 1, shortcut, stride_in_1x1))
    return nn.Sequential(*layers), planes * block.expansion


def _check_shortcut(shortcut, name):
    if shortcut not in SHORTCUTS:
        raise ValueError(f"{name}: shortcut must be 'A' (zero padding), 'B' (projection where the shape changes), "
                         f"'C' (projection everywhere) or None (plain network), got {shortcut!r}")


def _init_weights(model):
    """torchvision's ResNet initialisation: He normal (fan_out) convolutions, BN weight 1 and bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """The ImageNet ResNet of Table 1: ``layers`` blocks in each of the four stages, ``width`` channels
    in the first (64 in the paper; the stages have width, 2, 4 and 8 times width)."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3, shortcut="B", width=64,
                 stride_in_1x1=True):
        super().__init__()
        _check_shortcut(shortcut, "ResNet")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"ResNet: layers must give four stages of at least one block, got {layers}")
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        planes = width
        self.layer1, planes = _make_layer(block, planes, width, layers[0], 1, shortcut, stride_in_1x1)
        self.layer2, planes = _make_layer(block, planes, width * 2, layers[1], 2, shortcut, stride_in_1x1)
        self.layer3, planes = _make_layer(block, planes, width * 4, layers[2], 2, shortcut, stride_in_1x1)
        self.layer4, planes = _make_layer(block, planes, width * 8, layers[3], 2, shortcut, stride_in_1x1)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        _init_weights(self)

    def forward(self, x):
        check_input(self, x, MIN_SIZE)
        x = self.relu(self.bn1(self.conv1(x)))     # conv1: 7x7, 64, stride 2       224 -> 112
        x = self.maxpool(x)                         # 3x3 max pool, stride 2         112 -> 56
        x = self.layer1(x)                          # conv2_x                        56
        x = self.layer2(x)                          # conv3_x (first block stride 2) 28
        x = self.layer3(x)                          # conv4_x                        14
        x = self.layer4(x)                          # conv5_x                        7
        x = flatten(self.avgpool(x), 1)             # average pool                   1x1
        return self.fc(x)                           # 1000-d fc


def _resnet(block, layers, num_classes=1000, in_channels=3, shortcut="B", width=64, stride_in_1x1=True):
    return ResNet(block, layers, num_classes, in_channels, shortcut, width, stride_in_1x1)


@register("resnet18", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE + ", 18-layer")
def resnet18(num_classes=1000, in_channels=3, shortcut="B"):
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, shortcut)


@register("resnet34", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE + ", 34-layer")
def resnet34(num_classes=1000, in_channels=3, shortcut="B"):
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, shortcut)


@register("resnet50", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE + ", 50-layer")
def resnet50(num_classes=1000, in_channels=3, shortcut="B", stride_in_1x1=True):
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, shortcut, stride_in_1x1=stride_in_1x1)


@register("resnet101", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE + ", 101-layer")
def resnet101(num_classes=1000, in_channels=3, shortcut="B", stride_in_1x1=True):
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, shortcut, stride_in_1x1=stride_in_1x1)


@register("resnet152", input_size=(3, 224, 224), min_size=MIN_SIZE, source=_SOURCE + ", 152-layer")
def resnet152(num_classes=1000, in_channels=3, shortcut="B", stride_in_1x1=True):
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, shortcut, stride_in_1x1=stride_in_1x1)


@register("plain18", input_size=(3, 224, 224), min_size=MIN_SIZE,
          source="He et al. 2015, Table 1 and Fig. 4: 18-layer plain network (no shortcuts)")
def plain18(num_classes=1000, in_channels=3):
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, shortcut=None)


@register("plain34", input_size=(3, 224, 224), min_size=MIN_SIZE,
          source="He et al. 2015, Table 1 and Fig. 4: 34-layer plain network (no shortcuts)")
def plain34(num_classes=1000, in_channels=3):
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, shortcut=None)


class CifarResNet(nn.Module):
    """The CIFAR-10 networks of section 4.2: 6n + 2 weighted layers.

        output map size   32x32    16x16   8x8
        # layers          1 + 2n   2n      2n      (a 3x3 conv, then n basic blocks per stage)
        # filters         16       32      64      then global average pool, 10-way fc
    Option A shortcuts by default, as the paper ("identity shortcuts in all cases"), so the residual
    and plain nets have the same parameters. Each block has 2 * 9c^2 + 4c of them (two 3x3 convs,
    two BN), the first of stages 2 and 3 9c^2/2 fewer; with the stem (3*16*9 + 32) and the fc
    (64*10 + 10) that is 97,216 n - 21,926 for 10 classes:
        resnet20 269,722 (Table 6: 0.27M)   resnet32 464,154 (0.46M)   resnet44 658,586 (0.66M)
        resnet56 853,018 (0.85M)            resnet110 1,727,962 (1.7M) resnet1202 19,421,274 (19.4M)
    Option B adds the two projections 16->32 and 32->64 with their BN, 2,752: resnet20 then has 272,474.
    Multiply-adds at 32x32 are 14,155,776 n - 1,916,288: resnet20 40,551,040, resnet56 125,485,696,
    resnet110 252,887,680, resnet1202 2,829,238,912.
    """

    def __init__(self, blocks, num_classes=10, in_channels=3, shortcut="A", width=16):
        super().__init__()
        _check_shortcut(shortcut, "CifarResNet")
        self.in_channels = in_channels
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1, planes = _make_layer(BasicBlock, width, width, blocks, 1, shortcut)
        self.layer2, planes = _make_layer(BasicBlock, planes, width * 2, blocks, 2, shortcut)
        self.layer3, planes = _make_layer(BasicBlock, planes, width * 4, blocks, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        _init_weights(self)

    def forward(self, x):
        check_input(self, x, MIN_SIZE)
        x = self.relu(self.bn1(self.conv1(x)))     # 3x3, 16              32x32
        x = self.layer1(x)                          # 2n layers, 16        32x32
        x = self.layer2(x)                          # 2n layers, 32        16x16
        x = self.layer3(x)                          # 2n layers, 64        8x8
        x = flatten(self.avgpool(x), 1)             # global average pool
        return self.fc(x)                           # 10-way fc


def _cifar_resnet(depth, num_classes=10, in_channels=3, shortcut="A", width=16):
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet: depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, 1202), got {depth}")
    return CifarResNet((depth - 2) // 6, num_classes, in_channels, shortcut, width)


_CIFAR = "He et al. 2015, section 4.2 and Table 6 (lecture 002: CIFAR-10 ResNets)"


@register("resnet20", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 3")
def resnet20(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(20, num_classes, in_channels, shortcut)


@register("resnet32", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 5")
def resnet32(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(32, num_classes, in_channels, shortcut)


@register("resnet44", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 7")
def resnet44(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(44, num_classes, in_channels, shortcut)


@register("resnet56", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 9")
def resnet56(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(56, num_classes, in_channels, shortcut)


@register("resnet110", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 18")
def resnet110(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(110, num_classes, in_channels, shortcut)


@register("resnet1202", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_CIFAR + ", n = 200")
def resnet1202(num_classes=10, in_channels=3, shortcut="A"):
    return _cifar_resnet(1202, num_classes, in_channels, shortcut)


_PLAIN = "He et al. 2015, section 4.2 and Fig. 6: CIFAR-10 plain network"


@register("plain20", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_PLAIN + ", n = 3")
def plain20(num_classes=10, in_channels=3):
    return _cifar_resnet(20, num_classes, in_channels, shortcut=None)


@register("plain32", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_PLAIN + ", n = 5")
def plain32(num_classes=10, in_channels=3):
    return _cifar_resnet(32, num_classes, in_channels, shortcut=None)


@register("plain44", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_PLAIN + ", n = 7")
def plain44(num_classes=10, in_channels=3):
    return _cifar_resnet(44, num_classes, in_channels, shortcut=None)


@register("plain56", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_PLAIN + ", n = 9")
def plain56(num_classes=10, in_channels=3):
    return _cifar_resnet(56, num_classes, in_channels, shortcut=None)


@register("plain110", input_size=(3, 32, 32), min_size=MIN_SIZE, source=_PLAIN + ", n = 18")
def plain110(num_classes=10, in_channels=3):
    return _cifar_resnet(110, num_classes, in_channels, shortcut=None)
