"""Model summary: every layer's output shape, parameters, multiply-adds and receptive field.

    python -m minicnn.summary --arch resnet50 [--input 3,224,224] [--depth 2] [--json]

One image goes through the model (eval mode, no graph). Module hooks tell which layer is
running; an op hook sees every op inside it:
- multiply-adds (MACs), counted as the papers count them (a multiply-add is one operation):
  conv2d: OH * OW * OC * (C / groups) * KH * KW;  linear: in_features * out_features.
  Pooling, batch norm, activations and additions are not counted (they are tiny next to these).
- receptive field: the size of the input window an output value sees. Along a chain of layers
  with kernel k and stride s it grows as r_out = r_in + (k - 1) * j_in, j_out = j_in * s, where
  j is the distance in input pixels between neighbouring outputs (lecture 11: three stacked 3x3
  convolutions see 7x7). Where branches meet (Inception, residual add, DenseNet concatenation)
  the larger field wins; after global pooling or flatten, an output sees the whole image.
"""
import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from minicnn import models
from minicnn.autograd import register_op_hook
from minicnn.cli import Parser, unknown_arch, use_device
from minicnn.ops.conv import Conv2d as ConvOp
from minicnn.ops.linear import Linear as LinearOp
from minicnn.ops.pool import AdaptiveAvgPool2d as AdaptiveOp
from minicnn.ops.pool import AvgPool2d as AvgPoolOp
from minicnn.ops.pool import MaxPool2d as MaxPoolOp
from minicnn.ops.reduce import Sum as SumOp
from minicnn.ops.shape import Reshape as ReshapeOp
from minicnn.tensor import Tensor

__all__ = ["summarize", "Summary", "Row"]


@dataclass
class Row:
    name: str               # dotted module name ('' for the model itself)
    type: str
    depth: int              # 0 for the model, 1 for its children, ...
    output_shape: tuple     # without the batch axis
    params: int             # in this module and everything below it
    macs: int               # multiply-adds for one image, in this module and below it
    receptive_field: tuple  # (height, width) in input pixels, or None for non-spatial outputs


class Summary:
    def __init__(self, rows, input_size, trainable, used, activation_bytes):
        self.rows, self.input_size = rows, tuple(input_size)
        self.total_params = rows[0].params
        self.trainable_params = trainable
        self.used_params = used           # in the layers this (eval-mode) forward pass ran
        self.total_macs = rows[0].macs
        self.activation_bytes = activation_bytes

    def table(self, depth=None):
        """The summary as text; rows deeper than ``depth`` are folded into their parents."""
        shown = [r for r in self.rows[1:] if depth is None or r.depth <= depth]
        header = ("Layer (type)", "Output shape", "Params", "MACs", "RF")
        lines = [("  " * (r.depth - 1) + f"{r.name.rsplit('.', 1)[-1]} ({r.type})", str(r.output_shape),
                  f"{r.params:,}", _human(r.macs), _rf(r.receptive_field)) for r in shown]
        widths = [max(len(line[i]) for line in lines + [header]) for i in range(5)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        rule = "-" * len(fmt(header))
        totals = [f"Input: {self.input_size}  ->  output {self.rows[0].output_shape}",
                  f"Total params: {self.total_params:,}" + (
                      f" ({self.used_params:,} in the layers used at inference; the rest, e.g. auxiliary "
                      "classifiers, only train)" if self.used_params != self.total_params else ""),
                  f"Trainable params: {self.trainable_params:,}",
                  f"Multiply-adds (one image): {self.total_macs:,} ({_human(self.total_macs)})",
                  f"Activation memory (one image, float32, layer outputs): {self.activation_bytes / 2**20:.2f} MiB"]
        return "\n".join([f"{self.rows[0].type}", rule, fmt(header), rule] + [fmt(line) for line in lines]
                         + [rule] + totals)

    def __str__(self):
        return self.table()

    def to_dict(self, depth=None):
        return {"model": self.rows[0].type, "input_size": list(self.input_size),
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "inference_params": self.used_params,
                "total_macs": self.total_macs, "activation_bytes": self.activation_bytes,
                "layers": [asdict(r) for r in self.rows[1:] if depth is None or r.depth <= depth]}


def _human(n):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _rf(rf):
    if rf is None:
        return "-"
    return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}x{rf[1]}"


