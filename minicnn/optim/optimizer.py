"""Optimizer: the base class of SGD, RMSprop, Adam, AdamW, Adadelta and Adagrad, in PyTorch's layout.

An optimiser holds ``param_groups``: a list of dicts, each with its ``"params"`` (a list of
Parameters) and its hyperparameters (``"lr"``, ``"weight_decay"``, ...), the ones a group does
not give filled in from the optimiser's defaults. Learning-rate schedulers change ``group["lr"]``.

``step()`` visits every parameter whose ``.grad`` is not None and calls the subclass's
``_update(p, g, state, group)``, where ``g`` is the gradient array in the parameter's dtype and
``state`` is that parameter's dict in ``self.state`` (momentum buffers, running averages, step
count), empty the first time. Updates write into ``p.array`` in place and use only the array
module of ``p.array``, so one code path serves NumPy and CuPy. (One exception: on a GPU, SGD with
momentum moves a group's parameters into one flat buffer at its first step, so that one kernel
updates them all; see ``minicnn/fused/flat.py``.)

``state_dict()`` is PyTorch's layout, with parameters replaced by their index in group order::

    {"state": {0: {"momentum_buffer": array}, ...},
     "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "params": [0, 1, 2]}, ...]}

Its leaves are arrays, Python numbers, strings, bools and None (tuples such as Adam's betas are
written as lists), so it can be stored as arrays plus JSON. The arrays are the optimiser's own
(not copies), as in PyTorch: save them before the next ``step()``.
"""
from minicnn import backend
from minicnn.autograd import enable_grad
from minicnn.nn.lazy import UninitializedParameter
from minicnn.tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: param groups, per-parameter state, zero_grad, step, state_dict."""

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters or of dicts (param groups), "
                            "got a single Tensor: pass [param] instead")
        self.defaults = dict(defaults)
        self.state = {}          # Parameter -> dict of that parameter's state
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict {"params": [...], hyperparameter: value, ...}; missing hyperparameters come from defaults."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        index = len(self.param_groups)
        if not params:
            raise ValueError(f"{name}: parameter group {index} has an empty parameter list")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimise Tensors (Parameters), got {type(p).__name__}")
            if isinstance(p, UninitializedParameter):
                raise ValueError(f"{name}: parameter group {index} holds an uninitialised parameter of a lazy layer; "
                                 "run one forward pass (model(example_batch)) before building the optimizer")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) < len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{name}: a parameter appears more than once (parameter groups must not overlap)")
        new = {**self.defaults, **group, "params": params}
        self._check_group(new)
        self.param_groups.append(new)

    def _check_group(self, group):
        """Raise ValueError for a bad hyperparameter in ``group``; subclasses say which."""

    def _check_nonnegative(self, group, *keys):
        for key in keys:
            if not group[key] >= 0:
                raise ValueError(f"{type(self).__name__}: {key} must be >= 0, got {group[key]}")

    def zero_grad(self):
        """Forget every parameter's gradient (``.grad = None``); the next backward starts afresh."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient. ``closure`` (optional) re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group):
        """Update the parameters of one group, one at a time (SGD may update a group at once on a GPU)."""
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.array if isinstance(p.grad, Tensor) else p.grad
            if g.dtype != p.array.dtype:
                g = g.astype(p.array.dtype)
            self._update(p, g, self.state.setdefault(p, {}), group)

    def _update(self, p, g, state, group):
        """Update ``p.array`` in place from its gradient array ``g`` (do not modify ``g``)."""
        raise NotImplementedError

    # ---- saving and loading ----------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}."""
        params = [p for group in self.param_groups for p in group["params"]]
        groups, start = [], 0
        for group in self.param_groups:
            packed = {key: _plain(value) for key, value in group.items() if key != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        state = {i: dict(self.state[p]) for i, p in enumerate(params) if self.state.get(p)}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() saved into an optimiser over the same parameters.

        The numbers of groups and of parameters in each group must match. State arrays are
        copied onto each parameter's device and cast to its dtype. Integer keys of "state" may
        arrive as strings (a JSON round trip).
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                             f"group(s) but this optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                                 f"parameter(s) in the state dict but {len(group['params'])} in this optimizer")
        by_index = {int(i): p for group, saved in zip(self.param_groups, saved_groups)
                    for i, p in zip(saved["params"], group["params"])}
        state = {}
        for i, values in state_dict["state"].items():
            if int(i) not in by_index:
                raise ValueError(f"{name}.load_state_dict: the state dict has state for parameter index {i}, "
                                 f"which no parameter group lists")
            p = by_index[int(i)]
            for key, value in values.items():
                if key != "step" and hasattr(value, "shape") and tuple(value.shape) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {i} has shape "
                                     f"{tuple(value.shape)} but the parameter has shape {p.shape}")
            state[p] = {key: _to_param(key, value, p) for key, value in values.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {key: _like(group.get(key), value) for key, value in saved.items() if key != "params"}
            new["params"] = group["params"]
            self._check_group(new)
            new_groups.append(new)
        for group, new in zip(self.param_groups, new_groups):     # in place: others may hold these dicts
            group.clear()
            group.update(new)
        self.state = state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {settings}")
        return "\n".join(lines + [")"])


def _plain(value):
    """Tuples become lists (JSON has no tuples); everything else in a group is already plain."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def _like(current, loaded):
    """A loaded list goes back to a tuple where the optimiser had a tuple (Adam's betas)."""
    return tuple(loaded) if isinstance(current, tuple) and isinstance(loaded, list) else loaded


def _to_param(key, value, p):
    """A loaded state value: numbers stay numbers, arrays become copies on p's device in p's dtype."""
    if key == "step":
        return int(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    array = backend.to_device(value, p.device)
    return array.astype(p.array.dtype, copy=True)
