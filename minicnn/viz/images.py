"""Pictures of what a CNN has learned: its first-layer filters and the feature maps of any layer.

- ``filters(conv)`` draws each filter of a convolution as a small image. The first layer of a
  network trained on photos learns oriented edges, colour blobs and gratings (Krizhevsky et al.
  2012, Figure 3; Zeiler & Fergus 2014): seeing them is the quickest check that training worked,
  since noisy or all-alike filters mean a learning rate or initialisation problem. Filters that
  see three input channels are drawn in colour (R, G, B); any other filter is drawn as one gray
  tile per input channel, one row per output channel (one input channel: a square grid).
- ``feature_maps(model, image, layer_name)`` runs one image through the model and draws each
  channel of that layer's output as a gray tile: where in the image each filter fires. Early
  layers keep the image's outline; deeper ones are smaller and more abstract.

Weights and activations have no fixed range, so every tile is min-max scaled to [0, 1] on its own
(0 = darkest, 1 = brightest): only the pattern inside a tile is meaningful, not brightness between
tiles. A constant tile (e.g. a ReLU map that is zero everywhere, a "dead" channel) is mid gray.
Tiles are separated by white lines (value 1.0).

Saved as a PNG, a grid can be enlarged ``scale`` times (each value a ``scale`` x ``scale`` block of
pixels, no smoothing: a 5x5 filter stays 25 visible squares) and each tile labelled with its index
(the filter or channel number; "out.in" for one input channel of a filter), drawn in yellow at its
top left when the enlarged tiles are big enough to hold the text.
"""
import math

import numpy as np

from minicnn import backend
from minicnn.nn import Conv2d
from minicnn.atomic import atomic_write
from minicnn.tensor import Tensor

__all__ = ["image_grid", "filters", "feature_maps", "scale_for"]

PAD_VALUE = 1.0      # white lines between tiles, and white where the last row has empty slots


