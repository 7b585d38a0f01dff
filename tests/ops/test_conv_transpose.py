"""conv_transpose2d: float64 gradient checks and PyTorch's conv_transpose2d over awkward cases, on the
NumPy reference, the numba kernels and the GPU path (the convolution's three passes run in another order)."""
import numpy as np
import pytest
import torch.nn.functional as F

import minicnn as mc
from minicnn import ops
from tests.oracle import compare_with_torch, gradcheck_arrays

# (x shape, weight shape (Cin, Cout/G, KH, KW), stride, padding, output_padding, groups, dilation)
CASES = {
    "3x3": ((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 0, 1, 1),
    "stride2_pad1_dcgan_like": ((2, 4, 3, 3), (4, 2, 4, 4), 2, 1, 0, 1, 1),       # 3x3 -> 6x6
    "output_padding": ((2, 4, 5, 4), (4, 3, 3, 3), 2, 1, 1, 1, 1),
    "non_square_groups": ((1, 4, 3, 5), (4, 1, 2, 3), (2, 3), (1, 0), (1, 2), 2, 1),
    "dilated": ((2, 2, 4, 4), (2, 3, 3, 3), 2, 2, 0, 1, 2),
    "depthwise_dilated_hw": ((1, 6, 3, 3), (6, 1, 3, 3), 3, 1, 2, 6, (1, 2)),
    "1x1_batch1": ((1, 3, 2, 3), (3, 4, 1, 1), 1, 0, 0, 1, 1),
    "output_padding_below_dilation": ((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 1, 1, 2),     # not below the stride
    "output_padding_2_stride_2_dilation_3": ((1, 2, 3, 4), (2, 3, 2, 3), 2, 1, (2, 1), 1, 3),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", CASES)
def test_conv_transpose2d_gradcheck(xp, fast_path, rng, name, bias):
    xs, ws, stride, pad, out_pad, groups, dilation = CASES[name]
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    arrays += [rng.standard_normal(ws[1] * groups)] if bias else []
    gradcheck_arrays(lambda x, w, b=None: ops.conv_transpose2d(x, w, b, stride, pad, out_pad, groups, dilation),
                     arrays, xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CASES)
def test_conv_transpose2d_matches_torch(xp, fast_path, rng, dtype, name):
    xs, ws, stride, pad, out_pad, groups, dilation = CASES[name]
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * groups)]
    compare_with_torch(lambda x, w, b: ops.conv_transpose2d(x, w, b, stride, pad, out_pad, groups, dilation),
                       lambda x, w, b: F.conv_transpose2d(x, w, b, stride, pad, out_pad, groups, dilation),
                       arrays, xp, dtype)


def test_it_is_the_adjoint_of_the_convolution(rng):
    """<conv2d(y, W), x> = <y, conv_transpose2d(x, W)> for every x and y: the defining property."""
    x, y, W = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 5, 7, 7)), rng.standard_normal((3, 5, 3, 3))
    conv = ops.conv2d(mc.Tensor(y), mc.Tensor(W), stride=2, padding=1).array                 # (2, 3, 4, 4)
    transposed = ops.conv_transpose2d(mc.Tensor(x), mc.Tensor(W), stride=2, padding=1).array  # (2, 5, 7, 7)
    assert conv.shape == x.shape and transposed.shape == y.shape
    np.testing.assert_allclose(np.sum(conv * x), np.sum(y * transposed), rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(output_padding=2, stride=2), r"output_padding along H must be in \[0, max\(stride, dilation\)\) = "
                                       r"\[0, 2\), got 2"),
    (dict(groups=2), "groups=2 must be a positive int dividing the weight's Cin=3"),
    (dict(padding=4), "padding 4 along H leaves no output"),
    (dict(stride=0), "stride and dilation must be positive"),
])
def test_conv_transpose2d_errors_name_the_argument(kwargs, message):
    x, w = mc.Tensor(np.zeros((1, 3, 2, 2))), mc.Tensor(np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match=message):
        ops.conv_transpose2d(x, w, **kwargs)
