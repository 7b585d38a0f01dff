"""One training run: data (train, held-out validation, test), model, optimiser and schedule; the
epochs, their checkpoints, and the test score of the best checkpoint at the end."""
import contextlib
import math
import os
import sys
import time

import minicnn as mc
from minicnn import backend, distributed, models, nn, optim, recipes
from minicnn.atomic import atomic_write, write_json
from minicnn.data import DataLoader, load_dataset
from minicnn.evaluate import predict_log_probs, score
from minicnn.optim import lr_scheduler as sched
from minicnn.profiler import Profiler
from minicnn.progress import duration, progress_bar
from minicnn.serialization import CheckpointError
from minicnn.train import holdout, run_folder
from minicnn.train.metrics import epoch_line, plot_curves, write_metrics
from minicnn.train.optimization import LENGTH_BOUND, make_optimizer, make_schedule
from minicnn.train.signals import StopRequested, StopSignals
from minicnn.trained import load_weights

__all__ = ["Trainer"]

LAST, BEST, TEST = "last.safetensors", "best.safetensors", "test.json"
READ_EVERY = 10     # GPU training steps between two reads of the loss sums on the host


def _fresh_running():
    """This epoch's sums so far (saved in checkpoints from inside an epoch)."""
    return {"images": 0, "loss_sum": 0.0, "aux_sum": 0.0, "correct": 0}


