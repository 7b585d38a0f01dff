"""The training checkpoint (last.safetensors, best.safetensors): its fields, written by ``state``
and put back by ``restore``, each checked before use; and resuming: which file ``--resume`` names,
which flags may change, and what is left to do.

``FIELDS`` is the one list of what a checkpoint holds. A checkpoint read from disk may be damaged
or edited by hand: every field is checked against it first, so a bad one is a message naming the
file and the field, never a KeyError from deep inside the trainer.
"""
import math
import numbers
import os

import numpy as np

import minicnn as mc
from minicnn import backend, models
from minicnn.serialization import CheckpointError
from minicnn.train.errors import TrainError, UsageError
from minicnn.train.options import FIXED_DEFAULTS, OPTIMIZERS, RECIPE_KEYS, RESUMABLE, SCHEDULES
from minicnn.trained import CONFIG_KEYS, load_weights

__all__ = ["FIELDS", "LAST", "BEST", "TEST", "state", "read", "restore", "checkpoint_of", "resume_config",
           "left_to_do"]

LAST, BEST, TEST = "last.safetensors", "best.safetensors", "test.json"
RUNNING = ("images", "loss_sum", "aux_sum", "correct")     # this epoch's sums so far


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _config_problem(config):
    if not isinstance(config, dict):
        return "is not a dict"
    missing = [k for k in (*CONFIG_KEYS, *RECIPE_KEYS, *FIXED_DEFAULTS, "subset", "data_dir", "aux_weight")
               if k not in config]
    if missing:
        return f"has no {', '.join(missing)}"
    rules = {"arch": (config["arch"] in models.list(), "a registered model"),
             "optimizer": (config["optimizer"] in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
             "schedule": (config["schedule"] in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
             "epochs": (_count(config["epochs"]) and config["epochs"] >= 1, "an int >= 1"),
             "batch_size": (_count(config["batch_size"]) and config["batch_size"] >= 1, "an int >= 1"),
             "lr": (_number(config["lr"]) and 0 < config["lr"] < math.inf, "a number > 0"),
             "seed": (_count(config["seed"]), "an int >= 0"),
             "warmup_epochs": (_count(config["warmup_epochs"]), "an int >= 0"),
             "classes": (isinstance(config["classes"], list) and len(config["classes"]) >= 1
                         and all(isinstance(c, str) for c in config["classes"]), "a list of class names"),
             "input_size": (isinstance(config["input_size"], list) and len(config["input_size"]) == 3
                            and all(_count(n) and n >= 1 for n in config["input_size"]), "[channels, height, width]")}
    rules.update({key: (_number(config[key]), "a number") for key in ("momentum", "weight_decay", "label_smoothing",
                                                                      "clip")})
    bad = [f"config.{key} is {config[key]!r}, expected {rule}" for key, (ok, rule) in rules.items() if not ok]
    return "; ".join(bad) or None


def _model_problem(weights):
    if not isinstance(weights, dict) or not all(isinstance(k, str) and backend.is_array(v) for k, v in weights.items()):
        return "is not a dict of named arrays"
    return None


def _optimizer_problem(saved):
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list) and saved["param_groups"]):
        return "is not an optimizer state dict (state, param_groups)"
    for i, group in enumerate(saved["param_groups"]):
        if not (isinstance(group, dict) and isinstance(group.get("params"), list)
                and all(_count(p) for p in group["params"]) and _number(group.get("lr"))):
            return f"has a parameter group {i} without params (a list of indices) or lr"
    return None


def _running_problem(running):
    if not isinstance(running, dict) or not all(_number(running.get(k)) for k in RUNNING):
        return f"is not a dict of the numbers {', '.join(RUNNING)}"
    return None


def _history_problem(history):
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and all(isinstance(k, str) and _number(v) for k, v in h.items()) for h in history):
        return "is not a list of per-epoch dicts of numbers"
    return None


