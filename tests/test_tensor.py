import numpy as np
import pytest
import torch

import minicnn as mc


def test_defaults_float32_and_keeps_float64():
    assert mc.Tensor([1.0, 2.0]).dtype == np.float32
    assert mc.Tensor(1.5).dtype == np.float32
    assert mc.Tensor(np.zeros(2)).dtype == np.float64
    assert mc.Tensor([1, 2]).dtype.kind == "i"
    assert mc.Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_attributes_and_conversions():
    t = mc.Tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size() == (2, 3) and t.size(1) == 3 and t.numel() == 6 and len(t) == 2
    assert isinstance(t.numpy(), np.ndarray)
    assert mc.Tensor([[4.0]]).item() == 4.0
    with pytest.raises(ValueError, match="item: only a one-element tensor"):
        t.item()
    assert t.to("cpu") is t
    assert "Tensor(" in repr(t) and "float64" in repr(t)


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mc.Tensor([1, 2], requires_grad=True)


def test_detach_cuts_the_graph():
    x = mc.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.creator is None
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])


def test_scalars_keep_the_tensor_dtype():
    x = mc.Tensor(np.ones(2, dtype=np.float32))
    assert (x * 2.5).dtype == np.float32
    assert (2.5 - x).dtype == np.float32
    assert (np.float64(3.0) * x).dtype == np.float32
    assert (mc.Tensor(np.ones(2)) / 3).dtype == np.float64


def test_operators_match_numpy():
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.0])
    A, B = mc.Tensor(a), mc.Tensor(b)
    for got, want in [(A + B, a + b), (A - B, a - b), (A * B, a * b), (A / B, a / b), (-A, -a), (A ** 2, a ** 2),
                      (1 - A, 1 - a), (2 / A, 2 / a), (A @ A, a @ a), (A.T, a.T), (A.exp(), np.exp(a)),
                      (A.log(), np.log(a)), (A.sum(), a.sum()), (A.mean(axis=0), a.mean(0)),
                      (A.max(axis=1).values, a.max(1)), (A.reshape(4), a.reshape(4)), (A.flatten(), a.ravel()),
                      (A[1], a[1]), (A[:, ::-1], a[:, ::-1]), (A.transpose(1, 0), a.T)]:
        np.testing.assert_allclose(got.numpy(), want)


def _pair(array, requires_grad=False):
    """The same values as a minicnn and a torch tensor."""
    return mc.tensor(array.copy(), requires_grad=requires_grad), torch.tensor(array.copy(), requires_grad=requires_grad)


def _same(ours, theirs):
    """Same values, shape and dtype as the torch result (a pair for results like max(dim))."""
    if isinstance(theirs, tuple):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _same(o, t)
        return
    t = theirs.detach().numpy()
    assert ours.shape == t.shape and ours.dtype == t.dtype, f"{ours.shape} {ours.dtype} vs {t.shape} {t.dtype}"
    np.testing.assert_allclose(ours.numpy(), t, rtol=1e-6)


METHODS = [
    ("size", lambda x: x.size()), ("size_dim", lambda x: x.size(1)), ("numel", lambda x: x.numel()),
    ("dim", lambda x: x.dim()), ("tolist", lambda x: x.tolist()),
]


@pytest.mark.parametrize("name, call", METHODS, ids=[m[0] for m in METHODS])
def test_plain_value_methods(name, call):
    x = np.arange(12.0).reshape(3, 4)
    ours, theirs = call(mc.tensor(x)), call(torch.tensor(x))
    assert ours == (tuple(theirs) if isinstance(theirs, torch.Size) else theirs)


