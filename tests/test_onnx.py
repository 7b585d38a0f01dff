"""minicnn.onnx.export: the zoo after a few training steps and every mapped op, checked by onnx.checker
and run by onnxruntime against minicnn's own eval output; dynamic batch; the errors."""
import os
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn import models, nn, ops
from minicnn.models.googlenet import GoogLeNet
from minicnn.models.inception import BNInception, Inception3

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
export_onnx = pytest.importorskip("minicnn.onnx")

TOL = 1e-4      # float32: max |onnxruntime - minicnn| / max |minicnn|


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def eval_output(model, x):
    with model.inference():
        return model(mc.Tensor(x)).numpy()


def relative_difference(got, expected):
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))


def assert_export_matches(model, x, path, other_batch=None):
    """Export (eval mode), check the file, and compare onnxruntime with minicnn on x (and on a
    batch of another size, which only a dynamic batch axis accepts)."""
    proto = export_onnx.export(model, x, path)
    onnx.checker.check_model(str(path), full_check=True)
    batches = [x] if other_batch is None else [x, other_batch]
    for batch in batches:
        got, expected = run_onnx(path, batch), eval_output(model, batch)
        assert got.shape == expected.shape
        assert relative_difference(got, expected) < TOL, relative_difference(got, expected)
    return proto


def train_steps(model, shape, steps=2, lr=0.01, seed=0):
    """A few SGD steps in training mode on random data, so batch norm's running statistics and
    the weights are no longer their initial values. Auxiliary heads' losses are added with the
    model's aux_loss_weight, as training does."""
    rng = np.random.default_rng(seed)
    optimizer = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(steps):
        x = mc.Tensor(rng.standard_normal(shape).astype(np.float32))
        y = rng.integers(0, 10, shape[0])
        out = model(x)
        logits = out if isinstance(out, mc.Tensor) else out[0]
        loss = ops.cross_entropy(logits, y)
        if not isinstance(out, mc.Tensor):
            for aux in out[1:]:
                loss = loss + model.aux_loss_weight * ops.cross_entropy(aux, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def batch_norm_moved(model):
    """True when every batch norm's running statistics left their initial 0 and 1."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return all(np.abs(m.running_mean.numpy()).max() > 0 and np.abs(m.running_var.numpy() - 1).max() > 0
               for m in norms)


# The zoo's architectures; narrower (width, hidden, width_divisor) where the builder allows, so
# the whole file runs in well under a minute on two cores. The graph's op types and geometry
# are those of the full-size model.
ZOO = {
    "lenet5": (lambda: models.get("lenet5"), (2, 1, 32, 32)),
    "alexnet": (lambda: models.get("alexnet", num_classes=10, widths=(16, 32, 48, 48, 32), hidden=64),
                (2, 3, 224, 224)),
    "resnet20": (lambda: models.get("resnet20"), (2, 3, 32, 32)),
    "resnet50": (lambda: models.get("resnet50", num_classes=10), (2, 3, 64, 64)),
    "googlenet": (lambda: GoogLeNet(num_classes=10, width_divisor=8), (2, 3, 224, 224)),
    "inception_v3": (lambda: Inception3(num_classes=10, width_divisor=16), (2, 3, 299, 299)),
    "densenet_bc100": (lambda: models.get("densenet_bc100"), (2, 3, 32, 32)),
    "vgg11_bn": (lambda: models.get("vgg11_bn", num_classes=10, width=16, hidden=64), (2, 3, 32, 32)),
    # the zoo's other families: ZFNet (ceil_mode pooling), BN-Inception, a plain net (no shortcuts)
    "zfnet": (lambda: models.get("zfnet", num_classes=10, widths=(16, 32, 48, 48, 32), hidden=64),
              (2, 3, 224, 224)),
    "inception_v2": (lambda: BNInception(num_classes=10, width_divisor=16), (2, 3, 32, 32)),
    "plain20": (lambda: models.get("plain20"), (2, 3, 32, 32)),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_after_training_steps_matches_onnxruntime(name, tmp_path):
    build, shape = ZOO[name]
    mc.manual_seed(0)
    model = train_steps(build(), shape)
    assert batch_norm_moved(model)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    other = rng.standard_normal((3,) + shape[1:]).astype(np.float32)
    proto = assert_export_matches(model, x, tmp_path / f"{name}.onnx", other_batch=other)

    graph = proto.graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # every weight and running statistic is an initializer named as in state_dict, but the aux heads'
    initializers = {i.name for i in graph.initializer}
    aux = {k for k in model.state_dict() if k.startswith(("aux1.", "aux2.", "AuxLogits."))}
    assert bool(aux) == (name in ("googlenet", "inception_v3"))
    assert {k for k in model.state_dict() if not k.endswith("num_batches_tracked")} - aux <= initializers
    # nodes carry the module's qualified name; the auxiliary heads ran nowhere in eval mode
    names = [n.name for n in graph.node]
    assert len(set(names)) == len(names)
    assert not any(n.startswith(("aux1", "aux2", "AuxLogits")) for n in names + sorted(initializers))


def test_a_model_on_either_device_exports(xp, tmp_path):
    """Weights, running statistics and the pooling matrices of uneven adaptive bins come back to
    the host for the file (VGG's 7x7 from a 1x1 map; option A's Slice + Pad in ResNet-20)."""
    device = "cpu" if xp is np else "cuda"
    for model in (models.get("vgg11_bn", num_classes=10, width=8, hidden=16), models.get("resnet20")):
        mc.manual_seed(0)
        model = train_steps(model, (2, 3, 32, 32)).to(device)
        x = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)
        export_onnx.export(model, x, tmp_path / "m.onnx")
        with model.inference():
            expected = model(model.as_input(x)).numpy()
        assert relative_difference(run_onnx(tmp_path / "m.onnx", x), expected) < TOL


def test_node_names_and_ops_of_resnet20(tmp_path):
    """Netron shows layer1.0.conv1; option A's shortcut is Slice + Pad; shapes are inferred on every edge."""
    model = models.get("resnet20").eval()
    proto = export_onnx.export(model, np.zeros((1, 3, 32, 32), np.float32), tmp_path / "r.onnx")
    nodes = {n.name: n for n in proto.graph.node}
    assert list(nodes["layer1.0.conv1/Conv"].input) == ["relu/Relu", "layer1.0.conv1.weight"]
    assert nodes["layer1.0.bn1/BatchNormalization"].input[3:] == ["layer1.0.bn1.running_mean",
                                                                  "layer1.0.bn1.running_var"]
    shortcut = [n.op_type for n in proto.graph.node if n.name.startswith("layer2.0.downsample/")]
    assert shortcut == ["Slice", "Pad"]
    assert {n.op_type for n in proto.graph.node} == {"Conv", "BatchNormalization", "Relu", "Add", "Slice", "Pad",
                                                     "AveragePool", "Reshape", "Gemm"}
    assert len(proto.graph.value_info) == len(proto.graph.node) - 1     # every output but the graph's own


class OpModel(nn.Module):
    """One op, with random parameters of the given shapes: forward is fn(self, x)."""

    def __init__(self, fn, **shapes):
        super().__init__()
        self.fn = fn
        rng = np.random.default_rng(0)
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(rng.standard_normal(shape).astype(np.float32)))

    def forward(self, x):
        return self.fn(self, x)


