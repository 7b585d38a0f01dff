"""AlexNet (Krizhevsky, Sutskever & Hinton 2012): the paper's two-GPU model and lecture 11's single-tower table.

``alexnet``: the paper (section 3, Figure 2). The two GPUs are two channel groups: conv2, conv4 and
conv5 see only the maps of their own GPU (groups=2); conv3 and the fully connected layers see both.

    layer   kernel, stride, pad   filters (per GPU)  output      parameters (weights + biases)
    input                                            3x224x224
    conv1   11x11 /4, pad 2        96 (48 + 48)      96x55x55     11*11*3*96   + 96   =     34,944
            ReLU, LRN, max pool 3x3 /2                96x27x27
    conv2   5x5 /1, pad 2, groups 2  256 (128+128)   256x27x27    5*5*48*256   + 256  =    307,456
            ReLU, LRN, max pool 3x3 /2                256x13x13
    conv3   3x3 /1, pad 1          384 (both GPUs)   384x13x13    3*3*256*384  + 384  =    885,120
    conv4   3x3 /1, pad 1, groups 2  384             384x13x13    3*3*192*384  + 384  =    663,936
    conv5   3x3 /1, pad 1, groups 2  256             256x13x13    3*3*192*256  + 256  =    442,624
            ReLU, max pool 3x3 /2                     256x6x6
    fc6     9216 -> 4096, ReLU, dropout 0.5                        37,752,832
    fc7     4096 -> 4096, ReLU, dropout 0.5                        16,781,312
    fc8     4096 -> 1000 (soft-max in the loss)                     4,097,000
                                                        total     60,965,224  ("60 million parameters")
    multiply-adds for one image: 724,406,816 (conv 665,784,864 + fc 58,621,952)

224 vs 227: the paper says 224x224x3 inputs, but (224 - 11) / 4 + 1 is not a whole number, and its
55x55 maps need 227 without padding (Caffe's choice, and the lecture's). We keep 224 and pad conv1 by
2, as torchvision does: floor((224 + 4 - 11) / 4) + 1 = 55 (the last padded row and column are never
reached). Every later size is the paper's.

Local response normalisation (section 3.3) follows ReLU in conv1 and conv2, then the overlapping
max pooling (3x3, stride 2, section 3.4). The paper's constants are k = 2, n = 5, alpha = 1e-4,
beta = 0.75 with b = a / (k + alpha * sum a^2)^beta; minicnn (like PyTorch) divides alpha by n, so
the layer is LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2) (see minicnn/ops/lrn.py).
Dropout zeroes the outputs of fc6 and fc7 (section 4.2), so it comes after their ReLUs (Caffe's
order; torchvision's AlexNet drops the inputs of fc6 and fc7 instead, and is a different model: the
one-GPU variant of "One weird trick" with 64/192/384/256/256 filters and no LRN).
Initialisation (section 5): weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6 and fc7, 0 elsewhere.

``alexnet_lecture``: the table of lecture 11 (CS7015) and of the overview (lecture 004): one tower
(no groups), 227x227 input and no padding anywhere, so the maps shrink 55 -> 27 -> 23 -> 11 -> 9 ->
7 -> 5 -> 2 and fc6 sees 2*2*256 = 1024 features.

    layer   lecture's count                     weights       + biases  = parameters
    conv1   (11*11*3)*96   = 34K                   34,848          96        34,944
    conv2   (5*5*96)*256   = 0.6M                 614,400         256       614,656
    conv3   (3*3*256)*384  = 0.8M                 884,736         384       885,120
    conv4   (3*3*384)*384  = 1.327M             1,327,104         384     1,327,488
    conv5   (3*3*384)*256  = 0.8M                 884,736         256       884,992
    fc6     (2*2*256)*4096 = 4M                 4,194,304       4,096     4,198,400
    fc7     4096*4096      = 16M               16,777,216       4,096    16,781,312
    fc8     4096*1000      = 4M                 4,096,000       1,000     4,097,000
            lecture's total 27.55M             28,813,344      10,568    28,823,912

The lecture's 27.55M is the sum of its rounded entries (0.034 + 0.6 + 0.8 + 1.327 + 0.8 + 4 + 16 + 4
= 27.56): 0.6M, 0.8M and 0.8M are 0.61M, 0.88M and 0.88M rounded down, and its weights alone already
make 28.81M. The exact count from its layer table, with every bias, is 28,823,912.
multiply-adds for one 227x227 image: 614,310,432 (conv 589,242,912 + fc 25,067,520).
The lecture draws no LRN and no dropout; they have no parameters, and we keep the paper's.

``widths`` (conv1..conv5 filters) and ``hidden`` (fc6/fc7 units) build a narrow model with the same
layers, which the tests use to check the numerics cheaply.
"""
from minicnn import nn
from minicnn.models.registry import check_input, register
from minicnn.ops import flatten

