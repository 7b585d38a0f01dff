"""Softmax, log-softmax, the classification loss (cross-entropy from logits), MSE and accuracy.

With z the logits of one sample and p = softmax(z), p_c = exp(z_c) / sum_j exp(z_j):
    softmax:      dz = p * (gy - sum_c gy_c p_c)
    log_softmax:  log p = z - max(z) - log(sum_j exp(z_j - max(z)));   dz = gy - p * sum_c gy_c
Subtracting max(z) changes nothing mathematically and keeps exp from overflowing.

Cross-entropy with label smoothing eps (PyTorch's semantics) compares p with the target
distribution q = (1 - eps) * onehot(label) + eps / C:
    loss_n = -sum_c q_nc log p_nc        (eps = 0: -log p_n,label)
    dz_n   = (p_n - q_n) * gy_n          divided by N for reduction="mean"
Fusing log-softmax and the loss into one Function gives this short backward and avoids
log(0) for confidently wrong predictions.

MSE: loss = mean (or sum) of (input - target)**2;  dinput = 2 * (input - target) * gy / M (mean),
dtarget = -dinput.

Binary cross-entropy from logits z and targets y in [0, 1], with p = sigmoid(z):
    loss = -(y log p + (1 - y) log(1 - p)) = max(z, 0) - z y + log(1 + exp(-|z|))
    dz = (p - y) * gy,   dy = -z * gy          (divided by M for reduction="mean")
The right-hand form never takes exp of a large positive number nor log of 0.

Binary cross-entropy from probabilities x in [0, 1] (after a sigmoid), targets y, weights w:
    loss = -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100))
    dx = w (x - y) / max(x (1 - x), 1e-12) * gy,   dy = -w (log x - log(1 - x)) * gy     (/ M for the mean)
The clamps are PyTorch's: x = 0 or 1 gives a loss of at most 100 per element instead of inf, and
dx stays finite (dx is the derivative of the unclamped loss wherever x (1 - x) > 1e-12).
"""
import numpy as np

from minicnn import fused
from minicnn.autograd import Function
from minicnn.backend import device_of, get_array_module, is_array, to_device
from minicnn.ops.activation import sigmoid_array
from minicnn.ops.utils import as_tensor, check_ndim
from minicnn.tensor import Tensor

__all__ = ["softmax", "log_softmax", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits",
           "binary_cross_entropy", "accuracy",
           "topk_correct"]