def image_grid(tiles, columns=None, pad=1, normalize="each"):
    """Lay ``tiles`` (T, H, W) or (T, H, W, 3) out in a grid, row by row; returns floats in [0, 1].

    Returns (rows * (H + pad) + pad, cols * (W + pad) + pad), plus a trailing 3 for RGB tiles,
    where cols = ``columns`` or ceil(sqrt(T)) and rows = ceil(T / cols).
    normalize: "each" min-max scales every tile on its own, "all" scales all tiles together
    (then brightness compares across tiles); a constant tile becomes 0.5.
    """
    tiles = _host(tiles).astype(np.float64)
    if not (tiles.ndim == 3 or (tiles.ndim == 4 and tiles.shape[-1] == 3)) or len(tiles) == 0:
        raise ValueError(f"image_grid: tiles must be (T, H, W) gray or (T, H, W, 3) RGB with T >= 1, "
                         f"got shape {tiles.shape}")
    if normalize not in ("each", "all"):
        raise ValueError(f"image_grid: normalize must be 'each' or 'all', got {normalize!r}")
    if columns is not None and columns < 1:
        raise ValueError(f"image_grid: columns must be at least 1, got {columns}")
    T, H, W = tiles.shape[:3]
    cols = columns or math.ceil(math.sqrt(T))
    rows = math.ceil(T / cols)
    axes = tuple(range(1, tiles.ndim)) if normalize == "each" else None
    low, high = tiles.min(axis=axes, keepdims=True), tiles.max(axis=axes, keepdims=True)
    span = high - low
    scaled = np.where(span > 0, (tiles - low) / np.where(span > 0, span, 1), 0.5)
    grid = np.full((rows * (H + pad) + pad, cols * (W + pad) + pad) + tiles.shape[3:], PAD_VALUE)
    for i, tile in enumerate(scaled):
        top, left = pad + (i // cols) * (H + pad), pad + (i % cols) * (W + pad)
        grid[top:top + H, left:left + W] = tile
    return grid


def filters(conv, path=None, columns=None, scale=1, labels=False):
    """The grid of ``conv``'s filters (weight (OC, C / groups, KH, KW)); also a PNG at ``path`` if given,
    ``scale`` times larger (None: ``scale_for(grid)``), with each tile's label when ``labels``.

    A filter that sees the three colour channels is one RGB tile (OC tiles); otherwise every
    (output channel, input channel) pair is a gray tile, one row per output channel unless
    ``columns`` says otherwise (with a single input channel the tiles fill a square grid).
    """
    if not isinstance(conv, Conv2d):
        raise TypeError(f"filters: expected a minicnn.nn.Conv2d, got {type(conv).__name__}")
    weight = conv.weight.numpy()
    OC, C, KH, KW = weight.shape
    rgb = C == conv.in_channels == 3
    if rgb:
        grid = image_grid(weight.transpose(0, 2, 3, 1), columns)
    else:
        grid = image_grid(weight.reshape(OC * C, KH, KW), columns or (C if C > 1 else None))
    names = [str(o) for o in range(OC)] if rgb or C == 1 else [f"{o}.{c}" for o in range(OC) for c in range(C)]
    if path is not None:
        _save_png(grid, path, scale or scale_for(grid), names if labels else None, (KH, KW))
    return grid


def feature_maps(model, image, layer_name, path=None, columns=None, scale=1, labels=False):
    """The grid of the feature maps that layer ``layer_name`` computes for ``image``; a PNG at ``path``
    if given, ``scale`` times larger (None: ``scale_for(grid)``), with each tile's channel number when ``labels``.

    image: (C, H, W) or (1, C, H, W), a NumPy array or Tensor. The model runs once in eval mode
    without a graph (each module's training flag is restored afterwards); the layer's output
    must be (1, C, H, W), and each of its C channels becomes one gray tile.
    """
    modules = dict(model.named_modules())
    if layer_name not in modules:
        names = [name for name in modules if name]
        raise ValueError(f"feature_maps: {type(model).__name__} has no layer named {layer_name!r}; "
                         f"layers are named as in model.named_modules(), e.g. {', '.join(names[:6])}"
                         + (", ..." if len(names) > 6 else ""))
    x = model.as_input(image.array if isinstance(image, Tensor) else image)
    if x.ndim == 3:
        x = x.reshape((1,) + x.shape)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"feature_maps: image must be (C, H, W) or (1, C, H, W), got shape {x.shape}")
    outputs = []
    handle = modules[layer_name].register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        with model.inference():
            model(x)
    finally:
        handle.remove()
    if not outputs:
        raise ValueError(f"feature_maps: layer {layer_name!r} did not run in the eval-mode forward pass")
    out = outputs[0]                            # a layer called twice shows its first call
    if not isinstance(out, Tensor) or out.ndim != 4:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"feature_maps: layer {layer_name!r} gave {shape}, not (1, C, H, W) feature maps; "
                         "pick a convolution, pooling or other spatial layer")
    maps = out.numpy()[0]
    grid = image_grid(maps, columns)
    if path is not None:
        _save_png(grid, path, scale or scale_for(grid), [str(c) for c in range(len(maps))] if labels else None,
                  maps.shape[1:])
    return grid


def scale_for(grid, across=256):
    """The smallest whole enlargement that makes ``grid`` at least ``across`` pixels wide."""
    return max(1, math.ceil(across / grid.shape[1]))


def _save_png(grid, path, scale=1, labels=None, tile=None, pad=1):
    """Write a grid from ``image_grid`` to ``path`` as a PNG, ``scale`` x ``scale`` pixels per value,
    atomically; ``labels`` (one per ``tile`` (H, W), in grid order) are drawn on the tiles.

    Values in [0, 1] become 0..255 exactly as they are: a gray grid is not rescaled again, so 0.5
    stays mid gray.
    """
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(np.round(grid * 255).astype(np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    if labels:
        image = image.convert("RGB")
        draw, font = ImageDraw.Draw(image), ImageFont.load_default()
        (H, W), cols = tile, (grid.shape[1] - pad) // (tile[1] + pad)
        corners = [((pad + (i % cols) * (W + pad)) * scale + 1, (pad + (i // cols) * (H + pad)) * scale)
                   for i in range(len(labels))]
        boxes = [draw.textbbox(corner, label, font=font) for corner, label in zip(corners, labels)]
        if all(right - left < W * scale and bottom - top < H * scale for left, top, right, bottom in boxes):
            for corner, label, box in zip(corners, labels, boxes):
                draw.rectangle(box, fill=(0, 0, 0))                  # readable on white and on black tiles
                draw.text(corner, label, fill=(255, 255, 0), font=font)
    with atomic_write(path, suffix=".png") as tmp:
        image.save(tmp, format="PNG")


def _host(array):
    """A NumPy array from a Tensor, NumPy or CuPy array, or nested list."""
    return backend.to_device(array.array if isinstance(array, Tensor) else array, "cpu")
