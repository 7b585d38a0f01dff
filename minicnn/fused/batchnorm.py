"""Batch norm in training mode as four kernels forward and three backward (the plain code: about 20 and 13),
and evaluation as one.

The twin of ``minicnn/ops/batchnorm.py``; x is seen as (N, C, L), statistics per channel over axes (0, 2).
Forward: the mean (one reduction), the sum of squared deviations (one fused reduction), the per-channel
kernel that makes invstd and updates the running estimates, and the normalisation. Backward: the two
per-channel sums, sum(gy) and sum(gy * xhat) (xhat recomputed from x, never stored), then gx in one
elementwise kernel:
    gx = gamma * invstd * (gy - (sum(gy) + xhat * sum(gy * xhat)) / M)
which is the plain code's formula with dxhat = gamma * gy taken out of the sums.
"""
from minicnn.fused import kernel

AXES = (0, 2)      # of x seen as (N, C, L)


@kernel
def squared_deviation_sum(cp, x, mean):
    return cp.sum((x - mean) * (x - mean), axis=AXES)


@kernel
def statistics(cp, squared_sum, M, eps):
    """invstd of the batch: 1 / sqrt(var + eps), var the biased variance."""
    return 1 / cp.sqrt(squared_sum / M + eps)


@kernel
def statistics_and_running(cp, mean, squared_sum, running_mean, running_var, momentum, M, eps):
    """invstd, and the running estimates moved towards the batch's (the variance unbiased), in place."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += momentum * squared_sum / (M - 1)
    return 1 / cp.sqrt(squared_sum / M + eps)


@kernel
def normalize(cp, x, mean, invstd, gamma, beta):
    return (x - mean) * invstd * gamma + beta


@kernel
def normalize_with(cp, x, mean, var, eps, gamma, beta):
    """Evaluation: the running statistics' normalisation, 1 / sqrt(var + eps) taken per element."""
    return (x - mean) / cp.sqrt(var + eps) * gamma + beta


@kernel
def gy_xhat_sum(cp, gy, x, mean, invstd):
    return cp.sum(gy * ((x - mean) * invstd), axis=AXES)


@kernel
def input_grad(cp, gy, x, mean, invstd, gamma, gy_sum, gy_xhat_sum, M):
    xhat = (x - mean) * invstd
    return gamma * invstd * (gy - (gy_sum + xhat * gy_xhat_sum) / M)


def forward(x3, gamma, beta, eps, running=None):
    """x3 (N, C, L); gamma, beta (1, C, 1) arrays or the scalars 1 and 0; running (mean, var, momentum)
    or None. Returns y (N, C, L), and mean and invstd as (1, C, 1)."""
    M = x3.shape[0] * x3.shape[2]
    mean = x3.mean(axis=AXES)
    squared_sum = squared_deviation_sum(x3, mean.reshape(1, -1, 1))
    if running is None:
        invstd = statistics(squared_sum, M, eps)
    else:
        running_mean, running_var, momentum = running
        invstd = statistics_and_running(mean, squared_sum, running_mean, running_var, momentum, M, eps)
    mean, invstd = mean.reshape(1, -1, 1), invstd.reshape(1, -1, 1)
    return normalize(x3, mean, invstd, gamma, beta), mean, invstd


def backward(gy3, x3, mean, invstd, gamma, need_x):
    """gy3, x3 (N, C, L); mean, invstd, gamma (1, C, 1) (gamma may be the scalar 1).
    Returns gx (N, C, L) or None, ggamma (C,), gbeta (C,)."""
    M = x3.shape[0] * x3.shape[2]
    gy_sum = gy3.sum(axis=AXES)
    gxhat_sum = gy_xhat_sum(gy3, x3, mean, invstd)
    gx = None
    if need_x:
        gx = input_grad(gy3, x3, mean, invstd, gamma, gy_sum.reshape(1, -1, 1), gxhat_sum.reshape(1, -1, 1), M)
    return gx, gxhat_sum, gy_sum
