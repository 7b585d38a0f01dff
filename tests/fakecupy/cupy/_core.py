"""The fake device array: a NumPy array held behind CuPy's rules.

The data lives in ``self._a`` (NumPy, on the CPU). Every operation unwraps its device arguments,
lets NumPy compute, and wraps the result again, so arithmetic is NumPy's exactly. What is kept
from CuPy is the boundary between host and device, where the real bugs are:

- no implicit conversion to NumPy (``np.asarray(x)`` raises): ``x.get()`` / ``cupy.asnumpy(x)``;
- a NumPy array in a device operation raises (CuPy: "Unsupported type"), except where CuPy copies
  host data in (``cupy.asarray``, index arrays);
- reductions give 0-d device arrays, not Python numbers;
- reading a value on the host (``float``, ``int``, ``bool``, ``.item()``, printing, ``.get()``,
  boolean-mask indexing) is counted as a host synchronisation (``cupy.fake``);
- numba cannot type it, so numba kernels refuse it.

Each call is also counted as the kernel launches a real GPU would make (``cupy.fake.launches``):
computing calls launch one kernel, views and ``empty`` none; the rules are ``_count_launches``'s.
"""
import functools
import weakref

import numpy as np

from cupy import fake

_NOT_ON_HOST = ("implicit conversion of a CuPy array to NumPy is not allowed (it would copy from the device "
                "unseen): use .get() or cupy.asnumpy()")


def _refuse_host(value):
    raise TypeError(f"Unsupported type {type(value)}: a NumPy array cannot take part in a CuPy operation; "
                    "copy it to the device first with cupy.asarray()")


def unwrap(value, host_ok=False):
    """Device arrays (also inside lists, tuples and dicts) to their NumPy data; a NumPy array is
    refused unless ``host_ok`` (where CuPy copies host data to the device itself)."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        return value if host_ok else _refuse_host(value)
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v, host_ok) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, host_ok) for k, v in value.items()}
    return value


# The device array of each NumPy array that has a live one: wrapping the same data again gives the
# same object, as CuPy's .base and asarray() do (the profiler tells views from new arrays by it).
_wrappers = weakref.WeakValueDictionary()


def wrap(value):
    """NumPy results to device arrays: arrays, NumPy scalars (CuPy's reductions give 0-d arrays)
    and the arrays in tuples/lists; anything else as it is."""
    if isinstance(value, np.ndarray):
        out = _wrappers.get(id(value))
        if out is None:
            out = ndarray.__new__(ndarray)
            out._a, out._base = value, None
            _wrappers[id(value)] = out
            memory_pool.track(value)
        return out
    if isinstance(value, np.generic):
        return wrap(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


# NumPy functions whose result size depends on the data: CuPy reads that size on the host.
_SIZE_FROM_DATA = {"nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract"}


# Calls that allocate or describe, and run nothing on the device.
_NO_KERNEL = {"empty", "empty_like", "shape", "ndim", "size", "result_type", "can_cast", "promote_types",
              "broadcast_shapes", "iscomplexobj", "isrealobj", "isscalar", "min_scalar_type", "may_share_memory",
              "shares_memory", "get_array_module"}
# Calls that give a view when they can, and copy (one launch) only when they must.
_VIEW_WHEN_POSSIBLE = {"reshape", "transpose", "swapaxes", "moveaxis", "rollaxis", "squeeze", "expand_dims",
                       "ravel", "view", "diagonal", "broadcast_to", "broadcast_arrays", "split", "array_split",
                       "hsplit", "vsplit", "dsplit", "atleast_1d", "atleast_2d", "atleast_3d", "asarray",
                       "asanyarray", "ascontiguousarray", "asfortranarray", "astype", "flip", "fliplr", "flipud"}
_FROM_HOST = {"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}
_MATRIX_PRODUCTS = {"matmul", "dot", "tensordot", "inner"}
# Joining several arrays: CuPy uploads tables of their pointers, offsets and strides, then runs one kernel.
_JOINS = {"concatenate", "stack", "vstack", "hstack"}


def _arrays(value):
    """The NumPy arrays in a value (an array, or a tuple/list/dict holding some)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v)]
    return []


def _operand_copies(operands):
    """Copies CuPy makes before a matrix product: cuBLAS reads a 2-D operand as it is when it is C- or
    F-contiguous (a transpose is a flag, not a copy); a batched product needs each operand C-contiguous
    after broadcasting to the batch (a broadcast or transposed batch is copied)."""
    arrays = [a for a in operands if isinstance(a, np.ndarray)]
    if all(a.ndim <= 2 for a in arrays):
        return sum(not (a.flags.c_contiguous or a.flags.f_contiguous) for a in arrays)
    batch = np.broadcast_shapes(*(a.shape[:-2] for a in arrays if a.ndim >= 2))
    return sum(not np.broadcast_to(a, batch + a.shape[-2:]).flags.c_contiguous for a in arrays if a.ndim >= 2)


