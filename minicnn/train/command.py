"""``python -m minicnn.train``: the command line over the library. It checks the flags, holds the
run folder, builds the data, the trainer and its checkpoint, and turns what the library raises
(TrainError, a stop signal) into one line and an exit code: 0 done, 1 failed, 2 a flag's mistake,
128 + a signal's number when a signal stopped it."""
import contextlib
import os
import sys

from minicnn import backend, distributed, exercises
from minicnn.cli import use_device
from minicnn.data import DataError
from minicnn.data.fetch import fetch_if_missing
from minicnn.serialization import CheckpointError
from minicnn.train import checkpoint, run_folder
from minicnn.train.data import build_loaders
from minicnn.train.errors import TrainError, UsageError
from minicnn.train.options import build_parser, check, resolve
from minicnn.train.signals import StopRequested, StopSignals, moment
from minicnn.train.trainer import Trainer

__all__ = ["main"]

PROG = "python -m minicnn.train"


def main(argv=None):
    """Run the command; returns its exit code, or raises SystemExit with the message of an error."""
    args = build_parser().parse_args(argv)
    try:
        check(args)                         # before any data, model or checkpoint is read
        world = distributed.init() if args.distributed else distributed.SINGLE_PROCESS
    except (TrainError, distributed.DistributedError) as e:
        _exit(e)
    # Not with several ranks: mpirun delivers a signal to each rank at its own moment, and a rank
    # that stops while others wait in an Allreduce hangs the job; there a signal ends the job and
    # the newest checkpoint is the one to resume from.
    with world.abort_on_failure(), StopSignals(world.size == 1) as stop:
        try:
            code = _run(args, world, stop)
        except (TrainError, DataError, CheckpointError) as e:
            _exit(e)
        except StopRequested:
            print(f"\n{stop.name}: stopped before training began; nothing was changed", file=sys.stderr)
            code = 128 + stop.signum
        if code and world.size > 1:         # a rank that stops alone would leave the others waiting
            raise SystemExit(code)
    return code


def _exit(error):
    if isinstance(error, UsageError):
        print(f"{PROG}: error: {error}", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(f"minicnn train: {error}")


def _run(args, world, stop):
    say = print if world.is_main else (lambda *a, **k: None)
    with contextlib.ExitStack() as held:
        saved, todo = None, "train"
        if args.resume:
            path = checkpoint.checkpoint_of(args.resume)
            folder = os.path.dirname(os.path.abspath(path))
            if world.is_main:
                _hold(folder, held, say)
            try:
                saved = checkpoint.read(path)
            except CheckpointError as e:
                raise TrainError(f"--resume: {e}") from e
            config = checkpoint.resume_config(saved["config"], args, folder)
            todo = checkpoint.left_to_do(saved, config, args, folder)
        else:
            config = resolve(args)
        config["device"] = use_device("train", args.device, "auto", pick=world.device)
        if args.exercises:
            say(f"--exercises {args.exercises}: {exercises.use(args.exercises)}", flush=True)
        ranks = f" x {world.size} ranks (MPI)" if world.size > 1 else ""
        say(f"minicnn train: {config['arch']} on {backend.device_name(config['device'])}{ranks}", flush=True)
        moment("data")
        if args.download:            # rank 0 fetches, the others wait for it
            world.broadcast_object(fetch_if_missing(config["dataset"], config["data_dir"],
                                                    progress=not config["no_progress"]) if world.is_main else None)
        data = build_loaders(config, config["device"], world)
        config.update(data.facts, world_size=world.size)
        if saved is None:
            # Rank 0 names and creates the folder: the ranks may start a second apart.
            folder = world.broadcast_object(run_folder.create(config["out"], config["arch"]) if world.is_main
                                            else None)
            if world.is_main:
                held.callback(_remove_if_empty, folder)      # stopped before it got a file: leave no trace
                _hold(folder, held, say)
        moment("folder")
        trainer = Trainer(config, data, folder, world)
        if saved is not None:
            trainer.restore(path, saved)
            _say_resumed(trainer, saved, folder, todo, say)
        batch = f"batch {config['batch_size']}" + (f" per rank ({config['batch_size'] * world.size} in all)"
                                                   if world.size > 1 else "")
        group = trainer.optimizer.param_groups[0]                 # the schedule's target lr, not a warm-up's start
        say(f"{config['train_images']} training / {config['val_images']} validation (held out) / "
            f"{config['test_images']} test images of {config['dataset']}, input {tuple(config['input_size'])}, "
            f"{trainer.model.num_parameters():,} parameters; {config['optimizer']} lr "
            f"{group.get('initial_lr', group['lr']):g}, {config['schedule']} schedule, {config['epochs']} epochs of "
            f"{batch}; run folder {folder}", flush=True)
        return trainer.run(stop)


def _hold(folder, held, say):
    """Take the run folder for this process, and clear what an interrupted save left in it."""
    stale = held.enter_context(run_folder.locked(folder))
    if stale:
        say(f"note: {folder} was held by {stale}, which is no longer running (killed?); taking it over", flush=True)
    removed = run_folder.remove_leftovers(folder)
    if removed:
        say(f"note: {removed}", flush=True)


def _remove_if_empty(folder):
    if not os.listdir(folder):
        os.rmdir(folder)


def _say_resumed(trainer, saved, folder, todo, say):
    config = trainer.config
    if todo == "test":
        say(f"resuming {folder}: its {trainer.epoch} epoch(s) are trained, but its test set was never scored (the "
            "run stopped while scoring it); scoring it now", flush=True)
        return
    say(f"resuming {folder} at epoch {trainer.epoch + 1} of {config['epochs']}, batch {trainer.batch + 1} of "
        f"{len(trainer.train_loader)}", flush=True)
    rebuilt = trainer.rebuild_schedule(saved["config"]["epochs"])
    if rebuilt:
        say(f"--epochs {config['epochs']}: {rebuilt}", flush=True)


def entry_point():
    """``python -m minicnn.train``: the process ends with main's exit code."""
    sys.exit(main())
