import threading

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import im2col, ops
from minicnn.fast.scratch import release, scratch
from tests.oracle import compare_with_torch, gradcheck_arrays

# (x shape, weight shape, stride, padding as minicnn takes it, padding as torch takes it, groups[, dilation])
CASES = {
    "3x3_pad1": ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, 1, 1),
    "stride2_odd": ((1, 2, 7, 6), (3, 2, 3, 3), 2, 1, 1, 1),
    "stride_hw": ((2, 2, 6, 7), (2, 2, 3, 2), (2, 1), (1, 0), (1, 0), 1),
    "1x3_inception": ((1, 2, 5, 5), (3, 2, 1, 3), 1, (0, 1), (0, 1), 1),
    "3x1_inception": ((1, 2, 5, 5), (3, 2, 3, 1), 1, (1, 0), (1, 0), 1),
    "groups2_alexnet": ((2, 4, 5, 5), (6, 2, 3, 3), 1, 1, 1, 2),
    "depthwise": ((1, 3, 5, 5), (3, 1, 3, 3), 2, 1, 1, 3),
    "batch1_no_pad_1x1": ((1, 4, 3, 3), (2, 4, 1, 1), 1, 0, 0, 1),
    "kernel_gt_stride_overlap": ((1, 1, 9, 9), (2, 1, 5, 5), 3, 2, 2, 1),
    "1x1_pad1_grows": ((1, 2, 3, 4), (3, 2, 1, 1), 1, 1, 1, 1),       # padding > K-1: rows of only padding
    "1x1_pointwise_16x17": ((2, 3, 16, 17), (4, 3, 1, 1), 1, 0, 0, 1),  # the numba path's GEMM-per-image case
    "narrowing_28x28": ((1, 8, 28, 29), (2, 8, 3, 3), 1, 1, 1, 1),        # numba: gx as a convolution of gy
    "narrowing_28x28_dilation2": ((1, 8, 28, 28), (2, 8, 3, 2), 1, (2, 1), (2, 1), 1, 2),
    "groups2_stride1_5x5": ((2, 4, 6, 6), (4, 2, 5, 5), 1, 2, 2, 2),
    "many_out_channels": ((2, 1, 5, 5), (6, 1, 3, 3), 1, 0, 0, 1),
    "stride3_pad_wider_than_kernel": ((2, 2, 7, 8), (3, 2, 2, 3), 3, 3, 3, 1),  # windows entirely in the padding
    "dilation2_deeplab": ((2, 3, 9, 9), (4, 3, 3, 3), 1, 2, 2, 1, 2),              # 'same' size at dilation 2
    "dilation_hw_stride2": ((1, 2, 11, 8), (3, 2, 2, 3), (2, 1), (1, 3), (1, 3), 1, (3, 2)),
    "dilation2_groups2_stride2": ((2, 4, 8, 9), (4, 2, 3, 3), 2, 1, 1, 2, 2),     # taps past the last window
    "dilation_wider_than_input": ((1, 1, 4, 4), (2, 1, 2, 2), 1, 1, 1, 1, 5),     # a span of 6 over 4 + 2 rows
}


def _case(name):
    """x shape, weight shape, stride, padding, torch's padding, groups and dilation (1 unless given)."""
    case = CASES[name]
    return case if len(case) == 7 else case + (1,)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", CASES)
def test_conv2d_gradcheck(xp, fast_path, rng, name, bias):
    xs, ws, stride, pad, _, groups, dilation = _case(name)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)] + ([rng.standard_normal(ws[0])] if bias else [])
    gradcheck_arrays(lambda x, w, b=None: ops.conv2d(x, w, b, stride, pad, dilation, groups), arrays, xp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CASES)
def test_conv2d_matches_torch(xp, fast_path, rng, dtype, name):
    xs, ws, stride, pad, tpad, groups, dilation = _case(name)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    compare_with_torch(lambda x, w, b: ops.conv2d(x, w, b, stride, pad, dilation, groups),
                       lambda x, w, b: F.conv2d(x, w, b, stride, tpad, dilation, groups), arrays, xp, dtype)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_per_side_padding_matches_torch(xp, fast_path, rng, dtype, stride):
    """torch's conv2d takes only symmetric padding: the oracle pads first, then convolves."""
    arrays = [rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 3))]
    compare_with_torch(lambda x, w: ops.conv2d(x, w, padding=((0, 2), (1, 0)), stride=stride),
                       lambda x, w: F.conv2d(F.pad(x, (1, 0, 0, 2)), w, stride=stride), arrays, xp, dtype)
    gradcheck_arrays(lambda x, w: ops.conv2d(x, w, padding=((0, 2), (1, 0)), stride=stride), arrays, xp)


def test_conv2d_only_weight_needs_grad(fast_path, rng):
    """The first layer's input needs no gradient: backward must skip col2im and still give gW."""
    x = mc.Tensor(rng.standard_normal((2, 1, 5, 5)))
    w = mc.Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    ops.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (2, 1, 3, 3)


