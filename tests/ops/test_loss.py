"""softmax, log_softmax, cross_entropy, mse_loss and accuracy against PyTorch, finite
differences and hand-computed examples, plus every error message."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
from minicnn.ops import accuracy, cross_entropy, log_softmax, mse_loss, softmax
from tests.oracle import compare_with_torch, gradcheck_arrays

# ---- softmax and log_softmax ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours, theirs", [(softmax, F.softmax), (log_softmax, F.log_softmax)])
@pytest.mark.parametrize("shape, axis", [((4, 10), 1), ((1, 3), 1), ((3, 4, 5), 0), ((3, 4, 5), -1)])
def test_softmax_matches_torch(ours, theirs, shape, axis, dtype, xp, rng):
    x = 3 * rng.standard_normal(shape)
    compare_with_torch(lambda t: ours(t, axis=axis), lambda t: theirs(t, dim=axis), [x], xp, dtype=dtype)


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("shape, axis", [((3, 5), 1), ((1, 4), 1), ((2, 3, 3), 0)])
def test_softmax_gradcheck(op, shape, axis, xp, rng):
    gradcheck_arrays(lambda t: op(t, axis=axis), [rng.standard_normal(shape)], xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_is_stable_for_huge_logits(dtype, xp):
    z = mc.Tensor(xp.asarray([[1000.0, 0.0, -1000.0], [-5000.0, -5000.0, -5000.0]], dtype=dtype))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p, logp = softmax(z).numpy(), log_softmax(z).numpy()
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(logp, [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-6)


# ---- cross_entropy -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, label_smoothing, dtype, xp, rng):
    N, C = 7, 5
    logits, labels = 2 * rng.standard_normal((N, C)), rng.integers(0, C, N)
    compare_with_torch(
        lambda z: cross_entropy(z, xp.asarray(labels), reduction=reduction, label_smoothing=label_smoothing),
        lambda z: F.cross_entropy(z, torch.tensor(labels), reduction=reduction, label_smoothing=label_smoothing),
        [logits], xp, dtype=dtype)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("N, C", [(1, 3), (5, 4)])
def test_cross_entropy_gradcheck(N, C, reduction, label_smoothing, xp, rng):
    labels = rng.integers(0, C, N)
    gradcheck_arrays(lambda z: cross_entropy(z, labels, reduction=reduction, label_smoothing=label_smoothing),
                     [rng.standard_normal((N, C))], xp)


def test_cross_entropy_backward_is_softmax_minus_target_over_n(xp, rng):
    N, C, eps = 4, 3, 0.3
    logits, labels = rng.standard_normal((N, C)), np.array([0, 2, 1, 2])
    z = mc.Tensor(xp.asarray(logits), requires_grad=True)
    cross_entropy(z, labels, label_smoothing=eps).backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    q = (1 - eps) * np.eye(C)[labels] + eps / C
    np.testing.assert_allclose(z.grad.numpy(), (p - q) / N, rtol=1e-12)


def test_cross_entropy_labels_as_tensor_array_or_list(xp, rng):
    logits = mc.Tensor(xp.asarray(rng.standard_normal((3, 4))))
    values = [cross_entropy(logits, labels).item()
              for labels in ([3, 0, 1], np.array([3, 0, 1]), np.array([3, 0, 1], dtype=np.uint8),
                             mc.Tensor(xp.asarray([3, 0, 1])))]
    assert values[0] != 0
    np.testing.assert_allclose(values, values[0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_is_stable_for_confident_mistakes(dtype, xp):
    z = mc.Tensor(xp.asarray([[1e4, 0.0], [0.0, 3e4]], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = cross_entropy(z, [1, 0], reduction="none")
        loss.backward(xp.ones(2, dtype=dtype))
    np.testing.assert_allclose(loss.numpy(), [1e4, 3e4], rtol=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), [[1, -1], [-1, 1]], rtol=1e-6)


# ---- mse_loss ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_torch(reduction, dtype, xp, rng):
    a, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((3, 2, 5))
    compare_with_torch(lambda x, t: mse_loss(x, t, reduction=reduction),
                       lambda x, t: F.mse_loss(x, t, reduction=reduction), [a, b], xp, dtype=dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1,), (3, 5)])
def test_mse_gradcheck(reduction, shape, xp, rng):
    gradcheck_arrays(lambda x, t: mse_loss(x, t, reduction=reduction),
                     [rng.standard_normal(shape), rng.standard_normal(shape)], xp)


def test_mse_target_as_array(xp):
    x = mc.Tensor(xp.asarray([1.0, 2.0, 4.0]), requires_grad=True)
    loss = mse_loss(x, xp.asarray([1.0, 0.0, 1.0]))
    loss.backward()
    assert loss.item() == pytest.approx(13 / 3)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 4 / 3, 2.0])


# ---- accuracy ------------------------------------------------------------------------------

# Rows are samples; the label's rank (0 = highest score) is in the comment.
LOGITS = np.array([
    [0.1, 0.9, 0.0, 0.3, 0.2, 0.5, 0.4],    # label 1: rank 0
    [0.8, 0.1, 0.7, 0.3, 0.2, 0.6, 0.0],    # label 2: rank 1
    [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],    # label 4: rank 4
    [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],    # label 5: rank 5
    [0.3, 0.2, 0.1, 0.0, 0.4, 0.5, 0.6],    # label 6: rank 0
])
LABELS = np.array([1, 2, 4, 5, 6])


@pytest.mark.parametrize("topk, expected", [(1, 2 / 5), (2, 3 / 5), (5, 4 / 5), (6, 1.0), (7, 1.0)])
def test_accuracy_hand_example(topk, expected, xp):
    result = accuracy(mc.Tensor(xp.asarray(LOGITS)), xp.asarray(LABELS), topk=topk)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


def test_accuracy_agrees_with_torch_topk(xp, rng):
    logits, labels = rng.standard_normal((200, 10)), rng.integers(0, 10, 200)
    for k in (1, 5):
        top = torch.tensor(logits).topk(k, dim=1).indices.numpy()
        expected = float((top == labels[:, None]).any(axis=1).mean())
        assert accuracy(xp.asarray(logits), mc.Tensor(xp.asarray(labels)), topk=k) == expected


def test_accuracy_breaks_ties_like_argmax(xp):
    """A constant output is right only for class 0, as argmax would say: not 100%."""
    logits = mc.Tensor(xp.zeros((4, 3)), requires_grad=True)
    assert accuracy(logits, [0, 1, 2, 0]) == 0.5
    assert accuracy(logits, [0, 1, 2, 0], topk=2) == 0.75


# ---- errors --------------------------------------------------------------------------------

def _logits(N=4, C=5):
    return mc.Tensor(np.zeros((N, C)))


def test_error_labels_not_integers():
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integers \(class indices\), got float32"):
        cross_entropy(_logits(), np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize("bad", [5, -1])
def test_error_label_out_of_range(bad):
    with pytest.raises(ValueError, match=rf"cross_entropy: label {bad} is out of range: class indices must be in "
                                         r"\[0, 5\) for logits with C = 5 classes"):
        cross_entropy(_logits(), [0, 1, bad, 2])


@pytest.mark.parametrize("bad", [5, -1])
def test_host_labels_are_checked_on_a_gpu_too_and_a_bad_device_label_gives_nan(bad, cupy):
    logits = mc.Tensor(cupy.zeros((4, 5)), requires_grad=True)
    with pytest.raises(ValueError, match=rf"cross_entropy: label {bad} is out of range"):
        cross_entropy(logits, np.array([0, 1, bad, 2]))             # checked before the copy
    per_sample = cross_entropy(logits, cupy.asarray([0, 1, bad, 2]), reduction="none").numpy()
    assert np.isnan(per_sample[2]) and np.isfinite(per_sample[[0, 1, 3]]).all()
    assert np.isnan(cross_entropy(logits, cupy.asarray([0, 1, bad, 2])).item())


def test_error_labels_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: labels must have shape \(N,\) = \(4,\) to match logits of "
                                         r"shape \(4, 5\), got \(4, 1\)"):
        cross_entropy(_logits(), np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        cross_entropy(_logits(), [0, 1, 2])


def test_error_logits_not_2d():
    with pytest.raises(ValueError, match=r"cross_entropy: input must be \(N, C\) logits, got shape \(4, 5, 2\)"):
        cross_entropy(mc.Tensor(np.zeros((4, 5, 2))), [0, 1, 2, 3])


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_error_label_smoothing_range(eps):
    with pytest.raises(ValueError, match=rf"cross_entropy: label_smoothing must be a number in \[0, 1\], got {eps}"):
        cross_entropy(_logits(), [0, 1, 2, 3], label_smoothing=eps)


def test_error_unknown_reduction():
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of 'mean', 'sum', 'none', got 'avg'"):
        cross_entropy(_logits(), [0, 1, 2, 3], reduction="avg")
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of 'mean', 'sum', 'none', got 'max'"):
        mse_loss(_logits(), _logits(), reduction="max")


def test_error_mse_shape_and_dtype():
    with pytest.raises(ValueError, match=r"mse_loss: target must have the input's shape \(4, 5\), got \(5, 4\)"):
        mse_loss(_logits(), _logits(5, 4))
    with pytest.raises(TypeError, match="mse_loss: input is float64 but target is float32"):
        mse_loss(_logits(), mc.Tensor(np.zeros((4, 5), dtype=np.float32)))


@pytest.mark.parametrize("topk", [0, 6, 1.0])
def test_error_accuracy_topk(topk):
    with pytest.raises(ValueError, match=r"accuracy: topk must be an int in \[1, C\] = \[1, 5\], got"):
        accuracy(_logits(), [0, 1, 2, 3], topk=topk)


def test_error_accuracy_labels():
    with pytest.raises(ValueError, match=r"accuracy: label 7 is out of range"):
        accuracy(_logits(), [0, 1, 7, 3])
    with pytest.raises(TypeError, match=r"accuracy: labels must be integers \(class indices\), got float64"):
        accuracy(_logits(), np.zeros(4))



# ---- binary cross-entropy from logits ------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, dtype, xp, rng):
    z, y = 4 * rng.standard_normal((3, 5)), rng.uniform(0, 1, (3, 5))

    def ours(z, y):
        return mc.ops.binary_cross_entropy_with_logits(z, y, reduction)

    gradcheck_arrays(ours, [z, y], xp)
    compare_with_torch(ours, lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                       [z, y], xp, dtype)


def test_binary_cross_entropy_with_logits_is_stable_and_checks_shapes():
    z = mc.tensor([1000.0, -1000.0], requires_grad=True)
    loss = mc.ops.binary_cross_entropy_with_logits(z, mc.tensor([1.0, 0.0]))
    loss.backward()
    assert loss.item() == 0.0 and np.isfinite(z.grad.numpy()).all()
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target must have the input's shape"):
        mc.ops.binary_cross_entropy_with_logits(z, mc.tensor([1.0]))


# ---- binary cross-entropy from probabilities -------------------------------------------------------
def _bce(weight, reduction):
    """The same call for both libraries; the weight, if any, a constant of the library's kind."""
    def ours(x, y):
        w = None if weight is None else mc.tensor(weight, dtype=x.dtype, device=x.device)
        return mc.ops.binary_cross_entropy(x, y, w, reduction)

    def theirs(x, y):
        w = None if weight is None else torch.tensor(weight, dtype=x.dtype)
        return F.binary_cross_entropy(x, y, w, reduction=reduction)
    return ours, theirs


