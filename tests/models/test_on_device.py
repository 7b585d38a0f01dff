"""Every registered model on the GPU: one training step (forward, cross-entropy with the auxiliary heads'
weight, backward, one SGD step with momentum and weight decay) gives what the same step gives on the CPU.

The models are narrowed (few channels, the same layers, so the same code paths) and float64: the two
devices then agree to round-off, which train-mode batch norm over a few values per channel amplifies from
~1e-16 to ~1e-10, and plain110 (110 layers without shortcuts) to ~5e-7. Batch norm runs in train mode
(batch statistics; the running statistics are compared after the step); dropout layers run in eval mode,
because their masks come from each device's own random stream (tests/ops/test_dropout.py and
tests/test_random.py test those).
"""
import copy
import functools
import importlib
import inspect

import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from tests.models.helpers import to_float64
from tests.oracle import rel_error

# Each family's registered builders go through one constructor: narrowing its arguments narrows every model
# of the family while keeping each one's own depth and options (block counts, shortcuts, strides, stems).
NARROW = [("alexnet", "AlexNet", dict(widths=(8, 12, 16, 16, 12), hidden=16)),
          ("zfnet", "ZFNet", dict(widths=(8, 12, 16, 16, 12), hidden=16)),
          ("vgg", "_vgg", dict(width=4, hidden=16)),
          ("densenet", "DenseNet", dict(growth_rate=4, num_init_features=8, bn_size=2)),
          ("resnet", "ResNet", dict(width=4)),
          ("resnet", "CifarResNet", dict(width=2)),
          ("googlenet", "GoogLeNet", dict(width_divisor=8)),
          ("inception", "BNInception", dict(width_divisor=32)),
          ("inception", "Inception3", dict(width_divisor=16))]
# The input side where a model's smallest input is smaller: ResNet at 32 has a 2x2 conv4_x map (at 16, batch
# norm over 4 values per channel amplifies the round-off to ~1e-6).
SIDE = {"ResNet": 32, "CifarResNet": 16, "DenseNet": 16, "BNInception": 16}
TOLERANCE = 1e-6


def narrowed(build, **narrow):
    """``build`` with the ``narrow`` arguments replacing whatever its caller passed."""
    @functools.wraps(build)
    def call(*args, **kwargs):
        bound = inspect.signature(build).bind(*args, **kwargs)
        bound.arguments.update(narrow)
        return build(*bound.args, **bound.kwargs)
    return call


def small_model(name, monkeypatch):
    """The registered model ``name``, narrowed, and the input side to run it at."""
    for family, constructor, narrow in NARROW:
        module = importlib.import_module(f"minicnn.models.{family}")
        monkeypatch.setattr(module, constructor, narrowed(getattr(module, constructor), **narrow))
    model = models.get(name)
    return model, max(models.info(name).min_size, SIDE.get(type(model).__name__, 0))


def train_step(model, x, labels):
    """One SGD step; returns host copies of the outputs, the loss, the gradients, the parameters and
    buffers after the step, and the logits in eval mode after it (batch norm's running statistics)."""
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    outputs = model(model.as_input(x))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    weights = [1.0] + [getattr(model, "aux_loss_weight", 0.0)] * (len(outputs) - 1)
    loss = sum(w * mc.ops.cross_entropy(out, labels) for w, out in zip(weights, outputs))
    loss.backward()
    grads = {f"grad {n}": p.grad.numpy() for n, p in model.named_parameters()}
    optimizer.step()
    with model.inference():
        evaluated = model(model.as_input(x))
    assert all(t.device == outputs[0].device for t in [*model.parameters(), *model.buffers(), loss, evaluated])
    return {**{f"output {i}": out.numpy() for i, out in enumerate(outputs)}, "loss": loss.numpy(), **grads,
            **{n: t.numpy() for n, t in model.state_dict().items()}, "eval output": evaluated.numpy()}


@pytest.mark.parametrize("name", models.list())
def test_a_training_step_on_the_gpu_equals_the_cpu_step(name, cupy, monkeypatch):
    mc.manual_seed(0)
    model, side = small_model(name, monkeypatch)
    on_cpu = to_float64(model).train()
    for m in on_cpu.modules():
        if isinstance(m, mc.nn.Dropout):
            m.eval()
    on_gpu = copy.deepcopy(on_cpu).to("cuda")
    x = np.random.default_rng(1).standard_normal((4, on_cpu.in_channels, side, side))
    labels = np.array([1, 3, 0, 2])
    want, got = train_step(on_cpu, x, labels), train_step(on_gpu, x, labels)
    if name == "plain110":
        # Its eval output overflows on both devices: after one step the running statistics are far from
        # the batch's, and 110 layers without shortcuts multiply the mismatch. Nothing finite to compare.
        del want["eval output"], got["eval output"]
    assert all(np.isfinite(v).all() for v in want.values()), [k for k, v in want.items() if not np.isfinite(v).all()]
    assert all(t.device == "cuda:0" for t in on_gpu.state_dict().values())
    assert got.keys() == want.keys()
    errors = {key: rel_error(got[key], want[key]) for key in want}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst}: rel error {errors[worst]:.2g} between cuda and cpu"
