"""Command line for the pictures:

    python -m minicnn.viz graph --arch resnet20 --out graph.svg [--collapse 2] [--show-grads]
    python -m minicnn.viz filters --checkpoint runs/lenet5-.../best.safetensors --layer features.0
    python -m minicnn.viz maps --checkpoint runs/lenet5-.../best.safetensors --layer features.3 --index 7

``filters`` and ``maps`` enlarge the picture (``--scale``, by default to at least 256 pixels across)
and number the tiles (``--no-labels`` leaves them bare).

``graph`` draws the graph of one training-mode forward pass (two random images at the model's
input size); with --show-grads it draws from the loss after a backward pass. ``filters`` and
``maps`` read a checkpoint of ``python -m minicnn.train``; ``maps`` shows the feature maps of one
test image (its --index in the run's dataset), prepared as validation prepared it.
"""
import contextlib
import os
import sys

import numpy as np

import minicnn as mc
from minicnn import backend, models, recipes
from minicnn.data import DataError, load_dataset
from minicnn.cli import Parser, load_for_command, unknown_arch, use_device
from minicnn.nn import Conv2d
from minicnn.viz.graph import graph
from minicnn.viz.images import feature_maps, filters, scale_for


def build_parser():
    p = Parser(prog="python -m minicnn.viz", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True)
    g = commands.add_parser("graph", help="the computational graph of a model, as .svg/.png/.pdf/.dot")
    g.add_argument("--arch", required=True, help="a registered model: " + ", ".join(models.list()))
    g.add_argument("--out", default="graph.svg", help="file to write; the extension picks the format")
    g.add_argument("--collapse", type=int, default=None, metavar="DEPTH",
                   help="draw each module at this depth as one node (1: layer1, 2: layer1.0, ...)")
    g.add_argument("--show-grads", action="store_true", help="draw from the loss after backward, marking "
                   "the edges gradients flow along")
    g.add_argument("--input", default=None, help="C,H,W instead of the model's own input size")
    for name, what in (("filters", "a convolution's filters"), ("maps", "a layer's feature maps for one test image")):
        c = commands.add_parser(name, help=f"{what}, as a PNG grid")
        c.add_argument("--checkpoint", required=True, help="a best/last.safetensors written by minicnn.train")
        c.add_argument("--layer", required=True, help="a layer name as in model.named_modules(), e.g. features.0")
        c.add_argument("--out", default=None, help=f"PNG to write (default: {name}-LAYER.png next to the checkpoint)")
        c.add_argument("--columns", type=int, default=None, help="tiles per row")
        c.add_argument("--scale", type=int, default=None, help="enlarge each value to SCALE x SCALE pixels "
                       "(default: the smallest that makes the picture at least 256 pixels wide)")
        c.add_argument("--no-labels", action="store_true", help="no filter or channel number on the tiles")
        if name == "maps":
            c.add_argument("--index", type=int, default=0, help="which test image")
            c.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
            c.add_argument("--device", default=None, help="where the image runs through the model: cpu, cuda or "
                           "auto (default: $MINICNN_DEVICE, else cpu)")
    return p


def draw_graph(args):
    use_device("viz graph", "cpu")          # not $MINICNN_DEVICE: two images draw quickest on the CPU
    if args.arch not in models.list():
        raise SystemExit(f"minicnn viz graph: {unknown_arch(args.arch)}")
    try:
        size = tuple(int(v) for v in args.input.split(",")) if args.input else models.info(args.arch).input_size
        if len(size) != 3:
            raise ValueError(f"--input must be C,H,W, got {args.input!r}")
        model = models.get(args.arch, in_channels=size[0])
        out = model(mc.Tensor(mc.random.generator().standard_normal((2,) + size).astype(np.float32)))
    except ValueError as e:
        raise SystemExit(f"minicnn viz graph: {e}")
    outputs = list(out) if isinstance(out, tuple) else [out]
    if args.show_grads:
        labels = mc.Tensor(np.zeros(2, dtype=np.int64))
        loss = sum((mc.ops.cross_entropy(o, labels) for o in outputs[1:]), mc.ops.cross_entropy(outputs[0], labels))
        loss.backward(retain_graph=True)
        outputs = [loss]
    dot = graph(outputs, model=model, collapse=args.collapse, show_grads=args.show_grads)
    try:
        with writing("graph", args.out):
            dot.save(args.out)
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"minicnn viz graph: {e}")
    print(f"wrote {args.out}: {dot.count(' -> ')} edges, {args.arch} at input {size}")


@contextlib.contextmanager
def writing(command, path):
    """A picture that cannot be written (no such folder, no space, no permission) as an exit message."""
    try:
        yield
    except OSError as e:
        folder = os.path.dirname(os.path.abspath(path))
        why = f"the folder {folder} does not exist" if not os.path.isdir(folder) else (e.strerror or str(e))
        raise SystemExit(f"minicnn viz {command}: cannot write {path}: {why}") from e


def draw_layer(args):
    for flag, value in (("--columns", args.columns), ("--scale", args.scale)):
        if value is not None and value < 1:
            raise SystemExit(f"minicnn viz {args.command}: {flag} must be >= 1, got {value}")
    # Filters are weights only: they are read on the CPU; maps run the model where --device says.
    device_flag = args.device if args.command == "maps" else "cpu"
    model, config, device = load_for_command(f"viz {args.command}", args.checkpoint, device_flag, default="cpu")
    modules = dict(model.named_modules())
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"{args.command}-{args.layer}.png")
    if args.command == "filters":
        if not isinstance(modules.get(args.layer), Conv2d):
            convs = [name for name, m in modules.items() if isinstance(m, Conv2d)]
            found = type(modules[args.layer]).__name__ if args.layer in modules else "no such layer"
            raise SystemExit(f"minicnn viz filters: --layer {args.layer!r} is not a convolution ({found}); "
                             f"the convolutions of {config['arch']} are: {', '.join(convs)}")
        with writing("filters", out):
            grid = filters(modules[args.layer], out, args.columns, args.scale, not args.no_labels)
        count, shape = modules[args.layer].weight.shape[0], modules[args.layer].weight.shape[1:]
        what = f"the {count} filters ({'x'.join(map(str, shape))}) of layer {args.layer} of {config['arch']}"
    else:
        try:
            test = load_dataset(config["dataset"], "test", args.data_dir or config.get("data_dir"))
        except (DataError, ValueError) as e:
            raise SystemExit(f"minicnn viz maps: {e}")
        if not 0 <= args.index < len(test):
            raise SystemExit(f"minicnn viz maps: --index must be in [0, {len(test)}), got {args.index}")
        channels, size = config["input_size"][:2]
        transform = recipes.make_transform(config["dataset"], channels, size, config["image_size"], train=False)
        image = transform(test.images[args.index:args.index + 1])
        try:
            with writing("maps", out):
                grid = feature_maps(model, image, args.layer, out, args.columns, args.scale, not args.no_labels)
        except ValueError as e:
            raise SystemExit(f"minicnn viz maps: {e}")
        label = int(test.labels[args.index])
        what = (f"the feature maps of layer {args.layer} of {config['arch']} for test image {args.index} of "
                f"{config['dataset']} (class {label}: {test.classes[label]})")
    scale = args.scale or scale_for(grid)         # what the picture was enlarged by
    where = f", run on {backend.device_name(device)}" if args.command == "maps" else ""
    print(f"wrote {out}: {what}, {scale}x: {grid.shape[1] * scale}x{grid.shape[0] * scale} pixels{where}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    (draw_graph if args.command == "graph" else draw_layer)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
