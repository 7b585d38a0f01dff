"""Tensor: an array (NumPy or CuPy) plus what autograd needs (requires_grad, grad, creator).

``x.array`` is that NumPy/CuPy array, which the ops compute on. ``x.data`` is PyTorch's: the same
values as a Tensor cut from the graph (``f.data.sub_(lr * f.grad.data)`` updates f unrecorded).

The operators and methods below only call ops from ``minicnn.ops``; all the maths, forward and
backward, lives there. Names, arguments and results follow PyTorch's (``x.size()``, ``x.view(-1, 8)``,
``x.sum(dim=1, keepdim=True)``; NumPy's ``axis=``/``keepdims=`` are accepted too), so code written
for PyTorch runs as it is.

In-place methods (``add_``, ``zero_``, ``x[i] = v``, ``+=``) write into the tensor's own array, as
PyTorch does, so views and arrays from ``numpy()`` see the change. Every such write bumps the
tensor's version counter; a Function that saved the array for its backward checks the counter
then and refuses to compute a gradient from values that changed under it (autograd.py).
"""
import collections
import operator
import weakref

import numpy as np

from minicnn import backend, dtypes

__all__ = ["Tensor", "tensor", "MaxResult"]

DEFAULT_FLOAT = np.float32

# What x.max(dim) returns, as torch.return_types.max: values and indices, or unpacked as a pair.
MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def _sizes(args):
    """Sizes given as separate ints (``view(4, 4)``) or as one tuple/list (``view((4, 4))``)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _dim(dim, axis, name):
    """PyTorch's ``dim`` or NumPy's ``axis`` (one of them)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: give dim or axis, not both")
    return axis if dim is None else dim


