"""GoogLeNet (Inception v1; Szegedy et al. 2014, "Going deeper with convolutions"), exactly per Table 1.

    type            patch/stride  output      #1x1  #3x3red  #3x3  #5x5red  #5x5  pool proj  params    ops
    convolution     7x7/2         112x112x64                                                  2.7K     34M
    max pool        3x3/2         56x56x64
    convolution     3x3/1         56x56x192         64       192                              112K     360M
    max pool        3x3/2         28x28x192
    inception (3a)                28x28x256   64    96       128   16       32    32          159K     128M
    inception (3b)                28x28x480   128   128      192   32       96    64          380K     304M
    max pool        3x3/2         14x14x480
    inception (4a)                14x14x512   192   96       208   16       48    64          364K     73M
    inception (4b)                14x14x512   160   112      224   24       64    64          437K     88M
    inception (4c)                14x14x512   128   128      256   24       64    64          463K     100M
    inception (4d)                14x14x528   112   144      288   32       64    64          580K     119M
    inception (4e)                14x14x832   256   160      320   32       128   128         840K     170M
    max pool        3x3/2         7x7x832
    inception (5a)                7x7x832     256   160      320   32       128   128         1072K    54M
    inception (5b)                7x7x1024    384   192      384   48       128   128         1388K    71M
    avg pool        7x7/1         1x1x1024
    dropout (40%)                 1x1x1024
    linear                        1x1x1000                                                    1000K    1M

Each inception module concatenates four branches (branch1: 1x1; branch2: 1x1 reduce -> 3x3;
branch3: 1x1 reduce -> 5x5; branch4: 3x3/1 max pool -> 1x1 "pool proj"); every convolution,
reductions and projections included, is followed by a ReLU.

How the summary's numbers meet the table's: "ops" are multiply-adds, every weight once per output
position (3a: 163,328 weights x 28 x 28 = 128M), and "params" count weights in units of 1024 without
biases (3a: 163,328 / 1024 = 159.5K); minicnn counts every bias too (3a: 163,696). Seven of the nine
modules agree within 2%. Where the table disagrees with its own widths:
- 4c's params, 463K: the widths give 509,440 weights = 497.5K (+7.5%), and the table's own 100M ops
  (= 497.5K x 14 x 14) agree with them; a 224-wide 3x3 branch (4b's) would give 461.5K.
- 5a's 1072K and 54M: the widths give 1018K (-5.0%) and 51.1M (-5.4%); both printed numbers fit a
  48-wide 5x5 reduce (5b's) instead of the printed 32, which the Caffe replication also uses.
- conv1's 2.7K and 34M: a plain 7x7x3x64 convolution has 9,408 weights and 118M multiply-adds; the
  printed numbers are those of a depthwise-separable 7x7 with depth multiplier 8 (3x8x49 + 24x64 =
  2,712 weights, x 112 x 112 = 34.0M), which the BN-Inception paper says its model used. The paper's
  text and figure say a 7x7 convolution and every replication uses one, so we do too.
The table's params column sums to 6,798K, read as 6.8M; the exact count without the auxiliary heads is
6,998,552 (+2.9%), 13,378,280 with them. The gap is mostly the table's K of 1024: its weights come to
6,826K in those units (the rows above), and there are 8,280 biases. The multiply-adds of one 224x224
image are 1.58G, the paper's "1.5 billion multiply-adds at inference time".

Choices where the paper leaves room, each against torchvision's GoogLeNet (whose names we keep):
- No batch norm: the paper has none (torchvision's BasicConv2d adds BN(eps=0.001) and drops the
  conv biases); here BasicConv2d is conv (with bias) + ReLU.
- Local response normalisation where the paper's Figure 3 draws it: after maxpool1 and after
  conv3, with the Caffe reproduction's constants (size 5, alpha 1e-4, beta 0.75, k 1; PyTorch's
  alpha/n convention, which Caffe shares). ``lrn=False`` drops both, as torchvision does.
- branch3 is a 5x5 convolution as in the table (torchvision uses 3x3 there, a known slip).
- maxpool4 is 3x3/2 as in the table (torchvision uses 2x2/2); all stride-2 max pools use
  ceil_mode, which turns 112 -> 56 -> 28 -> 14 -> 7 as the table's output sizes require.
- The auxiliary classifiers are exactly the paper's (section 5): 5x5/3 average pool (4x4x512
  after 4a, 4x4x528 after 4d), 1x1 conv with 128 filters + ReLU, FC 1024 + ReLU, dropout 0.7,
  linear to num_classes. torchvision pools adaptively to 4x4 instead, which changes the windows.
  Because the FC layer expects exactly 4x4x128, the heads need a 14x14 to 16x16 grid after 4a/4d,
  that is inputs of 223 to 270 pixels (MIN_SIZE_AUX, MAX_SIZE_AUX). They run only in training mode, where
  forward returns (logits, aux1_logits, aux2_logits); the training loss is
  loss(logits) + aux_loss_weight * (loss(aux1) + loss(aux2)) with the paper's weight 0.3.
  In eval mode forward returns the logits only and accepts any input from MIN_SIZE up.
- Initialisation: the paper gives none and torchvision's (truncated normal, std 0.01) relies on
  its batch norm; a plain 22-layer ReLU net needs scaled weights, so we follow the Caffe
  bvlc_googlenet replication: "xavier" (uniform, variance 1 / fan_in) weights, biases 0.2,
  classifier biases 0.
"""
from minicnn import nn, ops
from minicnn.models.registry import check_input, register

__all__ = ["GoogLeNet", "Inception", "InceptionAux", "BasicConv2d", "googlenet"]

