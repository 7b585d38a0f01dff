"""Learning-rate schedules: they set ``group["lr"]`` of an optimiser's param groups (PyTorch's names).

Call ``scheduler.step()`` once per epoch (or per iteration, for iteration schedules), after
``optimizer.step()``. Constructing a scheduler is step 0: it records each group's starting lr in
``group["initial_lr"]`` (once: a second scheduler on the same optimiser sees the same one) and
``base_lrs``, and sets the lr for epoch 0.

Each schedule here is a closed form lr(base_lr, epoch), which is the formula PyTorch documents.
PyTorch's own schedulers are mostly "chainable": they multiply the current ``group["lr"]`` by a
ratio each step. The two give the same numbers up to round-off (tests check 1e-12), with one
difference in use: here the schedule owns the lr, so a change made to ``group["lr"]`` by hand is
overwritten at the next step, where PyTorch would carry it on.

ReduceLROnPlateau is the exception: it reacts to a metric, so it works on the current lr.

Recipes from the papers:
- AlexNet: lr 0.01, divided by 10 when the validation error stopped improving (3 times):
  ``ReduceLROnPlateau(opt, factor=0.1)``.
- ResNet (ImageNet): lr 0.1 divided by 10 when the error plateaus; on CIFAR-10 at iterations 32k
  and 48k: ``MultiStepLR(opt, milestones=[32000, 48000], gamma=0.1)`` stepped per iteration.
- Inception v3: lr 0.045 decayed by 0.94 every two epochs: ``StepLR(opt, step_size=2, gamma=0.94)``,
  or ``ExponentialLR(opt, gamma=0.94 ** 0.5)`` for the same decay spread over every epoch.
"""
import math
from bisect import bisect_right
from copy import deepcopy

from minicnn.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearWarmup", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: ``last_epoch`` counts ``step()`` calls; subclasses give ``get_lr()`` for it."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                                     f"param_groups[{i}]['initial_lr']: load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self):
        """The lr of each param group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self):
        """Advance one epoch and write the new learning rates into the optimiser."""
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _set_lrs(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self):
        """The learning rates the last step set, one per param group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimiser, as plain numbers, strings and lists."""
        return {key: deepcopy(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()``; the optimiser's lrs are restored by its own load_state_dict."""
        self.__dict__.update(deepcopy(state_dict))