class Tensor:
    # Make ``ndarray + Tensor`` call Tensor.__radd__ instead of NumPy broadcasting over objects.
    __array_priority__ = 1000
    # == is element-wise (it returns a Tensor), so hashing stays by identity, as in PyTorch.
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        """Wrap ``data`` (array, list or number). Python floats become float32; arrays keep their dtype.

        Without ``device``, NumPy arrays, lists and numbers go to the default device
        (``minicnn.set_default_device`` / ``$MINICNN_DEVICE``) and CuPy arrays stay where they are.
        """
        if isinstance(data, Tensor):
            data = data.array
        dtype = dtypes.resolve(dtype)
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

    def _init(self, array, requires_grad):
        self.array = array       # the values: a NumPy or CuPy ndarray
        self.requires_grad = requires_grad
        self.grad = None
        self.creator = None      # the Function that produced this tensor (None for leaves)
        self.generation = 0      # distance from the leaves, orders the backward walk
        self.name = None
        self._version_counter = [0]   # bumped by every in-place write; shared with views of the same array
        self._is_view = False         # the array is a view of another tensor's (set by autograd.Function)
        self._consumers = []          # weak references to the recorded Functions that took this non-leaf as input

    @classmethod
    def _from_op(cls, array):
        """Wrap an op's output array as is: no dtype or device conversion."""
        t = cls.__new__(cls)
        t._init(array, False)
        return t

    # ---- array-like attributes -------------------------------------------------------------
    @property
    def data(self):
        """The values as a new Tensor that shares this one's memory and is cut from the graph, as in
        PyTorch: in-place changes to it are neither recorded nor version-checked (prefer detach())."""
        return Tensor._from_op(self.array)

    @data.setter
    def data(self, value):
        """Replace the values (a Tensor or an array) without touching the graph: ``p.data = p.data.double()``."""
        self.array = value.array if isinstance(value, Tensor) else value

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def size(self, dim=None):
        """The shape as a tuple, or its length along ``dim`` (PyTorch's ``x.size()`` / ``x.size(0)``)."""
        return self.array.shape if dim is None else self.array.shape[dim]

    def numel(self):
        """The number of elements."""
        return self.array.size

    @property
    def device(self):
        return backend.device(backend.device_of(self.array))

    @property
    def is_cuda(self):
        """True for a tensor on a GPU (a CuPy array)."""
        return backend.device_of(self.array) != "cpu"

    @property
    def is_leaf(self):
        return self.creator is None

    @property
    def grad_fn(self):
        """PyTorch's name for the Function that produced this tensor (None for leaves)."""
        return self.creator

    @property
    def _version(self):
        return self._version_counter[0]

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.array)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        if self.creator is not None:
            extra += f", grad_fn={self.creator!r}"
        return f"Tensor({body}{extra})"

    # ---- conversions -----------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (a host copy for GPU tensors, the array itself on CPU)."""
        return backend.to_device(self.array, "cpu")

    def __array__(self, dtype=None, copy=None):
        # np.asarray(tensor), matplotlib's imshow(tensor): the values as a NumPy array.
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists of numbers."""
        return self.numpy().tolist()

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} values is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """A one-element integer tensor can index a list or tuple: ``classes[label]``."""
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError(f"only a one-element integer tensor can be used as an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return operator.index(self.item())

    def __format__(self, spec):
        # f"{loss:.3f}" formats a one-element tensor's number, as in PyTorch.
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def any(self):
        return Tensor._from_op(self.array.any())

    def all(self):
        return Tensor._from_op(self.array.all())

    def detach(self):
        """A new leaf sharing this tensor's data (and its version counter), cut from the graph."""
        t = Tensor._from_op(self.array)
        t._version_counter = self._version_counter
        return t

    def clone(self):
        """A copy of the values that stays in the graph: gradients flow back through it."""
        return shape_ops.clone(self)

    def to(self, *args, device=None, dtype=None):
        """This tensor on another device and/or dtype: ``to('cuda')``, ``to(minicnn.float64)``,
        ``to('cpu', minicnn.double)``, ``to(other_tensor)``. Itself when nothing changes.

        A dtype change is recorded in the graph (gradients flow back, cast back); a device move is
        not: the moved tensor is a new leaf.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        t = self
        if dtype is not None and dtypes.resolve(dtype) != t.dtype:
            t = arithmetic.cast(t, dtype)
        if device is not None and backend.normalize_device(device) != t.device:
            moved = Tensor._from_op(backend.to_device(t.array, device))
            moved.requires_grad = t.requires_grad
            t = moved
        return t

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        return arithmetic.cast(self, dtype)

    def type(self, dtype=None):
        """Without an argument the dtype's name ('minicnn.float32'); with one, a cast to it."""
        return f"minicnn.{self.dtype}" if dtype is None else self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    def bool(self):
        return self.to(dtype=dtypes.bool)

    def contiguous(self):
        return self

    # ---- autograd --------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute gradients of this tensor w.r.t. every leaf that requires grad (see autograd.backward).

        ``gradient``: dL/d(this tensor), needed unless it has one element (then it is 1).
        """
        if create_graph:
            raise NotImplementedError("backward: create_graph=True (double backprop) is not supported; "
                                      "minicnn's backward passes work on plain arrays and record no graph")
        from minicnn.autograd import backward
        backward(self, gradient, bool(retain_graph))

    def requires_grad_(self, requires_grad=True):
        """Start (or stop) recording operations on this leaf tensor; returns itself."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; "
                               "use .detach() to get a leaf")
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self):
        self.grad = None

    # ---- in-place operations -----------------------------------------------------------------
    def _inplace(self, name, op, *args):
        """Compute ``op(self, *args)`` and write the result into this tensor's own array.

        While the graph is recorded, a copy of the current values stands in for this tensor as the
        op's input, and this tensor becomes the op's output, so gradients flow through the change.
        """
        from minicnn.autograd import is_grad_enabled
        recording = is_grad_enabled() and (self.requires_grad or
                                           any(isinstance(a, Tensor) and a.requires_grad for a in args))
        if recording and self.is_leaf and self.requires_grad:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad cannot be changed in place while the "
                               "graph is recorded; do it inside `with minicnn.no_grad():`, as an optimiser does")
        if recording and self._is_view:
            raise RuntimeError(f"{name}: this tensor is a view of another tensor (indexing, view, transpose), "
                               "and changing a view in place is not recorded in the graph; use .clone() first")
        result = op(self._stand_in() if recording else self, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"{name}: the result has shape {result.shape}, which cannot be written in place "
                               f"into a tensor of shape {self.shape}")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise RuntimeError(f"{name}: the result is {result.dtype}, which cannot be written in place into a "
                               f"{self.dtype} tensor")
        self.array[...] = result.array
        self._version_counter[0] += 1
        if recording:
            f = result.creator
            if f is not None:
                f.outputs = [weakref.ref(self) if ref() is result else ref for ref in f.outputs]
            self.creator, self.generation, self.requires_grad = f, result.generation, f is not None
        return self

    def _stand_in(self):
        """A copy of this tensor's values that takes its place in the graph so far: as the output of its
        creator and as the input of every Function that has already used it."""
        before = Tensor._from_op(self.array.copy())
        before.requires_grad, before.creator, before.generation = self.requires_grad, self.creator, self.generation
        if self.creator is not None:
            self.creator.outputs = [weakref.ref(before) if ref() is self else ref for ref in self.creator.outputs]
        for ref in self._consumers:
            f = ref()
            if f is not None and f.inputs is not None:
                f.inputs = tuple(before if x is self else x for x in f.inputs)
        self._consumers = []
        return before

    def add_(self, other, alpha=1):
        return self._inplace("add_", Tensor.add, other, alpha)

    def sub_(self, other, alpha=1):
        return self._inplace("sub_", Tensor.sub, other, alpha)

    def mul_(self, other):
        return self._inplace("mul_", Tensor.mul, other)

    def div_(self, other):
        return self._inplace("div_", Tensor.div, other)

    def pow_(self, exponent):
        return self._inplace("pow_", Tensor.pow, exponent)

    def copy_(self, src):
        """Write ``src``'s values (broadcast to this shape, cast to this dtype) into this tensor."""
        return self._inplace("copy_", lambda x, s: shape_ops.expand(as_tensor(s, x).to(x.device, x.dtype), x.shape),
                             src)

    def fill_(self, value):
        """Set every element to the number ``value`` (the result is a constant: no gradient flows)."""
        xp = backend.get_array_module(self.array)
        return self._inplace("fill_", lambda x, v: Tensor._from_op(xp.full(x.shape, v, x.dtype)), value)

    def zero_(self):
        return self.fill_(0)

    def __setitem__(self, index, value):
        self._inplace("setitem", shape_ops.setitem, index, value)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    # ---- operators and maths (in minicnn/ops) -------------------------------------------------
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

    def add(self, other, alpha=1):
        """self + alpha * other."""
        return arithmetic.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        """self - alpha * other."""
        return arithmetic.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other):
        return arithmetic.mul(self, other)

    def div(self, other):
        return arithmetic.div(self, other)

    def pow(self, exponent):
        return arithmetic.pow(self, exponent)

    def matmul(self, other):
        return arithmetic.matmul(self, other)

    def neg(self):
        return arithmetic.neg(self)

    def exp(self):
        return arithmetic.exp(self)

    def log(self):
        return arithmetic.log(self)

    def sqrt(self):
        return arithmetic.pow(self, 0.5)

    def relu(self):
        return activation.relu(self)

    def sigmoid(self):
        return activation.sigmoid(self)

    def tanh(self):
        return activation.tanh(self)

    def softmax(self, dim):
        return loss.softmax(self, dim)

    def log_softmax(self, dim):
        return loss.log_softmax(self, dim)

    # ---- comparisons: element-wise, no gradient --------------------------------------------------
    def _compare(self, other, compare):
        return Tensor._from_op(compare(self.array, other.array if isinstance(other, Tensor) else other))

    def __eq__(self, other):
        return self._compare(other, operator.eq)

    def __ne__(self, other):
        return self._compare(other, operator.ne)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # ---- shapes -----------------------------------------------------------------------------------
    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def reshape(self, *shape):
        return shape_ops.reshape(self, _sizes(shape))

    def view(self, *shape):
        """The same values with another shape (-1: inferred), like reshape."""
        return shape_ops.reshape(self, _sizes(shape))

    def view_as(self, other):
        return shape_ops.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return shape_ops.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim):
        """A new axis of length 1 at ``dim``."""
        return shape_ops.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        """Drop the axes of length 1 (only ``dim``, when given)."""
        return shape_ops.squeeze(self, dim)

    def permute(self, *dims):
        return shape_ops.transpose(self, _sizes(dims))

    def transpose(self, dim0, dim1):
        """Swap two axes (PyTorch's transpose; ``permute`` reorders all of them)."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return shape_ops.transpose(self, axes)

    def t(self):
        """The transpose of a matrix; 0-d and 1-D tensors come back as they are."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {self.shape}; use permute")
        return self if self.ndim < 2 else shape_ops.transpose(self)

    @property
    def T(self):
        return shape_ops.transpose(self)

    def expand(self, *sizes):
        """The tensor broadcast to ``sizes`` (-1 keeps an axis); gradients sum back."""
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        return shape_ops.expand(self, tuple(n if n != -1 else self.shape[i - lead] for i, n in enumerate(sizes)))

    def expand_as(self, other):
        return shape_ops.expand(self, other.shape)

    # ---- reductions --------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return reduce.sum(self, _dim(dim, axis, "sum"), keepdim or keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return reduce.mean(self, _dim(dim, axis, "mean"), keepdim or keepdims)

    def norm(self, p="fro", dim=None, keepdim=False):
        """The p-norm over ``dim`` (over every element when None); "fro" (the default) is p = 2."""
        return reduce.norm(self, p, dim, keepdim)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """The largest value; along ``dim``, a (values, indices) pair, as in PyTorch."""
        dim, keepdim = _dim(dim, axis, "max"), keepdim or keepdims
        if dim is None:
            return reduce.max(self)
        return MaxResult(reduce.max(self, dim, keepdim), reduce.argmax(self, dim, keepdim))

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """The smallest value; along ``dim``, a (values, indices) pair. min(x) = -max(-x)."""
        dim, keepdim = _dim(dim, axis, "min"), keepdim or keepdims
        if dim is None:
            return -reduce.max(-self)
        return MaxResult(-reduce.max(-self, dim, keepdim), reduce.argmin(self, dim, keepdim))

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """The index of the largest value (in the flattened tensor when ``dim`` is None)."""
        return reduce.argmax(self, _dim(dim, axis, "argmax"), keepdim or keepdims)

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return reduce.argmin(self, _dim(dim, axis, "argmin"), keepdim or keepdims)

    # ---- new tensors with this one's dtype and device ---------------------------------------------
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return Tensor(data, requires_grad, dtype or self.dtype, device or self.device)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Shorthand for ``Tensor(...)``, as in PyTorch."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


# Imported last: the op modules need Tensor defined above.
from minicnn import creation  # noqa: E402
from minicnn.ops import activation, arithmetic, loss, reduce  # noqa: E402
from minicnn.ops import shape as shape_ops  # noqa: E402
from minicnn.ops.utils import as_tensor  # noqa: E402
