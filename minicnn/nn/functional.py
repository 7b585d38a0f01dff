"""``minicnn.nn.functional`` (``import minicnn.nn.functional as F``): PyTorch's functional names over
minicnn's ops. Every function here calls the op's own Function (its forward and hand-written
backward live in minicnn/ops); none has a second implementation.
"""
from minicnn import ops
from minicnn.creation import arange
from minicnn.nn.conv import conv_padding
from minicnn.ops.loss import implicit_softmax_dim
from minicnn.ops.utils import pair
from minicnn.tensor import Tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "conv2d", "conv_transpose2d", "linear",
           "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout", "batch_norm", "local_response_norm", "pad",
           "one_hot", "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]


def relu(input, inplace=False):
    """inplace=True writes the result into ``input`` and returns it, as PyTorch does; the graph
    keeps a copy of the old values (Tensor._inplace), so it gives PyTorch's results, not its memory saving."""
    return input._inplace("relu", ops.relu) if inplace else ops.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return input._inplace("leaky_relu", ops.leaky_relu, negative_slope)
    return ops.leaky_relu(input, negative_slope)


def sigmoid(input):
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def softmax(input, dim=None):
    return ops.softmax(input, implicit_softmax_dim(input.ndim) if dim is None else dim)


def log_softmax(input, dim=None):
    return ops.log_softmax(input, implicit_softmax_dim(input.ndim) if dim is None else dim)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """padding may be 'same' or 'valid' as in PyTorch."""
    stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
    padding = conv_padding(padding, weight.shape[2:], stride, "conv2d", dilation)
    return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return ops.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def linear(input, weight, bias=None):
    return ops.linear(input, weight, bias)


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    return ops.max_pool2d(input, kernel_size, stride, padding, ceil_mode)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def adaptive_avg_pool2d(input, output_size):
    return ops.adaptive_avg_pool2d(input, output_size)


def dropout(input, p=0.5, training=True, inplace=False):
    return ops.dropout(input, p, training)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    return ops.local_response_norm(input, size, alpha, beta, k)


def pad(input, pad, mode="constant", value=0.0):
    """Pad the last two axes; ``pad`` is PyTorch's (left, right) or (left, right, top, bottom)."""
    if mode != "constant" or len(pad) not in (2, 4):
        raise ValueError(f"pad: only mode='constant' with pad=(left, right[, top, bottom]) is supported, "
                         f"got mode={mode!r}, pad={pad!r}")
    left, right, top, bottom = (*pad, 0, 0)[:4]
    return ops.pad(input, ((top, bottom), (left, right)), value)


def one_hot(tensor, num_classes=-1):
    """(N,) class indices -> (N, C) int64 rows of zeros with a one at each index (no gradient)."""
    C = int(tensor.max().item()) + 1 if num_classes == -1 else num_classes
    return (tensor.unsqueeze(-1) == arange(C, device=tensor.device)).long()


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    return ops.cross_entropy(input, target, reduction, label_smoothing)


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood from log-probabilities (N, C): -input[n, target[n]], averaged or summed.
    It is an indexing op (GetItem) and a sum, so its gradient comes from their backward."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"nll_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    labels = target if isinstance(target, Tensor) else Tensor(target)
    picked = -input[arange(input.shape[0], device=input.device), labels]
    return picked if reduction == "none" else picked.sum() if reduction == "sum" else picked.mean()


def mse_loss(input, target, reduction="mean"):
    return ops.mse_loss(input, target, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    return ops.binary_cross_entropy(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    return ops.binary_cross_entropy_with_logits(input, target, reduction)