__all__ = ["AlexNet", "alexnet", "alexnet_lecture"]

MIN_SIZE = 223           # paper layout: pool5 is 6x6 for inputs from 223 (conv1 gives 55x55) ...
MAX_SIZE = 254           # ... to 254 (conv1 gives 62x62); fc6 takes exactly 256x6x6
LECTURE_MIN_SIZE = 227   # lecture layout: pool5 is 2x2 for inputs from 227 (conv1 gives 55x55) ...
LECTURE_MAX_SIZE = 258   # ... to 258; fc6 takes exactly 256x2x2

# padding of conv1..conv5, groups of conv2/conv4/conv5, pool5's output side, accepted input sides
_LAYOUTS = {
    "paper": dict(padding=(2, 2, 1, 1, 1), groups=2, pooled=6, sizes=(MIN_SIZE, MAX_SIZE)),
    "lecture": dict(padding=(0, 0, 0, 0, 0), groups=1, pooled=2, sizes=(LECTURE_MIN_SIZE, LECTURE_MAX_SIZE)),
}


def local_response_norm():
    """Section 3.3's response normalisation: k=2, n=5, alpha=1e-4 (5e-4 in PyTorch's alpha/n convention), beta=0.75."""
    return nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    """features (five convs, three poolings) -> flatten -> classifier (fc6, fc7, fc8)."""

    def __init__(self, num_classes=1000, in_channels=3, layout="paper", widths=(96, 256, 384, 384, 256),
                 hidden=4096, dropout=0.5):
        super().__init__()
        if layout not in _LAYOUTS:
            raise ValueError(f"AlexNet: layout must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
        if len(widths) != 5:
            raise ValueError(f"AlexNet: widths must give the filters of conv1..conv5, got {widths}")
        spec = _LAYOUTS[layout]
        p, g, s = spec["padding"], spec["groups"], spec["pooled"]
        c1, c2, c3, c4, c5 = widths
        self.in_channels = in_channels
        self.min_size, self.max_size = spec["sizes"]
        # output sizes: paper (224 input) / lecture (227 input)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=p[0]), nn.ReLU(), local_response_norm(),  # conv1: 96 x 55x55 / 55x55
            nn.MaxPool2d(3, stride=2),                                                 # 27x27 / 27x27
            nn.Conv2d(c1, c2, 5, padding=p[1], groups=g), nn.ReLU(), local_response_norm(),           # conv2: 256 x 27x27 / 23x23
            nn.MaxPool2d(3, stride=2),                                                 # 13x13 / 11x11
            nn.Conv2d(c2, c3, 3, padding=p[2]), nn.ReLU(),                             # conv3: 384 x 13x13 / 9x9
            nn.Conv2d(c3, c4, 3, padding=p[3], groups=g), nn.ReLU(),                   # conv4: 384 x 13x13 / 7x7
            nn.Conv2d(c4, c5, 3, padding=p[4], groups=g), nn.ReLU(),                   # conv5: 256 x 13x13 / 5x5
            nn.MaxPool2d(3, stride=2),                                                 # 6x6 / 2x2
        )
        self.classifier = nn.Sequential(
            nn.Linear(c5 * s * s, hidden), nn.ReLU(), nn.Dropout(dropout),    # fc6: 9216 / 1024 -> 4096
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),        # fc7: 4096 -> 4096
            nn.Linear(hidden, num_classes),                                   # fc8: 4096 -> 1000
        )
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, m in enumerate(layers):            # conv1..conv5, fc6, fc7, fc8
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)

    def forward(self, x):
        check_input(self, x, self.min_size, self.max_size, why_max="fc6 takes the pooled maps")
        x = self.features(x)
        x = flatten(x, 1)
        return self.classifier(x)


@register("alexnet", input_size=(3, 224, 224), min_size=MIN_SIZE,
          source="Krizhevsky et al. 2012, section 3 and Figure 2 (two GPUs as groups=2, LRN, 224 input with conv1 pad 2)")
def alexnet(num_classes=1000, in_channels=3, **kwargs):
    return AlexNet(num_classes, in_channels, layout="paper", **kwargs)


@register("alexnet_lecture", input_size=(3, 227, 227), min_size=LECTURE_MIN_SIZE,
          source="Lecture 11 / overview (lecture 004) AlexNet table: 227 input, no padding, one tower")
def alexnet_lecture(num_classes=1000, in_channels=3, **kwargs):
    return AlexNet(num_classes, in_channels, layout="lecture", **kwargs)