def trained_batch_norm():
    bn = nn.BatchNorm2d(4)
    bn.running_mean.data[:] = [0.5, -1.0, 0.0, 2.0]
    bn.running_var.data[:] = [0.25, 4.0, 1.0, 0.5]
    bn.weight.data[:] = [1.5, -0.5, 1.0, 2.0]
    bn.bias.data[:] = [0.1, 0.2, -0.3, 0.0]
    return bn


# Every mapped op, and the geometry the zoo does not reach (asymmetric padding, count_include_pad=False).
OPS = {
    "conv groups, asymmetric padding, 2x5 kernel": (
        lambda m, x: ops.conv2d(x, m.w, m.b, stride=(2, 1), padding=((1, 2), (0, 3)), groups=2),
        dict(w=(6, 2, 2, 5), b=(6,)), (2, 4, 9, 8)),
    "conv without bias": (lambda m, x: ops.conv2d(x, m.w, padding=1), dict(w=(3, 4, 3, 3)), (2, 4, 5, 5)),
    "conv transpose": (lambda m, x: ops.conv_transpose2d(x, m.w, m.b, stride=2, padding=1, output_padding=1,
                                                          groups=2, dilation=(1, 2)),
                       dict(w=(4, 3, 3, 2), b=(6,)), (2, 4, 5, 4)),
    "conv dilated": (lambda m, x: ops.conv2d(x, m.w, stride=(2, 1), padding=2, dilation=(2, 3)), dict(w=(3, 4, 3, 2)),
                     (2, 4, 9, 8)),
    "max pool ceil_mode": (lambda m, x: ops.max_pool2d(x, 3, 2, ceil_mode=True), {}, (2, 4, 8, 8)),
    "max pool padding ceil_mode": (lambda m, x: ops.max_pool2d(x, 3, 2, padding=1, ceil_mode=True), {},
                                   (2, 4, 8, 7)),
    # ceil_mode's window that would start in the bottom/right padding is dropped (7 -> 4, not 5)
    "max pool ceil_mode, window in padding": (lambda m, x: ops.max_pool2d(x, 2, 2, padding=1, ceil_mode=True), {},
                                              (2, 4, 7, 7)),
    "avg pool ceil_mode, window in padding": (lambda m, x: ops.avg_pool2d(x, 2, 2, padding=1, ceil_mode=True), {},
                                              (2, 4, 7, 7)),
    "avg pool count_include_pad": (lambda m, x: ops.avg_pool2d(x, 3, 2, padding=1), {}, (2, 4, 7, 8)),
    "avg pool not count_include_pad": (
        lambda m, x: ops.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False), {}, (2, 4, 7, 8)),
    "avg pool ceil_mode": (lambda m, x: ops.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True), {}, (2, 4, 8, 8)),
    "avg pool ceil_mode not count_include_pad": (
        lambda m, x: ops.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False), {}, (2, 4, 7, 7)),
    "global avg pool": (lambda m, x: ops.global_avg_pool2d(x), {}, (2, 4, 5, 6)),
    "adaptive avg pool, even bins": (lambda m, x: ops.adaptive_avg_pool2d(x, (2, 3)), {}, (2, 4, 6, 6)),
    "adaptive avg pool, uneven bins": (lambda m, x: ops.adaptive_avg_pool2d(x, (3, 4)), {}, (2, 4, 7, 5)),
    "batch norm eval": (lambda m, x: m.bn(x), {}, (2, 4, 3, 3)),
    "batch norm 1d": (lambda m, x: m.bn1d(x), {}, (2, 4)),
    "lrn": (lambda m, x: ops.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0), {}, (2, 7, 3, 3)),
    "linear": (lambda m, x: ops.linear(x, m.w, m.b), dict(w=(5, 6), b=(5,)), (2, 6)),
    "linear without bias": (lambda m, x: ops.linear(x, m.w), dict(w=(5, 6)), (2, 6)),
    "activations": (lambda m, x: ops.relu(x) + ops.leaky_relu(x, 0.2) + ops.sigmoid(x) * ops.tanh(x), {}, (2, 5)),
    "arithmetic": (lambda m, x: (-(x - 1.5) / 2.0 + ops.exp(x) * ops.log(ops.sigmoid(x))) ** 2, {}, (2, 5)),
    "matmul": (lambda m, x: x @ m.w, dict(w=(5, 3)), (2, 5)),
    "softmax, log_softmax": (lambda m, x: ops.softmax(x) + ops.log_softmax(x, axis=1), {}, (2, 5)),
    "sum, mean": (lambda m, x: ops.sum(x, axis=(1, 3), keepdims=True) + ops.mean(x, axis=2, keepdims=True),
                  {}, (2, 3, 4, 5)),
    "reshape, flatten, transpose": (
        lambda m, x: ops.flatten(ops.transpose(ops.reshape(x, (x.shape[0], 4, 6)), (0, 2, 1))), {}, (2, 3, 8)),
    "concat": (lambda m, x: ops.concat([x, ops.relu(x), x * 2.0], axis=1), {}, (2, 3, 4)),
    "slice": (lambda m, x: x[:, 1:, ::2, 1::3], {}, (2, 4, 7, 8)),
    "pad": (lambda m, x: ops.pad(x, ((1, 0), (2, 3)), value=-1.0), {}, (2, 3, 4, 4)),
    "option-A shortcut": (lambda m, x: ops.pad_channels(x[:, :, ::2, ::2], 2, 2), {}, (2, 4, 6, 6)),
    "cast": (lambda m, x: ops.cast(ops.cast(x, "float64") * 3.0, "float32"), {}, (2, 5)),
}


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_onnxruntime(name, tmp_path):
    fn, shapes, shape = OPS[name]
    model = OpModel(fn, **shapes)
    model.bn, model.bn1d = trained_batch_norm(), nn.BatchNorm1d(4)
    model.bn1d.running_mean.data[:] = [1.0, 2.0, 3.0, 4.0]
    model.eval()
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    other = np.random.default_rng(3).standard_normal((5,) + shape[1:]).astype(np.float32)
    assert_export_matches(model, x, tmp_path / "op.onnx", other_batch=other)