TENSOR_METHODS = [
    ("argmax", lambda x: x.argmax()), ("argmax_dim", lambda x: x.argmax(1)),
    ("argmax_keepdim", lambda x: x.argmax(dim=0, keepdim=True)), ("argmin_dim", lambda x: x.argmin(1)),
    ("max_dim", lambda x: tuple(x.max(1))), ("max_dim_keepdim", lambda x: tuple(x.max(0, keepdim=True))),
    ("min_dim", lambda x: tuple(x.min(1))), ("max", lambda x: x.max()), ("min", lambda x: x.min()),
    ("view", lambda x: x.view(4, 3)), ("view_infer", lambda x: x.view(-1, 6)), ("view_tuple", lambda x: x.view((12,))),
    ("reshape", lambda x: x.reshape(2, 6)), ("unsqueeze", lambda x: x.unsqueeze(0)),
    ("unsqueeze_neg", lambda x: x.unsqueeze(-1)), ("squeeze", lambda x: x.unsqueeze(1).squeeze()),
    ("permute", lambda x: x.view(3, 2, 2).permute(2, 0, 1)), ("permute_tuple", lambda x: x.permute((1, 0))),
    ("transpose", lambda x: x.view(3, 2, 2).transpose(0, 2)), ("t", lambda x: x.t()), ("T", lambda x: x.T),
    ("flatten", lambda x: x.flatten()), ("flatten_1", lambda x: x.view(3, 2, 2).flatten(1)),
    ("clone", lambda x: x.clone()), ("float", lambda x: x.float()), ("double", lambda x: x.double()),
    ("long", lambda x: x.long()), ("int", lambda x: x.int()), ("bool", lambda x: x.bool()),
    ("type", lambda x: x.type(torch.float32 if isinstance(x, torch.Tensor) else mc.float32)),
    ("to_dtype", lambda x: x.to(torch.float64 if isinstance(x, torch.Tensor) else mc.float64)),
    ("to_device_dtype", lambda x: x.to("cpu", torch.double if isinstance(x, torch.Tensor) else mc.double)),
    ("matmul", lambda x: x.matmul(x.T)), ("matmul_vector", lambda x: x.matmul(x[0])), ("mul", lambda x: x.mul(x)),
    ("mul_number", lambda x: x.mul(2)), ("add", lambda x: x.add(x)), ("add_alpha", lambda x: x.add(x, alpha=2)),
    ("sub", lambda x: x.sub(1)), ("div", lambda x: x.div(2)), ("pow", lambda x: x.pow(2)),
    ("sum_dim", lambda x: x.sum(1)), ("sum_keepdim", lambda x: x.sum(dim=0, keepdim=True)),
    ("mean_dim", lambda x: x.mean(-1)), ("expand", lambda x: x[:1].expand(3, 4)), ("sqrt", lambda x: x.sqrt()),
    ("eq", lambda x: x == x[0]), ("ne", lambda x: x != 5), ("lt", lambda x: x < 5), ("ge", lambda x: x >= x[0]),
    ("softmax", lambda x: x.softmax(1)), ("log_softmax", lambda x: x.log_softmax(0)), ("relu", lambda x: (x - 5).relu()),
    ("sigmoid", lambda x: x.sigmoid()), ("tanh", lambda x: x.tanh()),
]


@pytest.mark.parametrize("name, call", TENSOR_METHODS, ids=[m[0] for m in TENSOR_METHODS])
def test_methods_match_torch(name, call):
    x = np.array([[3.0, 1.0, 4.0, 1.5], [5.0, 9.0, 2.0, 6.0], [5.5, 3.5, 5.8, 8.0]])       # no ties
    ours, theirs = _pair(x)
    _same(call(ours), call(theirs))


@pytest.mark.parametrize("name, call", [m for m in TENSOR_METHODS if m[0] in
                                        ("view", "unsqueeze", "permute", "transpose", "t", "flatten_1", "clone",
                                         "matmul", "matmul_vector", "add_alpha", "expand", "max_dim", "min_dim",
                                         "double")])
