"""Train any registered model: ``python -m minicnn.train --arch vgg16``.

With only ``--arch`` it trains on Fashion-MNIST with the architecture's paper recipe scaled to that
data (see minicnn/recipes.py and ``--help``), at the input size the model zoo documents.

- Validation vs test: a held-out part of the *training* set (10% of it, at most 5,000 images,
  drawn from ``--seed``; ``--val-split`` changes it) is scored after every epoch and chooses
  best.safetensors. The test set is scored once, at the end, with best.safetensors, into
  test.json: no choice was ever made on it.
- The run folder ``runs/<arch>-<YYYYmmdd-HHMMSS>[-NN]/`` (created atomically; runs started in the
  same second get -01, -02, ...) receives config.json, metrics.csv (one row per epoch), curves.png,
  last.safetensors, best.safetensors and test.json, each written atomically.
- Nothing lost: Ctrl-C, SIGTERM and SIGHUP finish the current step, save last.safetensors, print
  the command that resumes and exit with 128 + the signal's number (a second one stops at once).
  last.safetensors is also saved every ``--checkpoint-every`` minutes inside an epoch (10 by
  default), which bounds what ``kill -9`` or a power cut costs.
- Resuming (``--resume RUN_FOLDER`` or its last.safetensors) restores the model, optimiser,
  schedule, epoch, position inside the epoch and random state, so an interrupted run ends with the
  same weights, bit for bit on the CPU, as one that never stopped.

``mpirun -np N python -m minicnn.train ... --distributed`` trains data-parallel on N processes
(minicnn/distributed.py): ``--batch-size`` is per rank, rank 0 alone writes the run folder.

The library, one concept a file, raises TrainError and never exits: options.py (flags, their
checks, the config), data.py (the loaders and the validation split of holdout.py),
optimization.py (optimiser and schedule), run_folder.py (folder, its lock, config.json, disk
check), checkpoint.py (what a checkpoint holds, its checks, resuming), signals.py (stopping
cleanly), epoch_sums.py and profiling.py (what a step leaves behind), metrics.py (log lines,
metrics.csv, curves.png), trainer.py (the loop). command.py, the command line, ties them and alone
turns errors into messages and exit codes::

    config = resolve(build_parser().parse_args(["--arch", "lenet5_28"])) | {"device": "cpu"}
    data = loaders_for(train_set, test_set, config)        # in-memory ArrayDatasets
    Trainer({**config, **data.facts}, data, folder).run()
"""
from minicnn.train.command import main
from minicnn.train.data import build_loaders, loaders_for
from minicnn.train.errors import TrainError, UsageError
from minicnn.train.options import OPTIMIZERS, SCHEDULES, build_parser, resolve
from minicnn.train.optimization import make_optimizer, make_schedule
from minicnn.train.trainer import Trainer

__all__ = ["main", "build_parser", "resolve", "build_loaders", "loaders_for", "make_optimizer", "make_schedule",
           "Trainer", "TrainError", "UsageError", "OPTIMIZERS", "SCHEDULES"]
