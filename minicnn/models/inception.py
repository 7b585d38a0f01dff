"""Inception v2 (BN-Inception, Ioffe & Szegedy 2015) and Inception v3 (Szegedy et al. 2015, "Rethinking").

Both put batch norm between every convolution and its ReLU (BasicConv2d: conv without bias -> BN with
eps 0.001, as Google's releases and torchvision -> ReLU) and end in global average pooling and one
linear layer. Label smoothing, the Rethinking paper's other regulariser, lives in the loss:
``nn.CrossEntropyLoss(label_smoothing=0.1)``; RMSProp (decay 0.9, eps 1.0) in ``optim.RMSprop``.

inception_v2: BN-Inception, the BN paper's appendix, Figure 5 (lecture 002: "5x5 factorised into two
3x3, batch norm"):

    type            patch/stride  output       #1x1  #3x3red  #3x3  dbl#3x3red  dbl#3x3  pool + proj
    convolution*    7x7/2         112x112x64
    max pool        3x3/2         56x56x64
    convolution     3x3/1         56x56x192          64       192
    max pool        3x3/2         28x28x192
    inception (3a)                28x28x256    64    64       64    64          96       avg + 32
    inception (3b)                28x28x320    64    64       96    64          96       avg + 64
    inception (3c)  stride 2      14x14x576    0     128      160   64          96       max + pass through
    inception (4a)                14x14x576    224   64       96    96          128      avg + 128
    inception (4b)                14x14x576    192   96       128   96          128      avg + 128
    inception (4c)                14x14x608    160   128      160   128         160      avg + 128
    inception (4d)                14x14x608    96    128      192   160         192      avg + 128
    inception (4e)  stride 2      7x7x1056     0     128      192   192         256      max + pass through
    inception (5a)                7x7x1024     352   192      320   160         224      avg + 128
    inception (5b)                7x7x1024     352   192      320   192         224      max + 128
    avg pool        7x7/1         1x1x1024, then linear -> num_classes

- The widths are the figure's. Its "output size" column says 576 for 4c and 4d and 1024 for 4e, but
  the widths add up to 608, 608 and 1056 (160+160+160+128, 96+192+192+128, 192+256+608); we keep the
  widths, as the widely used Caffe BN-Inception (TSN's, for one) does. For 3c and 4e the figure prints the grid
  of their input (28x28, 14x14); their stride-2 outputs, listed above, are 14x14 and 7x7.
- convolution*: "our model employed separable convolution with depth multiplier 8 on the first
  convolutional layer": a 7x7/2 depthwise convolution (3 -> 24 channels) then a 1x1 (24 -> 64), with
  no nonlinearity between (TensorFlow's separable_conv2d), then BN and ReLU: 2,712 weights instead of
  9,408 (Caffe replications use the plain 7x7).
- The paper's text says 13.6M parameters; the figure's widths give 11,278,528 (11.3M) with 1000
  classes, BN's scale and shift included. We found no reading of the figure that gives 13.6M, and the
  paper does not break its number down. The multiply-adds, 1.95G at 224x224, match the Rethinking
  paper's Table 3 ("BN-Inception ... 2.0 Bn ops") and the BN paper's "about 30%" over GoogLeNet's 1.5G.
- Stride-2 modules (3c, 4e): the 3x3 conv and the second double-3x3 conv have stride 2 and padding 1,
  and their max pool is padded the same way (3x3/2, padding 1), so the three branches agree for every
  input size; the stem's max pools use ceil_mode as GoogLeNet's. Average pools count padding (Caffe).
- As section 4.2.1 ("accelerating BN networks") describes: no dropout, no LRN. The paper does not
  mention auxiliary classifiers for BN-Inception and the released models (TF-slim's inception_v2,
  the Caffe BN-Inception) have none, so there are none here.
- Initialisation (the paper gives none): He (kaiming normal, fan_in) convolutions, BN weight 1,
  bias 0, the classifier N(0, 0.01) with bias 0.

inception_v3: the Rethinking paper's Table 1 (299x299 input) in torchvision's layout and counts
(27,161,264 parameters with the auxiliary head, 23,834,568 without, torchvision's published numbers):

    layer                     output (Table 1's "input size" of the next row)
    Conv2d_1a_3x3  3x3/2      149x149x32
    Conv2d_2a_3x3  3x3/1      147x147x32
    Conv2d_2b_3x3  3x3/1 pad  147x147x64
    maxpool1       3x3/2      73x73x64
    Conv2d_3b_1x1, Conv2d_4a_3x3, maxpool2   73x73x80, 71x71x192, 35x35x192
    Mixed_5b..5d   3 x InceptionA (figure 5)                        35x35x288
    Mixed_6a       InceptionB, grid reduction (figure 10)           17x17x768
    Mixed_6b..6e   4 x InceptionC: 1x7 / 7x1 factorisation, n = 7 (figure 6)   17x17x768
    AuxLogits      on Mixed_6e's 17x17x768, training only
    Mixed_7a       InceptionD, grid reduction                       8x8x1280
    Mixed_7b, 7c   2 x InceptionE, expanded filter banks (figure 7) 8x8x2048
    avgpool, dropout 0.5, fc                                        num_classes

Table 1's stem ends in three 3x3 convolutions (71x71x80 -> 35x35x192 -> 35x35x288) and it counts 3, 5
and 2 modules per grid; the released model (torchvision's layout) ends its stem with 1x1 -> 3x3 ->
max pool (35x35x192), reaches 288 channels in Mixed_5c, and spends one module of each later grid
on the figure-10 reduction (Mixed_6a, Mixed_7a). Its InceptionA also keeps a 5x5 branch (48 -> 64)
beside the double 3x3 one where figure 5 has only 3x3s. We follow torchvision, whose published
count then confirms every width; the stage shapes are Table 1's. The auxiliary head (5x5/3 avg pool, 1x1 conv 128, 5x5 conv 768, global pool, linear)
has batch norm after both convolutions ("BN-auxiliary"; the paper also normalises its FC layer,
which torchvision does not); its 5x5 conv leaves a 1x1 grid, so training needs batches of 2 or more
(batch norm's error otherwise, as in torch). In training mode forward returns (logits, aux_logits); the loss is
loss(logits) + 0.4 * loss(aux_logits), the weight of Google's released training code (TF-slim's
train_image_classifier and the original inception repository), since the paper gives none.
Initialisation as torchvision: truncated normal std 0.1 (the aux 5x5 conv 0.01, its linear 0.001),
BN weight 1, bias 0.

``width_divisor`` divides every channel count (not the image's), so tests can run a tiny copy of
the same code.
"""
from minicnn import nn, ops
from minicnn.models.registry import check_input, register