def test_method_gradients_match_torch(name, call):
    x = np.random.default_rng(5).standard_normal((3, 4))
    ours, theirs = _pair(x, requires_grad=True)
    y, ty = call(ours), call(theirs)
    y, ty = (y[0], ty[0]) if isinstance(ty, tuple) else (y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_to_returns_itself_when_nothing_changes():
    x = mc.zeros(2)
    assert x.to("cpu") is x and x.to(mc.float32) is x and x.to(x) is x
    assert x.to(mc.device("cpu"), mc.float64).dtype == np.float64
    assert x.type() == "minicnn.float32"


def test_number_conversions_and_indexing_with_tensors():
    x = mc.tensor([[1.5]])
    assert float(x) == 1.5 and int(x) == 1 and bool(mc.tensor(0.0)) is False
    assert f"{mc.tensor(0.123456):.3f}" == "0.123" and f"{mc.tensor([1.0, 2.0])}" == str(mc.tensor([1.0, 2.0]))
    classes = ("plane", "car", "bird")
    assert classes[mc.tensor(2)] == "bird" and classes[mc.tensor([1])] == "car"
    with pytest.raises(TypeError, match="only a one-element integer tensor can be used as an index"):
        classes[mc.tensor(1.0)]
    with pytest.raises(RuntimeError, match="the truth value of a tensor with 2 values is ambiguous"):
        bool(mc.tensor([1.0, 2.0]))
    y = mc.arange(10) * 2
    np.testing.assert_array_equal(y[mc.tensor(3)].numpy(), 6)
    assert [int(v) for v in mc.tensor([4, 5])] == [4, 5]
    assert np.asarray(mc.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mc.tensor(1.0))


def test_element_wise_comparisons_count_correct_predictions():
    predicted, labels = mc.tensor([1, 2, 3, 4]), mc.tensor([1, 0, 3, 0])
    eq = predicted == labels
    assert eq.dtype == np.bool_ and eq.tolist() == [True, False, True, False]
    assert (predicted == labels).sum().item() == 2
    assert (predicted == labels).type(mc.float).sum().item() == 2.0
    assert {mc.tensor(1.0): "a"}, "tensors stay hashable (by identity)"


IN_PLACE = [
    ("add_", lambda x: x.add_(2)), ("add_alpha", lambda x: x.add_(x.clone(), alpha=3)), ("sub_", lambda x: x.sub_(1)),
    ("mul_", lambda x: x.mul_(3)), ("div_", lambda x: x.div_(2)), ("pow_", lambda x: x.pow_(2)),
    ("zero_", lambda x: x.zero_()), ("fill_", lambda x: x.fill_(7)), ("copy_", lambda x: x.copy_(x.clone()[0] * 2)),
    ("iadd", lambda x: x.__iadd__(1)), ("imul", lambda x: x.__imul__(2)),
    ("setitem_column", lambda x: x.__setitem__((slice(None), 1), 0)),
    ("setitem_row", lambda x: x.__setitem__(0, x.clone()[1])),
]


@pytest.mark.parametrize("name, call", IN_PLACE, ids=[m[0] for m in IN_PLACE])
def test_in_place_ops_match_torch(name, call):
    """Same values, and the same object (the change is in place)."""
    x = np.arange(1.0, 13.0).reshape(3, 4)
    ours, theirs = _pair(x)
    result = call(ours)
    call(theirs)
    assert result is ours or result is None
    _same(ours, theirs)


@pytest.mark.parametrize("name, call", [m for m in IN_PLACE if m[0] not in ("zero_", "fill_")],
                         ids=[m[0] for m in IN_PLACE if m[0] not in ("zero_", "fill_")])
def test_in_place_ops_on_a_graph_give_torchs_gradient(name, call):
    x = np.random.default_rng(2).uniform(0.5, 2, (3, 4))
    ours, theirs = _pair(x, requires_grad=True)
    y, ty = ours * 1.5, theirs * 1.5
    call(y)
    call(ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_in_place_on_a_leaf_that_requires_grad():
    w = mc.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad cannot be changed in place"):
        w.add_(1)
    with mc.no_grad():
        w -= 0.5 * mc.ones(3)                 # an optimiser step
    np.testing.assert_array_equal(w.numpy(), 0.5)
    assert w.is_leaf and w.requires_grad


def test_in_place_errors_match_torch():
    x = mc.zeros(2, 3)
    with pytest.raises(RuntimeError, match="the result has shape \\(2, 2, 3\\)"):
        x.add_(mc.zeros(2, 2, 3))
    with pytest.raises(RuntimeError, match="the result is float(32|64), which cannot be written in place into a int64"):
        mc.zeros(2, dtype=mc.long).add_(1.5 * mc.ones(2))
    x = (mc.ones(2, 3, requires_grad=True) * 2).view(6)
    with pytest.raises(RuntimeError, match="mul_: this tensor is a view of another tensor"):
        x.mul_(2)


def test_requires_grad_():
    x = mc.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    assert not x.requires_grad_(False).requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mc.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="only leaf tensors can change requires_grad"):
        (mc.ones(2, requires_grad=True) * 2).requires_grad_(False)


def test_grad_fn_names_the_op_and_its_inputs():
    x = mc.ones(1, 4)
    w = mc.ones(4, 2, requires_grad=True)
    z = (x @ w).relu()
    assert z.grad_fn is z.creator and repr(z.grad_fn) == "<ReLUBackward>"
    (matmul, _), = z.grad_fn.next_functions
    assert repr(matmul) == "<MatMulBackward>" and matmul.next_functions == ((None, 0), (None, 0))
    assert w.grad_fn is None and "grad_fn=<ReLUBackward>" in repr(z)


def test_data_is_a_tensor_sharing_memory_outside_the_graph():
    """PyTorch's .data: a Tensor, not an array; writes through it change the tensor and are not recorded.
    .array is the NumPy/CuPy array underneath."""
    f = mc.tensor([1.0, 2.0], requires_grad=True)
    (f * f).sum().backward()
    assert isinstance(f.data, mc.Tensor) and not f.data.requires_grad and f.data.is_leaf
    assert isinstance(f.array, np.ndarray) and f.data.array is f.array
    f.data.sub_(f.grad.data * 0.5)                     # the 60-minute blitz's hand-written SGD step
    np.testing.assert_allclose(f.numpy(), [0.0, 0.0])
    assert f.requires_grad and f.is_leaf and f._version == 0
    f.data = mc.tensor([3.0, 4.0], dtype=mc.float64)    # the setter takes a Tensor (or an array)
    assert f.dtype == np.float64 and f.tolist() == [3.0, 4.0]
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    assert not t.data.requires_grad and t.data.is_leaf and isinstance(t.data, torch.Tensor)