MIN_SIZE = 47         # conv1 -> 24, maxpool1 -> 12, maxpool2 -> 6, maxpool3 -> 3: maxpool4 (3x3/2) needs a 3x3 grid
MIN_SIZE_AUX = 223    # the smallest input whose 4a/4d grid is 14x14 (the paper: 224), so that 5x5/3 pooling gives 4x4
MAX_SIZE_AUX = 270    # the largest whose grid is 16x16; from 17x17 on the pool gives 5x5


class BasicConv2d(nn.Module):
    """Convolution + ReLU (the paper has no batch norm; torchvision's BasicConv2d adds one)."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x):
        return ops.relu(self.conv(x))


class Inception(nn.Module):
    """One row of Table 1: four branches concatenated along the channels."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, conv_block=BasicConv2d):
        super().__init__()
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(conv_block(in_channels, ch3x3red, kernel_size=1),
                                     conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(conv_block(in_channels, ch5x5red, kernel_size=1),
                                     conv_block(ch5x5red, ch5x5, kernel_size=5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     conv_block(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return ops.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class InceptionAux(nn.Module):
    """The paper's auxiliary classifier: 5x5/3 avg pool -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 -> linear."""

    def __init__(self, in_channels, num_classes, conv_block=BasicConv2d, fc_features=1024, dropout=0.7):
        super().__init__()
        self.avgpool = nn.AvgPool2d(5, stride=3)                       # 14x14 -> 4x4
        self.conv = conv_block(in_channels, 128, kernel_size=1)                      # 4x4x128 = 2048 features
        self.fc1 = nn.Linear(self.conv.conv.out_channels * 4 * 4, fc_features)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(fc_features, num_classes)

    def forward(self, x):
        x = self.avgpool(x)                                            # 4x4xC
        if x.shape[2:] != (4, 4):
            raise ValueError(f"InceptionAux: the 5x5/3 average pool must give a 4x4 grid (the paper's FC layer "
                             f"takes 4x4x128), got {x.shape[2]}x{x.shape[3]}")
        x = self.conv(x)                                               # 4x4x128
        x = ops.flatten(x, 1)                                          # 2048
        x = ops.relu(self.fc1(x))                                      # 1024
        x = self.dropout(x)
        return self.fc2(x)                                             # num_classes


class GoogLeNet(nn.Module):
    """Table 1 line by line; ``width_divisor`` divides every channel count (tests build a tiny copy)."""

    aux_loss_weight = 0.3     # the paper: total loss = loss + 0.3 * aux1 loss + 0.3 * aux2 loss

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, lrn=True, dropout=0.4,
                 dropout_aux=0.7, width_divisor=1):
        super().__init__()
        self.in_channels, self.aux_logits = in_channels, aux_logits
        d = width_divisor

        def conv_block(cin, cout, **kwargs):
            if cin % d or cout % d:
                raise ValueError(f"GoogLeNet: width_divisor={d} must divide every channel count, not {cin} -> {cout}")
            return BasicConv2d(cin // d, cout // d, **kwargs)

        self.conv1 = BasicConv2d(in_channels, 64 // d, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, conv_block)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, conv_block)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, conv_block)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, conv_block)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, conv_block)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, conv_block)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, conv_block)
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, conv_block)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, conv_block)

        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, conv_block, 1024 // d, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, conv_block, 1024 // d, dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024 // d, num_classes)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="linear")   # Caffe's "xavier"
                nn.init.constant_(m.bias, 0.2)
        for name, m in self.named_modules():
            if name == "fc" or name.endswith("fc2"):              # the classifiers start with bias 0
                nn.init.zeros_(m.bias)

    def forward(self, x):
        aux = self.aux_logits and self.training
        check_input(self, x, MIN_SIZE_AUX if aux else MIN_SIZE)
        if aux and max(x.shape[2:]) > MAX_SIZE_AUX:
            raise ValueError(f"GoogLeNet: input {x.shape[2]}x{x.shape[3]} is too large for the auxiliary classifiers, "
                             f"which need inputs of {MIN_SIZE_AUX} to {MAX_SIZE_AUX} pixels in training mode "
                             "(their FC layer takes the paper's 4x4 grid); build with aux_logits=False for others")
        x = self.conv1(x)                # 112x112x64
        x = self.maxpool1(x)             # 56x56x64
        x = self.lrn1(x)
        x = self.conv2(x)                # 56x56x64
        x = self.conv3(x)                # 56x56x192
        x = self.lrn2(x)
        x = self.maxpool2(x)             # 28x28x192

        x = self.inception3a(x)          # 28x28x256
        x = self.inception3b(x)          # 28x28x480
        x = self.maxpool3(x)             # 14x14x480

        x = self.inception4a(x)          # 14x14x512
        aux1 = self.aux1(x) if aux else None
        x = self.inception4b(x)          # 14x14x512
        x = self.inception4c(x)          # 14x14x512
        x = self.inception4d(x)          # 14x14x528
        aux2 = self.aux2(x) if aux else None
        x = self.inception4e(x)          # 14x14x832
        x = self.maxpool4(x)             # 7x7x832

        x = self.inception5a(x)          # 7x7x832
        x = self.inception5b(x)          # 7x7x1024
        x = self.avgpool(x)              # 1x1x1024
        x = ops.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)                   # num_classes
        if aux:
            return x, aux1, aux2
        return x


@register("googlenet", input_size=(3, 224, 224), min_size=MIN_SIZE_AUX,
          source="Szegedy et al. 2014, Table 1 (lecture 002: GoogLeNet per-module parameters and ops)")
def googlenet(num_classes=1000, in_channels=3, aux_logits=True, lrn=True):
    """GoogLeNet; ``aux_logits=False`` drops the auxiliary heads (and their input-size limits)."""
    return GoogLeNet(num_classes, in_channels, aux_logits=aux_logits, lrn=lrn)