def test_pointwise_case_takes_the_column_free_path():
    """The 1x1 case above is the one minicnn/fast/conv.py runs without columns; the 3x3 one is not."""
    from minicnn.fast.conv import _pointwise
    xs, ws = CASES["1x1_pointwise_16x17"][:2]
    assert _pointwise(np.empty(xs), np.empty(ws), (1, 1), (0, 0, 0, 0), 1)
    assert not _pointwise(np.empty(xs), np.empty((4, 3, 3, 3)), (1, 1), (0, 0, 0, 0), 1)
    assert not _pointwise(np.empty((2, 3, 15, 15)), np.empty(ws), (1, 1), (0, 0, 0, 0), 1)


def test_narrowing_cases_take_the_input_gradient_as_a_convolution():
    from minicnn.fast.conv import _input_grad_as_conv
    for name in ("narrowing_28x28", "narrowing_28x28_dilation2"):
        xs, ws, stride, pad, _, groups, dilation = _case(name)
        pads = mc.ops.utils.padding4(pad, "test")
        assert _input_grad_as_conv(np.empty(xs, np.float32), np.empty(ws, np.float32), (1, 1), pads,
                                   mc.ops.utils.pair(dilation, "dilation", "test"), groups) is not None, name
    assert _input_grad_as_conv(np.empty((1, 8, 14, 14)), np.empty((2, 8, 3, 3)), (1, 1), (1,) * 4, (1, 1), 1) is None


