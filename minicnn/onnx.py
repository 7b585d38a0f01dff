"""Export a model to ONNX, the file format runtimes deploy and Netron draws:

    import minicnn.onnx
    minicnn.onnx.export(model, x, "resnet20.onnx")       # x: one example batch, e.g. (1, 3, 32, 32)

The model runs once on ``x`` in eval mode while an autograd Observer writes down every op call:
the Function (its attributes hold the geometry: stride, padding, groups, ...), the Tensors that
went in and came out, and the module it ran in. Each call then becomes one or a few ONNX nodes
(``CONVERTERS``), built with the onnx package's ``helper`` and ``numpy_helper``. The graph is
exactly what ran: a module that ran no op in eval mode (Dropout, GoogLeNet's and Inception v3's
auxiliary heads) leaves nothing behind.

Names: the graph input is "input", the output "output" (several: "output0", "output1", ...).
Weights and batch norm's running statistics are initializers named as in ``state_dict()``
("layer1.0.conv1.weight"); each node is named after the module it ran in plus its ONNX op
("layer1.0.conv1/Conv"), and a node's output carries the node's name. The batch axis is
dynamic ("batch"); the other sizes are those of ``x``.

The onnx package is needed (``pip install 'minicnn[onnx]'``); onnxruntime only to run the file.
"""
import os
import warnings

import numpy as np

try:
    import onnx      # absolute import: the onnx package, never this module
    from onnx import helper, numpy_helper
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("minicnn.onnx needs the onnx package: pip install 'minicnn[onnx]' "
                      "(or pip install onnx onnxruntime)") from e

import minicnn
from minicnn import backend
from minicnn.autograd import Observer, current_module, observe
from minicnn.names import ModuleNames
from minicnn.ops.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from minicnn.ops.arithmetic import Add, Cast, Div, Exp, Log, MatMul, Mul, Neg, Pow, Sub
from minicnn.ops.batchnorm import BatchNorm
from minicnn.ops.conv import Conv2d
from minicnn.ops.conv_transpose import ConvTranspose2d
from minicnn.ops.linear import Linear
from minicnn.ops.loss import LogSoftmax, Softmax
from minicnn.ops.lrn import LocalResponseNorm
from minicnn.ops.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from minicnn.ops.reduce import Sum
from minicnn.ops.shape import Concat, GetItem, Pad, PadChannels, Reshape, Transpose
from minicnn.atomic import atomic_write
from minicnn.tensor import Tensor

