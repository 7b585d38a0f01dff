"""``cupy.fuse`` on the fake: the function runs on NumPy, and counts as one kernel launch.

A count of one must mean one kernel on a real GPU, so the fake refuses what CuPy's fusion cannot
compile into a single kernel (CuPy would then fall back to a slower path, or several kernels):

- inside, only elementwise ufuncs (operators and ``cupy.exp``, ``cupy.where`` ...) and ``astype``;
- at most one reduction (``cupy.sum``, ``prod``, ``amax``, ``amin``, with ``axis``), and after it
  only elementwise work on its result and scalars: an array read before the reduction cannot be
  mixed with one after it, and what a fused function returns is all of one side;
- no matrix products, indexing, reshapes, other NumPy functions, or host reads (``bool``, ``float``);
- arguments are device arrays, Python or NumPy scalars, and None.
"""
import functools

import numpy as np

from cupy import fake
from cupy._core import ndarray, wrap

_REDUCTIONS = {"sum", "prod", "amax", "amin", "max", "min"}


class FusionError(TypeError):
    """What CuPy's fusion cannot compile into one kernel."""


class _Trace:
    """One call of a fused function: has the reduction happened yet?"""

    def __init__(self):
        self.reduced = False


class _Value:
    """An array inside a fused function: its NumPy data, and which side of the reduction it is on."""

    __array_priority__ = 200

    def __init__(self, data, trace, after_reduction):
        self.data, self.trace, self.after_reduction = data, trace, after_reduction

    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)

    def astype(self, dtype, copy=True):
        return _Value(self.data.astype(dtype), self.trace, self.after_reduction)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise FusionError(f"cupy.fuse: {ufunc.__name__}.{method} is not fusable (only elementwise calls)")
        return _elementwise(self.trace, ufunc, inputs, kwargs.pop("out", None), kwargs)

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        if name == "where" and len(args) == 3 and not kwargs:      # elementwise in CuPy (a ufunc there)
            return _elementwise(self.trace, np.where, args, None, {})
        if name not in _REDUCTIONS:
            raise FusionError(f"cupy.fuse: {name} cannot be compiled into the fused kernel "
                              "(only elementwise ufuncs and one reduction)")
        if self.trace.reduced:
            raise FusionError("cupy.fuse: a second reduction needs a second kernel")
        if set(kwargs) - {"axis"}:
            raise FusionError(f"cupy.fuse: a reduction takes only axis=, got {sorted(kwargs)}")
        self.trace.reduced = True
        return _Value(np.asarray(func(self.data, **kwargs)), self.trace, True)

    def __bool__(self):
        raise FusionError("cupy.fuse: a value cannot be read on the host inside a fused kernel")

    def __getitem__(self, key):
        raise FusionError("cupy.fuse: indexing is not fusable")

    def __getattr__(self, name):
        raise FusionError(f"cupy.fuse: .{name} is not available inside a fused kernel")


def _elementwise(trace, func, inputs, out, kwargs):
    """One elementwise step of the kernel: every array on the current side of the reduction."""
    outs = () if out is None else (out if isinstance(out, tuple) else (out,))
    for v in inputs + outs:
        if isinstance(v, (np.ndarray, ndarray)):
            raise FusionError("cupy.fuse: an array that is not an argument of the fused function cannot be used")
    if any(v.after_reduction != trace.reduced for v in inputs + outs if isinstance(v, _Value)):
        raise FusionError("cupy.fuse: an array read before the reduction cannot be combined with its result "
                          "(one kernel has one shape)")
    data = [v.data if isinstance(v, _Value) else v for v in inputs]
    if outs:
        func(*data, out=tuple(o.data for o in outs), **kwargs)
        return outs[0] if len(outs) == 1 else outs
    result = func(*data, **kwargs)
    if isinstance(result, tuple):
        return tuple(_Value(np.asarray(r), trace, trace.reduced) for r in result)
    return _Value(np.asarray(result), trace, trace.reduced)


def _install_operators():
    for op, ufunc in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                      "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "and": np.bitwise_and,
                      "or": np.bitwise_or, "xor": np.bitwise_xor}.items():
        setattr(_Value, f"__{op}__", lambda self, other, u=ufunc: self.__array_ufunc__(u, "__call__", self, other))
        setattr(_Value, f"__r{op}__", lambda self, other, u=ufunc: self.__array_ufunc__(u, "__call__", other, self))
        setattr(_Value, f"__i{op}__",
                lambda self, other, u=ufunc: self.__array_ufunc__(u, "__call__", self, other, out=self))
    for op, ufunc in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                      "eq": np.equal, "ne": np.not_equal}.items():
        setattr(_Value, f"__{op}__", lambda self, other, u=ufunc: self.__array_ufunc__(u, "__call__", self, other))
    for op, ufunc in {"neg": np.negative, "abs": np.absolute, "pos": np.positive, "invert": np.invert}.items():
        setattr(_Value, f"__{op}__", lambda self, u=ufunc: self.__array_ufunc__(u, "__call__", self))
    _Value.__matmul__ = _Value.__rmatmul__ = _refuse_matmul


def _refuse_matmul(self, other):
    raise FusionError("cupy.fuse: a matrix product is not fusable")


_install_operators()


def _argument(value, trace):
    if isinstance(value, ndarray):
        return _Value(value._a, trace, False)
    if value is None or isinstance(value, (bool, int, float, complex, np.generic)):
        return value
    raise FusionError(f"cupy.fuse: invalid argument type {type(value).__name__} (device arrays and scalars only)")


def _result(value):
    if isinstance(value, _Value):
        return wrap(value.data)
    return value


def fuse(*args, kernel_name=None):
    """``@cupy.fuse()`` or ``@cupy.fuse``: the decorated function as one (fake) kernel."""
    def decorate(func):
        @functools.wraps(func)
        def fused(*call_args):
            if not any(isinstance(a, ndarray) for a in call_args):
                return func(*call_args)                 # CuPy runs it as plain Python too
            trace = _Trace()
            with fake.inside_fused_kernel():
                result = func(*(_argument(a, trace) for a in call_args))
            outputs = result if isinstance(result, tuple) else (result,)
            sides = {v.after_reduction for v in outputs if isinstance(v, _Value)}
            if trace.reduced and sides != {True}:
                raise FusionError("cupy.fuse: with a reduction, every output must be its result or come after it")
            fake.record_launch(f"fused {kernel_name or func.__name__}")
            return tuple(_result(v) for v in outputs) if isinstance(result, tuple) else _result(result)
        return fused

    if len(args) == 1 and callable(args[0]):
        return decorate(args[0])
    return decorate
