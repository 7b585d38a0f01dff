"""Module: the base class of every layer and model.

A Module finds its parts by attribute assignment, as in PyTorch:
    self.conv = Conv2d(3, 16, 3)          # a submodule
    self.weight = Parameter(...)          # a learnable tensor
    self.register_buffer("running_mean", Tensor(...))   # state that is saved but not learned
From these three tables come ``parameters()``, ``state_dict()``, ``to(device)``, ``train()``/``eval()``
and the nested ``repr``, each a walk over the tree of modules.
"""
import contextlib
from collections import OrderedDict, namedtuple

import numpy as np

from minicnn import backend, dtypes
from minicnn.autograd import HookHandle, enter_module, leave_module, no_grad
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor

__all__ = ["Module", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", [])
        object.__setattr__(self, "_forward_hooks", [])

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        enter_module(self)
        try:
            for hook in self._forward_pre_hooks:
                hook(self, args)
            output = self.forward(*args, **kwargs)
            for hook in self._forward_hooks:
                hook(self, args, output)
        finally:
            leave_module(self)
        return output

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward of this module; returns a HookHandle."""
        self._forward_pre_hooks.append(hook)
        return HookHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward of this module; returns a HookHandle."""
        self._forward_hooks.append(hook)
        return HookHandle(self._forward_hooks, hook)

    # ---- registration by attribute assignment ------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, (Parameter, Module)):
            self._forget(name)
            (self._parameters if isinstance(value, Parameter) else self._modules)[name] = value
            return
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                if value is not None and not (table is self._buffers and isinstance(value, Tensor)):
                    raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to '{name}', "
                                    "which holds a parameter, buffer or submodule")
                table[name] = value
                return
        object.__setattr__(self, name, value)

    def _forget(self, name):
        for table in (self._parameters, self._buffers, self._modules, self.__dict__):
            table.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the three tables.
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as bias=False)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: {name} must be a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register state that is not learned (running statistics); saved in state_dict if persistent."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}: buffer {name} must be a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {name} must be a Module or None, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    # ---- walking the tree ---------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module ('' ) and every module below it, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, recurse=True):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse=True):
        """(dotted name, Parameter) pairs; a parameter shared by two layers is listed once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse))

    def num_parameters(self, trainable_only=False):
        """Total number of parameter values (each shared parameter counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ---- modes, devices, gradients --------------------------------------------------------------
    def train(self, mode=True):
        """Training mode for this module and all below it (BatchNorm uses batch statistics, Dropout drops)."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    @contextlib.contextmanager
    def inference(self):
        """For the block: eval mode and no graph. Afterwards every module gets its own training
        flag back, so a model mixing train and eval parts keeps its mix."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with no_grad():
                yield self
        finally:
            for module, mode in modes:
                object.__setattr__(module, "training", mode)

    def as_input(self, array):
        """``array`` as a Tensor on the device and in the dtype of this module's weights
        (float32 on the default device for a module without any)."""
        first = next(self.parameters(), None)
        return Tensor(array, dtype=first.dtype if first is not None else np.float32,
                      device=first.device if first is not None else None)

    def to(self, *args, device=None, dtype=None):
        """Move every parameter, gradient and buffer to a device and/or cast the floating-point ones to a
        float dtype, in place; returns self. ``to('cuda')``, ``to(minicnn.float64)``, ``to('cpu', minicnn.double)``.

        In place (the same Parameter objects get new arrays), so an optimiser built before the
        move still holds the model's parameters. Integer buffers (BatchNorm's step count) keep their dtype.
        """
        for arg in args:
            if isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        device = backend.normalize_device(device) if device is not None else None
        dtype = dtypes.resolve(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: only floating-point dtypes can be given, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            for holder in (t, t.grad):
                if holder is None:
                    continue
                if device is not None:
                    holder.array = backend.to_device(holder.array, device)
                if dtype is not None and holder.dtype.kind == "f":
                    holder.array = holder.array.astype(dtype, copy=False)
        return self

    def double(self):
        """float64 parameters and buffers, for gradient checks: ``mc.gradcheck(model.double(), ...)``."""
        return self.to(dtype=dtypes.float64)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule, children before parents, as PyTorch does (to initialise
        weights: ``model.apply(init_weights)``); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        """Turn learning on or off for every parameter (off: a frozen feature extractor); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self):
        """Ordered name -> Tensor for every parameter and persistent buffer, PyTorch's dotted names
        ('layer1.0.conv1.weight', 'bn.running_mean'). Tensors share memory with the module."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[dot + name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[dot + name] = b.detach()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters and buffers (kept on their device and dtype).

        With strict=True every missing and unexpected key is an error; a shape mismatch always is.
        All problems are reported together in one ValueError.
        """
        for prefix, module in self.named_modules():
            module._before_load(state_dict, f"{prefix}." if prefix else "")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = [f"{k}: checkpoint {tuple(state_dict[k].shape)}, model {own[k].shape}"
                      for k in own if k in state_dict and tuple(state_dict[k].shape) != own[k].shape]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems))
        for name, target in own.items():
            if name in state_dict:
                value = state_dict[name]
                value = value.array if isinstance(value, Tensor) else value
                xp = backend.get_array_module(target.array)
                target.array[...] = xp.asarray(backend.to_device(value, target.device), dtype=target.dtype)
        return IncompatibleKeys(missing, unexpected)

    def _before_load(self, state_dict, prefix):
        """Called by load_state_dict before anything is compared: a lazy layer (nn/lazy.py) that has
        not run yet takes its shapes from the checkpoint here. Other layers have nothing to do."""

    def check_input(self, x, layout, ndims, channels=None):
        """Raise a ValueError naming this layer when x has the wrong rank or channel count.

        ``layout`` describes the expected shape, e.g. "(N, 3, H, W)"; channels is checked on axis 1.
        """
        if x.ndim not in ndims or (channels is not None and x.shape[1] != channels):
            raise ValueError(f"{self!r}: expected input of shape {layout}, got {tuple(x.shape)}")

    # ---- printing ---------------------------------------------------------------------------------
    def extra_repr(self):
        """The layer's settings, shown inside its parentheses (override in layers)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        children = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self.named_children()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
