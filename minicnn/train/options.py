"""The training command's flags: the parser, their checks, and the config they resolve to.

Every flag is checked here, before any data or model is touched: a mistake costs a second, not
the minutes a dataset takes to load, and it is a UsageError naming the flag and the allowed range,
which the command prints as one line (exit code 2), never a traceback.
"""
import argparse
import importlib.util
import math
import os

from minicnn import models, recipes
from minicnn.cli import Parser, unknown_arch
from minicnn.train.errors import UsageError
from minicnn.utils.tensorboard import INSTALL as INSTALL_TENSORBOARD

__all__ = ["build_parser", "check", "resolve", "SCHEDULES", "OPTIMIZERS", "RECIPE_KEYS", "FIXED_DEFAULTS",
           "RESUMABLE"]

SCHEDULES = ("multistep", "cosine", "plateau", "googlenet", "inception", "none")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
RECIPE_KEYS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "schedule", "label_smoothing",
               "clip", "augment")
# Left at None in the parser, so that --resume can tell a flag given from one left alone.
FIXED_DEFAULTS = {"dataset": "fashion-mnist", "warmup_epochs": 0, "seed": 0, "no_flip": False, "scale_lr": False,
                  "eval_every": 1, "tensorboard": False}
# What a resumed run may change: how and where it runs, and (see command.py) how long.
RESUMABLE = ("epochs", "device", "no_progress", "profile_steps", "distributed", "workers", "checkpoint_every",
             "data_dir", "eval_every", "download", "tensorboard")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' only for real defaults; a None default is explained in the help text."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def val_split(text):
    """--val-split: a fraction of the training images in (0, 1), or a number of images >= 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if 0 < value < 1:
        return value
    if value >= 1 and value == int(value):
        return int(value)
    raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1) or a whole number of images >= 1, got {text!r}")


def build_parser():
    p = Parser(prog="python -m minicnn.train", formatter_class=_HelpFormatter,
                                description="Train any registered model, e.g. --arch vgg16: the architecture's "
                                            "recipe on Fashion-MNIST unless flags say otherwise. Validation is "
                                            "held out of the training set; the test set is scored once, at the "
                                            "end, into test.json.")
    p.add_argument("--arch", help="model (required unless --resume): " + ", ".join(models.list()))
    p.add_argument("--dataset", default=None, help="fashion-mnist (default), mnist, cifar10, cifar100 or a folder")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    p.add_argument("--download", action="store_true", help="fetch a missing dataset from its official source, "
                   "checksums verified (python -m minicnn.data.fetch); into --data-dir when given")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: the architecture's recipe; with --resume, train on to this many epochs in all "
                        "(a schedule that depends on the length, cosine or multistep, is rebuilt for it)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's (64); per rank with --distributed")
    p.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default: the recipe's")
    p.add_argument("--momentum", type=float, default=None, help="in [0, 1); default: the recipe's")
    p.add_argument("--weight-decay", type=float, default=None, help=">= 0; default: the recipe's")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="multistep: /10 at 50%% and 75%%; cosine; plateau: /10 when validation loss stalls; "
                        "googlenet: -4%% every 8 epochs; inception: x0.94 every 2 epochs (default: the recipe's)")
    p.add_argument("--warmup-epochs", type=int, default=None, help="linear warm-up before the schedule (default: 0)")
    p.add_argument("--label-smoothing", type=float, default=None, help="in [0, 1); default: the recipe's")
    p.add_argument("--clip", type=float, default=None, help="clip the gradient norm (0: off; default: the recipe's)")
    p.add_argument("--aux-weight", type=float, default=None, help="auxiliary classifiers' loss weight "
                   "(default: the model's, 0.3 for GoogLeNet as in the paper)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts and flips in training (default: the recipe's; off for LeNet)")
    p.add_argument("--no-flip", action="store_true", default=None, help="no random horizontal flips (digits)")
    p.add_argument("--val-split", type=val_split, default=None, metavar="FRACTION_OR_N",
                   help="training images held out for validation: a fraction (0.1) or a number (5000); they are "
                        "drawn from --seed (default: 10%% of the training images, at most 5,000)")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default: $MINICNN_DEVICE, else auto: cuda "
                                                  "when available)")
    p.add_argument("--seed", type=int, default=None, help="initial weights, validation split, shuffling (default: 0)")
    p.add_argument("--subset", type=int, default=None,
                   help="a quick try: the first N training images (validation is held out of them) and the first "
                        "N test images")
    p.add_argument("--out", default=None, help="folder for run folders (default: runs)")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue a run: its folder, or a last.safetensors (or best.safetensors)")
    p.add_argument("--checkpoint-every", type=float, default=10.0, metavar="MINUTES",
                   help="also save last.safetensors inside an epoch this often (0: only at the end of epochs)")
    p.add_argument("--eval-every", type=int, default=None, help="validate every N epochs (default: 1)")
    p.add_argument("--workers", type=int, default=2, help="batches prepared ahead in a background thread")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress at all; otherwise a bar on a terminal, and a line every 10%% of an epoch or "
                        "every minute in a log file")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpirun -np N`: gradients averaged with MPI Allreduce")
    p.add_argument("--scale-lr", action="store_true", default=None,
                   help="linear scaling rule (Goyal et al. 2017): lr x number of ranks; --warmup-epochs then "
                        "ramps up from the unscaled lr")
    p.add_argument("--exercises", default=None, metavar="DIR",
                   help="train with your own backward passes: each exercise passed in DIR (python -m "
                        "minicnn.exercises) takes the reference's place")
    p.add_argument("--tensorboard", action="store_true", default=None,
                   help="also log to RUN/tensorboard/ (tensorboard --logdir RUN): the curves, lr, weight and "
                        "gradient histograms and the first layer's filters, every epoch (a resumed run goes on "
                        "logging when it was started with it)")
    p.add_argument("--profile-steps", type=int, default=0, metavar="N",
                   help="profile N training steps (after one warm-up step): profile.txt, profile.json and "
                        "trace.json (open in ui.perfetto.dev) in the run folder")
    return p


# flag -> (test, what the flag must be); None values (flag not given) are not checked.
_RULES = {
    "epochs": (lambda v: v >= 1, ">= 1"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "lr": (lambda v: 0 < v < math.inf, "> 0"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "weight_decay": (lambda v: 0 <= v < math.inf, ">= 0"),
    "warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "clip": (lambda v: 0 <= v < math.inf, ">= 0 (0: off)"),
    "aux_weight": (lambda v: 0 <= v < math.inf, ">= 0"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "subset": (lambda v: v >= 1, ">= 1"),
    "checkpoint_every": (lambda v: 0 <= v < math.inf, ">= 0 minutes (0: only at the end of epochs)"),
    "eval_every": (lambda v: v >= 1, ">= 1"),
    "workers": (lambda v: v >= 0, ">= 0"),
    "profile_steps": (lambda v: v >= 0, ">= 0"),
}


def check(args):
    """Every flag's range, the architecture's name and the combinations that cannot work; UsageError."""
    for key, (ok, rule) in _RULES.items():
        value = getattr(args, key)
        if value is not None and not ok(value):            # NaN fails every rule too
            raise UsageError(f"--{key.replace('_', '-')} must be {rule}, got {value}")
    if not args.arch and not args.resume:
        raise UsageError("--arch is required (or --resume a run)")
    if args.arch and args.arch not in models.list():
        raise UsageError(unknown_arch(args.arch))
    if args.warmup_epochs and args.schedule == "plateau":
        raise UsageError("--warmup-epochs does not combine with --schedule plateau")
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UsageError(f"--tensorboard: {INSTALL_TENSORBOARD}")
    if args.exercises and not os.path.isdir(args.exercises):
        raise UsageError(f"--exercises {args.exercises}: no such folder (python -m minicnn.exercises start NAME makes it)")


def resolve(args):
    """Fill every flag left at None from the architecture's recipe or the fixed defaults; returns the config."""
    recipe = recipes.defaults(args.arch)
    config = dict(vars(args))
    for key in RECIPE_KEYS:
        if config[key] is None:
            config[key] = recipe[key]
    for key, value in FIXED_DEFAULTS.items():
        if config[key] is None:
            config[key] = value
    if config["out"] is None:
        config["out"] = "runs"
    if config["warmup_epochs"] and config["schedule"] == "plateau":     # the recipe's schedule may be plateau
        raise UsageError("--warmup-epochs does not combine with the plateau schedule of "
                         f"{args.arch}'s recipe; add --schedule with another one")
    return config
