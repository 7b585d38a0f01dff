"""Define-by-run autograd: the Function base class, the backward walk and ``no_grad``.

Every op is a ``Function`` subclass with ``forward(*arrays)`` and ``backward(*grads)`` written
by hand on raw NumPy/CuPy arrays. Calling a Function on Tensors runs ``forward`` and, when a
gradient is needed, records the call in the graph: each output remembers its ``creator`` and
each Function remembers its inputs. ``Tensor.backward()`` then walks that graph in reverse.

There is no double backprop: backward works on plain arrays, so gradients of gradients are
not recorded. That keeps every backward a short, readable formula.

In-place ops (``x.add_(1)``) change a tensor's array after a Function may have saved it. Each
tensor counts its in-place writes (``_version``); a Function notes the count of every input and
output whose array it saved, and backward refuses to run it when a count moved, as PyTorch does.
"""
import contextlib
import heapq
import itertools
import threading
import weakref

from minicnn.backend import DeviceError, device_of, get_array_module
from minicnn.tensor import Tensor

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "backward", "register_op_hook", "HookHandle",
           "Observer", "observe", "current_module", "outermost_module"]


class _ThreadState(threading.local):
    """What belongs to a thread, as in PyTorch. Grad mode: a no_grad() block in one thread (an
    evaluation, a data loader) must not stop another thread recording its graph. The modules whose
    forward is running, outermost first: an op records the module of its own thread. Each new
    thread starts with grad mode on and no module running."""

    def __init__(self):
        self.grad_enabled = True
        self.modules = []


_thread = _ThreadState()
_observers = []       # what watches ops and modules run (profiler, trace, summary); see Observer


class HookHandle:
    """Returned by the register_*_hook functions; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


class Observer:
    """Watches the engine run: the profiler, ``minicnn.trace()`` and the op hooks are Observers.

    Override the methods you need and register the object with ``observe``. While no observer
    is registered the engine only tests that a list is empty, so watching costs nothing when off.
    ``phase`` is "forward" or "backward". At the end of a forward, ``inputs`` and ``outputs`` are
    the op's Tensors; at the end of a backward they are the gradient arrays flowing in (one per
    output) and out (one per input, None where no gradient is needed).
    """

    def module_begin(self, module):
        pass

    def module_end(self, module):
        pass

    def op_begin(self, function, phase):
        pass

    def op_end(self, function, phase, inputs, outputs):
        pass


def observe(observer):
    """Register an Observer; returns a HookHandle whose ``remove()`` unregisters it."""
    _observers.append(observer)
    return HookHandle(_observers, observer)


class _OpHook(Observer):
    def __init__(self, hook):
        self.hook = hook

    def op_end(self, function, phase, inputs, outputs):
        if phase == "forward":
            self.hook(function, inputs, outputs)


def register_op_hook(hook):
    """Call ``hook(function, inputs, outputs)`` after the forward of every op, e.g. to count
    multiply-adds or follow receptive fields (minicnn.summary). Returns a HookHandle."""
    return observe(_OpHook(hook))


def current_module():
    """The innermost Module whose forward is running (None outside every module)."""
    return _thread.modules[-1] if _thread.modules else None


def outermost_module():
    """The model whose forward is running: the outermost Module on the stack (None outside)."""
    return _thread.modules[0] if _thread.modules else None


def enter_module(module):
    """Called by Module.__call__ before its forward; ops record the module they ran in."""
    _thread.modules.append(module)
    for observer in _observers:
        observer.module_begin(module)


def leave_module(module):
    _thread.modules.pop()
    for observer in _observers:
        observer.module_end(module)


def is_grad_enabled():
    """True when ops called by this thread record a graph."""
    return _thread.grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode):
    previous, _thread.grad_enabled = _thread.grad_enabled, mode
    try:
        yield
    finally:
        _thread.grad_enabled = previous


def no_grad():
    """Context manager: ops inside record no graph and save nothing, so inference memory stays flat."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _set_grad_enabled(True)


