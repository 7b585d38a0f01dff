"""Train any registered model: ``python -m minicnn.train --arch vgg16``.

With only ``--arch`` it trains on Fashion-MNIST with the architecture's paper recipe scaled to that
data (see minicnn/recipes.py and ``--help``), at the input size the model zoo documents. A run
folder ``runs/<arch>-<timestamp>/`` receives config.json, metrics.csv (one row per epoch),
curves.png, and the checkpoints last.safetensors and best.safetensors (atomic writes).

Resuming (``--resume runs/.../last.safetensors``) restores the model, optimiser, schedule, epoch,
position inside the epoch and random state, so an interrupted run ends with the same weights, bit
for bit on the CPU, as one that never stopped. Ctrl-C saves such a checkpoint and says how to resume.

``mpirun -np N python -m minicnn.train ... --distributed`` trains data-parallel on N processes
(minicnn/distributed.py): ``--batch-size`` is per rank, rank 0 alone writes the run folder.
"""
import argparse
import contextlib
import csv
import json
import math
import os
import platform
import shutil
import signal
import sys
import threading
import time

import numpy as np

import minicnn as mc
from minicnn import backend, distributed, models, nn, optim, recipes
from minicnn.data import DataError, DataLoader, load_dataset
from minicnn.data.fetch import fetch_if_missing
from minicnn.optim import lr_scheduler as sched
from minicnn.profiler import Profiler
from minicnn.progress import progress_bar
from minicnn.serialization import atomic_write

__all__ = ["main", "build_parser"]

