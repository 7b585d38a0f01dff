"""clip_grad_norm_ against torch.nn.utils.clip_grad_norm_: total norm, clipped gradients, skipped params."""
import math

import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.nn import Parameter
from minicnn.optim import clip_grad_norm_
from tests.oracle import rel_error

SHAPES = [(3, 4), (5,), (2, 2, 3), (4,)]


def _pair(xp, rng, without_grad=(3,), scale=1.0):
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        a = rng.standard_normal(shape)
        p, tp = Parameter(xp.asarray(a.copy())), torch.tensor(a, requires_grad=True)
        if i not in without_grad:
            g = rng.standard_normal(shape) * scale
            p.grad, tp.grad = mc.Tensor(xp.asarray(g.copy())), torch.tensor(g)
        ours.append(p)
        theirs.append(tp)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])          # clips / leaves the gradients as they are
def test_matches_torch(norm_type, max_norm, xp, rng):
    ours, theirs = _pair(xp, rng)
    before = [p.grad.numpy().copy() for p in ours if p.grad is not None]
    total = clip_grad_norm_(ours, max_norm, norm_type)
    assert isinstance(total, mc.Tensor) and total.shape == ()          # a tensor, as PyTorch's
    total = total.item()
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert abs(total - their_total.item()) <= 1e-12 * total
    clipped = total > max_norm
    assert clipped == (max_norm == 0.5)
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        if tp.grad is None:
            assert p.grad is None, f"parameter {i} had no gradient and must keep none"
            continue
        assert rel_error(p.grad.numpy(), tp.grad.numpy()) < 1e-12, f"gradient {i} differs from torch"
    after = [p.grad.numpy() for p in ours if p.grad is not None]
    if clipped:
        new_total = clip_grad_norm_(ours, max_norm, norm_type).item()
        assert new_total == pytest.approx(max_norm, rel=1e-5)
    else:
        assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_single_tensor_and_no_gradients(xp, rng):
    p = Parameter(xp.asarray(rng.standard_normal(4)))
    assert clip_grad_norm_([p], 1.0).item() == 0.0
    p.grad = mc.Tensor(xp.asarray(np.array([3.0, 4.0, 0.0, 0.0])))
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0, rel=1e-15)
    np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 4.0, 0.0, 0.0]) / (5.0 + 1e-6), rtol=1e-15)


def test_float32_gradients_stay_float32(rng):
    p = Parameter(rng.standard_normal((3, 3)).astype(np.float32))
    g = rng.standard_normal((3, 3)).astype(np.float32)
    p.grad = mc.Tensor(g.copy())
    tp = torch.tensor(p.numpy().copy(), requires_grad=True)
    tp.grad = torch.tensor(g)
    total = clip_grad_norm_([p], 0.1).item()
    assert total == pytest.approx(torch.nn.utils.clip_grad_norm_([tp], 0.1).item(), rel=1e-6)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_bad_norm_type():
    with pytest.raises(ValueError, match="clip_grad_norm_: norm_type must be > 0 or inf, got 0.0"):
        clip_grad_norm_([Parameter(np.zeros(2))], 1.0, norm_type=0)


def test_a_nan_norm_leaves_the_gradients_as_they_are(xp):
    p = Parameter(xp.zeros(3))
    p.grad = mc.Tensor(xp.asarray(np.array([np.nan, 1.0, 2.0])))
    assert math.isnan(clip_grad_norm_([p], 0.1).item())
    np.testing.assert_array_equal(p.grad.numpy(), [np.nan, 1.0, 2.0])
