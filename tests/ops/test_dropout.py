"""dropout and minicnn.random: statistics, scaling, reproducibility, gradients, errors."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import random as mc_random
from minicnn.backend import to_device
from minicnn.ops import dropout
from tests.oracle import gradcheck_arrays


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_statistics_and_exact_scaling(p, dtype, xp, rng):
    mc.manual_seed(2024)            # not 0: the rng fixture's seed would draw the mask from x's own uniforms
    x_np = (rng.random((1000, 1000)) + 0.5).astype(dtype)           # no zeros: y == 0 means dropped
    x = mc.Tensor(xp.asarray(x_np))
    y = dropout(x, p=p)
    assert y.dtype == dtype and y.shape == x.shape
    y_np = y.numpy()
    kept = y_np != 0
    assert abs(kept.mean() - (1 - p)) < 0.005                       # ~10 standard deviations
    # Kept values are x times exactly 1 / (1 - p) (rounded once to the dtype), dropped ones are 0.
    np.testing.assert_array_equal(y_np[kept], x_np[kept] * dtype(1 / (1 - p)))
    assert abs(y_np.mean() / x_np.mean() - 1) < 0.01                # E[y] = x


def test_expectation_elementwise(xp, rng):
    """Averaged over many masks, every element comes out as x itself."""
    mc.manual_seed(1)
    x_np = rng.standard_normal(20)
    x = mc.Tensor(xp.asarray(np.tile(x_np, (20000, 1))))             # 20000 independent draws per element
    mean = dropout(x, p=0.5).numpy().mean(axis=0)
    np.testing.assert_allclose(mean, x_np, atol=0.03 * np.abs(x_np).max())


def test_identity_in_eval_mode_and_for_p_zero(xp):
    x = mc.Tensor(xp.ones((3, 4)), requires_grad=True)
    assert dropout(x, p=0.5, training=False) is x
    assert dropout(x, p=0.0) is x


def test_manual_seed_reproduces_the_mask(xp):
    x = mc.Tensor(xp.ones((64, 64)))
    mc.manual_seed(123)
    first, second = dropout(x).numpy(), dropout(x).numpy()
    mc.manual_seed(123)
    np.testing.assert_array_equal(dropout(x).numpy(), first)
    np.testing.assert_array_equal(dropout(x).numpy(), second)
    assert not np.array_equal(first, second)                         # the stream moves on
    mc.manual_seed(124)
    assert not np.array_equal(dropout(x).numpy(), first)


def test_same_seed_same_mask_for_both_dtypes(xp):
    masks = []
    for dtype in (np.float32, np.float64):
        mc.manual_seed(5)
        masks.append(dropout(mc.Tensor(xp.ones((10, 10), dtype=dtype)), p=0.3).numpy() != 0)
    np.testing.assert_array_equal(*masks)


def test_generator_is_per_module_and_reset_by_seed(xp):
    mc.manual_seed(7)
    g = mc_random.generator(xp)
    assert mc_random.generator(xp) is g
    a = g.random(5)
    mc.manual_seed(7)
    assert mc_random.generator(xp) is not g
    np.testing.assert_array_equal(to_device(mc_random.generator(xp).random(5), "cpu"), to_device(a, "cpu"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_is_mask_times_scale(dtype, xp, rng):
    p = 0.3
    mc.manual_seed(2)
    x = mc.Tensor(xp.asarray(rng.random((50, 40)) + 0.5, dtype=dtype), requires_grad=True)
    y = dropout(x, p=p)
    gy = rng.standard_normal((50, 40)).astype(dtype)
    y.backward(xp.asarray(gy))
    mask = y.numpy() != 0
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.numpy(), gy * mask / (1 - p), rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert np.all(x.grad.numpy()[~mask] == 0) and (~mask).any()


@pytest.mark.parametrize("shape", [(1, 5), (3, 2, 3, 3)])
def test_gradcheck_with_reseeding(shape, xp, rng):
    def fn(x):
        mc.manual_seed(0)                  # the same mask for every finite-difference evaluation
        return dropout(x, p=0.4)

    gradcheck_arrays(fn, [rng.standard_normal(shape)], xp)


@pytest.mark.parametrize("p", [1, 1.0, -0.1, 1.5])
def test_error_p_out_of_range(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a number in \[0, 1\), got " + str(p)):
        dropout(mc.Tensor(np.ones(3)), p=p)


def test_error_p_not_a_number():
    with pytest.raises(ValueError, match=r"dropout: p must be a number in \[0, 1\), got '0.5'"):
        dropout(mc.Tensor(np.ones(3)), p="0.5")


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_error_bad_seed(seed):
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative int, got"):
        mc.manual_seed(seed)