BCE_WEIGHTS = {"none": None, "elementwise": np.linspace(0.1, 2.0, 15).reshape(3, 5),
               "per_column": np.array([0.5, 1.0, 0.0, 2.0, 3.0]), "per_row": np.array([[2.0], [0.5], [1.0]])}


@pytest.mark.parametrize("weight", BCE_WEIGHTS, ids=list(BCE_WEIGHTS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_matches_torch(weight, reduction, dtype, xp, rng):
    x, y = rng.uniform(0.02, 0.98, (3, 5)), rng.uniform(0, 1, (3, 5))
    y[0] = [0, 1, 0, 1, 0]                    # hard labels next to soft ones
    ours, theirs = _bce(BCE_WEIGHTS[weight], reduction)
    compare_with_torch(ours, theirs, [x, y], xp, dtype)


@pytest.mark.parametrize("weight", ["none", "per_column"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_gradcheck(weight, reduction, xp, rng):
    x, y = rng.uniform(0.05, 0.95, (3, 5)), rng.uniform(0, 1, (3, 5))
    gradcheck_arrays(_bce(BCE_WEIGHTS[weight], reduction)[0], [x, y], xp)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_clamps_like_torch_at_0_and_1(reduction, dtype, xp):
    """log is clamped at -100 and the slope at x (1 - x) = 1e-12, as in PyTorch: finite where the
    prediction is certain (right or wrong). The target's slope is infinite there in both: not compared."""
    x = np.array([[0.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-7, 0.5]])
    y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0, 0.3, 0.5]])
    ours, theirs = _bce(None, reduction)
    loss = compare_with_torch(ours, theirs, [x, y], xp, dtype, grad=[True, False])
    assert np.isfinite(loss.numpy()).all()
    if reduction == "none":
        np.testing.assert_allclose(loss.numpy()[0, :4], [0, 0, 100, 100])


def test_binary_cross_entropy_errors():
    x = mc.tensor([0.2, 0.7])
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\]"):
        mc.ops.binary_cross_entropy(mc.tensor([0.2, 1.5]), mc.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(3,\) does not broadcast "
                                         r"to the input's shape \(2,\)"):
        mc.ops.binary_cross_entropy(x, mc.tensor([0.0, 1.0]), weight=mc.ones(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target must have the input's shape \(2,\)"):
        mc.ops.binary_cross_entropy(x, mc.tensor([1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: reduction must be one of"):
        mc.ops.binary_cross_entropy(x, mc.tensor([0.0, 1.0]), reduction="avg")