class Function:
    """One differentiable op. Subclasses implement ``forward`` and ``backward`` on arrays.

    ``forward(*xs)`` returns an array (or a tuple of arrays) and calls ``save_for_backward``
    with what backward needs. ``backward(*gys)`` gets one gradient per output and returns one
    gradient per input (``None`` for inputs that need none; ``self.needs_input_grad`` says which).
    """

    def __call__(self, *inputs):
        name = type(self).__name__
        devices = {device_of(x.array) for x in inputs}
        if len(devices) > 1:
            raise DeviceError(f"{name}: inputs are on different devices ({' and '.join(sorted(devices))}); "
                              "move them to one device with .to(device) first")
        record = _thread.grad_enabled and any(x.requires_grad for x in inputs)
        self.needs_input_grad = tuple(record and x.requires_grad for x in inputs)
        self.saved = ()
        for observer in _observers:
            observer.op_begin(self, "forward")
        ys = self.forward(*(x.array for x in inputs))
        single = not isinstance(ys, tuple)
        outputs = [Tensor._from_op(y) for y in ((ys,) if single else ys)]
        for y in outputs:
            _share_version_with_base(y, inputs)
        if record:
            self.inputs = inputs
            self.module = current_module()      # for graph pictures and the profiler's backward rows
            self.generation = max(x.generation for x in inputs)
            for x in inputs:
                if x.creator is not None:       # an in-place op on x later puts a copy in its place here
                    x._consumers.append(weakref.ref(self))
            for y in outputs:
                y.requires_grad = True
                y.creator = self
                y.generation = self.generation + 1
            # Outputs are held weakly: the graph lives exactly as long as its results.
            self.outputs = [weakref.ref(y) for y in outputs]
            self.output_meta = [(y.shape, y.dtype) for y in outputs]
            self.saved_versions = [(weakref.ref(t), t._version) for t in (*inputs, *outputs)
                                   if any(a is t.array for a in self.saved)]
        for observer in _observers:
            observer.op_end(self, "forward", inputs, outputs)
        return outputs[0] if single else tuple(outputs)

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"

    @property
    def next_functions(self):
        """(Function, 0) for each input, None for inputs made by no Function, as in PyTorch's graph."""
        return tuple((x.creator, 0) for x in (self.inputs or ()))

    def check_saved_versions(self):
        """Raise when an array this Function saved for backward was changed in place since."""
        for ref, version in self.saved_versions:
            t = ref()
            if t is not None and t._version != version:
                raise RuntimeError(f"backward: a tensor of shape {t.shape} that {type(self).__name__} saved for its "
                                   f"backward was modified by an in-place operation (version {t._version}, "
                                   f"saved at {version}); use an out-of-place op or .clone() before changing it")

    def save_for_backward(self, *arrays):
        """Keep the arrays backward needs; nothing is kept when no gradient is wanted."""
        if any(self.needs_input_grad):
            self.saved = arrays

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def release(self):
        """Drop inputs and saved arrays once backward has used them."""
        self.inputs = None
        self.saved = None


def backward(root, gradient=None, retain_graph=False):
    """Backpropagate from ``root``: fill ``.grad`` of every leaf tensor that requires grad.

    The walk is iterative: Functions wait in a heap ordered by generation (depth from the
    leaves), so a Function runs only after every consumer of its outputs has sent its gradient.
    That is what makes gradients of tensors used twice (residual adds, DenseNet concatenation)
    add up correctly, and it never recurses, so a 1202-layer ResNet is fine.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph "
                           "(was it computed under no_grad(), or from tensors with requires_grad=False?)")
    xp = get_array_module(root.array)
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward: gradient can be omitted only for a single-element output, "
                               f"got shape {root.shape}; pass gradient= with that shape")
        grad = xp.ones_like(root.array)
    else:
        grad = gradient.array if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: gradient has shape {grad.shape}, expected the output's shape {root.shape}")
    if root.creator is None:
        _accumulate_leaf(root, grad)
        return

    pending = {id(root): (root, grad)}   # id(tensor) -> (tensor, gradient so far) for non-leaves
    heap, seen, tie = [], set(), itertools.count()

    def push(f):
        if id(f) not in seen:
            seen.add(id(f))
            heapq.heappush(heap, (-f.generation, next(tie), f))

    push(root.creator)
    while heap:
        f = heapq.heappop(heap)[2]
        if f.inputs is None:
            raise RuntimeError(f"backward: the graph through {type(f).__name__} was already freed by a "
                               "previous backward; pass retain_graph=True to the first backward to keep it")
        f.check_saved_versions()
        gys = []
        for ref, (shape, dtype) in zip(f.outputs, f.output_meta):
            y = ref()
            entry = pending.pop(id(y), None) if y is not None else None
            gys.append(entry[1] if entry is not None else xp.zeros(shape, dtype))
        for observer in _observers:
            observer.op_begin(f, "backward")
        gxs = f.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for observer in _observers:
            observer.op_end(f, "backward", gys, gxs)
        for x, gx, needed in zip(f.inputs, gxs, f.needs_input_grad):
            if not needed or gx is None:
                continue
            if gx.shape != x.shape:
                raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape {gx.shape} "
                                   f"for an input of shape {x.shape}")
            if x.creator is None:
                _accumulate_leaf(x, gx, _owned(gx, gys, gxs))
            else:
                if id(x) in pending:
                    # Out of place: gx may alias a gradient another Function still holds.
                    gx = pending[id(x)][1] + gx
                pending[id(x)] = (x, gx)
                push(x.creator)
        if not retain_graph:
            f.release()


def _share_version_with_base(y, inputs):
    """An output whose array is a view of an input's (reshape, transpose, basic indexing) shares that
    input's version counter: a write through either one changes both."""
    base = y.array.base if y.array.base is not None else None
    for x in inputs:
        if y.array is x.array or (base is not None and (base is x.array or base is x.array.base)):
            y._version_counter, y._is_view = x._version_counter, True
            return


def _owned(g, gys, gxs):
    """True when g is an array that nothing else holds: not a view, not an upstream gradient
    passed through (add hands gy to both inputs), not returned for two inputs. A leaf may keep
    such an array as its .grad without a copy (for VGG-16's fc6 alone the copy is 411 MB)."""
    return g.base is None and all(g is not gy for gy in gys) and sum(g is other for other in gxs) == 1


def _accumulate_leaf(x, g, owned=False):
    # .grad must be an array of its own: optimisers and clipping update it in place.
    if x.grad is not None:
        x.grad = Tensor._from_op(x.grad.array + g)
    else:
        x.grad = Tensor._from_op(g if owned and g.dtype == x.dtype else g.astype(x.dtype, copy=True))
