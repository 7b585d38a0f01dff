"""LeNet-5 (LeCun et al. 1998), as the CNN-architectures overview (lecture 004) tabulates it.

    layer   kernel/units   output     parameters (overview's count)   with every bias
    conv1   6 @ 5x5        6x28x28    5*5*6          =    150          156
    pool1   2x2 /2         6x14x14
    conv2   16 @ 5x5       16x10x10   5*5*6*16       =  2,400          2,416
    pool2   2x2 /2         16x5x5
    fc1     120            120        400*120 + 120  = 48,120
    fc2     84             84         120*84 + 84    = 10,164
    fc3     10             10         84*10 + 10     =    850
                                                     total 61,706 with every bias
The overview counts the convolutions' weights without their biases (6 and 16) and the fully
connected layers with theirs; minicnn counts every bias, so the summary shows 156 and 2,416.
Activations are ReLU and the pooling is max, as the overview describes; the 1998 paper used
scaled tanh and trainable average subsampling.

``lenet5_28`` takes MNIST/Fashion-MNIST's 28x28 images directly: conv1 gets padding 2, so its
output is 28x28 as in the 32x32 model and every later layer and parameter is unchanged.
"""
from minicnn import nn
from minicnn.models.registry import check_input, register

__all__ = ["LeNet5", "lenet5", "lenet5_28"]


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, padding=0):
        super().__init__()
        self.in_channels = in_channels
        self.input_size = 32 - 2 * padding            # the one size whose features flatten to 16*5*5
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=padding), nn.ReLU(), nn.MaxPool2d(2),   # 6x28x28 -> 6x14x14
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),                             # 16x10x10 -> 16x5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        check_input(self, x, self.input_size)
        if x.shape[2:] != (self.input_size, self.input_size):
            raise ValueError(f"LeNet5: input must be {self.input_size}x{self.input_size} (its fully connected "
                             f"layers expect 16x5x5 features), got {x.shape[2]}x{x.shape[3]}")
        return self.classifier(self.features(x))


@register("lenet5", input_size=(1, 32, 32), min_size=32, source="CNN architectures overview (lecture 004): LeNet-5 parameter counts")
def lenet5(num_classes=10, in_channels=1):
    return LeNet5(num_classes, in_channels)


@register("lenet5_28", input_size=(1, 28, 28), min_size=28, source="LeNet-5 with conv1 padding 2 for 28x28 MNIST images")
def lenet5_28(num_classes=10, in_channels=1):
    return LeNet5(num_classes, in_channels, padding=2)