def _count_launches(name, args, np_args, np_kwargs, result):
    """Record the launches real CuPy would make for ``name(*args)``: ``np_args`` and ``np_kwargs`` are
    the arguments' NumPy data and ``result`` NumPy's result."""
    if name in _NO_KERNEL:
        return
    inputs = _arrays(np_args) + _arrays(np_kwargs)
    if name in _FROM_HOST and args and not isinstance(args[0], ndarray):
        fake.record_launch(f"{name}: host to device")
        return
    outputs = _arrays(result)
    if name in _JOINS and len(inputs) > 1:
        for table in ("pointers", "offsets", "strides"):
            fake.record_launch(f"{name}: {table} to device")
        fake.record_launch(name)
        return
    if name in _MATRIX_PRODUCTS:
        for _ in range(_operand_copies(np_args[:2])):
            fake.record_launch(f"{name}: operand copy")
        fake.record_launch(name)
        return
    if name in _VIEW_WHEN_POSSIBLE and "out" not in np_kwargs and all(
            any(np.may_share_memory(out, a) for a in inputs) for out in outputs):
        return
    if result is None or outputs or "out" in np_kwargs:
        fake.record_launch(name)


def device_function(func, host_ok=False, name=None):
    """``func`` (a NumPy function) as a CuPy function: device arrays in, device arrays out."""
    name = name or func.__name__

    def call(*args, **kwargs):
        if name in _SIZE_FROM_DATA or (name == "where" and len(args) == 1):
            fake.record(f"cupy.{name}")
        np_args, np_kwargs = unwrap(args, host_ok), unwrap(kwargs, host_ok)
        result = func(*np_args, **np_kwargs)
        _count_launches(name, args, np_args, np_kwargs, result)
        return wrap(result)     # out= and cupy.asarray(x) give back the very array passed in

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"CuPy's {name} (fake: NumPy's, on device arrays)."
    return call


