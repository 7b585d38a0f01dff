"""Softmax cross-entropy in four kernels forward and one backward (the plain code: about 20).

The twin of ``CrossEntropy`` in ``minicnn/ops/loss.py``. With q_c = (1 - eps) [c = label] + eps / C
(the smoothed target, which sums to 1) and s = sum_c exp(z_c - max z):
    loss_n = -sum_c q_c log p_c = max z + log s - sum_c q_c z_c
    dz     = (p - q) * gy,   p = exp(z - max z) / s
The target's class is picked by comparing each column's class index with the label, inside the
kernels, so no one-hot matrix and no gather is made.
"""
from minicnn.fused import counting, kernel


def _with_target(cp, classes, labels, eps, C, f):
    """f(q) with q the smoothed target, 1 - eps + eps / C in each row's label column and eps / C elsewhere.
    (f applies q as a Python number, so the result keeps the logits' dtype.)"""
    return cp.where(classes == labels, f(1 - eps + eps / C), f(eps / C))


@kernel
def exp_sum(cp, z, z_max):
    return cp.sum(cp.exp(z - z_max), axis=1)


@kernel
def target_dot(cp, z, classes, labels, eps, C):
    """sum_c q_c z_c of each row."""
    return cp.sum(_with_target(cp, classes, labels, eps, C, lambda q: q * z), axis=1)


def _row_loss(cp, z_max, s, qz, labels, C):
    """NaN for a label outside [0, C): labels on a GPU are not checked on the host."""
    return cp.where((labels >= 0) & (labels < C), z_max + cp.log(s) - qz, cp.nan)


@kernel
def row_losses(cp, z_max, s, qz, labels, C):
    return _row_loss(cp, z_max, s, qz, labels, C)


@kernel
def loss_sum(cp, z_max, s, qz, labels, C, scale):
    return cp.sum(_row_loss(cp, z_max, s, qz, labels, C), axis=0) * scale


@kernel
def logits_grad(cp, z, z_max, s, classes, labels, eps, C, gy, scale):
    p = cp.exp(z - z_max) / s
    return _with_target(cp, classes, labels, eps, C, lambda q: p - q) * (gy * scale)


def forward(z, labels, eps, reduction):
    """The loss (0-d, or (N,) for reduction "none") and the row statistics backward needs."""
    N, C = z.shape
    z_max = z.max(axis=1, keepdims=True)                                        # (N, 1)
    s = exp_sum(z, z_max)                                                       # (N,)
    qz = target_dot(z, counting(0, C, (1, C)), labels.reshape(N, 1), eps, C)            # (N,)
    if reduction == "none":
        loss = row_losses(z_max.reshape(N), s, qz, labels, C)
    else:
        loss = loss_sum(z_max.reshape(N), s, qz, labels, C, 1 / N if reduction == "mean" else 1)
    return loss, (z_max, s.reshape(N, 1))


def backward(gy, z, labels, eps, statistics, reduction):
    N, C = z.shape
    z_max, s = statistics
    gy, scale = (gy.reshape(N, 1), 1) if reduction == "none" else (gy, 1 / N if reduction == "mean" else 1)
    return logits_grad(z, z_max, s, counting(0, C, (1, C)), labels.reshape(N, 1), eps, C, gy, scale)
