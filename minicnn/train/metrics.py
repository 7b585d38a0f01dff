"""What a run reports per epoch: the log line, metrics.csv and curves.png (both written atomically)."""
import csv

from minicnn.atomic import atomic_write, save_figure

__all__ = ["epoch_line", "write_metrics", "plot_curves"]

COLUMNS = ["epoch", "train_loss", "train_aux_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr",
           "images_per_s", "allreduce_ms"]


def epoch_line(m, ranks=1):
    """One epoch's line: train loss (of the main classifier; auxiliary heads apart), lr, speed, validation."""
    line = f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f}"
    if "train_aux_loss" in m:
        line += f" (+ aux {m['train_aux_loss']:.4f})"
    line += f" top-1 {m['train_top1']:.4f}  lr {m['lr']:.3g}  {m['images_per_s']:.0f} img/s"
    if "allreduce_ms" in m:
        line += f" ({ranks} ranks, allreduce incl. waiting {m['allreduce_ms']:.1f} ms/step)"
    if "val_loss" in m:
        line += f"  val loss {m['val_loss']:.4f} top-1 {m['val_top1']:.4f} top-5 {m['val_top5']:.4f}"
    return line


def write_metrics(history, path):
    """metrics.csv: one row per epoch, the columns the history has (validation only: no test numbers)."""
    columns = [c for c in COLUMNS if any(c in h for h in history)]
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)


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
            ax.plot(*zip(*val), "s-", label="validation (held out of train)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path)
