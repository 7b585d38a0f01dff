"""``python -m minicnn.train``: check the flags, build the config of a new or resumed run, train."""
import os

import minicnn as mc
from minicnn import backend, distributed, exercises
from minicnn.cli import use_device
from minicnn.data import DataError
from minicnn.data.fetch import fetch_if_missing
from minicnn.train import run_folder
from minicnn.train.options import build_parser, check, checkpoint_of, resolve, resume_config
from minicnn.train.trainer import Trainer

__all__ = ["main"]

CHECKPOINT_KEYS = ("config", "model", "optimizer", "epoch", "batch", "running", "history", "rng")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check(args, parser)                     # before any data, model or checkpoint is read
    try:
        world = distributed.init() if args.distributed else distributed.SINGLE_PROCESS
    except distributed.DistributedError as e:
        raise SystemExit(f"minicnn train: {e}")
    with world.abort_on_failure():
        code = _run(args, parser, world)
        if code and world.size > 1:         # a rank that stops alone would leave the others waiting
            raise SystemExit(code)
    return code


def read_checkpoint(path):
    """A training checkpoint's content, or an exit message saying why it is not one."""
    try:
        checkpoint = mc.load(path)
    except mc.serialization.CheckpointError as e:
        raise SystemExit(f"minicnn train: --resume: {e}")
    if not isinstance(checkpoint, dict) or any(k not in checkpoint for k in CHECKPOINT_KEYS):
        raise SystemExit(f"minicnn train: --resume {path} is not a checkpoint of python -m minicnn.train (it has no "
                         "training state); give a run folder or its last.safetensors")
    return checkpoint


def _epochs_to_go(checkpoint, config, args, parser, folder):
    """Exit 2 when a resumed run has nothing left to train, with the command that trains on."""
    done, planned = checkpoint["epoch"], checkpoint["config"]["epochs"]
    if config["epochs"] > done:
        return
    if args.epochs is None:
        parser.error(f"--resume {args.resume}: the run has finished its {planned} epoch(s). To train on, give the "
                     f"number of epochs in all, e.g.: python -m minicnn.train --resume {folder} --epochs {2 * done}")
    parser.error(f"--epochs {args.epochs}: the run has trained {done} epoch(s) already; --epochs is the number "
                 f"in all, so it must be more than {done}")


def _run(args, parser, world):
    say = print if world.is_main else (lambda *a, **k: None)
    checkpoint = None
    if args.resume:
        path = checkpoint_of(args.resume, parser)
        checkpoint = read_checkpoint(path)
        folder = os.path.dirname(os.path.abspath(path))
        config = resume_config(checkpoint["config"], args, parser)
        _epochs_to_go(checkpoint, config, args, parser, folder)
    else:
        config = resolve(args)
    config["device"] = use_device("train", args.device, "auto", pick=world.device)
    if args.exercises:
        say(f"--exercises {args.exercises}: {exercises.use(args.exercises)}", flush=True)
    ranks = f" x {world.size} ranks (MPI)" if world.size > 1 else ""
    say(f"minicnn train: {config['arch']} on {backend.device_name(config['device'])}{ranks}", flush=True)
    try:
        if args.download:            # rank 0 fetches, the others wait for it
            world.broadcast_object(fetch_if_missing(config["dataset"], config["data_dir"],
                                                    progress=not config["no_progress"]) if world.is_main else None)
        trainer = Trainer(config, world)
    except DataError as e:
        raise SystemExit(f"minicnn train: {e}")
    if checkpoint is not None:
        trainer.restore(path, checkpoint)
        say(f"resuming {folder} at epoch {trainer.epoch + 1} of {config['epochs']}, batch {trainer.batch + 1} of "
            f"{len(trainer.train_loader)}", flush=True)
        rebuilt = trainer.rebuild_schedule(checkpoint["config"]["epochs"])
        if rebuilt:
            say(f"--epochs {config['epochs']}: {rebuilt}", flush=True)
    else:
        # Rank 0 names and creates the folder: the ranks may start a second apart.
        folder = world.broadcast_object(run_folder.create(config["out"], config["arch"]) if world.is_main else None)
    batch = f"batch {config['batch_size']}" + (f" per rank ({config['batch_size'] * world.size} in all)"
                                               if world.size > 1 else "")
    group = trainer.optimizer.param_groups[0]                 # the schedule's target lr, not a warm-up's start
    say(f"{config['train_images']} training / {config['val_images']} validation (held out) / "
        f"{config['test_images']} test images of {config['dataset']}, input {tuple(config['input_size'])}, "
        f"{trainer.model.num_parameters():,} parameters; {config['optimizer']} lr "
        f"{group.get('initial_lr', group['lr']):g}, {config['schedule']} schedule, {config['epochs']} epochs of "
        f"{batch}; run folder {folder}", flush=True)
    return trainer.run(folder)
