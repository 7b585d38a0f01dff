import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minicnn as mc
from minicnn import ops
from tests.oracle import compare_with_torch, gradcheck_arrays

CASES = [
    ("reshape", lambda x: ops.reshape(x, (6, 4)), lambda x: x.reshape(6, 4), (2, 3, 4)),
    ("transpose", lambda x: ops.transpose(x, (2, 0, 1)), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    ("transpose_reverse", lambda x: ops.transpose(x), lambda x: x.permute(2, 1, 0), (2, 3, 4)),
    ("flatten", ops.flatten, lambda x: torch.flatten(x, 1), (2, 3, 2, 2)),
    ("slice", lambda x: x[:, 1:, ::2], lambda x: x[:, 1:, ::2], (2, 3, 4)),
    ("fancy_repeat", lambda x: x[[0, 1, 0]], lambda x: x[[0, 1, 0]], (2, 3)),
    ("pad", lambda x: ops.pad(x, ((1, 0), (2, 3))), lambda x: F.pad(x, (2, 3, 1, 0)), (2, 3, 4, 5)),
    ("pad_sym", lambda x: ops.pad(x, 1), lambda x: F.pad(x, (1, 1, 1, 1)), (1, 2, 3, 3)),
    ("pad_channels", lambda x: ops.pad_channels(x, 2, 1), lambda x: F.pad(x, (0, 0, 0, 0, 2, 1)), (2, 3, 2, 2)),
    ("flatten_middle", lambda x: ops.flatten(x, 1, 2), lambda x: torch.flatten(x, 1, 2), (2, 3, 2, 2)),
    ("flatten_all", lambda x: ops.flatten(x, 0), lambda x: torch.flatten(x), (2, 3, 2)),
    ("unsqueeze", lambda x: ops.unsqueeze(x, 1), lambda x: x.unsqueeze(1), (2, 3)),
    ("unsqueeze_end", lambda x: ops.unsqueeze(x, -1), lambda x: x.unsqueeze(-1), (2, 3)),
    ("squeeze", ops.squeeze, torch.squeeze, (2, 1, 3, 1)),
    ("squeeze_dim", lambda x: ops.squeeze(x, 1), lambda x: x.squeeze(1), (2, 1, 3, 1)),
    ("squeeze_longer_axis", lambda x: ops.squeeze(x, 0), lambda x: x.squeeze(0), (2, 1, 3)),
    ("expand", lambda x: ops.expand(x, (4, 2, 3)), lambda x: x.expand(4, 2, 3), (2, 1)),
    ("clone", ops.clone, torch.clone, (2, 3)),
    ("stack", lambda x: ops.stack([x, 2 * x], 1), lambda x: torch.stack([x, 2 * x], 1), (2, 3)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, ours, theirs, shape", CASES, ids=[c[0] for c in CASES])
def test_shape_ops(xp, rng, dtype, name, ours, theirs, shape):
    x = rng.standard_normal(shape)
    gradcheck_arrays(ours, [x], xp)
    compare_with_torch(ours, theirs, [x], xp, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_concat_channels(xp, rng, dtype):
    arrays = [rng.standard_normal((2, c, 3, 3)) for c in (1, 4, 2)]
    gradcheck_arrays(lambda *xs: ops.concat(xs), arrays, xp)
    compare_with_torch(lambda *xs: ops.concat(xs), lambda *xs: torch.cat(xs, 1), arrays, xp, dtype)


def test_concat_same_tensor_twice_accumulates():
    x = mc.Tensor(np.ones((1, 2, 1, 1)), requires_grad=True)
    ops.concat([x, x]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2.0)


def _growing_concat(a, b, c):
    """[a, b] then [a, b, c] joined in one ConcatBuffer, as a dense block does; both results used."""
    shared = ops.ConcatBuffer(a.shape[1] + b.shape[1] + c.shape[1])
    ab, abc = ops.concat([a, b], buffer=shared), ops.concat([a, b, c], buffer=shared)
    return ops.concat([ab * 2.0, abc])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_concat_into_a_shared_buffer(xp, rng, dtype):
    arrays = [rng.standard_normal((2, c, 3, 3)) for c in (1, 4, 2)]
    gradcheck_arrays(_growing_concat, arrays, xp)
    compare_with_torch(_growing_concat, lambda a, b, c: torch.cat([torch.cat([a, b], 1) * 2.0, torch.cat([a, b, c], 1)], 1),
                       arrays, xp, dtype)


def test_concat_buffer_results_are_views_of_one_array():
    """The joined features cost the final size once: each result is a view of the buffer."""
    xs = [mc.Tensor(np.full((2, c, 2, 2), float(c), np.float32), requires_grad=True) for c in (3, 1, 2)]
    shared = ops.ConcatBuffer(6)
    ys = [ops.concat(xs[:n], buffer=shared) for n in (1, 2, 3)]
    assert all(y.array.base is shared.array for y in ys) and shared.array.shape == (2, 6, 2, 2)
    np.testing.assert_array_equal(ys[2].numpy(), ops.concat(xs).numpy())
    np.testing.assert_array_equal(ys[0].numpy(), xs[0].numpy())               # unchanged by the later writes
    with pytest.raises(RuntimeError, match="this tensor is a view"):
        ys[2].add_(1)        # would change what ys[0] and ys[1] show, which the graph may have saved


def test_concat_buffer_errors():
    a, b = mc.Tensor(np.ones((1, 2, 3, 3))), mc.Tensor(np.ones((1, 1, 3, 3)))
    shared = ops.ConcatBuffer(3)
    ops.concat([a, b], buffer=shared)
    with pytest.raises(ValueError, match="concat: a ConcatBuffer joins one growing list"):
        ops.concat([b, a], buffer=shared)
    with pytest.raises(ValueError, match="concat: a ConcatBuffer joins one growing list"):
        ops.concat([a], buffer=shared)
    with pytest.raises(ValueError, match="need more than the ConcatBuffer's 3 along axis 1"):
        ops.concat([a, b, b], buffer=shared)


def test_concat_errors():
    with pytest.raises(ValueError, match=r"concat: all shapes must match except along axis 1; tensor 0 has shape "
                                         r"\(1, 2, 3, 3\), tensor 1 has \(1, 2, 4, 3\)"):
        ops.concat([mc.Tensor(np.ones((1, 2, 3, 3))), mc.Tensor(np.ones((1, 2, 4, 3)))])
    with pytest.raises(ValueError, match="concat: needs at least one tensor"):
        ops.concat([])


def test_option_a_shortcut_shape():
    x = mc.Tensor(np.ones((2, 16, 32, 32)))
    y = ops.pad_channels(x[:, :, ::2, ::2], 8, 8)
    assert y.shape == (2, 32, 16, 16)
    assert float(y.numpy()[:, :8].sum()) == 0 and float(y.numpy()[:, 8:24].min()) == 1


def test_pad_errors():
    with pytest.raises(ValueError, match=r"pad: input must be \(N, C, H, W\)"):
        ops.pad(mc.Tensor(np.ones(3)), 1)
    with pytest.raises(ValueError, match="pad: padding must be non-negative ints, got -1"):
        ops.pad(mc.Tensor(np.ones((1, 1, 2, 2))), -1)
    with pytest.raises(ValueError, match="pad_channels: before and after must be >= 0"):
        ops.pad_channels(mc.Tensor(np.ones((1, 1, 2, 2))), -1, 0)


SETITEM = [
    ("row", 1, (4,)),
    ("column_broadcast", (slice(None), 2), (1,)),
    ("fancy", ([0, 2], [1, 3]), (2,)),
    ("block", (slice(1, 3), slice(0, 2)), (2, 2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, index, value_shape", SETITEM, ids=[c[0] for c in SETITEM])
def test_setitem(xp, rng, dtype, name, index, value_shape):
    """x[index] = v, out of place: gradients reach x (zero where overwritten) and v (summed over broadcasting)."""
    x, v = rng.standard_normal((3, 4)), rng.standard_normal(value_shape)

    def torch_setitem(x, v):
        y = x.clone()
        y[index] = v
        return y

    gradcheck_arrays(lambda x, v: ops.setitem(x, index, v), [x, v], xp)
    compare_with_torch(lambda x, v: ops.setitem(x, index, v), torch_setitem, [x, v], xp, dtype)


def test_flatten_and_unsqueeze_errors():
    x = mc.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        ops.flatten(x, 2, 1)
    with pytest.raises(IndexError, match="unsqueeze: dim 4 is out of range for a tensor with 3 dimensions"):
        ops.unsqueeze(x, 4)