@pytest.mark.parametrize("opset", [export_onnx.MIN_OPSET, onnx.defs.onnx_opset_version()])
def test_oldest_and_newest_opset(opset, tmp_path):
    model = models.get("resnet20").eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    proto = export_onnx.export(model, x, tmp_path / "r.onnx", opset=opset)
    assert proto.opset_import[0].version == opset
    onnx.checker.check_model(str(tmp_path / "r.onnx"))
    assert relative_difference(run_onnx(tmp_path / "r.onnx", x), eval_output(model, x)) < TOL


def test_several_outputs(tmp_path):
    model = OpModel(lambda m, x: (ops.relu(x), ops.sigmoid(x) * 2.0)).eval()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    proto = export_onnx.export(model, x, tmp_path / "m.onnx")
    assert [o.name for o in proto.graph.output] == ["output0", "output1"]
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], np.maximum(x, 0))
    np.testing.assert_allclose(got[1], 2 / (1 + np.exp(-x)), rtol=1e-6)


def test_fixed_batch(tmp_path):
    model = models.get("lenet5").eval()
    proto = export_onnx.export(model, np.zeros((4, 1, 32, 32), np.float32), tmp_path / "l.onnx", dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    with pytest.raises(Exception, match="index: 0 Got: 2 Expected: 4"):
        run_onnx(tmp_path / "l.onnx", np.zeros((2, 1, 32, 32), np.float32))


def test_training_mode_is_exported_in_eval_mode_with_a_warning(tmp_path):
    mc.manual_seed(0)
    model = train_steps(models.get("resnet20"), (2, 3, 32, 32)).train()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with pytest.warns(UserWarning, match="CifarResNet is in training mode; it is exported in eval mode"):
        export_onnx.export(model, x, tmp_path / "r.onnx")
    assert model.training and all(m.training for m in model.modules())       # its own mode back
    assert relative_difference(run_onnx(tmp_path / "r.onnx", x), eval_output(model, x)) < TOL
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_onnx.export(model, x, tmp_path / "r.onnx")                      # eval mode: no warning


def test_unmapped_op_names_the_op_and_the_module(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), OpModel(lambda m, x: ops.max(x, axis=1)))
    with pytest.raises(export_onnx.ExportError, match=r"op Max in module 1 \(OpModel\) has no ONNX mapping"):
        export_onnx.export(model.eval(), np.zeros((1, 1, 5, 5), np.float32), tmp_path / "m.onnx")
    assert not os.path.exists(tmp_path / "m.onnx")


