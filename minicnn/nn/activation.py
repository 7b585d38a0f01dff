"""Activation layers (no parameters) around ops/activation.py."""
from minicnn.nn.module import Module
from minicnn.ops.activation import leaky_relu, relu, sigmoid, tanh
from minicnn.ops.loss import implicit_softmax_dim, log_softmax, softmax

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """y = max(0, x)."""

    def forward(self, x):
        return relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


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