class _Tracer:
    """Follows one forward pass: the stack of running modules, MACs and receptive fields."""

    def __init__(self, image_hw):
        self.image_hw = image_hw
        self.stack, self.rows, self.macs = [], {}, {}
        self.fields = {}          # id(tensor) -> (tensor, (rf_h, rf_w), (jump_h, jump_w))

    def field(self, t):
        entry = self.fields.get(id(t))
        return entry[1:] if entry is not None else None

    def on_op(self, fn, inputs, outputs):
        macs = 0
        if isinstance(fn, ConvOp):
            macs = math.prod(outputs[0].shape[1:]) * math.prod(inputs[1].shape[1:])
        elif isinstance(fn, LinearOp):
            macs = outputs[0].shape[-1] * inputs[0].shape[-1]
        for name in self.stack:
            self.macs[name] += macs
        known = [f for f in (self.field(t) for t in inputs) if f is not None]
        if not known:
            return
        rf = tuple(max(f[0][i] for f in known) for i in range(2))
        jump = tuple(max(f[1][i] for f in known) for i in range(2))
        if isinstance(fn, ConvOp):
            span = tuple(d * (k - 1) + 1 for k, d in zip(inputs[1].shape[2:], fn.dilation))    # a dilated kernel's reach
            rf, jump = _grow(rf, jump, span, fn.stride)
        elif isinstance(fn, (MaxPoolOp, AvgPoolOp)):
            rf, jump = _grow(rf, jump, fn.kernel, fn.stride)
        elif isinstance(fn, AdaptiveOp) and fn.output_size != (1, 1):
            rf, jump = _grow(rf, jump, *_adaptive_window(inputs[0].shape[2:], fn.output_size))
        elif isinstance(fn, (AdaptiveOp, SumOp, ReshapeOp, LinearOp)):
            rf = tuple(max(r, s) for r, s in zip(rf, self.image_hw))    # sees the whole image
        for y in outputs:
            self.fields[id(y)] = (y, rf, jump)

    def enter(self, name):
        self.stack.append(name)
        self.macs.setdefault(name, 0)

    def leave(self, name, output):
        self.stack.pop()
        if name not in self.rows:     # a module called twice is listed once, at its first call
            out = output[0] if isinstance(output, (tuple, list)) else output
            shape = tuple(out.shape[1:]) if isinstance(out, Tensor) else ()
            spatial = isinstance(out, Tensor) and out.ndim == 4
            field = self.field(out) if spatial else None
            self.rows[name] = (shape, field[0] if field else None, out)


def _adaptive_window(size, out):
    """Adaptive pooling as a plain pooling: its widest bin, and the step between bins (rounded up
    where the bins do not tile evenly). An output as large as the input is the identity (1, 1)."""
    kernel = tuple(max(-(-(i + 1) * s // o) - (i * s) // o for i in range(o)) for s, o in zip(size, out))
    return kernel, tuple(-(-s // o) for s, o in zip(size, out))


def _grow(rf, jump, kernel, stride):
    return (tuple(r + (k - 1) * j for r, k, j in zip(rf, kernel, jump)),
            tuple(j * s for j, s in zip(jump, stride)))


def summarize(model, input_size):
    """Run one zero image of ``input_size`` = (C, H, W) through ``model`` and summarise each layer."""
    C, H, W = input_size
    tracer = _Tracer((H, W))
    modules = list(model.named_modules())
    handles = [register_op_hook(tracer.on_op)]
    for name, module in modules:
        handles.append(module.register_forward_pre_hook(lambda m, args, name=name: tracer.enter(name)))
        handles.append(module.register_forward_hook(lambda m, args, out, name=name: tracer.leave(name, out)))
    try:
        with model.inference():
            x = model.as_input(np.zeros((1, C, H, W)))
            tracer.fields[id(x)] = (x, (1, 1), (1, 1))
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    rows, activation_bytes = [], 0
    for name, module in modules:
        if name not in tracer.rows:
            continue          # defined but not used in forward (e.g. auxiliary heads in eval mode)
        shape, field, out = tracer.rows[name]
        depth = 0 if name == "" else name.count(".") + 1
        rows.append(Row(name, type(module).__name__, depth, shape, module.num_parameters(),
                        tracer.macs[name], field))
        if not any(True for _ in module.children()) and isinstance(out, Tensor):
            activation_bytes += 4 * math.prod(shape)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    used = {id(p): p.numel() for name, m in modules if name in tracer.rows
            for p in m._parameters.values() if p is not None}
    return Summary(rows, input_size, trainable, sum(used.values()), activation_bytes)


def markdown_table():
    """One Markdown row per registered model at its native input size (the README's model table)."""
    lines = ["| model | input | parameters | multiply-adds | source |", "|---|---|---:|---:|---|"]
    for name in models.list():
        spec = models.info(name)
        s = summarize(models.get(name), spec.input_size)
        lines.append(f"| `{name}` | {'x'.join(map(str, spec.input_size))} | {s.total_params:,} | "
                     f"{_human(s.total_macs)} | {spec.source} |")
    return "\n".join(lines)


def main(argv=None):
    parser = Parser(prog="python -m minicnn.summary",
                    description="Print a model's layers, parameters, multiply-adds and receptive fields.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--arch", help=f"one of: {', '.join(models.list())}")
    group.add_argument("--all", action="store_true", help="a Markdown table of every registered model")
    parser.add_argument("--input", help="C,H,W (default: the size the architecture was designed for)")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None, help="fold layers nested deeper than this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default=None, help="where the image runs: cpu, cuda or auto "
                                                       "(default: $MINICNN_DEVICE, else cpu)")
    args = parser.parse_args(argv)
    use_device("summary", args.device, default="cpu")
    if args.all:
        print(markdown_table())
        return None
    if args.arch not in models.list():
        parser.error(unknown_arch(args.arch))
    spec = models.info(args.arch)
    try:
        input_size = tuple(int(v) for v in args.input.split(",")) if args.input else spec.input_size
    except ValueError:
        input_size = ()
    if len(input_size) != 3:
        parser.error(f"--input must be C,H,W, got {args.input!r}")
    kwargs = {"in_channels": input_size[0]}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    try:
        summary = summarize(models.get(args.arch, **kwargs), input_size)
    except ValueError as e:          # an input too small for the model, a bad number of classes
        raise SystemExit(f"minicnn summary: {e}") from e
    if args.json:
        print(json.dumps({**summary.to_dict(args.depth), "source": spec.source}, indent=2))
    else:
        print(summary.table(args.depth))
        print(f"Source: {spec.source}")
    return summary


if __name__ == "__main__":
    main()