def _log_softmax(z, axis):
    """log softmax(z) along ``axis`` on arrays, stable for any z."""
    xp = get_array_module(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """p = exp(z - max z) / sum exp(z - max z);  dz = p * (gy - sum(gy * p))."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, z):
        p = get_array_module(z).exp(_log_softmax(z, self.axis))
        self.save_for_backward(p)
        return p

    def backward(self, gy):
        (p,) = self.saved
        return p * (gy - (gy * p).sum(axis=self.axis, keepdims=True))


def implicit_softmax_dim(ndim):
    """PyTorch's softmax axis when none is given: the last of 0-, 1- and 3-D inputs, axis 1 otherwise."""
    return 0 if ndim in (0, 1, 3) else 1


def softmax(x, axis=1):
    """Softmax along ``axis`` (the class axis of (N, C) logits by default).

    Inputs:
    - x: any shape
    - axis: the axis that sums to 1
    Returns p: the same shape and dtype as x, positive, summing to 1 along axis.
    """
    return Softmax(axis)(x)


class LogSoftmax(Function):
    """y = z - max z - log sum exp(z - max z);  dz = gy - exp(y) * sum(gy)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, z):
        y = _log_softmax(z, self.axis)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        xp = get_array_module(gy)
        return gy - xp.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax(x, axis=1):
    """log(softmax(x)) along ``axis``, computed without overflow or log(0).

    Inputs:
    - x: any shape
    - axis: the class axis
    Returns y: the same shape and dtype as x, every value <= 0.
    """
    return LogSoftmax(axis)(x)


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _labels_array(op, labels, logits):
    """Labels as an integer array on the logits' device, checked against logits (N, C).

    The range is checked where the labels are on the host, before they are copied. Labels already
    on a GPU are not: reading the check's answer would make the host wait for the GPU at every
    step. Datasets check their labels once when loaded, and an out-of-range label on a GPU gives
    a NaN loss (CrossEntropy below), which the trainer's NaN check reports.
    """
    array = labels.array if isinstance(labels, Tensor) else labels
    on_host = device_of(array) == "cpu" if is_array(array) else True
    if on_host:
        array = np.asarray(array)
    N, C = logits.shape
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integers (class indices), got {array.dtype}")
    if tuple(array.shape) != (N,):
        raise ValueError(f"{op}: labels must have shape (N,) = ({N},) to match logits of shape "
                         f"{tuple(logits.shape)}, got {tuple(array.shape)}")
    if on_host:
        bad = (array < 0) | (array >= C)
        if bad.any():
            raise ValueError(f"{op}: label {int(array[bad][0])} is out of range: class indices must be in [0, {C}) "
                             f"for logits with C = {C} classes")
    return to_device(array, device_of(logits.array))


class CrossEntropy(Function):
    """loss_n = -sum_c q_nc log p_nc, q = (1 - eps) * onehot + eps / C;  dz = (p - q) * gy (/ N)."""

    def __init__(self, labels, reduction, label_smoothing):
        self.labels, self.reduction, self.eps = labels, reduction, label_smoothing

    def forward(self, z):
        self.fused = fused.use(z, self.labels)
        if self.fused:                                 # on a GPU: minicnn/fused/loss.py, 5 launches
            from minicnn.fused import loss as kernels
            loss, statistics = kernels.forward(z, self.labels, self.eps, self.reduction)
            self.save_for_backward(z, *statistics)
            return loss
        xp = get_array_module(z)
        N, C = z.shape
        logp = _log_softmax(z, axis=1)
        rows = xp.arange(N)
        loss = -(1 - self.eps) * logp[rows, self.labels.clip(0, C - 1)]
        if self.eps:
            loss -= (self.eps / C) * logp.sum(axis=1)
        if xp is not np:                                # labels unchecked on a GPU: a bad one gives NaN
            loss = xp.where((self.labels >= 0) & (self.labels < C), loss, xp.nan)
        self.save_for_backward(xp.exp(logp))           # p, the softmax
        if self.reduction == "none":
            return loss
        total = loss.sum()
        return xp.asarray(total / N if self.reduction == "mean" else total)

    def backward(self, gy):
        if self.fused:
            from minicnn.fused import loss as kernels
            z, *statistics = self.saved
            return kernels.backward(gy, z, self.labels, self.eps, statistics, self.reduction)
        (p,) = self.saved
        xp = get_array_module(gy)
        N, C = p.shape
        g = p - self.eps / C                            # p - q, built without a one-hot matrix
        g[xp.arange(N), self.labels.clip(0, C - 1)] -= 1 - self.eps
        if self.reduction == "none":
            return g * gy[:, None]
        return g * (gy / N if self.reduction == "mean" else gy)


def cross_entropy(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from raw scores, as torch.nn.functional.cross_entropy.

    Inputs:
    - logits: (N, C) unnormalised class scores (no softmax applied)
    - labels: (N,) integer class indices in [0, C): a Tensor, a NumPy/CuPy array or a list
    - reduction: "mean" over the batch, "sum", or "none" for the (N,) per-sample losses
    - label_smoothing: eps in [0, 1]; the target becomes (1 - eps) * onehot + eps / C
    Returns loss: a scalar Tensor, or (N,) for reduction="none".
    """
    check_ndim(logits, (2,), "(N, C) logits", "cross_entropy")
    _check_reduction("cross_entropy", reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    labels = _labels_array("cross_entropy", labels, logits)
    return CrossEntropy(labels, reduction, float(label_smoothing))(logits)


class MSELoss(Function):
    """loss = mean (or sum) of d**2 with d = input - target;  dinput = 2 d gy (/ M),  dtarget = -dinput."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        xp = get_array_module(x)
        d = x - t
        self.save_for_backward(d)
        sq = d * d
        if self.reduction == "none":
            return sq
        return xp.asarray(sq.mean() if self.reduction == "mean" else sq.sum())

    def backward(self, gy):
        (d,) = self.saved
        g = 2 * d * (gy / d.size if self.reduction == "mean" else gy)
        return (g if self.needs_input_grad[0] else None), (-g if self.needs_input_grad[1] else None)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error between two tensors of the same shape.

    Inputs:
    - input: any shape
    - target: the same shape (a Tensor, which may require grad, or an array)
    - reduction: "mean" over all elements, "sum", or "none" for the elementwise squares
    Returns loss: a scalar Tensor, or input's shape for reduction="none".
    """
    return MSELoss(reduction)(input, _target_like("mse_loss", input, target, reduction))


def _target_like(op, input, target, reduction):
    """The target as a Tensor, checked: input's shape and dtype, and a known reduction."""
    _check_reduction(op, reduction)
    target = as_tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target must have the input's shape {tuple(input.shape)}, "
                         f"got {tuple(target.shape)}")
    if target.dtype != input.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but target is {target.dtype}; cast one of them")
    return target


class BinaryCrossEntropyWithLogits(Function):
    """loss = max(z, 0) - z y + log(1 + exp(-|z|));  dz = (sigmoid(z) - y) gy,  dy = -z gy (/ M for the mean)."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, z, y):
        xp = get_array_module(z)
        self.save_for_backward(z, y)
        loss = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
        if self.reduction == "none":
            return loss
        return xp.asarray(loss.mean() if self.reduction == "mean" else loss.sum())

    def backward(self, gy):
        z, y = self.saved
        g = gy / z.size if self.reduction == "mean" else gy
        gz = (sigmoid_array(z) - y) * g if self.needs_input_grad[0] else None
        gt = -z * g if self.needs_input_grad[1] else None
        return gz, gt


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Sigmoid followed by binary cross-entropy, in one stable step (one logit per yes/no question).

    Inputs:
    - input: logits z, any shape
    - target: probabilities y in [0, 1] of the same shape (a Tensor, which may require grad, or an array)
    - reduction: "mean" over all elements, "sum", or "none"
    Returns loss: a scalar Tensor, or input's shape for reduction="none".
    """
    target = _target_like("binary_cross_entropy_with_logits", input, target, reduction)
    return BinaryCrossEntropyWithLogits(reduction)(input, target)


_BCE_EPSILON = float(np.float32(1e-12))     # PyTorch's constant is a float32: 1e-12 rounded, 9.99999996e-13


class BinaryCrossEntropy(Function):
    """loss = -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100));
    dx = w (x - y) / max(x (1 - x), 1e-12) gy,  dy = -w (log x - log(1 - x)) gy  (/ M for the mean)."""

    def __init__(self, weight, reduction):
        self.weight, self.reduction = weight, reduction

    def forward(self, x, y):
        xp = get_array_module(x)
        self.save_for_backward(x, y)
        with np.errstate(divide="ignore"):      # log(0) = -inf is expected: clamped to -100 just below
            log_x, log_1mx = xp.log(x), xp.log1p(-x)
        loss = -(y * xp.maximum(log_x, -100) + (1 - y) * xp.maximum(log_1mx, -100))
        if self.weight is not None:
            loss = loss * self.weight
        if self.reduction == "none":
            return loss
        return xp.asarray(loss.mean() if self.reduction == "mean" else loss.sum())

    def backward(self, gy):
        xp = get_array_module(gy)
        x, y = self.saved
        g = gy / x.size if self.reduction == "mean" else gy
        if self.weight is not None:
            g = g * self.weight
        gx = (x - y) / xp.maximum(x * (1 - x), _BCE_EPSILON) * g if self.needs_input_grad[0] else None
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):      # x = 0 or 1: an infinite slope in y, as in PyTorch
                gt = -(xp.log(x) - xp.log1p(-x)) * g
        else:
            gt = None
        return gx, gt


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy between probabilities and targets, as torch.nn.functional.binary_cross_entropy.

    Inputs:
    - input: probabilities x in [0, 1] (a sigmoid's output), any shape
    - target: y in [0, 1] of the same shape (a Tensor, which may require grad, or an array)
    - weight: None, or a rescaling of each element's loss, broadcastable to input's shape (no gradient)
    - reduction: "mean" over all elements, "sum", or "none"
    Returns loss: a scalar Tensor, or input's shape for reduction="none".
    binary_cross_entropy_with_logits on the logits is the stabler choice where the logits exist.
    """
    target = _target_like("binary_cross_entropy", input, target, reduction)
    # Checked on the host only: reading the answer from a GPU would make the host wait at every step.
    # There, a value outside [0, 1] gives a NaN loss (log of a negative number) instead.
    x = input.array
    if device_of(x) == "cpu" and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1] (apply sigmoid first, "
                         "or use binary_cross_entropy_with_logits)")
    if weight is not None:
        weight = as_tensor(weight, input).to(input.device, input.dtype).array
        if _broadcast_shape(weight.shape, x.shape) != x.shape:
            raise ValueError(f"binary_cross_entropy: weight of shape {tuple(weight.shape)} does not broadcast "
                             f"to the input's shape {tuple(x.shape)}")
    return BinaryCrossEntropy(weight, reduction)(input, target)


def _broadcast_shape(a, b):
    """The shape a and b broadcast to, or None where they do not."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def topk_correct(logits, labels, ks=(1,)):
    """How many samples have their label among the k highest logits, for each k in ``ks`` (no gradient).

    Inputs:
    - logits: (N, C) scores, a Tensor or an array
    - labels: (N,) integer class indices in [0, C)
    - ks: the k's, each in 1..C; top-5 accuracy is the ImageNet companion of top-1
    Returns a (len(ks),) integer array of counts on the logits' device: a loop over batches can
    add them there and read the total once, instead of making a GPU wait at every batch.

    Ties are broken as argmax breaks them, towards the lower class index: the label's rank is
    the number of classes scoring higher, plus those scoring equal with a smaller index. So a
    constant output does not count as correct everywhere.
    """
    if not isinstance(logits, Tensor):
        logits = Tensor._from_op(logits)
    check_ndim(logits, (2,), "(N, C) logits", "accuracy")
    N, C = logits.shape
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= C:
            raise ValueError(f"accuracy: topk must be an int in [1, C] = [1, {C}], got {k!r}")
    labels = _labels_array("accuracy", labels, logits)
    z = logits.array
    xp = get_array_module(z)
    rows = xp.arange(N)
    target = z[rows, labels.clip(0, C - 1)][:, None]   # (N, 1) the label's score
    lower_index = xp.arange(C)[None, :] < labels[:, None]
    rank = ((z > target) | ((z == target) & lower_index)).sum(axis=1)
    return xp.stack([(rank < k).sum() for k in ks])


def accuracy(logits, labels, topk=1):
    """Fraction of samples whose label is among the ``topk`` highest logits, as a Python float in
    [0, 1] (ties and arguments as in ``topk_correct``)."""
    N = logits.shape[0]
    return float(topk_correct(logits, labels, (topk,))[0]) / N if N else 0.0
