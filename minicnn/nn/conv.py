"""Conv2d: the convolution layer (weights, bias, default initialisation) around ops.conv2d."""
from minicnn.creation import zeros
from minicnn.nn import init
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.ops.conv import conv2d
from minicnn.ops.utils import pair

__all__ = ["Conv2d", "ConvLayer", "conv_padding"]


def conv_padding(padding, kernel_size, stride, op="Conv2d", dilation=(1, 1)):
    """Padding in a form ops.conv2d takes, from an int, a pair, or PyTorch's 'valid' (none) and 'same'.

    'same' keeps H and W at stride 1: a kernel spanning K = dilation * (size - 1) + 1 rows needs
    K - 1 padded rows, half above and half below; when K - 1 is odd the extra one goes below (and
    right), as PyTorch does.
    """
    if padding == "valid":
        return 0
    if padding != "same":
        return padding if isinstance(padding, int) else tuple(padding)
    if tuple(stride) != (1, 1):
        raise ValueError(f"{op}: padding='same' needs stride 1, got stride={tuple(stride)}")
    spans = (d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in spans)


class ConvLayer(Module):
    """What Conv2d and ConvTranspose2d share: channels in groups, kernel, stride, dilation, and a weight
    ``(*weight_channels, KH, KW)`` and bias initialised as PyTorch does."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, weight_channels):
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = pair(stride, "stride", name)
        self.dilation = pair(dilation, "dilation", name)
        self.weight = Parameter(zeros((*weight_channels, *self.kernel_size)))
        self.register_parameter("bias", Parameter(zeros(out_channels)) if bias else None)
        init.default_layer_init(self.weight, self.bias)


class Conv2d(ConvLayer):
    """y = conv2d(x, weight, bias): (N, in_channels, H, W) -> (N, out_channels, OH, OW).

    weight: (out_channels, in_channels / groups, KH, KW); kernel_size may be (1, 7) or (7, 1).
    padding: an int, (PH, PW), ((top, bottom), (left, right)), 'valid' (0) or 'same' (output size =
    input size; stride 1 only). dilation: the kernel's taps that far apart. Initialised as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (out_channels, in_channels // groups))
        self.padding = padding if isinstance(padding, (int, str)) else tuple(padding)
        self.pads = conv_padding(padding, self.kernel_size, self.stride, dilation=self.dilation)

    def forward(self, x):
        self.check_input(x, f"(N, {self.in_channels}, H, W)", (4,), self.in_channels)
        return conv2d(x, self.weight, self.bias, self.stride, self.pads, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
