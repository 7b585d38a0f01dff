"""The top-level functions (minicnn.cat, minicnn.max ...) give what torch's give, out= included."""
import numpy as np
import pytest
import torch

import minicnn as mc

X = np.array([[3.0, 1.0, 4.0], [1.5, 9.0, 2.0]])

CASES = [
    ("add", lambda lib, x: lib.add(x, x)), ("add_alpha", lambda lib, x: lib.add(x, 2.0, alpha=3)),
    ("sub", lambda lib, x: lib.sub(x, 1.0)), ("mul", lambda lib, x: lib.mul(x, x)), ("div", lambda lib, x: lib.div(x, 2.0)),
    ("matmul", lambda lib, x: lib.matmul(x, x.T)), ("matmul_1d", lambda lib, x: lib.matmul(x[0], x.T)),
    ("cat_0", lambda lib, x: lib.cat([x, x, x])), ("cat_1", lambda lib, x: lib.cat([x, x], dim=1)),
    ("stack", lambda lib, x: lib.stack([x, x], 1)), ("flatten", lambda lib, x: lib.flatten(x)),
    ("flatten_1", lambda lib, x: lib.flatten(x.reshape(2, 3, 1), 1)), ("reshape", lambda lib, x: lib.reshape(x, (3, 2))),
    ("unsqueeze", lambda lib, x: lib.unsqueeze(x, 0)), ("squeeze", lambda lib, x: lib.squeeze(x[:1])),
    ("permute", lambda lib, x: lib.permute(x, (1, 0))), ("transpose", lambda lib, x: lib.transpose(x, 0, 1)),
    ("max", lambda lib, x: lib.max(x)), ("max_dim", lambda lib, x: tuple(lib.max(x, 1))),
    ("min_dim", lambda lib, x: tuple(lib.min(x, 0))), ("argmax", lambda lib, x: lib.argmax(x, 1)),
    ("argmin", lambda lib, x: lib.argmin(x)), ("sum", lambda lib, x: lib.sum(x, 0)), ("mean", lambda lib, x: lib.mean(x)),
    ("exp", lambda lib, x: lib.exp(x)), ("log", lambda lib, x: lib.log(x)), ("sqrt", lambda lib, x: lib.sqrt(x)),
    ("relu", lambda lib, x: lib.relu(x - 2)), ("sigmoid", lambda lib, x: lib.sigmoid(x)), ("tanh", lambda lib, x: lib.tanh(x)),
    ("softmax", lambda lib, x: lib.softmax(x, 1)), ("log_softmax", lambda lib, x: lib.log_softmax(x, 0)),
    ("clone", lambda lib, x: lib.clone(x)),
]


def _check(ours, theirs):
    if isinstance(theirs, tuple):
        for o, t in zip(ours, theirs):
            _check(o, t)
        return
    t = theirs.detach().numpy()
    assert ours.shape == t.shape and ours.dtype == t.dtype
    np.testing.assert_allclose(ours.numpy(), t, rtol=1e-12)


@pytest.mark.parametrize("name, call", CASES, ids=[c[0] for c in CASES])
def test_functions_match_torch(name, call):
    _check(call(mc, mc.tensor(X)), call(torch, torch.tensor(X)))
    assert mc.numel(mc.tensor(X)) == torch.numel(torch.tensor(X)) and mc.is_tensor(mc.tensor(X))


@pytest.mark.parametrize("name", ["add", "mul", "matmul"])
def test_out_argument(name):
    out, tout = mc.empty(2, 3, dtype=mc.float64), torch.empty(2, 3, dtype=torch.float64)
    other = X if name != "matmul" else np.eye(3)
    result = getattr(mc, name)(mc.tensor(X), mc.tensor(other), out=out)
    getattr(torch, name)(torch.tensor(X), torch.tensor(other), out=tout)
    assert result is out
    _check(out, tout)
    resized = mc.empty(1)
    mc.add(mc.tensor(X), 1.0, out=resized)
    assert resized.shape == (2, 3)
    with pytest.raises(RuntimeError, match="out=: the result would need a gradient"):
        mc.add(mc.tensor(X, requires_grad=True), 1.0, out=out)


def test_max_over_outputs_as_in_the_tutorial():
    outputs, labels = mc.tensor([[0.1, 2.0, 0.3], [1.5, 0.2, 0.1]]), mc.tensor([1, 2])
    _, predicted = mc.max(outputs, 1)
    assert predicted.tolist() == [1, 0] and (predicted == labels).sum().item() == 1
    values, indices = mc.max(outputs, 1)
    assert mc.max(outputs, 1).values is not None and values.tolist() == pytest.approx([2.0, 1.5])
