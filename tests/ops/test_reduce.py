import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import ops
from tests.oracle import compare_with_torch, gradcheck_arrays

CASES = [
    ("sum_all", lambda x: ops.sum(x), lambda x: x.sum()),
    ("sum_axis", lambda x: ops.sum(x, axis=1), lambda x: x.sum(1)),
    ("sum_axes_keep", lambda x: ops.sum(x, axis=(0, 2), keepdims=True), lambda x: x.sum((0, 2), keepdim=True)),
    ("mean_all", lambda x: ops.mean(x), lambda x: x.mean()),
    ("mean_neg_axis", lambda x: ops.mean(x, axis=-1), lambda x: x.mean(-1)),
    ("max_axis", lambda x: ops.max(x, axis=1), lambda x: x.max(1).values),
    ("max_keep", lambda x: ops.max(x, axis=2, keepdims=True), lambda x: x.max(2, keepdim=True).values),
    ("amax_all", lambda x: ops.max(x), lambda x: x.amax()),
    # The p-norm through Tensor.norm, the same call on both sides.
    ("norm_default", lambda x: x.norm(), lambda x: x.norm()),
    ("norm_dim", lambda x: x.norm(2, dim=1), lambda x: x.norm(2, dim=1)),
    ("norm_dims_keep", lambda x: x.norm(dim=(0, 2), keepdim=True), lambda x: x.norm(dim=(0, 2), keepdim=True)),
    ("norm_p1", lambda x: x.norm(p=1, dim=-1), lambda x: x.norm(p=1, dim=-1)),
    ("norm_p3", lambda x: x.norm(3, 0), lambda x: x.norm(3, 0)),
    ("norm_p_half", lambda x: x.norm(0.5), lambda x: x.norm(0.5)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, ours, theirs", CASES, ids=[c[0] for c in CASES])
def test_reductions(xp, rng, dtype, name, ours, theirs):
    x = rng.standard_normal((3, 4, 5))
    gradcheck_arrays(ours, [x], xp)
    compare_with_torch(ours, theirs, [x], xp, dtype)


def test_max_shares_gradient_between_ties():
    x = mc.Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    ops.max(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (-1, True), (None, True)])
def test_argmax_argmin_match_torch(xp, name, axis, keepdims):
    """Indices as int64, first index on ties (the repeated values below), no graph."""
    x = np.array([[[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]], [[5.0, 5.0, 1.0], [0.0, 4.0, 4.0]]])
    ours = getattr(ops, name)(mc.Tensor(xp.asarray(x), requires_grad=True), axis, keepdims)
    theirs = getattr(torch, name)(torch.tensor(x), dim=axis, keepdim=keepdims)
    assert ours.dtype == np.int64 and not ours.requires_grad and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("p", [2, 1, 3, 0.5])
def test_norm_at_zero_matches_torch(p, xp):
    """A zero row (y = 0) and zero elements (x = 0) get a zero gradient, as in PyTorch."""
    x = np.array([[0.0, 0.0, 0.0], [0.0, 3.0, -4.0], [1.0, -2.0, 0.5]])
    y = compare_with_torch(lambda t: t.norm(p, dim=1), lambda t: t.norm(p, dim=1), [x], xp)
    assert y.shape == (3,)


def test_norm_errors_and_is_cuda(xp):
    x = mc.Tensor(xp.ones(3))
    for p in [0, -1, float("inf"), "nuc"]:
        with pytest.raises(ValueError, match=f"norm: p must be a positive finite number or 'fro', got {p!r}"):
            x.norm(p)
    assert x.is_cuda is (xp is not np) and mc.ones(3).is_cuda is torch.ones(3).is_cuda is False
