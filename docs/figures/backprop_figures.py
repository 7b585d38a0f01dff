"""Make the four figures of the backprop pages from minicnn's own code:

    PYTHONPATH=. python docs/figures/backprop_figures.py      (matplotlib; Graphviz's dot for the last)

- im2col.png: a 4x4 image, 2x2 kernel, stride 1: each window of the image becomes one column.
- col2im.png: how many windows read each pixel (3x3 kernel, stride 1, padding 1, 6x6 image): col2im
  adds that many contributions into it, which is why it must add, never overwrite.
- receptive_field.png: the receptive field of VGG-16's layers, as minicnn.summary reports it.
- residual_block.png: the graph of one ResNet block after backward (minicnn.viz graph): x feeds the
  residual branch and the add, so its gradient is the sum of the two arriving there.
"""
import os

import minicnn as mc  # noqa: I001  (before NumPy, as the commands do)
import matplotlib
import numpy as np

from minicnn import nn
from minicnn.im2col import col2im, im2col
from minicnn.models.resnet import BasicBlock
from minicnn.summary import summarize
from minicnn.viz import graph

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _grid(ax, values, title, fmt="{:g}", cmap="Blues"):
    ax.imshow(values, cmap=cmap, vmin=0)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def im2col_figure(path):
    x = np.arange(1, 17, dtype=float).reshape(1, 1, 4, 4)
    col = im2col(x, 2, 2, 1, 1, (0, 0, 0, 0), 3, 3)              # (C*KH*KW, N*OH*OW) = (4, 9)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [4, 9]})
    _grid(left, x[0, 0], "x (4x4); the first window outlined")
    left.add_patch(plt.Rectangle((-0.5, -0.5), 2, 2, fill=False, edgecolor="red", linewidth=2))
    _grid(right, col, "col (4 kernel offsets x 9 windows): one column per window")
    right.add_patch(plt.Rectangle((-0.5, -0.5), 1, 4, fill=False, edgecolor="red", linewidth=2))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def col2im_figure(path):
    x_shape, K = (1, 1, 6, 6), 3
    windows = np.ones((1, 1, K, K, 6, 6))                       # every window sends a 1 to each pixel it read
    reads = col2im(windows, x_shape, 1, 1, (1, 1, 1, 1))
    fig, ax = plt.subplots(figsize=(4, 4))
    _grid(ax, reads[0, 0], "windows reading each pixel\n(3x3, stride 1, padding 1): col2im adds them", "{:.0f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def receptive_field_figure(path):
    rows = [r for r in summarize(mc.models.get("vgg16"), (3, 224, 224)).rows
            if r.receptive_field and r.type in ("Conv2d", "MaxPool2d")]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(range(len(rows)), [r.receptive_field[0] for r in rows],
           color=["tab:blue" if r.type == "Conv2d" else "tab:orange" for r in rows])
    labels, counts = [], {"Conv2d": 0, "MaxPool2d": 0}
    for r in rows:
        counts[r.type] += 1
        labels.append(f"{'conv' if r.type == 'Conv2d' else 'pool'}{counts[r.type]}")
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=8)
    ax.set_ylabel("receptive field (pixels)")
    ax.set_title("VGG-16: each 3x3 conv adds 2 x (the stride so far); each pool doubles that step", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def residual_block_figure(path):
    mc.manual_seed(0)
    block = BasicBlock(4, 4)
    x = mc.Tensor(np.random.default_rng(0).standard_normal((1, 4, 6, 6)).astype(np.float32), requires_grad=True)
    loss = block(x).sum()
    dot = graph(loss, model=block, show_grads=True)
    loss.backward()
    dot.save(path)


if __name__ == "__main__":
    im2col_figure(os.path.join(HERE, "im2col.png"))
    col2im_figure(os.path.join(HERE, "col2im.png"))
    receptive_field_figure(os.path.join(HERE, "receptive_field.png"))
    residual_block_figure(os.path.join(HERE, "residual_block.png"))
    print(f"wrote im2col.png, col2im.png, receptive_field.png and residual_block.png in {HERE}")