def _rng_problem(rng):
    cpu = rng.get("cpu") if isinstance(rng, dict) and "device" in rng else rng   # older checkpoints: NumPy's alone
    try:
        np.random.PCG64().state = cpu          # NumPy's own check, on a scratch generator
    except (ValueError, TypeError, KeyError) as e:
        return f"does not hold the random state of NumPy's PCG64 ({e})"
    device = rng.get("device", {"seed": 0, "offset": 0})
    if not (isinstance(device, dict) and _count(device.get("seed")) and _count(device.get("offset"))):
        return "has a device stream other than {'seed': int, 'offset': int}"
    return None


# name -> (the trainer's value, now; what is wrong with a saved value, or None)
FIELDS = {
    "config": (lambda t: t.config, _config_problem),
    "model": (lambda t: t.model.state_dict(), _model_problem),
    "optimizer": (lambda t: t.optimizer.state_dict(), _optimizer_problem),
    "schedule": (lambda t: t.schedule.state_dict() if t.schedule else {},
                 lambda s: None if isinstance(s, dict) else "is not a dict"),
    "epoch": (lambda t: t.epoch, lambda n: None if _count(n) else "is not an int >= 0"),
    "batch": (lambda t: t.batch, lambda n: None if _count(n) else "is not an int >= 0"),
    "running": (lambda t: t.running, _running_problem),
    "best_top1": (lambda t: t.best, lambda x: None if _number(x) else "is not a number"),
    "history": (lambda t: t.history, _history_problem),
    "rng": (lambda t: mc.random.get_state(), _rng_problem),
}


def state(trainer):
    """What a checkpoint of ``trainer`` holds now: one entry per field of FIELDS."""
    return {name: value(trainer) for name, (value, _) in FIELDS.items()}


def read(path):
    """A training checkpoint's content, every field checked; CheckpointError says what is wrong."""
    checkpoint = mc.load(path)                 # CheckpointError names the file
    missing = [k for k in FIELDS if k not in checkpoint] if isinstance(checkpoint, dict) else list(FIELDS)
    if missing:
        raise CheckpointError(f"{path} is not a checkpoint of python -m minicnn.train (it has no "
                              f"{', '.join(missing)}); give a run folder or its last.safetensors")
    problems = [f"'{name}' {problem}" for name, (_, check) in FIELDS.items()
                if (problem := check(checkpoint[name])) is not None]
    if checkpoint["batch"] and not problems and checkpoint["epoch"] >= checkpoint["config"]["epochs"]:
        problems.append(f"'batch' {checkpoint['batch']} is inside an epoch after the run's last one")
    if problems:
        raise CheckpointError(f"checkpoint {path} is damaged: {'; '.join(problems)}")
    return checkpoint


def _layout_problem(saved, fresh, where="schedule"):
    """Where ``saved`` differs in keys or kinds of values from ``fresh``, the state dict of a new
    schedule of the same kind (a schedule's load_state_dict takes whatever it is given)."""
    if isinstance(fresh, dict):
        if not isinstance(saved, dict) or set(saved) != set(fresh):
            found = sorted(saved) if isinstance(saved, dict) else repr(saved)
            return f"'{where}' has keys {found}, expected {sorted(fresh)}"
        return next((p for k in fresh if (p := _layout_problem(saved[k], fresh[k], f"{where}.{k}"))), None)
    if isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            return f"'{where}' is {saved!r}, expected {len(fresh)} values"
        return next((p for i, (s, f) in enumerate(zip(saved, fresh)) if (p := _layout_problem(s, f, f"{where}.{i}"))),
                    None)
    if fresh is None or saved is None or (_number(fresh) and _number(saved)) or type(saved) is type(fresh):
        return None
    return f"'{where}' is {saved!r}, expected a {type(fresh).__name__}"