@pytest.mark.parametrize("fn, message", [
    (lambda m, x: ops.local_response_norm(x, 4), r"LocalResponseNorm in module OpModel .*size=4 is even"),
    (lambda m, x: x[:, :, [0, 2]], r"GetItem in module OpModel .*not a tuple of slices"),
    (lambda m, x: x[:1], r"slicing the batch axis"),
    (lambda m, x: ops.reshape(x, (-1,)), r"changes the batch axis"),
    (lambda m, x: ops.dropout(x, 0.5, training=True), r"op Dropout in module OpModel \(OpModel\) has no ONNX mapping"),
    (lambda m, x: mc.Tensor(x.numpy()) * 2.0, r"OpModel never used the example input in an op"),
    (lambda m, x: (lambda y: (y, y))(ops.relu(x)), r"output 1 of OpModel is not computed by an op"),
])
def test_ops_that_cannot_be_exported_are_named(fn, message, tmp_path):
    with pytest.raises(export_onnx.ExportError, match=message):
        export_onnx.export(OpModel(fn).eval(), np.zeros((2, 6, 3, 3), np.float32), tmp_path / "m.onnx")


def test_batch_norm_without_running_statistics_is_named(tmp_path):
    model = nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False)).eval()
    with pytest.raises(export_onnx.ExportError, match=r"BatchNorm in module 0 \(BatchNorm2d\): batch statistics"):
        export_onnx.export(model, np.zeros((2, 3, 2, 2), np.float32), tmp_path / "m.onnx")


def test_unwritable_path_and_bad_opset(tmp_path):
    model, x = models.get("lenet5").eval(), np.zeros((1, 1, 32, 32), np.float32)
    missing = tmp_path / "no" / "such" / "folder" / "m.onnx"
    with pytest.raises(export_onnx.ExportError, match=f"cannot write {missing}: the folder .* does not exist"):
        export_onnx.export(model, x, missing)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(export_onnx.ExportError, match="cannot write"):
        export_onnx.export(model, x, a_file / "m.onnx")
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    with pytest.raises(export_onnx.ExportError, match=f"cannot write {folder}"):
        export_onnx.export(model, x, folder)                          # a folder where the file should go
    for opset in (12, 10_000, "17"):
        with pytest.raises(export_onnx.ExportError, match="opset must be an int from 13"):
            export_onnx.export(model, x, tmp_path / "m.onnx", opset=opset)


def test_import_minicnn_does_not_load_onnx():
    """onnx is an optional extra: only ``import minicnn.onnx`` loads it."""
    code = "import sys, minicnn; print('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_docs_example_runs(tmp_path, monkeypatch, capsys):
    """docs/export.md's Python block runs as written (in a scratch folder: it writes resnet20.onnx)."""
    text = (pathlib.Path(__file__).parents[1] / "docs" / "export.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/export.md", "exec"), {})
    nodes, difference = capsys.readouterr().out.splitlines()
    assert nodes.startswith("73 nodes; ['conv1/Conv', 'bn1/BatchNormalization', 'relu/Relu', 'layer1.0.conv1/Conv']")
    assert float(difference) < 1e-4 and (tmp_path / "resnet20.onnx").is_file()