SCHEDULES = ("multistep", "cosine", "plateau", "googlenet", "inception", "none")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minicnn.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", help="model (required unless --resume): " + ", ".join(models.list()))
    p.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist, mnist, cifar10, cifar100 or a folder")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    p.add_argument("--download", action="store_true", help="fetch a missing dataset from its official source, "
                   "checksums verified (python -m minicnn.data.fetch); into --data-dir when given")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: the architecture's recipe; with --resume, train on to this many epochs in all "
                        "(the schedule keeps the length it was built with)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's (64); per rank with --distributed")
    p.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default: the recipe's")
    p.add_argument("--momentum", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="multistep: /10 at 50%% and 75%%; cosine; plateau: /10 when validation loss stalls; "
                        "googlenet: -4%% every 8 epochs; inception: x0.94 every 2 epochs")
    p.add_argument("--warmup-epochs", type=int, default=0, help="linear warm-up before the schedule")
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--clip", type=float, default=None, help="clip the gradient norm (0: off)")
    p.add_argument("--aux-weight", type=float, default=None, help="auxiliary classifiers' loss weight "
                   "(default: the model's, 0.3 for GoogLeNet as in the paper)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts and flips in training (default: the recipe's; off for LeNet)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips (digits)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, default=None,
                   help="a quick try: the first N training images, and the first N test images for validation")
    p.add_argument("--out", default="runs", help="folder for run folders")
    p.add_argument("--resume", default=None, help="a last.safetensors to continue from")
    p.add_argument("--eval-every", type=int, default=1, help="validate every N epochs")
    p.add_argument("--workers", type=int, default=2, help="batches prepared ahead in a background thread")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpirun -np N`: gradients averaged with MPI Allreduce")
    p.add_argument("--scale-lr", action="store_true",
                   help="linear scaling rule (Goyal et al. 2017): lr x number of ranks; --warmup-epochs then "
                        "ramps up from the unscaled lr")
    p.add_argument("--profile-steps", type=int, default=0, metavar="N",
                   help="profile N training steps (after one warm-up step): profile.txt, profile.json and "
                        "trace.json (open in ui.perfetto.dev) in the run folder")
    return p


def resolve(args):
    """Fill every flag left at None from the architecture's recipe; returns the config dict."""
    recipe = recipes.defaults(args.arch)
    config = {k: v for k, v in vars(args).items()}
    for key in ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "schedule",
                "label_smoothing", "clip", "augment"):
        if config[key] is None:
            config[key] = recipe[key]
    return config


def make_optimizer(config, params, world):
    name, wd = config["optimizer"], config["weight_decay"]
    lr = config["lr"] * (world.size if config.get("scale_lr") else 1)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, alpha=0.9, eps=1.0, momentum=config["momentum"], weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    return optim.AdamW(params, lr=lr, weight_decay=wd)


def make_schedule(config, optimizer, world):
    epochs, kind = config["epochs"], config["schedule"]
    after = {
        "multistep": lambda: sched.MultiStepLR(optimizer, [max(1, epochs // 2), max(1, epochs * 3 // 4)]),
        "cosine": lambda: sched.CosineAnnealingLR(optimizer, max(1, epochs - config["warmup_epochs"])),
        "plateau": lambda: sched.ReduceLROnPlateau(optimizer, factor=0.1, patience=2),
        "googlenet": lambda: sched.StepLR(optimizer, 8, 0.96),
        "inception": lambda: sched.StepLR(optimizer, 2, 0.94),
        "none": lambda: None,
    }[kind]()
    if config["warmup_epochs"]:
        if kind == "plateau":
            raise SystemExit("--warmup-epochs does not combine with --schedule plateau")
        # Goyal et al. warm up from the single-process lr to the scaled one.
        start = 1 / world.size if config.get("scale_lr") else 1 / 3
        return sched.LinearWarmup(optimizer, config["warmup_epochs"], after=after, start_factor=start)
    return after


def check_output_folder(folder, checkpoint_bytes):
    """Fail now, not after an hour, when the run folder cannot be written or the disk is nearly full."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise SystemExit(f"cannot write to the run folder {folder}: {e}; choose another with --out")
    free = shutil.disk_usage(folder).free
    if free < 3 * checkpoint_bytes:
        raise SystemExit(f"not enough disk space in {folder}: {free / 2**20:.0f} MiB free, two checkpoints of "
                         f"{checkpoint_bytes / 2**20:.0f} MiB and their temporary copy need "
                         f"{3 * checkpoint_bytes / 2**20:.0f} MiB")


class StopRequested(Exception):
    """Ctrl-C arrived; raised at the end of the current training step so the checkpoint is consistent."""


class Trainer:
    """One training run: data, model, optimiser, schedule, run folder; epochs with checkpoints."""

    def __init__(self, config, world=distributed.SINGLE_PROCESS):
        self.config, self.world = config, world
        config["world_size"] = world.size
        self.device = world.device(config["device"])
        mc.manual_seed(config["seed"])
        train, test = (load_dataset(config["dataset"], split, config["data_dir"]) for split in ("train", "test"))
        if config["subset"]:
            train, test = train.subset(config["subset"]), test.subset(config["subset"])
        self.classes = train.classes
        channels, image_size = train.images.shape[1], train.images.shape[2]
        self.size = recipes.input_size(config["arch"], image_size)
        config.update(input_size=[channels, self.size, self.size], image_size=image_size, classes=self.classes)
        flip = not config["no_flip"] and config["dataset"] not in ("mnist",)
        tf = lambda is_train: recipes.make_transform(config["dataset"], channels, self.size, image_size,  # noqa: E731
                                                     is_train, flip)
        shard = dict(rank=world.rank, world_size=world.size)
        self.train_loader = DataLoader(train, config["batch_size"], shuffle=True, drop_last=True,
                                       transform=tf(config["augment"]), seed=config["seed"], device=self.device,
                                       prefetch=config["workers"], **shard)
        self.test_loader = DataLoader(test, config["batch_size"], transform=tf(False), device=self.device,
                                      prefetch=config["workers"], **shard)
        if len(self.train_loader) == 0:
            raise SystemExit(f"--batch-size {config['batch_size']} x {world.size} rank(s) is larger than the "
                             f"{len(train)} training images")
        self.model = models.get(config["arch"], num_classes=len(self.classes), in_channels=channels).to(self.device)
        world.broadcast_module(self.model)
        self.average_gradients = distributed.GradientAverager(world, self.model.parameters())
        self.optimizer = make_optimizer(config, self.model.parameters(), world)
        self.schedule = make_schedule(config, self.optimizer, world)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
        self.aux_weight = config["aux_weight"] if config["aux_weight"] is not None else \
            getattr(self.model, "aux_loss_weight", 0.0)
        self.epoch, self.batch, self.best = 0, 0, -1.0
        self.running = {"images": 0, "loss_sum": 0.0, "correct": 0}    # this epoch's, so far
        self.history = []
        self.stop_requested = False
        self.profiler, self.steps_run, self.profiled = Profiler(), 0, 0

    # ---- checkpoints ----------------------------------------------------------------------
    def state(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule else {},
                "epoch": self.epoch, "batch": self.batch, "running": self.running, "best_top1": self.best,
                "history": self.history,
                "rng": mc.random.generator().bit_generator.state, "config": self.config}

    def save(self, name):
        if self.world.is_main:
            mc.save(self.state(), os.path.join(self.folder, name))

    def restore(self, path):
        ckpt = mc.load(path)
        saved_world = ckpt["config"].get("world_size", 1)
        if ckpt["batch"] and saved_world != self.world.size:
            raise SystemExit(f"--resume {path}: stopped inside an epoch of batches of {saved_world} rank(s); "
                             f"resume it with {saved_world} rank(s), not {self.world.size}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.schedule:
            self.schedule.load_state_dict(ckpt["schedule"])
        self.epoch, self.batch, self.best = ckpt["epoch"], ckpt["batch"], ckpt["best_top1"]
        self.running, self.history = ckpt["running"], ckpt["history"]
        mc.random.generator().bit_generator.state = ckpt["rng"]

    # ---- one epoch ------------------------------------------------------------------------
    def train_epoch(self, progress):
        self.model.train()
        self.train_loader.set_epoch(self.epoch)
        run, start, timed = self.running, time.perf_counter(), 0
        bar = progress_bar(len(self.train_loader), f"epoch {self.epoch + 1}/{self.config['epochs']}",
                           progress and self.world.is_main)
        allreduce_seconds, steps = self.average_gradients.seconds, 0
        for b, (x, y) in enumerate(self.train_loader):
            if b < self.batch:                      # resuming inside an epoch: these are done
                bar.update(1)
                continue
            profiling = 1 <= self.steps_run <= self.config["profile_steps"]     # step 0 warms up
            with self.profiler if profiling else contextlib.nullcontext():
                logits, value = self.train_step(x, y, b)
            self.steps_run += 1
            steps += 1
            if profiling:
                self.profiled += 1
                if self.profiled == self.config["profile_steps"]:
                    self.write_profile()
            self.batch = b + 1
            run["images"] += len(y)
            run["loss_sum"] += value * len(y)
            run["correct"] += int((logits.array.argmax(axis=1) == y.array).sum())
            timed += len(y)
            if self.stop_requested:
                raise StopRequested
            bar.update(1)
            bar.set_postfix(loss=f"{run['loss_sum'] / run['images']:.4f}", acc=f"{run['correct'] / run['images']:.3f}",
                            img_s=f"{timed / (time.perf_counter() - start):.0f}")
        bar.close()
        elapsed = max(time.perf_counter() - start, 1e-9)
        images, loss_sum, correct, timed = self.world.sum([run["images"], run["loss_sum"], run["correct"], timed])
        metrics = {"train_loss": loss_sum / images, "train_top1": correct / images, "images_per_s": timed / elapsed}
        if self.world.size > 1:
            metrics["allreduce_ms"] = 1000 * (self.average_gradients.seconds - allreduce_seconds) / max(steps, 1)
        self.running = {"images": 0, "loss_sum": 0.0, "correct": 0}
        return metrics

    def train_step(self, x, y, b):
        """Forward, loss, backward, update; returns the logits and the loss value."""
        out = self.model(x)
        logits, aux = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        loss = self.loss_fn(logits, y)
        for a in aux:
            loss = loss + self.aux_weight * self.loss_fn(a, y)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss became {value} at epoch {self.epoch + 1}, batch {b + 1}")
        self.optimizer.zero_grad()
        loss.backward()
        self.average_gradients()
        if self.config["clip"]:
            optim.clip_grad_norm_(self.model.parameters(), self.config["clip"])
        self.optimizer.step()
        return logits, value

    def write_profile(self):
        if not self.world.is_main:
            return
        with atomic_write(os.path.join(self.folder, "profile.txt")) as tmp, open(tmp, "w") as f:
            f.write(f"{self.profiled} training step{'s' * (self.profiled != 1)} of {self.config['arch']}, batch "
                    f"{self.config['batch_size']}, on {backend.device_name(self.device)}\n\n")
            f.write(self.profiler.table(sort_by="time", top=25) + "\n")
        self.profiler.to_json(os.path.join(self.folder, "profile.json"))
        self.profiler.to_chrome_trace(os.path.join(self.folder, "trace.json"))
        print(f"\nprofiled {self.profiled} step{'s' * (self.profiled != 1)}: {self.folder}/profile.txt; open "
              f"{self.folder}/trace.json in https://ui.perfetto.dev", file=sys.stderr, flush=True)

    def _finish_profile(self):
        """At the end of a run (Ctrl-C and a diverging loss included) that profiled fewer steps than asked."""
        if 0 < self.profiled < self.config["profile_steps"]:
            self.write_profile()
        elif self.profiled == 0 and self.config["profile_steps"] and self.steps_run <= 1 and self.world.is_main:
            print(f"--profile-steps: nothing profiled, the run made {self.steps_run} step(s) and the first one "
                  "only warms up", file=sys.stderr)

    def evaluate(self):
        self.model.eval()
        loss_sum, top1, top5, total = 0.0, 0.0, 0.0, 0
        with mc.no_grad():
            for x, y in self.test_loader:
                logits = self.model(x)
                n = len(y)
                loss_sum += self.loss_fn(logits, y).item() * n
                top1 += mc.ops.accuracy(logits, y) * n
                top5 += mc.ops.accuracy(logits, y, topk=min(5, logits.shape[1])) * n
                total += n
        loss_sum, top1, top5, total = self.world.sum([loss_sum, top1, top5, total])    # each rank saw a shard
        return {"val_loss": loss_sum / total, "val_top1": top1 / total, "val_top5": top5 / total}

    # ---- the run ----------------------------------------------------------------------------
    def run(self, folder, resume=None):
        self.folder = folder
        if self.world.is_main:
            check_output_folder(folder, 4 * 3 * self.model.num_parameters())
        if resume:
            self.restore(resume)
        if self.world.is_main:
            with open(os.path.join(folder, "config.json"), "w") as f:
                json.dump({**self.config, "versions": {"minicnn": mc.__version__, "numpy": np.__version__,
                                                       "python": platform.python_version()},
                           "device_name": backend.device_name(self.device)}, f, indent=2)
        progress = not self.config["no_progress"]
        restore_handler = self._catch_ctrl_c()
        try:
            while self.epoch < self.config["epochs"]:
                metrics = self.train_epoch(progress)
                metrics.update(epoch=self.epoch + 1, lr=self.optimizer.param_groups[0]["lr"])
                if (self.epoch + 1) % self.config["eval_every"] == 0 or self.epoch + 1 == self.config["epochs"]:
                    metrics.update(self.evaluate())
                self._step_schedule(metrics)
                self.epoch, self.batch = self.epoch + 1, 0
                self.history.append(metrics)
                self._log(metrics)
                if metrics.get("val_top1", -1) > self.best:
                    self.best = metrics["val_top1"]
                    self.save("best.safetensors")
                self.save("last.safetensors")
        except StopRequested:
            self.save("last.safetensors")
            print(f"\ninterrupted at epoch {self.epoch + 1}, batch {self.batch}; the checkpoint is saved. Resume with:\n"
                  f"  python -m minicnn.train --resume {os.path.join(folder, 'last.safetensors')}", file=sys.stderr)
            return 130
        except KeyboardInterrupt:
            how = " (second Ctrl-C)" if self.stop_requested else ""
            print(f"\nstopped at once{how}; {folder}/last.safetensors holds the last finished epoch",
                  file=sys.stderr)
            return 130
        except FloatingPointError as e:
            print(f"\nstopped: {e}. The last good checkpoint is kept in {folder}; try a lower --lr or --clip.",
                  file=sys.stderr)
            return 1
        finally:
            restore_handler()
            self._finish_profile()
        if self.world.is_main:
            print(f"done: best validation top-1 {self.best:.4f}; run folder {folder}")
        return 0

    def _catch_ctrl_c(self):
        """First Ctrl-C: finish the current step, save, exit. Second: stop at once. Returns an undo.

        Not with several ranks: mpirun delivers the signal to each rank at its own moment, and a rank
        that stops while others wait in an Allreduce hangs the job; there Ctrl-C ends the job and the
        last epoch's checkpoint is the one to resume from.
        """
        if threading.current_thread() is not threading.main_thread() or self.world.size > 1:
            return lambda: None

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            print("\nCtrl-C: saving a checkpoint after this step (press again to stop at once)", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)

    def _step_schedule(self, metrics):
        if isinstance(self.schedule, sched.ReduceLROnPlateau):
            if "val_loss" in metrics:
                self.schedule.step(metrics["val_loss"])
        elif self.schedule is not None:
            self.schedule.step()

    def _log(self, m):
        if not self.world.is_main:
            return
        line = (f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f} top-1 {m['train_top1']:.4f}  "
                f"lr {m['lr']:.3g}  {m['images_per_s']:.0f} img/s")
        if "allreduce_ms" in m:
            line += f" ({self.world.size} ranks, allreduce incl. waiting {m['allreduce_ms']:.1f} ms/step)"
        if "val_loss" in m:
            line += f"  val loss {m['val_loss']:.4f} top-1 {m['val_top1']:.4f} top-5 {m['val_top5']:.4f}"
        print(line, flush=True)
        columns = ["epoch", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr", "images_per_s"]
        columns += ["allreduce_ms"] if self.world.size > 1 else []
        with open(os.path.join(self.folder, "metrics.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.history)
        plot_curves(self.history, os.path.join(self.folder, "curves.png"), self.config["arch"])


def plot_curves(history, path, title):
    """Loss and top-1 accuracy per epoch, train vs validation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((left, "loss", "loss"), (right, "top1", "top-1 accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        val = [(h["epoch"], h[f"val_{key}"]) for h in history if f"val_{key}" in h]
        if val:
            ax.plot(*zip(*val), "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.arch and not args.resume:
        parser.error("--arch is required (or --resume a checkpoint)")
    if args.arch and args.arch not in models.list():
        parser.error(f"unknown --arch {args.arch!r}; choose one of: {', '.join(models.list())}")
    try:
        world = distributed.init() if args.distributed else distributed.SINGLE_PROCESS
    except distributed.DistributedError as e:
        raise SystemExit(f"minicnn train: {e}")
    with world.abort_on_failure():
        code = _run(args, world)
        if code and world.size > 1:         # a rank that stops alone would leave the others waiting
            raise SystemExit(code)
    return code


def _run(args, world):
    say = print if world.is_main else (lambda *a, **k: None)
    if args.resume:
        try:
            saved = mc.load(args.resume)["config"]
        except (mc.serialization.CheckpointError, KeyError) as e:
            raise SystemExit(f"--resume {args.resume}: not a minicnn training checkpoint ({e})")
        config = {**saved, "resume": args.resume, "device": args.device, "no_progress": args.no_progress,
                  "profile_steps": args.profile_steps, "distributed": args.distributed,
                  "epochs": args.epochs or saved["epochs"]}
        folder = os.path.dirname(os.path.abspath(args.resume))
    else:
        config = resolve(args)
        # The timestamp is rank 0's: the ranks may start a second apart.
        folder = world.broadcast_object(os.path.join(args.out, f"{args.arch}-{time.strftime('%Y%m%d-%H%M%S')}"))
    try:
        device_name = backend.device_name(world.device(config["device"]))   # loads CuPy for a GPU
    except (mc.DeviceError, ValueError) as e:
        raise SystemExit(f"minicnn train: --device {config['device']}: {e}")
    ranks = f" x {world.size} ranks (MPI)" if world.size > 1 else ""
    say(f"minicnn train: {config['arch']} on {device_name}{ranks}", flush=True)
    try:
        if args.download:            # rank 0 fetches, the others wait for it
            world.broadcast_object(fetch_if_missing(config["dataset"], config["data_dir"],
                                                    progress=not config["no_progress"]) if world.is_main else None)
        trainer = Trainer(config, world)
    except DataError as e:
        raise SystemExit(str(e))
    batch = f"batch {config['batch_size']}" + (f" per rank ({config['batch_size'] * world.size} in all)"
                                               if world.size > 1 else "")
    group = trainer.optimizer.param_groups[0]                 # the schedule's target lr, not a warm-up's start
    say(f"{len(trainer.train_loader.dataset)} training / {len(trainer.test_loader.dataset)} test images of "
        f"{config['dataset']}, input {tuple(config['input_size'])}, {trainer.model.num_parameters():,} parameters; "
        f"{config['optimizer']} lr {group.get('initial_lr', group['lr']):g}, {config['schedule']} schedule, "
        f"{config['epochs']} epochs of {batch}; run folder {folder}", flush=True)
    return trainer.run(folder, config.get("resume"))


if __name__ == "__main__":
    sys.exit(main())
