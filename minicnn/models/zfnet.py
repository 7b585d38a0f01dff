"""ZFNet (Zeiler & Fergus 2013): the paper's Figure 3 model and lecture 11's "AlexNet with changes".

``zfnet``: Figure 3 of the paper, AlexNet with a 7x7 stride-2 first layer (the authors' visualisations
showed AlexNet's 11x11 stride-4 filters aliasing, and many of them dead), a stride-2 second layer, and
dense connections in layers 3, 4 and 5 (one GPU, no groups).

    layer   kernel, stride, pad   filters  output      parameters (weights + biases)
    input                                  3x224x224
    conv1   7x7 /2, pad 1          96      96x110x110    7*7*3*96    + 96   =     14,208
            ReLU, max pool 3x3 /2, contrast norm        96x55x55
    conv2   5x5 /2                 256     256x26x26     5*5*96*256  + 256  =    614,656
            ReLU, max pool 3x3 /2, contrast norm        256x13x13
    conv3   3x3 /1, pad 1          384     384x13x13     3*3*256*384 + 384  =    885,120
    conv4   3x3 /1, pad 1          384     384x13x13     3*3*384*384 + 384  =  1,327,488
    conv5   3x3 /1, pad 1          256     256x13x13     3*3*384*256 + 256  =    884,992
            ReLU, max pool 3x3 /2                       256x6x6
    fc6     9216 -> 4096, ReLU, dropout 0.5                                   37,752,832
    fc7     4096 -> 4096, ReLU, dropout 0.5                                   16,781,312
    fc8     4096 -> 1000 (soft-max in the loss)                                4,097,000
                                                                     total    62,357,608
    multiply-adds for one image: 1,168,032,896 (conv 1,109,410,944 + fc 58,621,952)

The paper does not give padding or rounding; Figure 3's sizes 110, 55, 26, 13, 13, 6 come out with
padding 1 in conv1 and in conv3-5, and ceil rounding in the poolings (Caffe's rounding: floor would
give 54 after conv1's pooling and 12 after conv2's). "Contrast normalized across feature maps"
follows the pooling in layers 1 and 2, as Figure 3 orders it; the paper gives no constants, so we
use AlexNet's local response normalisation (k=2, n=5, alpha=1e-4, beta=0.75; PyTorch's alpha/n
convention, see minicnn/ops/lrn.py). Dropout 0.5 in layers 6 and 7 and the initialisation (weights
"10^-2", read as N(0, 0.01) as in AlexNet; biases 0) are section 3's. The renormalisation of conv
filters whose RMS exceeds 0.1 is a training-loop step and is not part of the model.

``zfnet_lecture``: lecture 11 presents ZFNet as its own AlexNet table (227x227 input, no padding, one
tower; minicnn's ``alexnet_lecture``) with two changes, conv1 F = 11 -> 7 and conv3/4/5 K = 384, 384,
256 -> 512, 1024, 512 (the paper's Table 2 variant "layers 3,4,5: 512, 1024, 512 maps"). Keeping the
stride 4 and no padding, the maps are 56 -> 27 -> 23 -> 11 -> 9 -> 7 -> 5 -> 2 and fc6 sees
2*2*512 = 2048 features.

    layer   lecture's difference to its AlexNet       exact difference (weights)     parameters
    conv1   ((11^2 - 7^2) * 3) * 96 = 20.7K           -20,736 (fewer)                    14,208
    conv2   no difference                              0                                614,656
    conv3   (3*3*256) * (512 - 384) = 0.29M           +294,912                         1,180,160
    conv4   3*3*(384*384 - 512*1024) = "0.8M"         +3,391,488                       4,719,616
    conv5   3*3*(384*256 - 1024*512) = "0.36M"        +3,833,856                       4,719,104
    fc6     no difference                             +4,194,304 (2048 instead of 1024 inputs)  8,392,704
    fc7     no difference                              0                             16,781,312
    fc8     no difference                              0                              4,097,000
            lecture: 1.45M more                       11,694,848 more (with biases)    40,518,760

The slide's own formulas for conv4 and conv5 give 3.39M and 3.83M (with the sign flipped), not 0.8M
and 0.36M, and it leaves fc6 unchanged although conv5 now has 512 maps; the exact count from the
layer table, with every bias, is 40,518,760 (28,823,912 of ``alexnet_lecture`` + 11,694,848).
multiply-adds for one 227x227 image: 843,261,952 (conv 814,000,128 + fc 29,261,824).
The lecture's variant keeps the paper's layer order (ReLU, pooling, normalisation) and flooring.

``widths`` (conv1..conv5 filters) and ``hidden`` (fc6/fc7 units) build a narrow model with the same
layers, which the tests use to check the numerics cheaply.
"""
from minicnn import nn
# Figure 3's "contrast normalized across feature maps" uses AlexNet's constants.
from minicnn.models.alexnet import local_response_norm as contrast_norm
from minicnn.models.registry import check_input, register
from minicnn.ops import flatten

