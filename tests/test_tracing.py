"""minicnn.trace(): one block per op of each backward pass, from the loss back to the input, with
the gradients that flow in and out, their shapes and norms."""
import io
import re

import numpy as np
import pytest

import minicnn as mc
from minicnn import autograd

HEADER = re.compile(r"^backward (\d+): (\w+)(?: in (\S+))?$")
GRADIENT = re.compile(r"dL/d ([\w.]+(?: \d+)?) (\([\d, ]*\)) \|([^|]+)\|")

# The backward of LeNet-5: the forward ops in reverse, each with the module it ran in.
LENET_BACKWARD = [("CrossEntropy", None), ("Linear", "classifier.5"), ("ReLU", "classifier.4"),
                  ("Linear", "classifier.3"), ("ReLU", "classifier.2"), ("Linear", "classifier.1"),
                  ("Reshape", "classifier.0"), ("MaxPool2d", "features.5"), ("ReLU", "features.4"),
                  ("Conv2d", "features.3"), ("MaxPool2d", "features.2"), ("ReLU", "features.1"),
                  ("Conv2d", "features.0")]


def blocks(text):
    """[(number, op, module, received gradients, sent gradients)], gradients as [(name, shape, norm text)]."""
    lines = text.split("\n")
    assert lines[-1] == "" and (len(lines) - 1) % 3 == 0, text
    result = []
    for header, received, sent in zip(lines[0:-1:3], lines[1:-1:3], lines[2:-1:3]):
        match = HEADER.match(header)
        assert match, header
        assert received.startswith("    ") and sent.startswith("    ")
        result.append((int(match[1]), match[2], match[3], GRADIENT.findall(received), GRADIENT.findall(sent)))
    return result


def shape_text(shape):
    return str(tuple(shape))


def norm_text(array):
    return f"{np.linalg.norm(np.asarray(array, np.float64).ravel()):.4g}"


def test_lenet5_backward_prints_each_op_from_the_loss_back_with_parameter_names(lenet_batch):
    model, x, y = lenet_batch
    out = io.StringIO()
    with mc.trace(file=out):
        loss = mc.ops.cross_entropy(model(x), y)
        loss.backward()
    text = out.getvalue()
    assert text.startswith("backward 1: CrossEntropy\n    dL/d output () |1|\n    dL/d input 0 (2, 10) |")
    assert "backward 2: Linear in classifier.5\n" in text
    printed = blocks(text)
    assert [(n, op, module) for n, op, module, _, _ in printed] == \
        [(i + 1, op, module) for i, (op, module) in enumerate(LENET_BACKWARD)]
    # The parameters' gradients, by name, with the shapes and norms the leaves received.
    sent = {name: (shape, norm) for *_, grads in printed for name, shape, norm in grads}
    params = dict(model.named_parameters())
    assert len(params) == 10 and set(params) <= set(sent)
    for name, p in params.items():
        assert sent[name] == (shape_text(p.shape), norm_text(p.grad.array)), name
        assert float(sent[name][1]) == pytest.approx(np.linalg.norm(p.grad.array), rel=1e-3)
    # The chain: what an op sends to its input is what the op before it in the forward receives.
    for (*_, sent_before), (*_, received, _) in zip(printed, printed[1:]):
        (to_input,) = [(shape, norm) for name, shape, norm in sent_before if name == "input 0"]
        assert received == [("output", *to_input)]
    # The image needs no gradient: the first conv sends only to its weight and bias.
    assert [name for name, *_ in printed[-1][4]] == ["features.0.weight", "features.0.bias"]
    assert not autograd._observers


def test_backward_alone_in_the_block_prints_inputs_for_unknown_parameters(lenet_batch):
    model, x, y = lenet_batch
    loss = mc.ops.cross_entropy(model(x), y)          # the forward ran outside: no parameter names known
    out = io.StringIO()
    with mc.trace(file=out):
        loss.backward()
    printed = blocks(out.getvalue())
    assert [op for _, op, *_ in printed] == [op for op, _ in LENET_BACKWARD]
    assert "classifier.5.weight" not in out.getvalue() and "features.0" not in out.getvalue()
    linear = printed[1]
    assert [(name, shape) for name, shape, _ in linear[4]] == [("input 0", "(2, 84)"), ("input 1", "(10, 84)"),
                                                               ("input 2", "(10,)")]
    assert linear[4][1][2] == norm_text(model.classifier[5].weight.grad.array)


def test_forward_only_prints_nothing(lenet_batch):
    model, x, y = lenet_batch
    out = io.StringIO()
    with mc.trace(file=out):
        mc.ops.cross_entropy(model(x), y)
        with mc.no_grad():
            model(x)
    assert out.getvalue() == ""
    assert not autograd._observers


def test_each_backward_in_the_block_is_printed_and_nothing_after_it(lenet_batch, capsys):
    model, x, y = lenet_batch
    with mc.trace():                                   # default: stdout
        for _ in range(2):
            mc.ops.cross_entropy(model(x), y).backward()
    printed = blocks(capsys.readouterr().out)
    assert len(printed) == 2 * len(LENET_BACKWARD)
    assert [op for _, op, *_ in printed] == [op for op, _ in LENET_BACKWARD] * 2
    mc.ops.cross_entropy(model(x), y).backward()
    assert capsys.readouterr().out == ""
    assert not autograd._observers
