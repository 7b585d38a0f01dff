"""Local response normalisation on the GPU in three launches forward and four backward (the plain
code: about 10 and 15, one per channel offset of the window).

The twin of ``minicnn/ops/lrn.py``. A window of n neighbouring channels is a window of n rows of
x seen as N one-channel images of C rows and H*W columns, so the convolution's im2col kernel lays
every window out as a column (``minicnn/fused/conv.py``), and one fused reduction sums it:
    forward:  col = windows of a (zero outside 0..C-1);  D = k + alpha/n * sum(col**2);  b = a * D**-beta
    backward: t = gy * b / D;  the mirrored windows of t;  da = gy * D**-beta - 2 alpha beta/n * a * sum
"""
import math

from minicnn import backend
from minicnn.fused import kernel
from minicnn.fused.conv import gpu_im2col


@kernel
def window_energy(cp, col, k, alpha_n):
    """D = k + alpha / n * (the sum of squares of each window)."""
    return cp.sum(col * col, axis=0) * alpha_n + k


@kernel
def normalize(cp, a, D, beta):
    return a * D ** -beta


@kernel
def upstream_share(cp, gy, a, D, beta):
    """gy_c * b_c / D_c, which the windows holding a_i send back to it."""
    return gy * a * D ** -beta / D


@kernel
def window_sum(cp, col):
    return cp.sum(col, axis=0)


@kernel
def input_grad(cp, gy, a, D, mirrored, beta, coefficient):
    return gy * D ** -beta - coefficient * a * mirrored


def _windows(a, before, after, n):
    """(n, N*C*L): the channel window c - before .. c + after of every element, as columns."""
    N, C = a.shape[:2]
    L = math.prod(a.shape[2:])
    images = backend.get_array_module(a).ascontiguousarray(a).reshape(N, 1, C, L)
    return gpu_im2col(images, (1, 1, n, 1), (1, 1), (before, after, 0, 0), C, L)


def forward(a, n, alpha, beta, k):
    """b, and D (a's shape) for backward."""
    D = window_energy(_windows(a, n // 2, (n - 1) // 2, n), k, alpha / n).reshape(a.shape)
    return normalize(a, D, beta), D


def backward(gy, a, D, n, alpha, beta):
    t = upstream_share(gy, a, D, beta)
    mirrored = window_sum(_windows(t, (n - 1) // 2, n // 2, n)).reshape(a.shape)
    return input_grad(gy, a, D, mirrored, beta, 2 * alpha * beta / n)