class ufunc:
    """A NumPy ufunc as CuPy's: callable, with ``reduce``, ``accumulate``, ``outer`` and ``at``."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout
        self._call = device_function(np_ufunc, name=np_ufunc.__name__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, method):
        if method not in ("reduce", "accumulate", "outer", "at", "reduceat"):
            raise AttributeError(f"cupy.{self.__name__} has no attribute {method!r}")
        return device_function(getattr(self._u, method), name=f"{self.__name__}.{method}")


class MemoryPointer:
    def __init__(self, array, device):
        self.ptr, self.device = array.ctypes.data, device


_DEVICE_0 = None


def _device():
    global _DEVICE_0
    if _DEVICE_0 is None:
        from cupy.cuda import Device
        _DEVICE_0 = Device(0)
    return _DEVICE_0


# ndarray methods that CuPy has too; each runs NumPy's on the data.
_METHODS = ("all any argmax argmin argsort astype clip conj copy cumprod cumsum diagonal dot fill flatten max mean "
            "min prod ravel repeat reshape round sort squeeze std sum swapaxes take trace transpose var view "
            "partition argpartition").split()


class ndarray:
    """A fake CuPy array (see the module docstring for the rules it keeps)."""

    __module__ = "cupy"
    __slots__ = ("_a", "_base", "__weakref__")
    __array_priority__ = 100        # NumPy scalars on the left defer to our operators
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("fake cupy.ndarray: memptr and strides are not supported")
        self._a, self._base = np.empty(shape, dtype, order=order), None
        _wrappers[id(self._a)] = self
        memory_pool.track(self._a)

    # ---- the host boundary ---------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_NOT_ON_HOST)

    def __array_ufunc__(self, ufunc_, method, *inputs, **kwargs):
        return device_function(getattr(ufunc_, method), name=ufunc_.__name__)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return device_function(func)(*args, **kwargs)

    def get(self, stream=None, order="C", out=None):
        """A copy on the host (waits for the device)."""
        fake.record("get")
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order)

    def set(self, array, stream=None):
        """Copy host ``array`` into this device array."""
        fake.record_launch("set: host to device")
        self._a[...] = array

    def item(self, *args):
        fake.record("item")
        return self._a.item(*args)

    def tolist(self):
        fake.record("tolist")
        return self._a.tolist()

    def tobytes(self, order="C"):
        fake.record("tobytes")
        return self._a.tobytes(order)

    def _host_scalar(self, convert, what):
        if self._a.size != 1:
            raise TypeError(f"only size-1 arrays can be converted to Python scalars (shape {self._a.shape})")
        fake.record(what)
        return convert(self._a.reshape(()))

    def __float__(self):
        return self._host_scalar(float, "float")

    def __int__(self):
        return self._host_scalar(int, "int")

    def __complex__(self):
        return self._host_scalar(complex, "complex")

    def __index__(self):
        return self._host_scalar(lambda a: a.__index__(), "index")

    def __bool__(self):
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous")
        return self._host_scalar(bool, "bool")

    def __repr__(self):
        fake.record("repr")
        return repr(self._a)

    def __str__(self):
        fake.record("str")
        return str(self._a)

    def __format__(self, spec):
        fake.record("format")
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    # ---- attributes ----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: wrap(self._a.T))
    real = property(lambda self: wrap(self._a.real))
    imag = property(lambda self: wrap(self._a.imag))

    @property
    def base(self):
        """The array viewed, the same object at every call while this view lives (as in CuPy)."""
        if self._a.base is None:
            return None
        if self._base is None:
            self._base = wrap(self._a.base)
        return self._base

    device = property(lambda self: _device())
    data = property(lambda self: MemoryPointer(self._a, _device()))

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    def __getattr__(self, name):
        if name in _METHODS:        # NumPy's method called with this array first, so views are seen as views
            return functools.partial(device_function(getattr(np.ndarray, name), name=name), self)
        raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")

    def nonzero(self):
        fake.record("nonzero")
        return wrap(self._a.nonzero())

    # ---- container -----------------------------------------------------------------------
    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (wrap(self._a[i]) for i in range(len(self._a)))

    def __getitem__(self, key):
        if _has_mask(key):
            fake.record("boolean mask index")
        if not _is_basic_index(key):
            fake.record_launch("advanced indexing")         # a gather: a copy; basic indexing is a view
        return wrap(self._a[unwrap(key, host_ok=True)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be assigned to a CuPy array: cupy.asarray() it first")
        if isinstance(value, list):
            raise TypeError(f"Unsupported type {type(value)}")
        if _has_mask(key):
            fake.record("boolean mask index")
        fake.record_launch("setitem")                       # a fill or a copy
        self._a[unwrap(key, host_ok=True)] = unwrap(value, host_ok=True)

    def __copy__(self):
        fake.record_launch("copy")
        return wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return self.__copy__()


def _is_basic_index(key):
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in keys)


def _has_mask(key):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, ndarray) and k.dtype == bool for k in keys)


def _operand(other):
    if isinstance(other, np.ndarray):
        _refuse_host(other)
    return other._a if isinstance(other, ndarray) else other


def _install_operators():
    """``+ - * / ...`` (and reflected and in-place forms) through NumPy's ufuncs."""
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
              "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
              "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
              "rshift": np.right_shift}
    for name, func in binary.items():
        if name == "matmul":        # a matrix product counts its operand copies (see _operand_copies)
            product = device_function(np.matmul, name="matmul")
            ndarray.__matmul__ = lambda self, other: product(self, _device_operand(other))
            ndarray.__rmatmul__ = lambda self, other: product(_device_operand(other), self)
            continue

        def forward(self, other, func=func):
            fake.record_launch(func.__name__)
            return wrap(func(self._a, _operand(other)))

        def reflected(self, other, func=func):
            fake.record_launch(func.__name__)
            return wrap(func(_operand(other), self._a))

        def inplace(self, other, func=func):
            fake.record_launch(func.__name__)
            func(self._a, _operand(other), out=self._a)
            return self

        setattr(ndarray, f"__{name}__", forward)
        setattr(ndarray, f"__r{name}__", reflected)
        setattr(ndarray, f"__i{name}__", inplace)
    compare = {"lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal, "gt": np.greater,
               "ge": np.greater_equal}
    for name, func in compare.items():
        setattr(ndarray, f"__{name}__", lambda self, other, func=func: _launched(func, self._a, _operand(other)))
    for name, func in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
        setattr(ndarray, f"__{name}__", lambda self, func=func: _launched(func, self._a))


def _launched(func, *args):
    fake.record_launch(func.__name__)
    return wrap(func(*args))


def _device_operand(other):
    _operand(other)             # refuses host arrays
    return other


_install_operators()


class MemoryPool:
    """CuPy's device memory pool, as far as its queries go: bytes of live arrays, and the high-water
    mark since the last ``free_all_blocks`` as the pool's total."""

    def __init__(self):
        self._live = {}             # id(owning NumPy array) -> bytes
        self._used = 0
        self._total = 0
        self._limit = 0

    def track(self, array):
        if array.base is None and id(array) not in self._live:
            self._live[id(array)] = array.nbytes
            self._used += array.nbytes
            weakref.finalize(array, self._free, id(array))
            self._total = max(self._total, self._used)

    def _free(self, key):
        self._used -= self._live.pop(key)

    def used_bytes(self):
        return self._used

    def total_bytes(self):
        return max(self._total, self.used_bytes())

    def free_bytes(self):
        return self.total_bytes() - self.used_bytes()

    def free_all_blocks(self, stream=None):
        self._total = self.used_bytes()

    def n_free_blocks(self):
        return 0

    def set_limit(self, size=None, fraction=None):
        self._limit = size or 0

    def get_limit(self):
        return self._limit


class PinnedMemoryPool:
    def free_all_blocks(self):
        pass

    def n_free_blocks(self):
        return 0


memory_pool = MemoryPool()
pinned_memory_pool = PinnedMemoryPool()

