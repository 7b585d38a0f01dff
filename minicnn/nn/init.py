"""Weight initialisers, in place on a Tensor's data (PyTorch's names and formulas).

For a weight of shape (out, in, *kernel):  fan_in = in * prod(kernel),  fan_out = out * prod(kernel).
    xavier (Glorot & Bengio 2010):   std = gain * sqrt(2 / (fan_in + fan_out))
    kaiming (He et al. 2015):        std = gain / sqrt(fan),  gain = sqrt(2 / (1 + a^2)) for (leaky) ReLU
    a uniform(-b, b) has std b / sqrt(3), so the uniform variants use b = sqrt(3) * std.
Random numbers come from ``minicnn.random.generator``: ``minicnn.manual_seed(n)`` repeats them.
"""
import math

from minicnn.backend import get_array_module
from minicnn.random import generator

__all__ = ["calculate_gain", "zeros_", "ones_", "constant_", "normal_", "uniform_", "trunc_normal_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance through a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    """Give ``tensor`` the freshly drawn ``values`` (same shape, dtype and device).

    The new array replaces the old one instead of being copied into it: for a layer the size of
    VGG's first FC (103M weights) the copy costs more than the draw. Modules and optimisers hold
    the Tensor, not its array, so they see the new values.
    """
    tensor.array = values
    return tensor


def _draw(tensor, shape, kind):
    """Standard normal or uniform [0, 1) numbers in the tensor's own float dtype, on its device.

    Drawn directly in that dtype (both of minicnn.random's generators take ``dtype``): on the CPU
    with no float64 temporaries (VGG's first FC layer alone has 103M weights). The GPU stream
    first computes one 8-byte counter word per number (minicnn.random.CounterGenerator).
    """
    g = generator(get_array_module(tensor.array))
    return g.standard_normal(shape, dtype=tensor.dtype) if kind == "normal" else g.random(shape, dtype=tensor.dtype)


def _normal(tensor, mean, std, shape):
    values = _draw(tensor, shape, "normal")
    values *= std
    values += mean
    return values


def constant_(tensor, value):
    tensor.array[...] = value
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, _normal(tensor, mean, std, tensor.shape))


def uniform_(tensor, a=0.0, b=1.0):
    values = _draw(tensor, tensor.shape, "uniform")
    values *= b - a
    values += a
    return _fill(tensor, values)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) restricted to [a, b] (absolute bounds, as in PyTorch): values outside are redrawn."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    values = _normal(tensor, mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    while bool(outside.any()):
        values[outside] = _normal(tensor, mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def default_layer_init(weight, bias):
    """PyTorch's default for Conv2d and Linear: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) for the weight, and the same bound for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(_fans(weight)[0])
        uniform_(bias, -bound, bound)
