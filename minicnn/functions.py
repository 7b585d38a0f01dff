"""PyTorch's top-level tensor functions (``torch.cat``, ``torch.max``, ``torch.flatten`` ...).

Each one is the Tensor method or op of the same meaning; none has maths of its own. Those that
PyTorch gives an ``out=`` argument take one: the result is written into ``out``, which is returned.
"""
from minicnn.autograd import is_grad_enabled
from minicnn.ops import arithmetic, shape
from minicnn.tensor import Tensor

__all__ = ["add", "sub", "mul", "div", "matmul", "cat", "concat", "stack", "flatten", "reshape", "unsqueeze",
           "squeeze", "permute", "transpose", "max", "min", "argmax", "argmin", "sum", "mean", "exp", "log", "sqrt",
           "clone", "numel", "is_tensor", "relu", "sigmoid", "tanh", "softmax", "log_softmax"]


def _out(result, out):
    """``result`` written into ``out`` (resized when needed), as PyTorch's out= does."""
    if out is None:
        return result
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError("out=: the result would need a gradient, and ops with out= are not recorded "
                           "in the graph; call the op without out=")
    if out.shape != result.shape:
        out.array = result.array.astype(out.dtype)
        out._version_counter[0] += 1
        return out
    return out.copy_(result)


def add(input, other, alpha=1, out=None):
    """input + alpha * other."""
    return _out(arithmetic.add(input, other if alpha == 1 else other * alpha), out)


def sub(input, other, alpha=1, out=None):
    """input - alpha * other."""
    return _out(arithmetic.sub(input, other if alpha == 1 else other * alpha), out)


def mul(input, other, out=None):
    return _out(arithmetic.mul(input, other), out)


def div(input, other, out=None):
    return _out(arithmetic.div(input, other), out)


def matmul(input, other, out=None):
    """Matrix product; 1-D operands are vectors (see ops.arithmetic.matmul)."""
    return _out(arithmetic.matmul(input, other), out)


def cat(tensors, dim=0, out=None, *, axis=None):
    """Join tensors along an existing axis (``dim``, 0 by default as in PyTorch)."""
    return _out(shape.concat(tensors, dim if axis is None else axis), out)


concat = cat


def stack(tensors, dim=0, out=None):
    """Join tensors of one shape along a new axis ``dim``."""
    return _out(shape.stack(tensors, dim), out)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def reshape(input, shape):
    return input.reshape(shape)


def unsqueeze(input, dim):
    return input.unsqueeze(dim)


def squeeze(input, dim=None):
    return input.squeeze(dim)


def permute(input, dims):
    return input.permute(dims)


def transpose(input, dim0, dim1):
    return input.transpose(dim0, dim1)


def max(input, dim=None, keepdim=False):
    """The largest value, or along ``dim`` a (values, indices) pair: ``_, predicted = max(outputs, 1)``."""
    return input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    return input.min(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return input.argmin(dim, keepdim)


def sum(input, dim=None, keepdim=False):
    return input.sum(dim, keepdim)


def mean(input, dim=None, keepdim=False):
    return input.mean(dim, keepdim)


def exp(input):
    return input.exp()


def log(input):
    return input.log()


def sqrt(input):
    return input.sqrt()


def relu(input):
    return input.relu()


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def softmax(input, dim):
    return input.softmax(dim)


def log_softmax(input, dim):
    return input.log_softmax(dim)


def clone(input):
    return input.clone()


def numel(input):
    return input.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)