def restore(trainer, path, checkpoint):
    """Put ``checkpoint`` (read by ``read``) into ``trainer``: model, optimiser, schedule, position,
    random streams. Everything is checked against the trainer first; TrainError otherwise."""
    saved_world = checkpoint["config"].get("world_size", 1)
    if checkpoint["batch"] and saved_world != trainer.world.size:
        raise TrainError(f"--resume {path}: stopped inside an epoch of batches of {saved_world} rank(s); resume it "
                         f"with {saved_world} rank(s), not {trainer.world.size}")
    schedule = trainer.schedule.state_dict() if trainer.schedule else {}
    problem = _layout_problem(checkpoint["schedule"], schedule)
    if problem:
        raise TrainError(f"--resume: checkpoint {path} is damaged: {problem}")
    try:
        load_weights(trainer.model, checkpoint["model"], path, trainer.config["arch"])
    except CheckpointError as e:
        raise TrainError(f"--resume: {e}") from e
    try:
        trainer.optimizer.load_state_dict(checkpoint["optimizer"])     # checks counts and shapes first
    except ValueError as e:
        raise TrainError(f"--resume: checkpoint {path} is damaged: 'optimizer' does not fit the model: {e}") from e
    if trainer.schedule:
        trainer.schedule.load_state_dict(checkpoint["schedule"])
    trainer.epoch, trainer.batch, trainer.best = checkpoint["epoch"], checkpoint["batch"], checkpoint["best_top1"]
    trainer.running, trainer.history = {k: checkpoint["running"][k] for k in RUNNING}, checkpoint["history"]
    rng = checkpoint["rng"]
    if "device" not in rng:            # written before the device stream was saved: NumPy's state alone
        rng = {"cpu": rng, "device": mc.random.get_state()["device"]}
    mc.random.set_state(rng)
    trainer.saved_at = (trainer.epoch, trainer.batch)


# ---- resuming ---------------------------------------------------------------------------------
def checkpoint_of(resume):
    """The checkpoint file --resume names: the file itself, or a run folder's last.safetensors."""
    path = os.path.join(resume, LAST) if os.path.isdir(resume) else resume
    if not os.path.isfile(path):
        where = f"this folder has no {LAST}" if os.path.isdir(resume) else "no such file"
        raise UsageError(f"--resume {resume}: {where}; give a run folder or its {LAST}")
    return path


def resume_config(saved, args, folder):
    """The config of a resumed run: the saved one, with only what RESUMABLE allows taken from the flags.

    A recipe flag (--arch, --lr, ...) that differs from the run's is an error: the run would go on
    with a mix of two configurations that no run folder describes. The same value, as when the
    original command is repeated with --resume added, is fine; so is --out naming the folder's parent.
    """
    if args.out is not None and not _same_folder(args.out, os.path.dirname(folder)):
        raise UsageError(f"--out {args.out}: the run being resumed is in {os.path.dirname(folder)}, and a resumed "
                         "run stays in its own folder; drop --out")
    given = {key: value for key, value in vars(args).items() if value is not None and key not in ("resume", "out")}
    shown = lambda key: "the default" if saved.get(key) is None else saved[key]     # noqa: E731
    conflicts = [f"--{key.replace('_', '-')} {value} (the run's: {shown(key)})" for key, value in given.items()
                 if key not in RESUMABLE and value != saved.get(key)]
    if conflicts:
        one = len(conflicts) == 1
        raise UsageError(f"--resume {args.resume} continues a {saved['arch']} run as it was started, but "
                         f"{', '.join(conflicts)} differ{'s' if one else ''} from it: drop "
                         f"{'that flag' if one else 'those flags'}, or start a new run with {'it' if one else 'them'} "
                         "(without --resume)")
    config = dict(saved)
    config.update({key: value for key, value in given.items() if key in RESUMABLE})
    config.update(resume=args.resume, no_progress=args.no_progress, distributed=args.distributed,
                  profile_steps=args.profile_steps)
    return config


def _same_folder(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def left_to_do(checkpoint, config, args, folder):
    """What resuming this checkpoint means: "train" (epochs are left), or "test" (a finished run
    whose test set was never scored: the stop came while scoring it). UsageError when nothing is
    left, with the command that trains on."""
    done, planned = checkpoint["epoch"], checkpoint["config"]["epochs"]
    if config["epochs"] > done:
        return "train"
    if args.epochs is None:
        if not os.path.exists(os.path.join(folder, TEST)):
            return "test"
        raise UsageError(f"--resume {args.resume}: the run has finished its {planned} epoch(s). To train on, give "
                         f"the number of epochs in all, e.g.: python -m minicnn.train --resume {folder} "
                         f"--epochs {2 * done}")
    raise UsageError(f"--epochs {args.epochs}: the run has trained {done} epoch(s) already; --epochs is the number "
                     f"in all, so it must be more than {done}")