__all__ = ["export", "ExportError", "CONVERTERS", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17     # ONNX 1.12 (2022): read by every current runtime and by Netron
MIN_OPSET = 13         # the converters pass axes, pads and slice bounds as inputs, as opset 13 does
INT64_MAX = np.iinfo(np.int64).max


class ExportError(Exception):
    """The model cannot be exported as asked: an op without an ONNX mapping, a path that cannot
    be written, an opset out of range. The message names the op and module, or the path."""


def export(model, example_input, path, opset=DEFAULT_OPSET, dynamic_batch=True):
    """Trace ``model`` on ``example_input`` in eval mode and write it to ``path`` as ONNX.

    model: a minicnn Module. In training mode it is switched to eval mode for the trace, with a
        warning, and every module gets its own mode back afterwards.
    example_input: a Tensor or array, (N, C, H, W) for the zoo; its sizes other than the batch
        are fixed in the file.
    opset: the ONNX opset version, MIN_OPSET to the newest the onnx package knows.
    dynamic_batch: the batch axis of the input and output is the symbol "batch" (any size).
    Returns the onnx.ModelProto that was written. Raises ExportError (see there).
    """
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"export: opset must be an int from {MIN_OPSET} to {newest} (this onnx package's "
                          f"newest), got {opset!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ExportError(f"export: cannot write {path}: the folder {folder} does not exist")
    x = example_input if isinstance(example_input, Tensor) else model.as_input(example_input)
    if x.ndim < 1:
        raise ExportError(f"export: example_input must have a batch axis, got shape {tuple(x.shape)}")

    if any(m.training for m in model.modules()):
        warnings.warn(f"export: {type(model).__name__} is in training mode; it is exported in eval mode "
                      "(batch norm uses its running statistics, dropout and auxiliary heads are off)",
                      stacklevel=2)
    recorder = _Recorder()
    with model.inference():
        handle = observe(recorder)
        try:
            y = model(x)
        finally:
            handle.remove()
    outputs = [y] if isinstance(y, Tensor) else list(y) if isinstance(y, (tuple, list)) else None
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise ExportError(f"export: {type(model).__name__} must return a Tensor or a tuple of Tensors, "
                          f"got {type(y).__name__}")

    graph = _GraphBuilder(model, x, dynamic_batch)
    for call in recorder.calls:
        graph.convert(*call)
    proto = graph.make_model(outputs, opset)
    try:
        with atomic_write(path, suffix=".onnx") as tmp:
            onnx.save_model(proto, tmp)
    except OSError as e:
        raise ExportError(f"export: cannot write {path}: {e.strerror or e}") from e
    return proto


class _Recorder(Observer):
    """Every forward op call in order: (function, inputs, outputs, module). Holding the Tensors
    keeps their ids unique for the whole trace (a freed tensor's id can be reused)."""

    def __init__(self):
        self.calls = []

    def op_end(self, function, phase, inputs, outputs):
        if phase == "forward":
            self.calls.append((function, list(inputs), list(outputs), current_module()))


class _GraphBuilder:
    """Collects nodes and initializers; ``values`` maps id(Tensor) to its ONNX value name."""

    def __init__(self, model, x, dynamic_batch):
        self.model, self.x, self.dynamic_batch = model, x, dynamic_batch
        self.names = ModuleNames()
        self.names.add_root(model)
        self.nodes, self.initializers, self.taken = [], [], {"input"}
        self.values = {id(x): "input"}
        self.produced = set()                 # value names some node outputs

    def convert(self, function, inputs, outputs, module):
        prefix = self.names.module(module)        # the root model is named by its class
        where = f"{prefix} ({type(module).__name__})"
        converter = CONVERTERS.get(type(function))
        if converter is None:
            raise ExportError(f"export: op {type(function).__name__} in module {where} has no ONNX mapping; "
                              f"mapped ops: {', '.join(sorted(c.__name__ for c in CONVERTERS))}")
        self.call = _Call(function, inputs, outputs, prefix, where)
        results = converter(self, self.call)
        results = results if isinstance(results, list) else [results]
        for tensor, name in zip(outputs, results):
            self.values[id(tensor)] = name

    # ---- what converters call ------------------------------------------------------------------
    def input(self, i):
        """The value name of the current call's input i: an op's output, the graph input, a
        parameter or buffer (an initializer named as in state_dict), or else a constant."""
        return self.value(self.call.inputs[i], "constant")

    def value(self, tensor, label):
        if id(tensor) not in self.values:
            name = self.names.parameter(tensor) or self.names.buffer(tensor)
            if name is None:
                name = self._unique(f"{self.call.prefix}/{label}")
            self.initializers.append(numpy_helper.from_array(backend.to_device(tensor.array, "cpu"), name))
            self.taken.add(name)
            self.values[id(tensor)] = name
        return self.values[id(tensor)]

    def constant(self, label, array):
        """A new initializer holding ``array`` (shapes, axes, pads, pooling matrices)."""
        name = self._unique(f"{self.call.prefix}/{label}")
        self.initializers.append(numpy_helper.from_array(np.asarray(backend.to_device(array, "cpu")), name))
        return name

    def node(self, op_type, inputs, **attributes):
        """Append a node named "<module>/<op_type>"; its one output takes the same name, returned."""
        name = self._unique(f"{self.call.prefix}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, doc_string=(
            f"minicnn {type(self.call.function).__name__} in {self.call.where}"), **attributes))
        self.produced.add(name)
        return name

    def error(self, why):
        return ExportError(f"export: op {type(self.call.function).__name__} in module {self.call.where}: {why}")

    def _unique(self, name):
        base, k = name, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    # ---- the model --------------------------------------------------------------------------------
    def make_model(self, outputs, opset):
        if "input" not in {i for node in self.nodes for i in node.input}:
            raise ExportError(f"export: {type(self.model).__name__} never used the example input in an op "
                              "(did its forward wrap it in a new Tensor?)")
        output_names = ["output"] if len(outputs) == 1 else [f"output{i}" for i in range(len(outputs))]
        renamed = {}
        for i, tensor in enumerate(outputs):
            name = self.values.get(id(tensor))
            if name not in self.produced or name in renamed:
                raise ExportError(f"export: output {i} of {type(self.model).__name__} is not computed by an op "
                                  "(the input, a weight, or an output returned twice)")
            renamed[name] = output_names[i]
        for node in self.nodes:
            node.input[:] = [renamed.get(v, v) for v in node.input]
            node.output[:] = [renamed.get(v, v) for v in node.output]
        graph = helper.make_graph(self.nodes, type(self.model).__name__,
                                  [self._value_info("input", self.x)],
                                  [self._value_info(n, t) for n, t in zip(output_names, outputs)],
                                  initializer=self.initializers)
        opsets = [helper.make_opsetid("", opset)]
        proto = helper.make_model(graph, opset_imports=opsets, producer_name="minicnn",
                                  producer_version=minicnn.__version__,
                                  doc_string=f"{type(self.model).__name__} exported by minicnn.onnx")
        proto.ir_version = helper.find_min_ir_version_for(opsets)   # the oldest runtimes that can read it
        # Shapes on every edge (Netron shows them); strict mode also catches a malformed graph here.
        return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)

    def _value_info(self, name, tensor):
        dims = list(tensor.shape)
        if self.dynamic_batch and dims and dims[0] == self.x.shape[0]:
            dims[0] = "batch"
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(tensor.dtype)), dims)


