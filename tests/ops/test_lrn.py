"""local_response_norm: against PyTorch and a naive loop, finite differences for odd and even sizes."""
import numpy as np
import pytest
import torch.nn.functional as F

import minicnn as mc
from minicnn.ops import local_response_norm
from tests.oracle import compare_with_torch, gradcheck_arrays, rel_error

# alpha large enough that the cross-channel term of the gradient is not lost in the tolerance.
SETTINGS = [dict(alpha=1e-4, beta=0.75, k=1.0), dict(alpha=0.8, beta=0.75, k=2.0), dict(alpha=2.0, beta=1.3, k=0.5)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 9])
def test_matches_torch(size, dtype, xp, rng):
    x = rng.standard_normal((2, 7, 3, 4))
    for kw in SETTINGS:
        compare_with_torch(lambda t: local_response_norm(t, size, **kw),
                           lambda t: F.local_response_norm(t, size, **kw), [x], xp, dtype=dtype)


@pytest.mark.parametrize("size", [2, 3])
def test_matches_torch_3d_input(size, xp, rng):
    x = rng.standard_normal((3, 5, 6))
    compare_with_torch(lambda t: local_response_norm(t, size, alpha=1.0),
                       lambda t: F.local_response_norm(t, size, alpha=1.0), [x], xp)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
def test_gradcheck(size, xp, rng):
    x = rng.standard_normal((1, 5, 2, 3))
    gradcheck_arrays(lambda t: local_response_norm(t, size, alpha=1.5, beta=0.75, k=1.0), [x], xp)


def test_gradcheck_odd_shape_3d(xp, rng):
    x = rng.standard_normal((3, 4, 3))
    gradcheck_arrays(lambda t: local_response_norm(t, 4, alpha=1.0, beta=0.6, k=2.0), [x], xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_alexnet_paper_formula(dtype, xp, rng):
    """The paper's b = a / (k + alpha * sum a^2)^beta (alpha not divided by n) is alpha * n here."""
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    a = 30 * rng.standard_normal((2, 8, 3, 3))            # large enough for the window term to matter
    C = a.shape[1]
    expected = np.empty_like(a)
    for c in range(C):
        lo, hi = max(0, c - n // 2), min(C - 1, c + n // 2)
        expected[:, c] = a[:, c] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(axis=1)) ** beta
    y = local_response_norm(mc.Tensor(xp.asarray(a, dtype=dtype)), size=n, alpha=alpha * n, beta=beta, k=k)
    assert y.dtype == dtype
    assert rel_error(y.numpy(), expected) < (1e-12 if dtype == np.float64 else 1e-5)
    assert rel_error(a, expected) > 1e-2                    # the normalisation did change the values


def test_error_wrong_ndim():
    with pytest.raises(ValueError, match=r"local_response_norm: input must be \(N, C, H, W\) or \(N, C, L\), "
                                         r"got shape \(4, 5\)"):
        local_response_norm(mc.Tensor(np.ones((4, 5))), 3)


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_error_bad_size(size):
    with pytest.raises(ValueError, match="local_response_norm: size must be a positive int, got"):
        local_response_norm(mc.Tensor(np.ones((1, 3, 2, 2))), size)


def test_error_bad_constant():
    with pytest.raises(TypeError, match="local_response_norm: beta must be a Python number, got str"):
        local_response_norm(mc.Tensor(np.ones((1, 3, 2, 2))), 3, beta="0.75")
