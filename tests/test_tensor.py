import numpy as np
import pytest

import minicnn as mc


def test_defaults_float32_and_keeps_float64():
    assert mc.Tensor([1.0, 2.0]).dtype == np.float32
    assert mc.Tensor(1.5).dtype == np.float32
    assert mc.Tensor(np.zeros(2)).dtype == np.float64
    assert mc.Tensor([1, 2]).dtype.kind == "i"
    assert mc.Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_attributes_and_conversions():
    t = mc.Tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
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
                      (A.max(axis=1), a.max(1)), (A.reshape(4), a.reshape(4)), (A.flatten(), a.ravel()),
                      (A[1], a[1]), (A[:, ::-1], a[:, ::-1]), (A.transpose(1, 0), a.T)]:
        np.testing.assert_allclose(got.numpy(), want)