__all__ = ["BasicConv2d", "SeparableConv2d", "InceptionBN", "BNInception", "InceptionA", "InceptionB",
           "InceptionC", "InceptionD", "InceptionE", "InceptionAux", "Inception3", "inception_v2", "inception_v3"]

MIN_SIZE_V2 = 11        # conv1 -> 6, maxpool1 -> 3, maxpool2 -> 1 (each 3x3/2 max pool needs a 3x3 input)
MIN_SIZE_V3 = 75        # -> 37, 35, 17, 15, 7 (Mixed_5), 3 (Mixed_6), 1 (Mixed_7): each stride-2 3x3 needs 3x3
MIN_SIZE_V3_AUX = 299   # the aux head's 5x5/3 pool then 5x5 conv need Mixed_6e's grid >= 17x17, i.e. 299 pixels


class BasicConv2d(nn.Module):
    """Convolution (no bias) -> batch norm -> ReLU; ``depth_multiplier`` makes the convolution separable."""

    def __init__(self, in_channels, out_channels, depth_multiplier=None, **kwargs):
        super().__init__()
        if depth_multiplier:
            self.conv = SeparableConv2d(in_channels, out_channels, depth_multiplier, **kwargs)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return ops.relu(self.bn(self.conv(x)))


class SeparableConv2d(nn.Module):
    """A KxK convolution of each input channel on its own (depth_multiplier maps each), then a 1x1 mixing them."""

    def __init__(self, in_channels, out_channels, depth_multiplier, kernel_size, stride=1, padding=0):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels * depth_multiplier, kernel_size, stride, padding,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels * depth_multiplier, out_channels, 1, bias=False)
        self.out_channels = out_channels

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def _conv_block(width_divisor, owner):
    """BasicConv2d with every channel count divided by ``width_divisor`` (1: the paper's widths)."""
    d = width_divisor

    def conv_block(in_channels, out_channels, **kwargs):
        if in_channels % d or out_channels % d:
            raise ValueError(f"{owner}: width_divisor={d} must divide every channel count, "
                             f"not {in_channels} -> {out_channels}")
        return BasicConv2d(in_channels // d, out_channels // d, **kwargs)
    return conv_block


# ---- Inception v2 (BN-Inception) ---------------------------------------------------------------------------
class InceptionBN(nn.Module):
    """One row of Figure 5: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool (-> 1x1 projection), concatenated.

    stride 2 (3c, 4e): no 1x1 branch, the last conv of the 3x3 and double-3x3 branches strides, and the
    max pool's output passes through unprojected (pool_proj = 0).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3, pool, pool_proj, stride=1,
                 conv_block=BasicConv2d):
        super().__init__()
        if pool not in ("avg", "max") or (stride == 2) != (ch1x1 == 0 == pool_proj):
            raise ValueError(f"InceptionBN: unsupported row (1x1 {ch1x1}, pool {pool!r} + {pool_proj}, "
                             f"stride {stride})")
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1) if ch1x1 else None
        self.branch2 = nn.Sequential(conv_block(in_channels, ch3x3red, kernel_size=1),
                                     conv_block(ch3x3red, ch3x3, kernel_size=3, stride=stride, padding=1))
        self.branch3 = nn.Sequential(conv_block(in_channels, dbl3x3red, kernel_size=1),
                                     conv_block(dbl3x3red, dbl3x3, kernel_size=3, padding=1),
                                     conv_block(dbl3x3, dbl3x3, kernel_size=3, stride=stride, padding=1))
        pooling = nn.AvgPool2d(3, stride=1, padding=1) if pool == "avg" else nn.MaxPool2d(3, stride=stride, padding=1)
        self.branch4 = nn.Sequential(pooling, conv_block(in_channels, pool_proj, kernel_size=1)) if pool_proj \
            else nn.Sequential(pooling)

    def forward(self, x):
        branches = [self.branch1, self.branch2, self.branch3, self.branch4]
        return ops.concat([branch(x) for branch in branches if branch is not None], axis=1)


class BNInception(nn.Module):
    """Figure 5 of the BN paper, line by line."""

    def __init__(self, num_classes=1000, in_channels=3, width_divisor=1):
        super().__init__()
        self.in_channels = in_channels
        conv_block = _conv_block(width_divisor, "BNInception")
        d = width_divisor
        self.conv1 = BasicConv2d(in_channels, 64 // d, depth_multiplier=8, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = InceptionBN(192, 64, 64, 64, 64, 96, "avg", 32, conv_block=conv_block)
        self.inception3b = InceptionBN(256, 64, 64, 96, 64, 96, "avg", 64, conv_block=conv_block)
        self.inception3c = InceptionBN(320, 0, 128, 160, 64, 96, "max", 0, stride=2, conv_block=conv_block)
        self.inception4a = InceptionBN(576, 224, 64, 96, 96, 128, "avg", 128, conv_block=conv_block)
        self.inception4b = InceptionBN(576, 192, 96, 128, 96, 128, "avg", 128, conv_block=conv_block)
        self.inception4c = InceptionBN(576, 160, 128, 160, 128, 160, "avg", 128, conv_block=conv_block)
        self.inception4d = InceptionBN(608, 96, 128, 192, 160, 192, "avg", 128, conv_block=conv_block)
        self.inception4e = InceptionBN(608, 0, 128, 192, 192, 256, "max", 0, stride=2, conv_block=conv_block)
        self.inception5a = InceptionBN(1056, 352, 192, 320, 160, 224, "avg", 128, conv_block=conv_block)
        self.inception5b = InceptionBN(1024, 352, 192, 320, 192, 224, "max", 128, conv_block=conv_block)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(1024 // d, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        check_input(self, x, MIN_SIZE_V2)
        x = self.conv1(x)                # 112x112x64 (separable 7x7/2)
        x = self.maxpool1(x)             # 56x56x64
        x = self.conv2(x)                # 56x56x64
        x = self.conv3(x)                # 56x56x192
        x = self.maxpool2(x)             # 28x28x192
        x = self.inception3a(x)          # 28x28x256
        x = self.inception3b(x)          # 28x28x320
        x = self.inception3c(x)          # 14x14x576
        x = self.inception4a(x)          # 14x14x576
        x = self.inception4b(x)          # 14x14x576
        x = self.inception4c(x)          # 14x14x608
        x = self.inception4d(x)          # 14x14x608
        x = self.inception4e(x)          # 7x7x1056
        x = self.inception5a(x)          # 7x7x1024
        x = self.inception5b(x)          # 7x7x1024
        x = self.avgpool(x)              # 1x1x1024
        x = ops.flatten(x, 1)
        return self.fc(x)                # num_classes


# ---- Inception v3 ------------------------------------------------------------------------------------------
class InceptionA(nn.Module):
    """35x35 module (figure 5): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self, in_channels, pool_features, conv_block=BasicConv2d):
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = conv_block(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = conv_block(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, padding=1)
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = conv_block(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(self.avgpool(x))
        return ops.concat([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 grid reduction (figure 10): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool 3x3/2."""

    def __init__(self, in_channels, conv_block=BasicConv2d):
        super().__init__()
        self.branch3x3 = conv_block(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.maxpool(x)
        return ops.concat([branch3x3, branch3x3dbl, branch_pool], axis=1)


class InceptionC(nn.Module):
    """17x17 module (figure 6, n = 7): 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1."""

    def __init__(self, in_channels, channels_7x7, conv_block=BasicConv2d):
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
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(self.avgpool(x))
        return ops.concat([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 grid reduction: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool 3x3/2."""

    def __init__(self, in_channels, conv_block=BasicConv2d):
        super().__init__()
        self.branch3x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = conv_block(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = conv_block(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv_block(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv_block(192, 192, kernel_size=3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        branch_pool = self.maxpool(x)
        return ops.concat([branch3x3, branch7x7x3, branch_pool], axis=1)


class InceptionE(nn.Module):
    """8x8 module, expanded filter banks (figure 7): 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool, 1x1."""

    def __init__(self, in_channels, conv_block=BasicConv2d):
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = conv_block(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv_block(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = ops.concat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], axis=1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = ops.concat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], axis=1)
        branch_pool = self.branch_pool(self.avgpool(x))
        return ops.concat([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=1)


class InceptionAux(nn.Module):
    """On the 17x17x768 grid: 5x5/3 avg pool -> 1x1 conv 128 -> 5x5 conv 768 (both with BN) -> global pool -> linear."""

    def __init__(self, in_channels, num_classes, conv_block=BasicConv2d):
        super().__init__()
        self.avgpool = nn.AvgPool2d(5, stride=3)
        self.conv0 = conv_block(in_channels, 128, kernel_size=1)
        self.conv1 = conv_block(128, 768, kernel_size=5)
        self.globalpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.conv1.conv.out_channels, num_classes)

    def forward(self, x):
        x = self.avgpool(x)              # 5x5x768
        x = self.conv0(x)                # 5x5x128
        x = self.conv1(x)                # 1x1x768
        x = self.globalpool(x)
        x = ops.flatten(x, 1)
        return self.fc(x)                # num_classes


class Inception3(nn.Module):
    """Inception v3 in torchvision's layout; forward reads down Table 1 of the Rethinking paper."""

    aux_loss_weight = 0.4     # Google's released training code (the paper gives no weight)

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, dropout=0.5, width_divisor=1):
        super().__init__()
        self.in_channels, self.aux_logits = in_channels, aux_logits
        conv_block = _conv_block(width_divisor, "Inception3")
        d = width_divisor
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32 // d, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv_block(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv_block(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = conv_block(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv_block(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32, conv_block=conv_block)
        self.Mixed_5c = InceptionA(256, pool_features=64, conv_block=conv_block)
        self.Mixed_5d = InceptionA(288, pool_features=64, conv_block=conv_block)
        self.Mixed_6a = InceptionB(288, conv_block=conv_block)
        self.Mixed_6b = InceptionC(768, channels_7x7=128, conv_block=conv_block)
        self.Mixed_6c = InceptionC(768, channels_7x7=160, conv_block=conv_block)
        self.Mixed_6d = InceptionC(768, channels_7x7=160, conv_block=conv_block)
        self.Mixed_6e = InceptionC(768, channels_7x7=192, conv_block=conv_block)
        self.AuxLogits = InceptionAux(768, num_classes, conv_block=conv_block) if aux_logits else None
        self.Mixed_7a = InceptionD(768, conv_block=conv_block)
        self.Mixed_7b = InceptionE(1280, conv_block=conv_block)
        self.Mixed_7c = InceptionE(2048, conv_block=conv_block)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048 // d, num_classes)

        stddev = {}
        if aux_logits:
            stddev = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=stddev.get(id(m), 0.1), a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        aux = self.aux_logits and self.training
        check_input(self, x, MIN_SIZE_V3_AUX if aux else MIN_SIZE_V3)
        x = self.Conv2d_1a_3x3(x)        # 149x149x32
        x = self.Conv2d_2a_3x3(x)        # 147x147x32
        x = self.Conv2d_2b_3x3(x)        # 147x147x64
        x = self.maxpool1(x)             # 73x73x64
        x = self.Conv2d_3b_1x1(x)        # 73x73x80
        x = self.Conv2d_4a_3x3(x)        # 71x71x192
        x = self.maxpool2(x)             # 35x35x192
        x = self.Mixed_5b(x)             # 35x35x256
        x = self.Mixed_5c(x)             # 35x35x288
        x = self.Mixed_5d(x)             # 35x35x288
        x = self.Mixed_6a(x)             # 17x17x768
        x = self.Mixed_6b(x)             # 17x17x768
        x = self.Mixed_6c(x)             # 17x17x768
        x = self.Mixed_6d(x)             # 17x17x768
        x = self.Mixed_6e(x)             # 17x17x768
        aux_logits = self.AuxLogits(x) if aux else None
        x = self.Mixed_7a(x)             # 8x8x1280
        x = self.Mixed_7b(x)             # 8x8x2048
        x = self.Mixed_7c(x)             # 8x8x2048
        x = self.avgpool(x)              # 1x1x2048
        x = ops.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)                   # num_classes
        if aux:
            return x, aux_logits
        return x


@register("inception_v2", input_size=(3, 224, 224), min_size=MIN_SIZE_V2,
          source="Ioffe & Szegedy 2015, Figure 5: BN-Inception (lecture 002: Inception v2)")
def inception_v2(num_classes=1000, in_channels=3):
    return BNInception(num_classes, in_channels)


@register("inception_v3", input_size=(3, 299, 299), min_size=MIN_SIZE_V3_AUX,
          source="Szegedy et al. 2015 (Rethinking), Table 1; torchvision's inception_v3 layout (lecture 002)")
def inception_v3(num_classes=1000, in_channels=3, aux_logits=True):
    """Inception v3; ``aux_logits=False`` drops the auxiliary head (and its 299-pixel minimum)."""
    return Inception3(num_classes, in_channels, aux_logits=aux_logits)
