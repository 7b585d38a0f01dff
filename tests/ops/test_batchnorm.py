"""batch_norm: train and eval against PyTorch (outputs, gradients, running statistics),
finite differences of x, gamma and beta, and the error messages."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
from minicnn.ops import batch_norm
from tests.oracle import TOLERANCE, compare_with_torch, gradcheck_arrays, rel_error

# The upstream gradient's seed. Not 0: the rng fixture is seeded with 0 too, so x would equal
# gy up to scale, and since batch norm's gx removes the part of gy along xhat, it would be ~0.
SEED = 1
# Every test runs on the NumPy reference and on the numba kernel (minicnn/fast/batchnorm.py).
pytestmark = pytest.mark.usefixtures("fast_path")

SHAPES = [(5, 3), (4, 3, 7), (2, 3, 4, 5), (1, 3, 2, 3)]      # 1d without and with L, 2d, batch of 1


def _running(xp, rng, C, dtype):
    """Running statistics as minicnn Tensors and torch tensors holding the same values."""
    mean, var = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    ours = mc.Tensor(xp.asarray(mean.copy())), mc.Tensor(xp.asarray(var.copy()))
    return ours, (torch.tensor(mean.copy()), torch.tensor(var.copy()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_training_matches_torch(shape, affine, dtype, xp, rng):
    C = shape[1]
    x = 2 + 3 * rng.standard_normal(shape)
    params = [rng.standard_normal(C), rng.standard_normal(C)] if affine else []
    (rm, rv), (trm, trv) = _running(xp, rng, C, dtype)
    rm_array = rm.array
    compare_with_torch(lambda t, *p: batch_norm(t, rm, rv, *p, training=True, momentum=0.3),
                       lambda t, *p: F.batch_norm(t, trm, trv, *p, training=True, momentum=0.3),
                       [x, *params], xp, dtype=dtype, seed=SEED)
    assert rm.array is rm_array                                   # updated in place
    assert rm.dtype == dtype and rv.dtype == dtype
    for ours, theirs in ((rm, trm), (rv, trv)):
        assert rel_error(ours.numpy(), theirs.numpy()) < TOLERANCE[dtype]


def test_running_variance_is_unbiased(xp, rng):
    x = rng.standard_normal((6, 2, 3))
    rm, rv = mc.Tensor(xp.zeros(2)), mc.Tensor(xp.ones(2))
    batch_norm(mc.Tensor(xp.asarray(x)), rm, rv, training=True, momentum=0.25)
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)


def test_training_without_running_stats_leaves_nothing_to_update(xp, rng):
    x = rng.standard_normal((4, 3, 2))
    y = batch_norm(mc.Tensor(xp.asarray(x)), None, None, training=True)
    expected = F.batch_norm(torch.tensor(x), None, None, training=True).numpy()
    assert rel_error(y.numpy(), expected) < 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES + [(1, 3)])                    # eval works with one value per channel
def test_eval_matches_torch(shape, affine, dtype, xp, rng):
    C = shape[1]
    x = rng.standard_normal(shape)
    params = [rng.standard_normal(C), rng.standard_normal(C)] if affine else []
    (rm, rv), (trm, trv) = _running(xp, rng, C, dtype)
    before = rm.numpy().copy(), rv.numpy().copy()
    compare_with_torch(lambda t, *p: batch_norm(t, rm, rv, *p, training=False),
                       lambda t, *p: F.batch_norm(t, trm, trv, *p, training=False),
                       [x, *params], xp, dtype=dtype, seed=SEED)
    np.testing.assert_array_equal(rm.numpy(), before[0])          # eval leaves the estimates alone
    np.testing.assert_array_equal(rv.numpy(), before[1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2), (1, 3, 3), (2, 3, 1, 3)])
def test_gradcheck(shape, training, xp, rng):
    C = shape[1]
    x, gamma, beta = rng.standard_normal(shape), rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = mc.Tensor(xp.asarray(rng.standard_normal(C))), mc.Tensor(xp.asarray(rng.random(C) + 0.5))
    gradcheck_arrays(lambda t, g, b: batch_norm(t, rm, rv, g, b, training=training), [x, gamma, beta], xp, seed=SEED)
    gradcheck_arrays(lambda t: batch_norm(t, rm, rv, training=training), [x], xp, seed=SEED)
    gradcheck_arrays(lambda t, g: batch_norm(t, rm, rv, g, training=training), [x, gamma], xp, seed=SEED)


@pytest.mark.parametrize("shape, index", [((3, 6, 5), np.s_[:, 1:4]), ((2, 6, 3, 4), np.s_[:, 1:4]),
                                          ((1, 6, 2, 2), np.s_[:, 1:4]), ((2, 6, 3, 4), np.s_[:, 1:4, :, ::2])])
def test_training_on_a_channel_slice(shape, index, xp, rng):
    """x a view whose images lie more than C*L values apart, as a DenseNet layer's slice of its
    block's shared buffer: the kernel reads it in place (minicnn/fast/batchnorm.py, _rows); with
    rows that are not contiguous either (::2), it reads a copy."""
    x, gamma, beta = 2 + rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)
    for dtype in (np.float64, np.float32):
        compare_with_torch(lambda t, g, b: batch_norm(t[index], None, None, g, b),
                           lambda t, g, b: F.batch_norm(t[index], None, None, g, b, training=True),
                           [x, gamma, beta], xp, dtype=dtype, seed=SEED)
    gradcheck_arrays(lambda t, g, b: batch_norm(t[index], None, None, g, b), [x, gamma, beta], xp, seed=SEED)


@pytest.mark.parametrize("training", [True, False])
def test_keeps_only_per_channel_arrays_for_backward(training, rng):
    """Backward recomputes xhat from x, which autograd holds as the op's input: what it saves of
    its own is mu and invstd, C values each, not an array of x's size."""
    x = mc.Tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32), requires_grad=True)
    gamma, beta = mc.Tensor(np.ones(3, np.float32), requires_grad=True), mc.Tensor(np.zeros(3, np.float32))
    rm, rv = mc.Tensor(np.zeros(3, np.float32)), mc.Tensor(np.ones(3, np.float32))
    with mc.profile() as prof:
        batch_norm(x, rm, rv, gamma, beta, training=training)
    (record,) = prof.records
    assert record.saved_bytes == 2 * 3 * 4