def test_chunked_im2col_gives_the_same_result(fast_path, rng, monkeypatch):
    x, w, b = rng.standard_normal((5, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    gy = rng.standard_normal((5, 4, 6, 6))

    def run():
        tx, tw, tb = (mc.Tensor(a, requires_grad=True) for a in (x, w, b))
        y = ops.conv2d(tx, tw, tb, padding=1)
        y.backward(gy)
        return y.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()

    whole = run()
    per_sample = 3 * 9 * 36 * 8       # one sample's columns: C*KH*KW rows of OH*OW float64s
    monkeypatch.setattr(im2col, "max_col_bytes", 2 * per_sample)   # chunks of 2, 2, 1 samples
    assert [s.stop - s.start for s in im2col.batch_chunks(5, per_sample)] == [2, 2, 1]
    for a, b_ in zip(whole, run()):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_output_size_formula_of_lecture_11():
    """W2 = (W1 - F + 2P) / S + 1: AlexNet conv1 227 -> 55, VGG 3x3 pad 1 keeps 224."""
    assert im2col.conv_outsize(227, 11, 4, 0, 0) == 55
    assert im2col.conv_outsize(224, 3, 1, 1, 1) == 224
    assert im2col.conv_outsize(224, 7, 2, 3, 3) == 112
    y = ops.conv2d(mc.Tensor(np.zeros((1, 3, 227, 227), np.float32)), mc.Tensor(np.zeros((2, 3, 11, 11), np.float32)),
                   stride=4)
    assert y.shape == (1, 2, 55, 55)


def naive_conv(x, w, stride, pad):
    """The definition, with loops over every output pixel (small inputs only)."""
    x = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    y = np.zeros((N, OC, OH, OW))
    for i in range(OH):
        for j in range(OW):
            patch = x[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y


def test_conv2d_matches_the_definition(rng):
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(ops.conv2d(mc.Tensor(x), mc.Tensor(w), stride=2, padding=1).numpy(),
                               naive_conv(x, w, 2, 1), rtol=1e-12, atol=1e-12)


# fast_path only switches a flag, the same for every example: safe to share between examples.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 2), Cg=st.integers(1, 3), OCg=st.integers(1, 3), groups=st.integers(1, 3),
       H=st.integers(1, 9), W=st.integers(1, 9), KH=st.integers(1, 4), KW=st.integers(1, 4),
       SH=st.integers(1, 3), SW=st.integers(1, 3), PH=st.integers(0, 2), PW=st.integers(0, 2), seed=st.integers(0, 99))
def test_conv2d_property_shapes_and_values(fast_path, N, Cg, OCg, groups, H, W, KH, KW, SH, SW, PH, PW, seed):
    if KH > H + 2 * PH or KW > W + 2 * PW:
        with pytest.raises(ValueError, match="kernel .* is larger than the padded input"):
            ops.conv2d(mc.Tensor(np.zeros((N, Cg * groups, H, W))), mc.Tensor(np.zeros((OCg * groups, Cg, KH, KW))),
                       stride=(SH, SW), padding=(PH, PW), groups=groups)
        return
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, Cg * groups, H, W)), rng.standard_normal((OCg * groups, Cg, KH, KW))]
    y = compare_with_torch(lambda x, w: ops.conv2d(x, w, stride=(SH, SW), padding=(PH, PW), groups=groups),
                           lambda x, w: F.conv2d(x, w, stride=(SH, SW), padding=(PH, PW), groups=groups),
                           arrays, np)
    assert y.shape == (N, OCg * groups, (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1)


def T(shape, dtype=np.float64):
    return mc.Tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((T((1, 1, 28, 28)), T((6, 3, 5, 5))), {}, ValueError,
     r"conv2d: x must be \(N, C, H, W\) with C = weight.shape\[1\] \* groups = 3, got \(1, 1, 28, 28\)"),
    ((T((1, 3, 28)), T((6, 3, 5, 5))), {}, ValueError, r"conv2d: x must be \(N, C, H, W\)"),
    ((T((1, 3, 8, 8)), T((6, 3, 5))), {}, ValueError, r"conv2d: weight must be \(OC, C/groups, KH, KW\), got shape \(6, 3, 5\)"),
    ((T((1, 3, 3, 3)), T((6, 3, 5, 5))), {}, ValueError, r"conv2d: kernel 5x5 is larger than the padded input 3x3"),
    ((T((1, 3, 8, 8)), T((6, 3, 3, 3))), {"stride": 0}, ValueError, r"conv2d: stride must be positive, got \(0, 0\)"),
    ((T((1, 3, 8, 8)), T((6, 3, 3, 3))), {"stride": (1, -2)}, ValueError, r"conv2d: stride must be positive"),
    ((T((1, 6, 8, 8)), T((4, 2, 3, 3))), {"groups": 3}, ValueError,
     r"conv2d: groups=3 must divide the out_channels=4"),
    ((T((1, 4, 8, 8)), T((6, 4, 3, 3))), {"groups": 0}, ValueError, r"conv2d: groups must be a positive int, got 0"),
    ((T((1, 3, 8, 8)), T((6, 3, 3, 3))), {"bias": T((5,))}, ValueError, r"conv2d: bias must have shape \(6,\), got \(5,\)"),
    ((T((1, 3, 8, 8), np.float32), T((6, 3, 3, 3))), {}, TypeError, r"conv2d: x is float32 but weight is float64"),
    ((T((1, 3, 8, 8)), T((6, 3, 3, 3))), {"padding": "same"}, ValueError, r"conv2d: padding must be an int"),
])
def test_conv2d_errors(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        ops.conv2d(*args, **kwargs)


def test_scratch_buffer_is_reused_and_grows():
    a = np.zeros(1, np.float32)
    first = scratch(a, 100, "col")
    assert scratch(a, 50, "col").base is first.base             # smaller request: the same memory
    assert scratch(a, 50, "out").base is not first.base         # another slot: other memory
    assert scratch(a, 1000, "col").size == 1000                 # larger: a new, larger buffer
    assert scratch(np.zeros(1), 10, "col").dtype == np.float64  # one buffer per dtype


def test_scratch_buffers_belong_to_their_thread():
    a = np.zeros(1, np.float32)
    mine = scratch(a, 100, "col")
    box = []
    thread = threading.Thread(target=lambda: box.append(scratch(a, 100, "col")))
    thread.start()
    thread.join()
    assert box[0].base is not mine.base
    release()
    assert scratch(a, 100, "col").base is not mine.base        # released: made anew


def test_two_threads_convolving_at_once_get_their_own_results(rng):
    """Each thread's columns live in its own buffers: results equal the one-thread ones."""
    inputs = [rng.standard_normal((4, 3, 12, 12)).astype(np.float32) for _ in range(2)]
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)

    def convolve(x):
        out = None
        for _ in range(20):
            out = ops.conv2d(mc.Tensor(x), mc.Tensor(w), padding=1).numpy()
        return out

    alone = [convolve(x) for x in inputs]
    results = [None, None]
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, convolve(inputs[k]))) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, results):
        np.testing.assert_array_equal(a, b)


def test_input_gradient_is_a_convolution_with_the_flipped_kernel(rng):
    """docs/ops/convolution.md: at stride 1, gx = conv2d(gy padded by K-1-p, W flipped in space
    with in/out channels swapped)."""
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    tx = mc.Tensor(x, requires_grad=True)
    y = ops.conv2d(tx, mc.Tensor(w), padding=(1, 0))
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy()
    gx = ops.conv2d(mc.Tensor(gy), mc.Tensor(flipped), padding=(3 - 1 - 1, 2 - 1 - 0))
    np.testing.assert_allclose(gx.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_results_do_not_alias_the_scratch_buffer(fast_path, rng):
    """Outputs and gradients must own their memory: the next convolution reuses the column buffer."""
    x = mc.Tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = ops.conv2d(x, w, padding=1)
    y.backward(np.ones(y.shape))
    kept = [y.numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()]
    x2 = mc.Tensor(rng.standard_normal((2, 3, 6, 6)) * 100, requires_grad=True)
    other = ops.conv2d(x2, mc.Tensor(rng.standard_normal((4, 3, 3, 3)) * 100, requires_grad=True), padding=1)
    other.backward(np.ones(other.shape))
    for before, after in zip(kept, [y.numpy(), x.grad.numpy(), w.grad.numpy()]):
        np.testing.assert_array_equal(before, after)
