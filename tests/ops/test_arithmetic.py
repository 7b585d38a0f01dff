import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import ops
from tests.oracle import compare_with_torch, gradcheck_arrays

BINARY = [(ops.add, torch.add), (ops.sub, torch.sub), (ops.mul, torch.mul), (ops.div, torch.div)]
# Shapes that broadcast in every way: same, trailing, leading ones, scalar-like.
SHAPES = [((2, 3), (2, 3)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), (1,))]


@pytest.mark.parametrize("ours, theirs", BINARY)
@pytest.mark.parametrize("shape_a, shape_b", SHAPES)
def test_binary_gradcheck(xp, fast_path, rng, ours, theirs, shape_a, shape_b):
    a, b = rng.standard_normal(shape_a), rng.uniform(0.5, 2.0, shape_b)
    gradcheck_arrays(ours, [a, b], xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours, theirs", BINARY)
@pytest.mark.parametrize("shape_a, shape_b", SHAPES)
def test_binary_matches_torch(xp, fast_path, rng, dtype, ours, theirs, shape_a, shape_b):
    a, b = rng.standard_normal(shape_a), rng.uniform(0.5, 2.0, shape_b)
    compare_with_torch(ours, theirs, [a, b], xp, dtype)


UNARY = [
    (ops.neg, torch.neg, lambda r: r.standard_normal((3, 4))),
    (lambda x: ops.pow(x, 3), lambda x: x ** 3, lambda r: r.standard_normal((3, 4))),
    (lambda x: ops.pow(x, -0.5), lambda x: x ** -0.5, lambda r: r.uniform(0.5, 2, (3, 4))),
    (ops.exp, torch.exp, lambda r: r.standard_normal((3, 4))),
    (ops.log, torch.log, lambda r: r.uniform(0.5, 2, (3, 4))),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours, theirs, make", UNARY)
def test_unary(xp, rng, dtype, ours, theirs, make):
    x = make(rng)
    gradcheck_arrays(ours, [x], xp)
    compare_with_torch(ours, theirs, [x], xp, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul(xp, rng, dtype):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    gradcheck_arrays(ops.matmul, [a, b], xp)
    compare_with_torch(ops.matmul, torch.matmul, [a, b], xp, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape_a, shape_b", [((3,), (3, 5)), ((4, 3), (3,)), ((3,), (3,))])
def test_matmul_with_vectors(xp, rng, dtype, shape_a, shape_b):
    """A 1-D operand is a row vector on the left, a column vector on the right; its axis is dropped."""
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    gradcheck_arrays(ops.matmul, [a, b], xp)
    y = compare_with_torch(ops.matmul, torch.matmul, [a, b], xp, dtype)
    assert y.shape == tuple(torch.matmul(torch.tensor(a), torch.tensor(b)).shape)


def test_cast_to_integers_leaves_the_graph():
    x = mc.Tensor([1.7, -2.2], requires_grad=True)
    y = ops.cast(x, mc.long)
    assert y.dtype == np.int64 and not y.requires_grad and y.creator is None
    np.testing.assert_array_equal(y.numpy(), torch.tensor([1.7, -2.2]).long().numpy())


def test_matmul_shape_error():
    with pytest.raises(ValueError, match=r"matmul: expected \(M, K\) @ \(K, N\), got \(2, 3\) @ \(4, 5\)"):
        ops.matmul(mc.Tensor(np.ones((2, 3))), mc.Tensor(np.ones((4, 5))))


def test_pow_needs_a_number():
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number"):
        ops.pow(mc.Tensor([1.0]), mc.Tensor([2.0]))


def test_cast_roundtrip_gradient(rng):
    x = mc.Tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    y = ops.cast(x, np.float64)
    assert y.dtype == np.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2.0)