class _Call:
    """One traced op call while it is converted; ``prefix`` names its nodes and constants."""

    def __init__(self, function, inputs, outputs, prefix, where):
        self.function, self.inputs, self.outputs, self.prefix, self.where = function, inputs, outputs, prefix, where


# ---- converters: one per Function class, (graph, call) -> the output value name -------------------
def _inputs(g, c):
    return [g.input(i) for i in range(len(c.inputs))]


def _elementwise(op_type):
    def convert(g, c):
        return g.node(op_type, _inputs(g, c))
    return convert


def _conv2d(g, c):
    f = c.function
    PT, PB, PL, PR = f.pads
    return g.node("Conv", _inputs(g, c), kernel_shape=list(c.inputs[1].shape[2:]), strides=list(f.stride),
                  pads=[PT, PL, PB, PR], dilations=list(f.dilation), group=f.groups)


def _conv_transpose2d(g, c):
    f = c.function
    stride, (PT, PB, PL, PR), groups, dilation = f.conv
    return g.node("ConvTranspose", _inputs(g, c), kernel_shape=list(c.inputs[1].shape[2:]), strides=list(stride),
                  pads=[PT, PL, PB, PR], dilations=list(dilation), group=groups,
                  output_padding=list(f.output_padding))


def _pool_attributes(f, pads):
    """ceil_mode is not passed on: ONNX's keeps a last window that starts in the bottom/right padding,
    which minicnn (like PyTorch) drops. minicnn's forward already padded the bottom and right so
    that floor division gives its output size (``f.pads``), and that padding is passed instead."""
    top, bottom, left, right = pads
    return dict(kernel_shape=list(f.kernel), strides=list(f.stride), pads=[top, left, bottom, right])


