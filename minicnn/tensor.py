"""Tensor: an array (NumPy or CuPy) plus what autograd needs (requires_grad, grad, creator).

The arithmetic operators and methods below only call ops from ``minicnn.ops``; all the maths,
forward and backward, lives there.
"""
import numpy as np

from minicnn import backend

__all__ = ["Tensor", "tensor", "zeros", "ones"]

DEFAULT_FLOAT = np.float32


class Tensor:
    # Make ``ndarray + Tensor`` call Tensor.__radd__ instead of NumPy broadcasting over objects.
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        """Wrap ``data`` (array, list or number). Python floats become float32; arrays keep their dtype.

        Without ``device``, NumPy arrays, lists and numbers go to the default device
        (``minicnn.set_default_device`` / ``$MINICNN_DEVICE``) and CuPy arrays stay where they are.
        """
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        if not isinstance(data, xp.ndarray):
            data = np.asarray(data)
            if data.dtype.kind == "f" and dtype is None:
                data = data.astype(DEFAULT_FLOAT)
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        if device is None and xp is np:
            device = backend.get_default_device()
        if device is not None:
            data = backend.to_device(data, device)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {data.dtype}")
        self._init(data, requires_grad)

    def _init(self, data, requires_grad):
        self.data = data
        self.requires_grad = requires_grad
        self.grad = None
        self.creator = None      # the Function that produced this tensor (None for leaves)
        self.generation = 0      # distance from the leaves, orders the backward walk
        self.name = None

    @classmethod
    def _from_op(cls, array):
        """Wrap an op's output array as is: no dtype or device conversion."""
        t = cls.__new__(cls)
        t._init(array, False)
        return t

    # ---- array-like attributes -------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.creator is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---- conversions -----------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (a host copy for GPU tensors, the array itself on CPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, got shape {self.shape}")
        return self.data.reshape(()).item()

    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._from_op(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu', 'cuda', 'cuda:N'); itself when already there.

        The move is not recorded in the graph: the result is a new leaf.
        """
        device = backend.normalize_device(device)
        if device == self.device:
            return self
        t = Tensor._from_op(backend.to_device(self.data, device))
        t.requires_grad = self.requires_grad
        return t

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        return arithmetic.cast(self, dtype)

    # ---- autograd --------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Compute gradients of this tensor w.r.t. every leaf that requires grad (see autograd.backward)."""
        from minicnn.autograd import backward
        backward(self, grad, retain_graph)

    def zero_grad(self):
        self.grad = None

    # ---- operators (maths in minicnn/ops) ---------------------------------------------------
    def __add__(self, other):
        return arithmetic.add(self, other)

    def __radd__(self, other):
        return arithmetic.add(other, self)

    def __sub__(self, other):
        return arithmetic.sub(self, other)

    def __rsub__(self, other):
        return arithmetic.sub(other, self)

    def __mul__(self, other):
        return arithmetic.mul(self, other)

    def __rmul__(self, other):
        return arithmetic.mul(other, self)

    def __truediv__(self, other):
        return arithmetic.div(self, other)

    def __rtruediv__(self, other):
        return arithmetic.div(other, self)

    def __neg__(self):
        return arithmetic.neg(self)

    def __pow__(self, exponent):
        return arithmetic.pow(self, exponent)

    def __matmul__(self, other):
        return arithmetic.matmul(self, other)

    def __rmatmul__(self, other):
        return arithmetic.matmul(other, self)

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def exp(self):
        return arithmetic.exp(self)

    def log(self):
        return arithmetic.log(self)

    def reshape(self, *new_shape):
        if len(new_shape) == 1 and isinstance(new_shape[0], (tuple, list)):
            new_shape = new_shape[0]
        return shape_ops.reshape(self, new_shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return shape_ops.transpose(self, axes or None)

    @property
    def T(self):
        return shape_ops.transpose(self)

    def flatten(self, start_dim=0):
        return shape_ops.flatten(self, start_dim)

    def sum(self, axis=None, keepdims=False):
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return reduce.max(self, axis, keepdims)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Shorthand for ``Tensor(...)``, as in PyTorch."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros(shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    """A tensor of zeros (float32 by default) on ``device`` (default: the default device)."""
    return Tensor(np.zeros(shape, dtype), requires_grad=requires_grad, device=device)


def ones(shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    """A tensor of ones (float32 by default) on ``device`` (default: the default device)."""
    return Tensor(np.ones(shape, dtype), requires_grad=requires_grad, device=device)


# Imported last: the op modules need Tensor defined above.
from minicnn.ops import arithmetic, reduce  # noqa: E402
from minicnn.ops import shape as shape_ops  # noqa: E402
