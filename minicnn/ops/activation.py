"""Element-wise activations: ReLU, leaky ReLU, sigmoid and tanh.

Each y = f(x) acts on every element alone, so each backward is the upstream gradient times
the local slope f'(x):
    relu:        y = max(x, 0)                      dx = gy * [x > 0]
    leaky_relu:  y = x if x > 0 else s * x          dx = gy * (1 if x > 0 else s)
    sigmoid:     y = 1 / (1 + exp(-x))              dx = gy * y * (1 - y)
    tanh:        y = tanh(x)                        dx = gy * (1 - y**2)
At x == 0 ReLU's slope is taken as 0, as in PyTorch. Sigmoid and tanh write the slope with
their output y, so backward keeps y and needs no exp.
"""
from minicnn import fast, fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh"]


class ReLU(Function):
    """y = max(x, 0);  dx = gy * [y > 0], the same mask as [x > 0] (NaN gives 0 in both).

    Keeps y, not x or a mask: the op that takes y holds it for its own backward anyway, so the
    mask costs no memory of its own (a boolean mask would be a quarter of x more per ReLU)."""

    def forward(self, x):
        self.fused = fused.use(x)
        if fast.use(x):
            from minicnn.fast.elementwise import relu_forward
            y = relu_forward(x)
        else:
            y = get_array_module(x).maximum(x, 0)       # several times faster than where(x > 0, x, 0) on NumPy
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        if self.fused:
            from minicnn.fused.activation import relu_grad
            return relu_grad(gy, y)
        if fast.use(gy):
            from minicnn.fast.elementwise import relu_backward
            return relu_backward(gy, y)
        return gy * (y > 0)


def relu(x):
    """Rectified linear unit, max(x, 0) element-wise (AlexNet's choice over tanh).

    Inputs:
    - x: any shape
    Returns y: the same shape and dtype as x.
    """
    return ReLU()(x)


class LeakyReLU(Function):
    """y = x if x > 0 else s * x;  dx = gy if x > 0 else s * gy."""

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        xp = get_array_module(x)
        positive = x > 0
        self.save_for_backward(positive)
        return xp.where(positive, x, x * self.negative_slope)

    def backward(self, gy):
        (positive,) = self.saved
        xp = get_array_module(gy)
        return xp.where(positive, gy, gy * self.negative_slope)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: x where x > 0, negative_slope * x elsewhere.

    Inputs:
    - x: any shape
    - negative_slope: the slope s for x <= 0, a Python number
    Returns y: the same shape and dtype as x.
    """
    if not isinstance(negative_slope, (int, float)):
        raise TypeError(f"leaky_relu: negative_slope must be a Python number, got {type(negative_slope).__name__}")
    return LeakyReLU(negative_slope)(x)


def sigmoid_array(x):
    """1 / (1 + exp(-x)) on an array. exp(-x) overflows for x << 0, so with e = exp(-|x|) in (0, 1]:
        y = 1 / (1 + e)      for x >= 0
        y = e / (1 + e)      for x < 0     (the same value, multiplied through by exp(x))
    """
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)) (computed by sigmoid_array, without overflow);  dx = gy * y * (1 - y)."""

    def forward(self, x):
        y = sigmoid_array(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y * (1 - y)


def sigmoid(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow for any x.

    Inputs:
    - x: any shape
    Returns y: the same shape and dtype as x, values in [0, 1].
    """
    return Sigmoid()(x)


class Tanh(Function):
    """y = tanh(x);  dx = gy * (1 - y**2)."""

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * (1 - y * y)


def tanh(x):
    """Hyperbolic tangent (LeNet-5's squashing function, up to its scale).

    Inputs:
    - x: any shape
    Returns y: the same shape and dtype as x, values in [-1, 1].
    """
    return Tanh()(x)
