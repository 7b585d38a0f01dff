"""An epoch's training sums (loss, auxiliary loss, correct predictions, images), kept so that a
training step never waits for the GPU: each step's sums stay on the device, added up there, and
the host reads them once every ``read_every`` steps (every step on the CPU, where reading is free)."""
import math

from minicnn import backend

__all__ = ["EpochSums", "READ_EVERY"]

READ_EVERY = 10     # GPU training steps between two reads of the sums on the host
KEYS = ("images", "loss_sum", "aux_sum", "correct")


class EpochSums:
    def __init__(self, device):
        self.read_every = 1 if device == "cpu" else READ_EVERY
        self.totals = dict.fromkeys(KEYS, 0)       # what the host has read (checkpoints hold it)
        self.unread, self.unread_steps = None, 0

    def add(self, step_sums):
        """One step's [loss * n, aux loss * n, correct, n], still on the device."""
        self.unread = step_sums if self.unread is None else self.unread + step_sums
        self.unread_steps += 1

    def due(self):
        return self.unread_steps >= self.read_every

    def read(self, epoch, batch):
        """Add the unread steps (the last one is ``batch``) to the totals: one host synchronisation.
        A non-finite loss among them raises FloatingPointError saying where."""
        if self.unread is None:
            return
        loss_sum, aux_sum, correct, images = backend.to_device(self.unread, "cpu").tolist()
        first, self.unread = batch - self.unread_steps + 1, None
        if not math.isfinite(loss_sum + aux_sum):
            where = f"batch {batch}" if first == batch else f"one of batches {first}-{batch}"
            raise FloatingPointError(f"the training loss became {loss_sum + aux_sum} at epoch {epoch + 1}, {where}")
        for key, value in zip(KEYS, (images, loss_sum, aux_sum, correct)):
            self.totals[key] += int(value) if key in ("images", "correct") else value
        self.unread_steps = 0

    def mean(self, key):
        return self.totals[key] / max(self.totals["images"], 1)