def _max_pool2d(g, c):
    return g.node("MaxPool", _inputs(g, c), **_pool_attributes(c.function, c.function.pads))


def _avg_pool2d(g, c):
    f = c.function
    (PH, PW), (top, bottom, left, right) = f.padding, f.pads
    extra = bottom > PH or right > PW                    # ceil_mode's cells, never in the divisor
    if not extra:
        return g.node("AveragePool", _inputs(g, c), count_include_pad=int(f.count_include_pad),
                      **_pool_attributes(f, f.pads))
    if not f.count_include_pad or (PH, PW) == (0, 0):
        return g.node("AveragePool", _inputs(g, c), count_include_pad=0, **_pool_attributes(f, f.pads))
    # The divisor counts the zero padding but not the ceil_mode cells: pad the zeros as input first.
    padded = _pad(g, c, [0, 0, PH, PW], [0, 0, PH, PW], 0.0)
    return g.node("AveragePool", [padded], count_include_pad=0,
                  **_pool_attributes(f, (0, bottom - PH, 0, right - PW)))


def _adaptive_avg_pool2d(g, c):
    (OH, OW), (H, W) = c.function.output_size, c.inputs[0].shape[2:]
    if H % OH == 0 and W % OW == 0:          # equal bins that do not overlap: a plain average pool
        return g.node("AveragePool", _inputs(g, c), kernel_shape=[H // OH, W // OW], strides=[H // OH, W // OW])
    # Uneven bins: minicnn's own maths, y = Ph @ x @ Pw.T with the averaging matrices.
    rows = g.node("MatMul", [g.constant("Ph", c.function.Ph), g.input(0)])
    return g.node("MatMul", [rows, g.constant("PwT", c.function.Pw.T)])


def _batch_norm(g, c):
    f = c.function
    if f.training:
        raise g.error("batch statistics (track_running_stats=False) have no inference-time form; "
                      "only batch norm with running statistics exports")
    C = c.inputs[0].shape[1]
    dtype = c.inputs[0].dtype
    scale = g.input(1) if f.has_weight else g.constant("scale", np.ones(C, dtype))
    bias = g.input(len(c.inputs) - 1) if f.has_bias else g.constant("bias", np.zeros(C, dtype))
    mean, var = g.value(f.running_mean, "running_mean"), g.value(f.running_var, "running_var")
    return g.node("BatchNormalization", [g.input(0), scale, bias, mean, var], epsilon=f.eps)


def _local_response_norm(g, c):
    f = c.function
    if f.size % 2 == 0:
        # ONNX's window reaches one channel further forward than back; minicnn's (PyTorch's) the other way.
        raise g.error(f"size={f.size} is even, and ONNX's LRN places an even window one channel off "
                      "from minicnn's; only odd sizes export")
    return g.node("LRN", _inputs(g, c), size=f.size, alpha=f.alpha, beta=f.beta, bias=f.k)


def _linear(g, c):
    return g.node("Gemm", _inputs(g, c), transB=1)


def _leaky_relu(g, c):
    return g.node("LeakyRelu", _inputs(g, c), alpha=c.function.negative_slope)


def _pow(g, c):
    return g.node("Pow", [g.input(0), g.constant("exponent", np.asarray(c.function.p, c.inputs[0].dtype))])


def _cast(g, c):
    return g.node("Cast", _inputs(g, c), to=helper.np_dtype_to_tensor_dtype(c.outputs[0].dtype))


def _softmax(op_type):
    def convert(g, c):
        return g.node(op_type, _inputs(g, c), axis=c.function.axis)
    return convert


def _sum(g, c):
    f = c.function
    return g.node("ReduceSum", [g.input(0), g.constant("axes", np.array(f.axes, np.int64))], keepdims=int(f.keepdims))


def _reshape(g, c):
    shape = list(c.function.shape)
    if g.dynamic_batch:
        if not shape or shape[0] != c.inputs[0].shape[0]:
            raise g.error(f"the reshape from {tuple(c.inputs[0].shape)} to {tuple(shape)} changes the batch axis, "
                          "which then cannot stay dynamic; export with dynamic_batch=False")
        shape[0] = 0            # ONNX: 0 copies the input's size, so any batch size passes
    return g.node("Reshape", [g.input(0), g.constant("shape", np.array(shape, np.int64))])


def _transpose(g, c):
    axes = c.function.axes
    return g.node("Transpose", _inputs(g, c), **({} if axes is None else {"perm": list(axes)}))


def _getitem(g, c):
    index = c.function.index
    index = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(s, slice) and (s.step is None or s.step > 0) for s in index):
        raise g.error(f"index {index!r} is not a tuple of slices with positive steps, the only kind that "
                      "exports (as Slice)")
    cut = [(axis, s) for axis, s in enumerate(index) if s != slice(None)]
    if g.dynamic_batch and cut and cut[0][0] == 0:
        raise g.error("slicing the batch axis keeps it from being dynamic; export with dynamic_batch=False")
    if not cut:
        return g.node("Identity", _inputs(g, c))
    starts = [0 if s.start is None else s.start for _, s in cut]
    ends = [INT64_MAX if s.stop is None else s.stop for _, s in cut]
    steps = [1 if s.step is None else s.step for _, s in cut]
    return g.node("Slice", [g.input(0), g.constant("starts", np.array(starts, np.int64)),
                            g.constant("ends", np.array(ends, np.int64)),
                            g.constant("axes", np.array([a for a, _ in cut], np.int64)),
                            g.constant("steps", np.array(steps, np.int64))])


def _concat(g, c):
    return g.node("Concat", _inputs(g, c), axis=c.function.axis)


def _pad(g, c, before, after, value):
    """ONNX Pad: pads = [begin of every axis..., end of every axis...]."""
    pads = g.constant("pads", np.array(before + after, np.int64))
    return g.node("Pad", [g.input(0), pads, g.constant("value", np.asarray(value, c.inputs[0].dtype))],
                  mode="constant")


def _pad_spatial(g, c):
    top, bottom, left, right = c.function.pads
    lead = [0] * (c.inputs[0].ndim - 2)
    return _pad(g, c, lead + [top, left], lead + [bottom, right], c.function.value)


def _pad_channels(g, c):
    f = c.function
    return _pad(g, c, [0, f.before, 0, 0], [0, f.after, 0, 0], 0.0)


CONVERTERS = {
    Conv2d: _conv2d,
    ConvTranspose2d: _conv_transpose2d,
    MaxPool2d: _max_pool2d,
    AvgPool2d: _avg_pool2d,
    AdaptiveAvgPool2d: _adaptive_avg_pool2d,
    BatchNorm: _batch_norm,
    LocalResponseNorm: _local_response_norm,
    Linear: _linear,
    ReLU: _elementwise("Relu"),
    LeakyReLU: _leaky_relu,
    Sigmoid: _elementwise("Sigmoid"),
    Tanh: _elementwise("Tanh"),
    Add: _elementwise("Add"),
    Sub: _elementwise("Sub"),
    Mul: _elementwise("Mul"),
    Div: _elementwise("Div"),
    Neg: _elementwise("Neg"),
    Exp: _elementwise("Exp"),
    Log: _elementwise("Log"),
    MatMul: _elementwise("MatMul"),
    Pow: _pow,
    Cast: _cast,
    Softmax: _softmax("Softmax"),
    LogSoftmax: _softmax("LogSoftmax"),
    Sum: _sum,
    Reshape: _reshape,
    Transpose: _transpose,
    GetItem: _getitem,
    Concat: _concat,
    Pad: _pad_spatial,
    PadChannels: _pad_channels,
}
