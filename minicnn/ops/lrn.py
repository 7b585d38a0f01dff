"""Local response normalisation across channels (AlexNet, section 3.3), as PyTorch defines it.

For x (N, C, H, W), each activation a_c is divided by a power of the energy of its
neighbouring channels at the same position:
    S_c = sum of a_j**2 for j in c - n//2 .. c + (n-1)//2    (channels outside 0..C-1 count as 0)
    D_c = k + (alpha / n) * S_c
    b_c = a_c * D_c**(-beta)
with n = size. For odd n the window is centred; for even n it reaches one channel further
back than forward, exactly as torch.nn.functional.local_response_norm pads it.

Backward: a_i enters b_i directly and, through S_c, every b_c whose window holds i. Channel i
lies in c's window when c - n//2 <= i <= c + (n-1)//2, that is for c in i - (n-1)//2 .. i + n//2:
the mirrored window (the same for odd n, shifted by one for even n). So
    da_i = gy_i * D_i**(-beta)  -  (2 * alpha * beta / n) * a_i * sum over c in i - (n-1)//2 .. i + n//2
                                                                  of gy_c * b_c / D_c

AlexNet's constants are k = 2, n = 5, alpha = 1e-4, beta = 0.75, but the paper does not divide
alpha by n: b = a / (k + alpha * S)**beta. In this (PyTorch's) convention AlexNet is
local_response_norm(x, size=5, alpha=5 * 1e-4, beta=0.75, k=2.0).
On a GPU the window sums come from the convolution's im2col kernel: minicnn/fused/lrn.py.
"""
from minicnn import fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.ops.utils import check_ndim

__all__ = ["local_response_norm"]


def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, j] for j in c - before .. c + after, zero outside 0..C-1."""
    xp = get_array_module(a)
    C = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    padded = xp.pad(a, pad)
    out = padded[:, 0:C].copy()
    for d in range(1, before + after + 1):     # size - 1 shifted adds: n is small (5 in AlexNet)
        out += padded[:, d:d + C]
    return out


class LocalResponseNorm(Function):
    """b = a * D**(-beta), D = k + alpha/n * (window sum of a**2); see the module docstring for da."""

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, a):
        n = self.size
        self.fused = fused.use(a)
        if self.fused:
            from minicnn.fused import lrn as kernels
            b, D = kernels.forward(a, n, self.alpha, self.beta, self.k)
            self.save_for_backward(a, D)
            return b
        D = self.k + (self.alpha / n) * _channel_window_sum(a * a, n // 2, (n - 1) // 2)
        self.save_for_backward(a, D)
        return a * D ** -self.beta

    def backward(self, gy):
        a, D = self.saved
        n = self.size
        if self.fused:
            from minicnn.fused import lrn as kernels
            return kernels.backward(gy, a, D, n, self.alpha, self.beta)
        scale = D ** -self.beta                      # D**(-beta); b = a * scale
        t = gy * a * scale / D                       # gy_c * b_c / D_c
        mirrored = _channel_window_sum(t, (n - 1) // 2, n // 2)
        return gy * scale - (2 * self.alpha * self.beta / n) * a * mirrored


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation over channels, matching torch.nn.functional.local_response_norm.

    Inputs:
    - x: (N, C, H, W), or (N, C, L)
    - size: n, the number of channels in each window (odd or even, may exceed C)
    - alpha, beta, k: b = a * (k + alpha / n * sum of a**2 over the window)**(-beta)
    Returns y: the same shape and dtype as x.
    """
    check_ndim(x, (3, 4), "(N, C, H, W) or (N, C, L)", "local_response_norm")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"local_response_norm: {name} must be a Python number, got {type(value).__name__}")
    return LocalResponseNorm(size, float(alpha), float(beta), float(k))(x)
