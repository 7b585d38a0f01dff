"""Batch normalisation (Ioffe & Szegedy 2015) per channel, for (N, C), (N, C, L) and (N, C, H, W).

Statistics are taken per channel c over the M = N * L (or N * H * W) values of that channel.

Training:
    mu     = mean of x over the channel's M values
    var    = mean of (x - mu)**2                     (biased: divides by M)
    invstd = 1 / sqrt(var + eps)
    xhat   = (x - mu) * invstd
    y      = gamma * xhat + beta
    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)   (unbiased, as PyTorch)
Evaluation: mu and var are the running estimates, which are left unchanged.

Backward, with dxhat = gy * gamma and sums over the channel's M values:
    gbeta  = sum(gy)
    ggamma = sum(gy * xhat)
    gx     = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))     training
    gx     = dxhat * invstd                                                       evaluation
In training mu and var depend on x, which gives the two subtracted sums; in evaluation
they are constants and batch norm is a per-channel affine map.
Backward needs xhat, an array of x's size. The forward keeps x, mu and invstd instead and
backward recomputes xhat = (x - mu) * invstd: autograd holds x anyway as the op's input, so
this keeps nothing of x's size of its own (as PyTorch does).

On a GPU, training mode takes the fused twin in ``minicnn/fused/batchnorm.py``: the same maths in
seven kernel launches instead of about thirty.
"""
import numpy as np

from minicnn import fast, fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.ops.utils import check_ndim
from minicnn.tensor import Tensor

__all__ = ["batch_norm"]


