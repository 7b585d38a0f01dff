"""One training run, given its data and its run folder: model, optimiser and schedule; the epochs,
their checkpoints, and the test score of the best checkpoint at the end."""
import contextlib
import os
import sys
import time

from safetensors import SafetensorError

import minicnn as mc
from minicnn import backend, distributed, fast, models, nn, optim
from minicnn.atomic import write_json
from minicnn.evaluate import predict_log_probs, score
from minicnn.optim import lr_scheduler as sched
from minicnn.progress import duration, progress_bar
from minicnn.train import checkpoint, run_folder
from minicnn.train.checkpoint import BEST, LAST, TEST
from minicnn.train.epoch_sums import EpochSums
from minicnn.train.errors import TrainError
from minicnn.train.metrics import epoch_line, plot_curves, write_metrics
from minicnn.train.optimization import LENGTH_BOUND, make_optimizer, make_schedule
from minicnn.train.profiling import StepProfiler
from minicnn.train.signals import StopRequested, StopSignals, moment, signal_name
from minicnn.train.tensorboard_log import TensorBoardLog

__all__ = ["Trainer"]


class Trainer:
    """One training run. ``config`` is the resolved config with the data's facts in it
    (``data.facts``) and a concrete ``device`` ("cpu", "cuda:0"); ``data`` its loaders
    (minicnn.train.data); ``folder`` the run folder, which the caller holds (run_folder.locked)."""

    def __init__(self, config, data, folder, world=distributed.SINGLE_PROCESS):
        self.config, self.folder, self.world, self.device = config, folder, world, config["device"]
        self.train_loader, self.val_loader, self.test_loader = data.train_loader, data.val_loader, data.test_loader
        self.classes = config["classes"]
        mc.manual_seed(config["seed"])
        self.model = models.get(config["arch"], num_classes=len(self.classes),
                                in_channels=config["input_size"][0]).to(self.device)
        world.broadcast_module(self.model)
        self.average_gradients = distributed.GradientAverager(world, self.model.parameters())
        self.optimizer = make_optimizer(config, self.model.parameters(), world)
        self.schedule = make_schedule(config, self.optimizer, world)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
        self.aux_weight = config["aux_weight"] if config["aux_weight"] is not None else \
            getattr(self.model, "aux_loss_weight", 0.0)
        self.has_aux = bool(getattr(self.model, "aux_logits", False))
        self.epoch, self.batch, self.best, self.history = 0, 0, -1.0, []
        self.sums = EpochSums(self.device)
        self.saved_at, self.saved_time = None, time.monotonic()    # (epoch, batch) and time of the newest last
        self.profiling = StepProfiler(config["profile_steps"], folder, f"{config['arch']}, batch "
                                      f"{config['batch_size']}, on {backend.device_name(self.device)}", world.is_main)
        self.stop = StopSignals(enabled=False)
        self.tensorboard = None             # a TensorBoardLog with --tensorboard, opened with the run folder

    @property
    def running(self):
        """This epoch's sums so far (the checkpoint's "running")."""
        return self.sums.totals

    @running.setter
    def running(self, totals):
        self.sums.totals = dict(totals)

    # ---- checkpoints ----------------------------------------------------------------------
    def state(self):
        return checkpoint.state(self)

    def restore(self, path, content=None):
        """Continue from the checkpoint at ``path`` (``content``: it, read by checkpoint.read already)."""
        checkpoint.restore(self, path, content if content is not None else checkpoint.read(path))

    def save(self, name):
        """Save the checkpoint ``name`` (rank 0 alone); signals wait until it is complete."""
        if not self.world.is_main:
            return
        with self._writing(name), self.stop.held():
            moment("save")
            mc.save(self.state(), os.path.join(self.folder, name))
            if name == LAST:            # inside: a signal held during the save is raised at the block's end
                self.saved_at, self.saved_time = (self.epoch, self.batch), time.monotonic()

    @contextlib.contextmanager
    def _writing(self, name):
        """A full disk (or any failure to write) as a TrainError that says what is on disk."""
        try:
            yield
        except (OSError, SafetensorError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            then = ("once that is fixed, go on with: python -m minicnn.train --resume " + self.folder
                    if self.saved_at else "once that is fixed, start the run again")
            raise TrainError(f"cannot write {os.path.join(self.folder, name)}: {reason}. {self._saved()}; "
                             f"{then}") from e

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
    def train_epoch(self, progress=False):
        """One epoch (from ``self.batch`` when resuming inside it); returns its metrics. Stops after
        the current step when a stop signal came (StopRequested)."""
        self.model.train()
        self.train_loader.set_epoch(self.epoch, skip=self.batch)
        steps = len(self.train_loader)
        bar = progress_bar(steps, f"epoch {self.epoch + 1}/{self.config['epochs']}", progress and self.world.is_main,
                           initial=self.batch)
        speed = _Speed(warm=self.profiling.steps_run > 0)
        allreduce_seconds = self.average_gradients.seconds
        for x, y in self.train_loader:
            with self.profiling.step():
                self.sums.add(self.train_step(x, y))
            self.batch += 1
            speed.step(len(y))
            timed_save = self._timed_save_due() and self.batch < steps
            if self.stop.signum is not None or timed_save or self.sums.due():
                self.sums.read(self.epoch, self.batch)
                bar.set_postfix(self._postfix(speed, steps), refresh=False)    # update() draws it
            if self.stop.signum is not None:
                raise StopRequested
            if timed_save:
                self.save(LAST)                 # bounds what a kill -9 or a power cut costs
            bar.update(1)
        self.sums.read(self.epoch, self.batch)
        bar.close()
        return self._epoch_metrics(speed, allreduce_seconds)

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
        moment("step")
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

    def _timed_save_due(self):
        every = 60 * self.config.get("checkpoint_every", 0)
        return every and time.monotonic() - self.saved_time >= every

    def _epoch_metrics(self, speed, allreduce_seconds):
        """The epoch's loss, top-1 and speed over all ranks; the sums start again at zero."""
        run = self.sums.totals
        images, loss_sum, aux_sum, correct, timed, seconds = self.world.sum(
            [run["images"], run["loss_sum"], run["aux_sum"], run["correct"], *speed.totals()])
        metrics = {"train_loss": loss_sum / images, "train_top1": correct / images,
                   "images_per_s": timed / max(seconds / self.world.size, 1e-9)}
        if self.has_aux:
            metrics["train_aux_loss"] = aux_sum / images
        if self.world.size > 1:
            metrics["allreduce_ms"] = 1000 * (self.average_gradients.seconds - allreduce_seconds) / max(speed.steps, 1)
        self.sums = EpochSums(self.device)
        return metrics

    def _postfix(self, speed, steps_per_epoch):
        """The progress numbers: this epoch's loss (aux apart) and top-1 so far, speed, and the ETA of
        the whole run at this session's speed."""
        left = steps_per_epoch - self.batch + (self.config["epochs"] - self.epoch - 1) * steps_per_epoch
        postfix = {"loss": f"{self.sums.mean('loss_sum'):.4f}"}
        if self.has_aux:
            postfix["aux loss"] = f"{self.sums.mean('aux_sum'):.4f}"
        timed, seconds = speed.totals()
        postfix.update({"top-1": f"{self.sums.mean('correct'):.3f}", "img/s": f"{timed / max(seconds, 1e-9):.0f}",
                        "run ETA": duration(left * seconds / max(speed.timed_steps, 1))})
        return postfix

    def validate(self):
        """Loss, top-1 and top-5 on the held-out validation images (each rank scores its shard).
        The sums stay on the device until the end: one host synchronisation for the whole pass."""
        self.model.eval()
        sums, total = None, 0
        with mc.no_grad():
            for x, y in self.val_loader:
                moment("validate")
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
        moment("test")
        log_probs, labels = predict_log_probs(self.model, self.test_loader, ten_crop=False)
        results = {"checkpoint": BEST, "epoch": best["epoch"], "chosen_by": "val_top1",
                   "val_top1": best["best_top1"], "split": "test", "dataset": self.config["dataset"],
                   "images": len(labels), **score(log_probs, labels, self.classes)}
        with self._writing(TEST):
            write_json(results, os.path.join(self.folder, TEST))
        print(f"test ({len(labels)} images, best.safetensors = epoch {best['epoch']}, chosen by validation top-1 "
              f"{best['best_top1']:.4f}): loss {results['loss']:.4f}  top-1 {results['top1']:.4f}  "
              f"top-{results['topk']} {results['top5']:.4f}; per class in {os.path.join(self.folder, TEST)}",
              flush=True)

    # ---- the run ----------------------------------------------------------------------------
    def run(self, stop=None):
        """Train the epochs left, then score the test set; returns the exit code (0, 1 for a
        diverging loss, 128 + a signal's number when ``stop`` (StopSignals) stopped it).
        TrainError when the run folder cannot be written."""
        self.stop = stop or StopSignals(enabled=False)
        try:
            self._prepare_folder()
            try:
                with self.stop.training():
                    self._train()
            except StopRequested:
                return self._stopped()
            if self.world.is_main:
                print(f"done: best validation top-1 {self.best:.4f}; run folder {self.folder}", flush=True)
                self.test_best()
        except StopRequested:       # outside training: nothing to finish, nothing lost
            trained = self.epoch >= self.config["epochs"]
            print(f"\n{self.stop.name}: stopped {'while scoring the test set' if trained else 'before training'}; "
                  f"{self._saved()}." + (f" Score the test set with:\n  python -m minicnn.train --resume "
                                         f"{self.folder}" if trained else ""), file=sys.stderr)
            return 128 + self.stop.signum
        except KeyboardInterrupt:
            how = f"{signal_name(self.stop.again)} after {self.stop.name}" if self.stop.again else "Ctrl-C"
            print(f"\nstopped at once ({how}); {self._saved()}", file=sys.stderr)
            return 128 + (self.stop.signum or 2)
        except FloatingPointError as e:
            print(f"\nstopped: {e}. {self._saved()}. Try a lower --lr or --clip.", file=sys.stderr)
            return 1
        finally:
            self.profiling.finish()
            if self.tensorboard:
                self.tensorboard.close()
        return 0

    def _prepare_folder(self):
        if not self.world.is_main:
            return
        run_folder.check_space(self.folder, 4 * 3 * self.model.num_parameters(), resumed=self.saved_at is not None)
        with self._writing("config.json"):
            run_folder.write_config(self.folder, self.config, self.device)
        if self.history:            # a run killed between its checkpoint and metrics.csv: catch up
            self._write_logs()
        if self.config.get("tensorboard"):         # .get: runs saved before the flag existed lack it
            self.tensorboard = TensorBoardLog(self.folder, self.model, self.config["input_size"],
                                              epochs_done=self.epoch)
        self.saved_time = time.monotonic()

    def _train(self):
        progress = not self.config["no_progress"]
        if self.device == "cpu" and fast.enabled() and not fast.compiled_on_disk() and self.world.is_main:
            print("numba compiles the CPU kernels in the first step (about 10 s, once: they are cached on disk); "
                  "img/s leaves that step out", file=sys.stderr, flush=True)
        while self.epoch < self.config["epochs"]:
            metrics = self.train_epoch(progress)
            metrics.update(epoch=self.epoch + 1, lr=self.optimizer.param_groups[0]["lr"])
            if (self.epoch + 1) % self.config["eval_every"] == 0 or self.epoch + 1 == self.config["epochs"]:
                metrics.update(self.validate())
            self._step_schedule(metrics)
            self.epoch, self.batch = self.epoch + 1, 0
            self.history.append(metrics)
            if metrics.get("val_top1", -1) > self.best:
                self.best = metrics["val_top1"]
                self.save(BEST)
            self.save(LAST)
            self._write_logs()          # after the checkpoint: metrics.csv is never ahead of it
            if self.world.is_main:
                print(epoch_line(metrics, self.world.size), flush=True)
            if self.stop.signum is not None:        # came during validation or the saves
                raise StopRequested

    def _stopped(self):
        """After a stop signal inside training: save last.safetensors (unless it holds this moment
        already), say so, and return 128 + the signal's number."""
        if self.saved_at != (self.epoch, self.batch):
            try:
                self.save(LAST)
            except KeyboardInterrupt:           # a second signal came while saving: the save was finished first
                pass
        where = f"epoch {self.epoch + 1}, batch {self.batch}" if self.batch else f"the end of epoch {self.epoch}"
        print(f"\n{self.stop.name}: stopped at {where}; {self._saved()}. Resume with:\n  python -m minicnn.train "
              f"--resume {self.folder}", file=sys.stderr)
        return 128 + self.stop.signum

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

    def _write_logs(self):
        if not self.world.is_main:
            return
        with self._writing("metrics.csv"):
            write_metrics(self.history, os.path.join(self.folder, "metrics.csv"))
        with self._writing("curves.png"):
            plot_curves(self.history, os.path.join(self.folder, "curves.png"), self.config["arch"])
        if self.tensorboard:
            with self._writing("tensorboard"):
                self.tensorboard.log_epoch(self.history[-1])


class _Speed:
    """Images per second over this session's steps, the very first one left out: it compiles the
    numba kernels on a first run (seconds) and allocates everything, which says nothing of speed."""

    def __init__(self, warm):
        self.warm, self.steps, self.timed_steps, self.images = warm, 0, 0, 0
        self.start = time.perf_counter()
        self.warm_up = None                 # (images, seconds) of the warm-up step

    def step(self, images):
        self.steps += 1
        if not self.warm:                   # the warm-up step: the clock starts after it
            now = time.perf_counter()
            self.warm, self.warm_up, self.start = True, (images, now - self.start), now
            return
        self.timed_steps += 1
        self.images += images

    def totals(self):
        """(images timed, seconds they took); the warm-up step's when it was the only one."""
        if self.timed_steps == 0 and self.warm_up:
            return self.warm_up
        return self.images, time.perf_counter() - self.start
