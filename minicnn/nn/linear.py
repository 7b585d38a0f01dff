"""Linear (fully connected) and Identity layers."""
from minicnn.creation import zeros
from minicnn.nn import init
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.ops.linear import linear

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """y = x @ weight.T + bias: (N, in_features) -> (N, out_features); weight (out, in) as in PyTorch."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(zeros((out_features, in_features)))
        self.register_parameter("bias", Parameter(zeros(out_features)) if bias else None)
        init.default_layer_init(self.weight, self.bias)

    def forward(self, x):
        self.check_input(x, f"(N, {self.in_features})", (2,), self.in_features)
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x (a placeholder, e.g. for a shortcut that needs no projection)."""

    def forward(self, x):
        return x