class BatchNorm(Function):
    """y = gamma * (x - mu) * invstd + beta; see the module docstring for the gradients."""

    def __init__(self, training, momentum, eps, running_mean, running_var, has_weight, has_bias):
        self.training, self.momentum, self.eps = training, momentum, eps
        self.running_mean, self.running_var = running_mean, running_var
        self.has_weight, self.has_bias = has_weight, has_bias

    def forward(self, x, *params):
        self.fused = self.training and fused.use(x)
        if self.fused:
            return self._fused_forward(x, params)
        if fused.use(x) and not any(self.needs_input_grad):       # evaluation on a GPU: one kernel
            from minicnn.fused import batchnorm as kernels
            C = x.shape[1]
            running = (t.array.reshape(1, C, 1) for t in (self.running_mean, self.running_var))
            return kernels.normalize_with(_channels_last_axis(x), *running, self.eps,
                                          *self._affine(params, C)).reshape(x.shape)
        xp = get_array_module(x)
        C = x.shape[1]
        self.axes = (0,) + tuple(range(2, x.ndim))            # every axis but the channel axis
        shape = (1, C) + (1,) * (x.ndim - 2)                   # a per-channel value, broadcastable
        gamma = params[0].reshape(shape) if self.has_weight else None
        if self.training and fast.use(x):
            y, mu, var = self._fast_forward(x, params)
            invstd = 1 / xp.sqrt(var + self.eps)               # (C,)
        else:
            if self.training:
                mu = x.mean(axis=self.axes)
                var = ((x - mu.reshape(shape)) ** 2).mean(axis=self.axes)
            else:
                mu = self.running_mean.array.astype(x.dtype)   # a copy: saved, while running_mean may move on
                var = self.running_var.array.astype(x.dtype, copy=False)
            invstd = 1 / xp.sqrt(var + self.eps)
            xhat = _normalize(x, mu.reshape(shape), invstd.reshape(shape))
            y = xhat * gamma if self.has_weight else xhat
            if self.has_bias:
                y += params[-1].reshape(shape)
        if self.training and self.running_mean is not None:
            self._update_running(mu, var, x.size // C)
        self.save_for_backward(x, mu.reshape(shape), invstd.reshape(shape), gamma)   # not xhat: see above
        return y

    def _fast_forward(self, x, params):
        """The numba kernel (minicnn/fast/batchnorm.py): the same maths in fewer passes."""
        from minicnn.fast import batchnorm as kernel
        C = x.shape[1]
        gamma = params[0] if self.has_weight else np.ones(C, x.dtype)
        beta = params[-1] if self.has_bias else np.zeros(C, x.dtype)
        return kernel.forward(x, gamma, beta, self.eps)          # (y, mean, var)

    def _fused_forward(self, x, params):
        """The GPU kernels (minicnn/fused/batchnorm.py) on x seen as (N, C, L)."""
        from minicnn.fused import batchnorm as kernels
        gamma, beta = self._affine(params, x.shape[1])
        running = None
        if self.running_mean is not None:
            running = (self.running_mean.array, self.running_var.array, self.momentum)
        y, mean, invstd = kernels.forward(_channels_last_axis(x), gamma, beta, self.eps, running)
        self.save_for_backward(x, mean, invstd, gamma)
        return y.reshape(x.shape)

    def _affine(self, params, C):
        """gamma and beta as (1, C, 1) arrays, or 1 and 0 when the layer has none."""
        gamma = params[0].reshape(1, C, 1) if self.has_weight else 1
        beta = params[-1].reshape(1, C, 1) if self.has_bias else 0
        return gamma, beta

    def _update_running(self, mu, var, M):
        """running = (1 - momentum) * running + momentum * batch statistic, in place."""
        m = self.momentum
        rm, rv = self.running_mean.array, self.running_var.array
        rm *= 1 - m
        rm += m * mu.astype(rm.dtype, copy=False)
        rv *= 1 - m
        rv += m * (var * (M / (M - 1))).astype(rv.dtype, copy=False)

    def backward(self, gy):
        need_x, *need_params = self.needs_input_grad         # params: weight first, then bias
        if self.fused:
            from minicnn.fused import batchnorm as kernels
            x, mean, invstd, gamma = self.saved
            gx, ggamma, gbeta = kernels.backward(_channels_last_axis(gy), _channels_last_axis(x), mean, invstd,
                                                 gamma, need_x)
            gx = gx.reshape(x.shape) if need_x else None
        else:
            gx, ggamma, gbeta = self._plain_backward(gy, need_x)
        return (gx,) + ((ggamma,) if self.has_weight else ()) + ((gbeta,) if self.has_bias else ())

    def _plain_backward(self, gy, need_x):
        x, mu, invstd, gamma = self.saved
        need_params = self.needs_input_grad[1:]
        if need_x and self.training and fast.use(gy, x):
            return self._fast_backward(gy, x, mu, invstd, gamma)
        xhat = _normalize(x, mu, invstd)                      # as the forward computed it
        gx = self._input_grad(gy, xhat, invstd, gamma) if need_x else None
        ggamma = (gy * xhat).sum(axis=self.axes) if self.has_weight and need_params[0] else None
        gbeta = gy.sum(axis=self.axes) if self.has_bias and need_params[-1] else None
        return gx, ggamma, gbeta

    def _input_grad(self, gy, xhat, invstd, gamma):
        dxhat = gy * gamma if gamma is not None else gy
        if not self.training:
            return dxhat * invstd
        M = gy.size // gy.shape[1]
        sum_dxhat = dxhat.sum(axis=self.axes, keepdims=True)
        sum_dxhat_xhat = (dxhat * xhat).sum(axis=self.axes, keepdims=True)
        return invstd / M * (M * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)

    def _fast_backward(self, gy, x, mu, invstd, gamma):
        """The numba kernel: gx, and the two per-channel sums that are ggamma and gbeta."""
        from minicnn.fast import batchnorm as kernel
        C = gy.shape[1]
        gamma = gamma.reshape(C) if gamma is not None else np.ones(C, gy.dtype)
        return kernel.backward(gy, x, mu.reshape(C), invstd.reshape(C), gamma)


def _normalize(x, mu, invstd):
    """xhat = (x - mu) * invstd, with mu and invstd shaped to broadcast over x's channels."""
    return (x - mu) * invstd


def _channels_last_axis(x):
    """(N, C, ...) seen as (N, C, L): a view when x is contiguous."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True, momentum=0.1, eps=1e-5):
    """Batch normalisation with statistics per channel (BatchNorm1d and BatchNorm2d alike).

    Inputs:
    - x: (N, C), (N, C, L) or (N, C, H, W)
    - running_mean, running_var: (C,) Tensors without grad, updated in place when training;
      both None to keep no running estimates (then training must be True)
    - weight, bias: gamma and beta, (C,) Tensors, or None (affine=False)
    - training: True normalises with the batch's statistics, False with the running ones
    - momentum: weight of the new batch in the running estimates
    - eps: added to the variance before the square root
    Returns y: the same shape and dtype as x.
    """
    check_ndim(x, (2, 3, 4), "(N, C), (N, C, L) or (N, C, H, W)", "batch_norm")
    C = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if running_mean is None and not training:
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"batch_norm: {name} must be a Tensor or None, got {type(t).__name__}")
        if tuple(t.shape) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape (C,) = ({C},) for x of shape "
                             f"{tuple(x.shape)}, got {tuple(t.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"batch_norm: x is {x.dtype} but {name} is {t.dtype}; cast one of them")
    if training and x.numel() // max(C, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input shape {tuple(x.shape)}")
    params = tuple(t for t in (weight, bias) if t is not None)
    fn = BatchNorm(training, momentum, eps, running_mean, running_var, weight is not None, bias is not None)
    return fn(x, *params)