def test_only_bias_gradient(xp, rng):
    """weight=None with a bias: the gradient lands on the right input."""
    x = mc.Tensor(xp.asarray(rng.standard_normal((4, 2))))
    b = mc.Tensor(xp.zeros(2), requires_grad=True)
    batch_norm(x, None, None, bias=b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0])


def _t(*shape, dtype=np.float64):
    return mc.Tensor(np.ones(shape, dtype=dtype))


def test_error_running_mean_channels():
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(C,\) = \(3,\) for x of shape "
                                         r"\(2, 3, 4, 4\), got \(4,\)"):
        batch_norm(_t(2, 3, 4, 4), _t(4), _t(3))


def test_error_weight_channels():
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(C,\) = \(3,\) for x of shape "
                                         r"\(2, 3\), got \(2,\)"):
        batch_norm(_t(2, 3), _t(3), _t(3), weight=_t(2))


def test_error_one_value_per_channel_when_training():
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, "
                                         r"got input shape \(1, 3\)"):
        batch_norm(_t(1, 3), _t(3), _t(3), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(_t(1, 3, 1, 1), None, None, training=True)


def test_error_wrong_ndim():
    with pytest.raises(ValueError, match=r"batch_norm: input must be \(N, C\), \(N, C, L\) or \(N, C, H, W\), "
                                         r"got shape \(6,\)"):
        batch_norm(_t(6), None, None)


def test_error_only_one_running_stat():
    with pytest.raises(ValueError, match="batch_norm: give both running_mean and running_var, or neither"):
        batch_norm(_t(2, 3), _t(3), None)


def test_error_eval_without_running_stats():
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var are needed when training=False"):
        batch_norm(_t(2, 3), None, None, training=False)


def test_error_running_stat_not_a_tensor():
    with pytest.raises(TypeError, match="batch_norm: running_var must be a Tensor or None, got ndarray"):
        batch_norm(_t(2, 3), _t(3), np.ones(3))


def test_error_dtype_mismatch():
    with pytest.raises(TypeError, match="batch_norm: x is float64 but bias is float32; cast one of them"):
        batch_norm(_t(2, 3), None, None, bias=_t(3, dtype=np.float32))