__all__ = ["ZFNet", "zfnet", "zfnet_lecture"]

MIN_SIZE = 207           # paper layout: pool5 is 6x6 for inputs from 207 (conv1 gives 102x102) ...
MAX_SIZE = 238           # ... to 238 (conv1 gives 117x117); fc6 takes exactly 256x6x6
LECTURE_MIN_SIZE = 223   # lecture layout: pool5 is 2x2 for inputs from 223 (conv1 gives 55x55) ...
LECTURE_MAX_SIZE = 254   # ... to 254 (conv1 gives 62x62); fc6 takes exactly 512x2x2

# strides of conv1/conv2, padding of conv1..conv5, pooling rounding, pool5's output side, accepted input sides
_LAYOUTS = {
    "paper": dict(stride=(2, 2), padding=(1, 0, 1, 1, 1), ceil_mode=True, pooled=6, sizes=(MIN_SIZE, MAX_SIZE)),
    "lecture": dict(stride=(4, 1), padding=(0, 0, 0, 0, 0), ceil_mode=False, pooled=2,
                    sizes=(LECTURE_MIN_SIZE, LECTURE_MAX_SIZE)),
}


class ZFNet(nn.Module):
    """features (five convs, three poolings) -> flatten -> classifier (fc6, fc7, fc8)."""

    def __init__(self, num_classes=1000, in_channels=3, layout="paper", widths=(96, 256, 384, 384, 256),
                 hidden=4096, dropout=0.5):
        super().__init__()
        if layout not in _LAYOUTS:
            raise ValueError(f"ZFNet: layout must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
        if len(widths) != 5:
            raise ValueError(f"ZFNet: widths must give the filters of conv1..conv5, got {widths}")
        spec = _LAYOUTS[layout]
        (s1, s2), p, ceil, s = spec["stride"], spec["padding"], spec["ceil_mode"], spec["pooled"]
        c1, c2, c3, c4, c5 = widths
        self.in_channels = in_channels
        self.min_size, self.max_size = spec["sizes"]
        # output sizes: paper (224 input) / lecture (227 input)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 7, stride=s1, padding=p[0]), nn.ReLU(),   # conv1: 96 x 110x110 / 56x56
            nn.MaxPool2d(3, stride=2, ceil_mode=ceil), contrast_norm(),         # 55x55 / 27x27
            nn.Conv2d(c1, c2, 5, stride=s2, padding=p[1]), nn.ReLU(),            # conv2: 256 x 26x26 / 23x23
            nn.MaxPool2d(3, stride=2, ceil_mode=ceil), contrast_norm(),         # 13x13 / 11x11
            nn.Conv2d(c2, c3, 3, padding=p[2]), nn.ReLU(),                       # conv3: 384 (512) x 13x13 / 9x9
            nn.Conv2d(c3, c4, 3, padding=p[3]), nn.ReLU(),                       # conv4: 384 (1024) x 13x13 / 7x7
            nn.Conv2d(c4, c5, 3, padding=p[4]), nn.ReLU(),                       # conv5: 256 (512) x 13x13 / 5x5
            nn.MaxPool2d(3, stride=2, ceil_mode=ceil),                           # 6x6 / 2x2
        )
        self.classifier = nn.Sequential(
            nn.Linear(c5 * s * s, hidden), nn.ReLU(), nn.Dropout(dropout),    # fc6: 9216 / 2048 -> 4096
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),        # fc7: 4096 -> 4096
            nn.Linear(hidden, num_classes),                                   # fc8: 4096 -> 1000
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.min_size, self.max_size, why_max="fc6 takes the pooled maps")
        x = self.features(x)
        x = flatten(x, 1)
        return self.classifier(x)


@register("zfnet", input_size=(3, 224, 224), min_size=MIN_SIZE,
          source="Zeiler & Fergus 2013, Figure 3 (7x7 stride-2 conv1, dense layers 3-5, 224 input)")
def zfnet(num_classes=1000, in_channels=3, **kwargs):
    return ZFNet(num_classes, in_channels, layout="paper", **kwargs)


@register("zfnet_lecture", input_size=(3, 227, 227), min_size=LECTURE_MIN_SIZE,
          source="Lecture 11: its AlexNet table with conv1 F=7 and conv3/4/5 of 512, 1024, 512 filters")
def zfnet_lecture(num_classes=1000, in_channels=3, widths=(96, 256, 512, 1024, 512), **kwargs):
    return ZFNet(num_classes, in_channels, layout="lecture", widths=widths, **kwargs)
