"""Activation layers (no parameters) around ops/activation.py."""
from minicnn.nn import functional as F
from minicnn.nn.module import Module
from minicnn.ops.activation import sigmoid, tanh
from minicnn.ops.loss import implicit_softmax_dim, log_softmax, softmax

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """y = max(0, x); inplace=True overwrites x with y (see F.relu)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise; inplace=True overwrites x with y."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x):
        return sigmoid(x)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x):
        return tanh(x)


class Softmax(Module):
    """y = exp(x) / sum exp(x) along ``dim`` (when None, PyTorch's rule: ops.loss.implicit_softmax_dim)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return softmax(x, implicit_softmax_dim(x.ndim) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = log softmax(x) along ``dim``, computed without overflow."""

    def forward(self, x):
        return log_softmax(x, implicit_softmax_dim(x.ndim) if self.dim is None else self.dim)