class Trainer:
    """One training run: data, model, optimiser, schedule, run folder; epochs with checkpoints."""

    def __init__(self, config, world=distributed.SINGLE_PROCESS):
        self.config, self.world = config, world
        config["world_size"] = world.size
        self.device = world.device(config["device"] or "auto")
        mc.manual_seed(config["seed"])
        train, test = (load_dataset(config["dataset"], split, config["data_dir"]) for split in ("train", "test"))
        if config["subset"]:
            train, test = train.subset(config["subset"]), test.subset(config["subset"])
        train, val = holdout.split(train, holdout.validation_size(len(train), config.get("val_split")),
                                   config["seed"])
        self.classes = train.classes
        channels, image_size = train.images.shape[1], train.images.shape[2]
        self.size = recipes.input_size(config["arch"], image_size)
        config.update(input_size=[channels, self.size, self.size], image_size=image_size, classes=self.classes,
                      train_images=len(train), val_images=len(val), test_images=len(test))
        flip = not config["no_flip"] and config["dataset"] not in ("mnist",)
        tf = lambda is_train: recipes.make_transform(config["dataset"], channels, self.size, image_size,  # noqa: E731
                                                     is_train, flip)
        shard = dict(rank=world.rank, world_size=world.size)
        self.train_loader = DataLoader(train, config["batch_size"], shuffle=True, drop_last=True,
                                       transform=tf(config["augment"]), seed=config["seed"], device=self.device,
                                       prefetch=config["workers"], **shard)
        self.val_loader = DataLoader(val, config["batch_size"], transform=tf(False), device=self.device,
                                     prefetch=config["workers"], **shard)
        # Rank 0 alone scores the test set, once, at the end: no collective, no shard.
        self.test_loader = DataLoader(test, config["batch_size"], transform=tf(False), device=self.device,
                                      prefetch=config["workers"])
        if len(self.train_loader) == 0:
            raise SystemExit(f"minicnn train: --batch-size {config['batch_size']} x {world.size} rank(s) is larger "
                             f"than the {len(train)} training images left after holding out {len(val)} for "
                             "validation")
        self.model = models.get(config["arch"], num_classes=len(self.classes), in_channels=channels).to(self.device)
        world.broadcast_module(self.model)
        self.average_gradients = distributed.GradientAverager(world, self.model.parameters())
        self.optimizer = make_optimizer(config, self.model.parameters(), world)
        self.schedule = make_schedule(config, self.optimizer, world)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
        self.aux_weight = config["aux_weight"] if config["aux_weight"] is not None else \
            getattr(self.model, "aux_loss_weight", 0.0)
        self.has_aux = bool(getattr(self.model, "aux_logits", False))
        self.epoch, self.batch, self.best = 0, 0, -1.0
        self.running = _fresh_running()
        self.unread, self.unread_steps = None, 0        # device sums of the steps not yet in running
        self.history = []
        self.saved_at, self.saved_time = None, time.monotonic()    # (epoch, batch) and time of the newest last
        self.profiler, self.steps_run, self.profiled = Profiler(), 0, 0

    # ---- checkpoints ----------------------------------------------------------------------
    def state(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule else {},
                "epoch": self.epoch, "batch": self.batch, "running": self.running, "best_top1": self.best,
                "history": self.history,
                "rng": mc.random.get_state(), "config": self.config}

    def save(self, name):
        if self.world.is_main:
            mc.save(self.state(), os.path.join(self.folder, name))
            if name == LAST:
                self.saved_at, self.saved_time = (self.epoch, self.batch), time.monotonic()

    def restore(self, path, checkpoint=None):
        """Continue from ``path`` (``checkpoint``: its content, when the caller has read it already)."""
        ckpt = checkpoint if checkpoint is not None else mc.load(path)
        saved_world = ckpt["config"].get("world_size", 1)
        if ckpt["batch"] and saved_world != self.world.size:
            raise SystemExit(f"--resume {path}: stopped inside an epoch of batches of {saved_world} rank(s); "
                             f"resume it with {saved_world} rank(s), not {self.world.size}")
        try:
            load_weights(self.model, ckpt["model"], path, self.config["arch"])
        except CheckpointError as e:
            raise SystemExit(f"minicnn train: --resume: {e}")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.schedule:
            self.schedule.load_state_dict(ckpt["schedule"])
        self.epoch, self.batch, self.best = ckpt["epoch"], ckpt["batch"], ckpt["best_top1"]
        self.running, self.history = {**_fresh_running(), **ckpt["running"]}, ckpt["history"]
        rng = ckpt["rng"]
        if "device" not in rng:            # written before the device stream was saved: NumPy's state alone
            rng = {"cpu": rng, "device": mc.random.get_state()["device"]}
        mc.random.set_state(rng)
        self.saved_at = (self.epoch, self.batch)

    def rebuild_schedule(self, planned):
        """After --epochs changed the length of a run whose schedule depends on it (cosine,
        multistep): the schedule it would have had with the new length from the start, at the
        current epoch. Returns a sentence saying what changed, or None when nothing did."""
        if self.config["schedule"] not in LENGTH_BOUND or self.config["epochs"] == planned:
            return None
        group = self.optimizer.param_groups[0]
        before = group["lr"]
        self.schedule = make_schedule(self.config, self.optimizer, self.world)
        for _ in range(self.epoch):
            self.schedule.step()
        return (f"the {self.config['schedule']} schedule was built for {planned} epochs (lr {before:.3g} at epoch "
                f"{self.epoch + 1}); rebuilt for {self.config['epochs']}: epoch {self.epoch + 1} trains at lr "
                f"{group['lr']:.3g}, as if the run had started with --epochs {self.config['epochs']}")

    # ---- one epoch ------------------------------------------------------------------------
    def train_epoch(self, progress, stop):
        self.model.train()
        self.train_loader.set_epoch(self.epoch, skip=self.batch)    # resuming inside an epoch: these are done
        steps_per_epoch = len(self.train_loader)
        start, timed = time.perf_counter(), 0
        bar = progress_bar(steps_per_epoch, f"epoch {self.epoch + 1}/{self.config['epochs']}",
                           progress and self.world.is_main, initial=self.batch)
        allreduce_seconds, steps = self.average_gradients.seconds, 0
        every = 60 * self.config.get("checkpoint_every", 0)
        # On a GPU, reading the sums makes the host wait for the device: once per READ_EVERY steps.
        read_every = 1 if self.device == "cpu" else READ_EVERY
        for b, (x, y) in enumerate(self.train_loader, start=self.batch):
            profiling = 1 <= self.steps_run <= self.config["profile_steps"]     # step 0 warms up
            with self.profiler if profiling else contextlib.nullcontext():
                sums = self.train_step(x, y)
            self.steps_run += 1
            steps += 1
            if profiling:
                self.profiled += 1
                if self.profiled == self.config["profile_steps"]:
                    self.write_profile()
            self.batch = b + 1
            self.unread = sums if self.unread is None else self.unread + sums
            self.unread_steps += 1
            timed += len(y)
            save_now = every and time.monotonic() - self.saved_time >= every and self.batch < steps_per_epoch
            if stop.signum is not None or save_now or steps % read_every == 0:
                self.read_sums()
                bar.set_postfix(self._postfix(timed, time.perf_counter() - start, steps, steps_per_epoch),
                                refresh=False)      # update() draws it, with the new count
            if stop.signum is not None:
                raise StopRequested
            if save_now:
                self.save(LAST)                 # bounds what a kill -9 or a power cut costs
            bar.update(1)
        self.read_sums()
        bar.close()
        elapsed = max(time.perf_counter() - start, 1e-9)
        run = self.running
        images, loss_sum, aux_sum, correct, timed = self.world.sum([run["images"], run["loss_sum"], run["aux_sum"],
                                                                    run["correct"], timed])
        metrics = {"train_loss": loss_sum / images, "train_top1": correct / images, "images_per_s": timed / elapsed}
        if self.has_aux:
            metrics["train_aux_loss"] = aux_sum / images
        if self.world.size > 1:
            metrics["allreduce_ms"] = 1000 * (self.average_gradients.seconds - allreduce_seconds) / max(steps, 1)
        self.running = _fresh_running()
        return metrics

    def read_sums(self):
        """Add the device sums of the steps since the last read to this epoch's running sums: one
        host synchronisation. A non-finite loss among those steps stops the run."""
        if self.unread is None:
            return
        loss_sum, aux_sum, correct, images = backend.to_device(self.unread, "cpu").tolist()
        first, self.unread = self.batch - self.unread_steps + 1, None
        if not math.isfinite(loss_sum + aux_sum):
            where = f"batch {self.batch}" if first == self.batch else f"one of batches {first}-{self.batch}"
            raise FloatingPointError(f"the training loss became {loss_sum + aux_sum} at epoch {self.epoch + 1}, "
                                     f"{where}")
        run = self.running
        run["images"] += int(images)
        run["loss_sum"] += loss_sum
        run["aux_sum"] += aux_sum
        run["correct"] += int(correct)
        self.unread_steps = 0

    def _postfix(self, timed, elapsed, steps, steps_per_epoch):
        """The progress numbers: this epoch's loss (aux apart) and top-1 so far, speed, and the ETA of
        the whole run at this session's speed."""
        run = self.running
        left = steps_per_epoch - self.batch + (self.config["epochs"] - self.epoch - 1) * steps_per_epoch
        postfix = {"loss": f"{run['loss_sum'] / run['images']:.4f}"}
        if self.has_aux:
            postfix["aux loss"] = f"{run['aux_sum'] / run['images']:.4f}"
        postfix.update({"top-1": f"{run['correct'] / run['images']:.3f}", "img/s": f"{timed / elapsed:.0f}",
                        "run ETA": duration(left * elapsed / steps)})
        return postfix

    def train_step(self, x, y):
        """Forward, loss, backward, update. Returns [loss * n, auxiliary loss * n, correct, n] of the
        batch of n as a float64 array on the device: nothing is read on the host here, so a GPU can
        run ahead while the host queues the next step."""
        out = self.model(x)
        logits, heads = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        loss = self.loss_fn(logits, y)
        main, aux = loss.array, None
        for head in heads:
            extra = self.aux_weight * self.loss_fn(head, y)
            aux = extra.array if aux is None else aux + extra.array
            loss = loss + extra
        self.optimizer.zero_grad()
        loss.backward()
        self.average_gradients()
        if self.config["clip"]:
            optim.clip_grad_norm_(self.model.parameters(), self.config["clip"])
        self.optimizer.step()
        xp = backend.get_array_module(main)
        correct = (logits.array.argmax(axis=1) == y.array).sum()
        n = len(y)
        no_aux = xp.zeros_like(main)
        return xp.stack([main * n, no_aux if aux is None else aux * n, correct, no_aux + n]).astype(xp.float64)

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
        """At the end of a run (a stop signal and a diverging loss included) that profiled fewer steps than asked."""
        if 0 < self.profiled < self.config["profile_steps"]:
            self.write_profile()
        elif self.profiled == 0 and self.config["profile_steps"] and self.steps_run <= 1 and self.world.is_main:
            print(f"--profile-steps: nothing profiled, the run made {self.steps_run} step(s) and the first one "
                  "only warms up", file=sys.stderr)

    def validate(self):
        """Loss, top-1 and top-5 on the held-out validation images (each rank scores its shard).
        The sums stay on the device until the end: one host synchronisation for the whole pass."""
        self.model.eval()
        sums, total = None, 0
        with mc.no_grad():
            for x, y in self.val_loader:
                logits = self.model(x)
                n = len(y)
                xp = backend.get_array_module(logits.array)
                batch = xp.concatenate([(self.loss_fn(logits, y).array * n)[None],
                                        mc.ops.topk_correct(logits, y, (1, min(5, logits.shape[1])))])
                sums = batch if sums is None else sums + batch
                total += n
        loss_sum, top1, top5 = backend.to_device(sums, "cpu").tolist() if total else (0.0, 0.0, 0.0)
        loss_sum, top1, top5, total = self.world.sum([loss_sum, top1, top5, total])    # each rank saw a shard
        return {"val_loss": loss_sum / total, "val_top1": top1 / total, "val_top5": top5 / total}

    def test_best(self):
        """Score the test set once with best.safetensors; write test.json and print the result."""
        best = mc.load(os.path.join(self.folder, BEST))
        self.model.load_state_dict(best["model"])
        self.model.eval()
        log_probs, labels = predict_log_probs(self.model, self.test_loader, ten_crop=False)
        results = {"checkpoint": BEST, "epoch": best["epoch"], "chosen_by": "val_top1",
                   "val_top1": best["best_top1"], "split": "test", "dataset": self.config["dataset"],
                   "images": len(labels), **score(log_probs, labels, self.classes)}
        write_json(results, os.path.join(self.folder, TEST))
        print(f"test ({len(labels)} images, best.safetensors = epoch {best['epoch']}, chosen by validation top-1 "
              f"{best['best_top1']:.4f}): loss {results['loss']:.4f}  top-1 {results['top1']:.4f}  "
              f"top-{results['topk']} {results['top5']:.4f}; per class in {os.path.join(self.folder, TEST)}",
              flush=True)

    # ---- the run ----------------------------------------------------------------------------
    def run(self, folder):
        self.folder = folder
        if self.world.is_main:
            run_folder.check_space(folder, 4 * 3 * self.model.num_parameters())
            run_folder.write_config(folder, self.config, self.device)
        self.saved_time = time.monotonic()
        progress = not self.config["no_progress"]
        # Not with several ranks: mpirun delivers a signal to each rank at its own moment, and a rank
        # that stops while others wait in an Allreduce hangs the job; there a signal ends the job and
        # the newest checkpoint is the one to resume from.
        with StopSignals(self.world.size == 1) as stop:
            try:
                while self.epoch < self.config["epochs"]:
                    metrics = self.train_epoch(progress, stop)
                    metrics.update(epoch=self.epoch + 1, lr=self.optimizer.param_groups[0]["lr"])
                    if (self.epoch + 1) % self.config["eval_every"] == 0 or self.epoch + 1 == self.config["epochs"]:
                        metrics.update(self.validate())
                    self._step_schedule(metrics)
                    self.epoch, self.batch = self.epoch + 1, 0
                    self.history.append(metrics)
                    self._log(metrics)
                    if metrics.get("val_top1", -1) > self.best:
                        self.best = metrics["val_top1"]
                        self.save(BEST)
                    self.save(LAST)
            except StopRequested:
                self.save(LAST)
                print(f"\n{stop.name}: stopped at epoch {self.epoch + 1}, batch {self.batch}; the checkpoint is "
                      f"saved. Resume with:\n  python -m minicnn.train --resume {folder}", file=sys.stderr)
                return 128 + stop.signum
            except KeyboardInterrupt:
                how = f"second {stop.name}" if stop.signum else "Ctrl-C"
                print(f"\nstopped at once ({how}); {self._saved()}", file=sys.stderr)
                return 128 + (stop.signum or 2)
            except FloatingPointError as e:
                print(f"\nstopped: {e}. {self._saved()}. Try a lower --lr or --clip.", file=sys.stderr)
                return 1
            finally:
                self._finish_profile()
        if self.world.is_main:
            print(f"done: best validation top-1 {self.best:.4f}; run folder {folder}", flush=True)
            self.test_best()
        return 0

    def _saved(self):
        """What last.safetensors holds now, in words."""
        if self.saved_at is None:
            return "no checkpoint was saved yet"
        epoch, batch = self.saved_at
        where = f"the end of epoch {epoch}" if batch == 0 else f"epoch {epoch + 1}, batch {batch}"
        return f"{os.path.join(self.folder, LAST)} holds the run at {where}"

    def _step_schedule(self, metrics):
        if isinstance(self.schedule, sched.ReduceLROnPlateau):
            if "val_loss" in metrics:
                self.schedule.step(metrics["val_loss"])
        elif self.schedule is not None:
            self.schedule.step()

    def _log(self, m):
        if not self.world.is_main:
            return
        print(epoch_line(m, self.world.size), flush=True)
        write_metrics(self.history, os.path.join(self.folder, "metrics.csv"))
        plot_curves(self.history, os.path.join(self.folder, "curves.png"), self.config["arch"])
