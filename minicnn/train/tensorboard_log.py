"""--tensorboard: what a run logs to RUN/tensorboard/. When it opens: the model's graph. After each
epoch, at global_step = the epoch: the curves and the learning rate, a histogram of every parameter
and of its gradient (those of the epoch's last step), and the first convolution's filters as an image.

A resumed run appends to the same folder from the epoch after its checkpoint's; purge_step makes
TensorBoard drop what an earlier session logged past that checkpoint (a run resumed from
best.safetensors). An epoch whose logging a crash cut short (after its checkpoint) stays missing:
its gradients are gone with the process.
"""
import os

import numpy as np

from minicnn.nn import Conv2d
from minicnn.train.errors import TrainError
from minicnn.utils.tensorboard import SummaryWriter
from minicnn.viz.images import filters, scale_for

__all__ = ["TensorBoardLog", "FOLDER"]

FOLDER = "tensorboard"
# metrics.csv's column -> TensorBoard's tag; "a/b" puts the chart b into the section a.
TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_aux_loss": "loss/train_aux",
        "train_top1": "top1/train", "val_top1": "top1/val", "val_top5": "top5/val", "lr": "lr",
        "images_per_s": "speed/images_per_s", "allreduce_ms": "speed/allreduce_ms"}


class TensorBoardLog:
    """Logs the epochs of ``model``'s run in ``folder`` after ``epochs_done``, those its checkpoint holds;
    input_size: one image's (C, H, W), for the graph."""

    def __init__(self, folder, model, input_size, epochs_done=0):
        try:
            self.writer = SummaryWriter(os.path.join(folder, FOLDER), purge_step=epochs_done + 1)
        except ImportError as e:
            raise TrainError(f"--tensorboard: {e}") from None
        self.model = model
        with model.inference():                 # eval mode: batch norm's running statistics stay as they are
            self.writer.add_graph(model, np.zeros((1, *input_size), np.float32))
        self.first_conv = next(((name, m) for name, m in model.named_modules() if isinstance(m, Conv2d)), None)

    def log_epoch(self, metrics):
        epoch = metrics["epoch"]
        for key, tag in TAGS.items():
            if key in metrics:
                self.writer.add_scalar(tag, metrics[key], epoch)
        for name, parameter in self.model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", parameter, epoch)
            if parameter.grad is not None:          # None for a parameter no step has used
                self.writer.add_histogram(f"gradients/{name}", parameter.grad, epoch)
        if self.first_conv:
            name, conv = self.first_conv
            grid = filters(conv)
            scale = scale_for(grid)             # a 5x5 filter is 5 pixels: enlarged, each value a square
            grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
            self.writer.add_image(f"filters/{name}", grid, epoch, dataformats="HWC" if grid.ndim == 3 else "HW")
        self.writer.flush()                     # each epoch on disk at once, as metrics.csv is

    def close(self):
        self.writer.close()