def _check(ok, scheduler, message):
    if not ok:
        raise ValueError(f"{type(scheduler).__name__}: {message}")


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): divide by 1/gamma every step_size epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check(isinstance(step_size, int) and step_size >= 1, self, f"step_size must be an int >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch): ResNet's /10 at fixed iterations.

    A milestone listed twice counts twice, as in PyTorch.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self.gamma ** bisect_right(self.milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch.

    Inception v3's "0.94 every two epochs" is ``StepLR(step_size=2, gamma=0.94)``, or
    ``ExponentialLR(gamma=0.94 ** 0.5)`` stepped every epoch for a smooth version of it.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2  (SGDR without restarts).

    From base_lr at epoch 0 down to eta_min at epoch T_max; past T_max the cosine goes on and
    the lr climbs back up over the next T_max epochs, as in PyTorch.

    PyTorch computes this recursively, lr_t = eta_min + (lr_{t-1} - eta_min) * ratio_t with
    ratio_t = (1 + cos(pi t / T_max)) / (1 + cos(pi (t - 1) / T_max)), and adds a fixed increment
    at each epoch T_max + 1 + 2k T_max (where the ratio would be 0/0). Both give the same values
    up to round-off, which the recursion accumulates step by step: measured against PyTorch, the
    closed form here differs by at most ~4e-16 relative over the first T_max epochs and ~2e-14
    over the next 3 T_max (near eta_min the recursion's absolute error, ~1e-15 of base_lr, is a
    larger relative one). The tests check 1e-12 over exactly T_max epochs and beyond.
    """

    def __init__(self, optimizer, T_max, eta_min=0, last_epoch=-1):
        _check(T_max > 0, self, f"T_max must be > 0, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


class LinearWarmup(LRScheduler):
    """Linear warm-up from start_factor * base_lr to base_lr over warmup_steps, then ``after``.

    lr = base_lr * (start_factor + (1 - start_factor) * epoch / warmup_steps)   for epoch < warmup_steps
    then ``after`` runs from its own epoch 0 (epoch - warmup_steps); without ``after``, lr = base_lr.

    ``after`` is a scheduler built on the same optimiser just before this one; this scheduler
    steps it. The same as PyTorch's
    ``SequentialLR(opt, [LinearLR(opt, start_factor, total_iters=warmup_steps), after], milestones=[warmup_steps])``,
    or ``LinearLR(opt, start_factor, total_iters=warmup_steps)`` alone when ``after`` is None.
    start_factor defaults to LinearLR's 1/3; 0 (warm up from zero) is allowed here, not in PyTorch.
    """

    def __init__(self, optimizer, warmup_steps, after=None, start_factor=1.0 / 3, last_epoch=-1):
        _check(isinstance(warmup_steps, int) and warmup_steps >= 1, self,
               f"warmup_steps must be an int >= 1, got {warmup_steps}")
        _check(0 <= start_factor <= 1, self, f"start_factor must be in [0, 1], got {start_factor}")
        if after is not None:
            _check(after.optimizer is optimizer, self, "after must be a scheduler of the same optimizer")
            _check(not isinstance(after, ReduceLROnPlateau), self,
                   "after cannot be ReduceLROnPlateau (it needs a metric): step that one yourself")
        self.warmup_steps, self.start_factor, self.after = warmup_steps, start_factor, after
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        done = min(self.last_epoch, self.warmup_steps) / self.warmup_steps       # 0 -> 1
        ramp = self.start_factor + (1 - self.start_factor) * done
        return [base_lr * ramp for base_lr in self.base_lrs]

    def step(self):
        self.last_epoch += 1
        if self.after is None or self.last_epoch < self.warmup_steps:
            self._set_lrs(self.get_lr())
        else:
            self.after.last_epoch = self.last_epoch - self.warmup_steps - 1
            self.after.step()
            self._last_lr = self.after.get_last_lr()

    def state_dict(self):
        state = {key: deepcopy(value) for key, value in vars(self).items() if key not in ("optimizer", "after")}
        state["after"] = None if self.after is None else self.after.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        after = state.pop("after")
        _check((after is None) == (self.after is None), self,
               "load_state_dict: the state dict and this scheduler disagree on whether there is an `after` schedule")
        super().load_state_dict(state)
        if after is not None:
            self.after.load_state_dict(after)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has not improved for ``patience`` epochs.

    ``step(metric)`` once per epoch with, e.g., the validation error (mode="min") or accuracy
    (mode="max"). An epoch improves on the best so far when
        rel, min: metric < best * (1 - threshold)      abs, min: metric < best - threshold
        rel, max: metric > best * (1 + threshold)      abs, max: metric > best + threshold
    After more than ``patience`` epochs in a row without improvement, each group's lr becomes
    max(lr * factor, min_lr) (unless that changes it by less than eps), and the next ``cooldown``
    epochs do not count. AlexNet divided its lr by 10 whenever the validation error stalled.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an Optimizer, got {type(optimizer).__name__}")
        _check(mode in ("min", "max"), self, f"mode must be 'min' or 'max', got {mode!r}")
        _check(threshold_mode in ("rel", "abs"), self, f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check(0 <= factor < 1, self, f"factor must be in [0, 1), got {factor}")
        _check(patience >= 0 and cooldown >= 0, self,
               f"patience and cooldown must be >= 0, got patience={patience}, cooldown={cooldown}")
        groups = optimizer.param_groups
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        _check(len(min_lrs) == len(groups), self,
               f"expected {len(groups)} min_lr values (one per group), got {len(min_lrs)}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience, self.cooldown = mode, factor, patience, cooldown
        self.threshold, self.threshold_mode, self.min_lrs, self.eps = threshold, threshold_mode, min_lrs, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def _is_better(self, metric):
        if self.threshold_mode == "rel":
            if self.mode == "min":
                return metric < self.best * (1 - self.threshold)
            return metric > self.best * (1 + self.threshold)
        if self.mode == "min":
            return metric < self.best - self.threshold
        return metric > self.best + self.threshold

    def step(self, metric):
        metric = float(metric.item() if hasattr(metric, "item") else metric)
        self.last_epoch += 1
        if self._is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0          # epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
