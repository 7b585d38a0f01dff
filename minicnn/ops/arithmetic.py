"""Element-wise arithmetic and matmul, with NumPy broadcasting.

Broadcasting copies an input along some axes, so its gradient is the sum over those axes:
``unbroadcast`` reduces each incoming gradient back to its input's shape.
"""
from minicnn import dtypes, fast
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.ops.utils import as_tensor, unbroadcast
from minicnn.tensor import Tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "matmul", "cast"]


def _pair_of_tensors(a, b):
    """Turn numbers and arrays into constant Tensors with the Tensor operand's dtype and device."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return a, b


class Add(Function):
    """y = a + b;  da = gy,  db = gy (each summed back to its shape)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        if a.shape == b.shape and a.dtype == b.dtype and fast.use(a, b):
            from minicnn.fast.elementwise import add
            return add(a, b)
        return a + b

    def backward(self, gy):
        return unbroadcast(gy, self.shapes[0]), unbroadcast(gy, self.shapes[1])


def add(a, b):
    """a + b with broadcasting. ``add(x, shortcut)`` is the residual connection."""
    return Add()(*_pair_of_tensors(a, b))


class Sub(Function):
    """y = a - b;  da = gy,  db = -gy."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        return unbroadcast(gy, self.shapes[0]), unbroadcast(-gy, self.shapes[1])


def sub(a, b):
    return Sub()(*_pair_of_tensors(a, b))


class Mul(Function):
    """y = a * b;  da = gy * b,  db = gy * a."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        ga = unbroadcast(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def mul(a, b):
    return Mul()(*_pair_of_tensors(a, b))


class Div(Function):
    """y = a / b;  da = gy / b,  db = -gy * a / b**2."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved
        ga = unbroadcast(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def div(a, b):
    return Div()(*_pair_of_tensors(a, b))


class Neg(Function):
    """y = -x;  dx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def neg(x):
    return Neg()(x)


class Pow(Function):
    """y = x**p for a constant number p;  dx = gy * p * x**(p-1)."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.save_for_backward(x)
        return x ** self.p

    def backward(self, gy):
        (x,) = self.saved
        return gy * self.p * x ** (self.p - 1)


def pow(x, p):
    """x ** p with a constant exponent (a Python number)."""
    if not isinstance(p, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(p).__name__}")
    return Pow(p)(x)


class Exp(Function):
    """y = exp(x);  dx = gy * y."""

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y


def exp(x):
    return Exp()(x)


class Log(Function):
    """y = log(x);  dx = gy / x."""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / x


def log(x):
    return Log()(x)


class MatMul(Function):
    """y = a @ b for 2-D a (M, K) and b (K, N);  da = gy @ b.T,  db = a.T @ gy."""

    def forward(self, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: expected (M, K) @ (K, N), got {a.shape} @ {b.shape}")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.saved
        ga = gy @ b.T if self.needs_input_grad[0] else None
        gb = a.T @ gy if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b):
    """Matrix product of 2-D tensors; a 1-D operand is a row (on the left) or a column (on the right)
    vector, and its axis of length 1 is dropped from the result, as in NumPy and PyTorch."""
    from minicnn.ops.shape import reshape
    a, b = _pair_of_tensors(a, b)
    if a.ndim == 1 or b.ndim == 1:
        y = matmul(reshape(a, (1, -1)) if a.ndim == 1 else a, reshape(b, (-1, 1)) if b.ndim == 1 else b)
        return reshape(y, y.shape[1 if a.ndim == 1 else 0:(y.ndim - 1 if b.ndim == 1 else y.ndim)])
    return MatMul()(a, b)


class Cast(Function):
    """y = x converted to another float dtype;  dx = gy converted back."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.source_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.source_dtype)


def cast(x, dtype):
    """x converted to ``dtype``; a cast to an integer or bool dtype has no gradient (it is not in the graph)."""
    dtype = dtypes.resolve(dtype)
    if dtype.kind != "f":
        return Tensor._from_op(x.array.astype(dtype))
    return Cast(dtype)(x)
