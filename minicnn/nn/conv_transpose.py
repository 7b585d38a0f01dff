"""ConvTranspose2d: the transposed convolution layer (upsampling in DCGAN generators and decoders)."""
from minicnn.nn.conv import ConvLayer
from minicnn.ops.conv_transpose import conv_transpose2d
from minicnn.ops.utils import pair

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(ConvLayer):
    """y = conv_transpose2d(x, weight, bias): (N, in_channels, H, W) -> (N, out_channels, OH, OW),
    OH = (H - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1.

    weight: (in_channels, out_channels / groups, KH, KW), PyTorch's layout; arguments in PyTorch's
    order. Initialised as PyTorch does (its fan-in is weight.shape[1] * KH * KW, as for Conv2d).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (in_channels, out_channels // groups))
        self.padding = pair(padding, "padding", "ConvTranspose2d")
        self.output_padding = pair(output_padding, "output_padding", "ConvTranspose2d")

    def forward(self, x):
        self.check_input(x, f"(N, {self.in_channels}, H, W)", (4,), self.in_channels)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, plain in (("padding", (0, 0)), ("output_padding", (0, 0)), ("dilation", (1, 1))):
            if getattr(self, name) != plain:
                s += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + (", bias=False" if self.bias is None else "")
