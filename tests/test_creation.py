"""Tensor creation: PyTorch's names, argument forms, shapes and dtypes (torch is the oracle)."""
import numpy as np
import pytest
import torch

import minicnn as mc


def _same_kind(ours, theirs):
    """Same shape and the same dtype (torch's name for it: torch.float32 <-> float32)."""
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", ""))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
@pytest.mark.parametrize("args", [(5, 3), ((5, 3),), ([2, 3, 4],), (4,)])
def test_sizes_as_ints_or_a_tuple(name, args):
    _same_kind(getattr(mc, name)(*args), getattr(torch, name)(*args))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("dtype", ["long", "double", "float", "int", "bool", "half", "uint8"])
def test_dtype_aliases(name, dtype):
    _same_kind(getattr(mc, name)(2, 3, dtype=getattr(mc, dtype)), getattr(torch, name)(2, 3, dtype=getattr(torch, dtype)))


def test_values():
    np.testing.assert_array_equal(mc.zeros(2, 2).numpy(), torch.zeros(2, 2).numpy())
    np.testing.assert_array_equal(mc.ones(3).numpy(), torch.ones(3).numpy())
    np.testing.assert_array_equal(mc.empty(2, 3).numpy(), 0)
    np.testing.assert_array_equal(mc.eye(4, 5).numpy(), torch.eye(4, 5).numpy())
    _same_kind(mc.eye(3), torch.eye(3))
    for args in [(5,), (1, 7, 2), (0.0, 1.0, 0.25)]:
        _same_kind(mc.arange(*args), torch.arange(*args))
        np.testing.assert_array_equal(mc.arange(*args).numpy(), torch.arange(*args).numpy())
    for value in [7, 2.5, True]:
        _same_kind(mc.full((2, 2), value), torch.full((2, 2), value))
        np.testing.assert_array_equal(mc.full((2, 2), value).numpy(), torch.full((2, 2), value).numpy())


def test_random_ranges_and_seed():
    mc.manual_seed(0)
    u, n = mc.rand(10000), mc.randn(10000, dtype=mc.float64)
    assert 0 <= u.numpy().min() and u.numpy().max() < 1 and abs(u.numpy().mean() - 0.5) < 0.02
    assert n.dtype == np.float64 and abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1) < 0.05
    mc.manual_seed(0)
    np.testing.assert_array_equal(mc.rand(10000).numpy(), u.numpy())
    r = mc.randint(3, 7, (1000,))
    _same_kind(r, torch.randint(3, 7, (1000,)))
    assert set(np.unique(r.numpy())) == {3, 4, 5, 6}
    assert mc.randint(10, (2, 2)).shape == (2, 2)


def test_random_needs_a_float_dtype():
    with pytest.raises(TypeError, match="rand: random floats need a floating-point dtype, got int64"):
        mc.rand(2, dtype=mc.long)
    with pytest.raises(TypeError, match="rand_like: random floats need a floating-point dtype, got int64"):
        mc.rand_like(mc.tensor([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match="unknown dtype"):
        mc.zeros(2, dtype="floaty")


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_functions(name):
    x = mc.tensor(np.ones((2, 3)))                    # float64
    _same_kind(getattr(mc, name)(x), getattr(torch, name)(torch.ones(2, 3, dtype=torch.float64)))
    y = getattr(mc, name)(mc.tensor([[1, 2], [3, 4]]), dtype=mc.float)
    _same_kind(y, getattr(torch, name)(torch.tensor([[1, 2], [3, 4]]), dtype=torch.float))
    assert getattr(mc, name)(x, requires_grad=True).requires_grad
    _same_kind(mc.full_like(x, 3), torch.full_like(torch.ones(2, 3, dtype=torch.float64), 3))


def test_ones_like_keeps_integers():
    x_data = mc.tensor([[1, 2], [3, 4]])
    _same_kind(mc.ones_like(x_data), torch.ones_like(torch.tensor([[1, 2], [3, 4]])))


def test_new_methods_take_the_tensors_dtype():
    x = mc.tensor([5.5, 3], dtype=mc.float64)
    t = torch.tensor([5.5, 3], dtype=torch.float64)
    for name in ["new_ones", "new_zeros", "new_empty"]:
        _same_kind(getattr(x, name)(5, 3), getattr(t, name)(5, 3))
        _same_kind(getattr(x, name)((5, 3), dtype=mc.int), getattr(t, name)((5, 3), dtype=torch.int))
    _same_kind(x.new_full((2,), 7.0), t.new_full((2,), 7.0))
    _same_kind(x.new_tensor([1.0, 2.0]), t.new_tensor([1.0, 2.0]))


def test_from_numpy_shares_memory():
    a = np.ones(5)
    t = mc.from_numpy(a)
    assert t.dtype == np.float64
    np.add(a, 1, out=a)
    np.testing.assert_array_equal(t.numpy(), 2.0)
    t.add_(1)
    np.testing.assert_array_equal(a, 3.0)
    with pytest.raises(TypeError, match="from_numpy: expected a NumPy array, got list"):
        mc.from_numpy([1, 2])


def test_tensor_numpy_shares_memory():
    a = mc.ones(5)
    b = a.numpy()
    a.add_(1)
    np.testing.assert_array_equal(b, 2.0)


def test_tensor_from_data_dtypes_match_torch():
    for data in [[[1, 2], [3, 4]], [5.5, 3], 2.0, [True, False]]:
        _same_kind(mc.tensor(data), torch.tensor(data))


# Every function of minicnn/creation.py called with PyTorch's keywords: the same call on both sides.
KEYWORD_CALLS = [
    ("zeros", (), dict(size=(2, 3))), ("ones", (), dict(size=[4])), ("empty", (), dict(size=(1, 2))),
    ("rand", (), dict(size=(1, 1, 28, 28))), ("randn", (), dict(size=(2, 5))),
    ("zeros", (2, 3), dict(dtype="float64", requires_grad=True)), ("rand", ((3,),), dict(dtype="float64")),
    ("full", (), dict(size=(2, 2), fill_value=1.5)), ("full", ((3,), 4), dict(dtype="float64")),
    ("eye", (), dict(n=3, m=2)), ("eye", (2,), dict(dtype="int64")),
    ("arange", (), dict(end=5)), ("arange", (), dict(start=1, end=2, step=0.25)),
    ("arange", (4,), dict(dtype="float64", requires_grad=True)),
    ("randint", (), dict(high=10, size=(3,))), ("randint", (), dict(low=2, high=10, size=(2, 2))),
    ("randint", (10,), dict(size=(3,))), ("randint", (5, (2,)), dict(dtype="int32")),
    ("zeros_like", (), dict(input="x")), ("ones_like", ("x",), dict(dtype="int64")),
    ("empty_like", ("x",), dict(requires_grad=True)), ("full_like", (), dict(input="x", fill_value=2)),
    ("rand_like", ("x",), dict(dtype="float64")), ("randn_like", (), dict(input="x", requires_grad=True)),
]


def _args_for(lib, args, kwargs):
    """Replace the placeholders: "x" by a float32 2x3 tensor, dtype names by the library's dtypes."""
    x = lib.ones(2, 3)
    args = tuple(x if a == "x" else a for a in args)
    kwargs = {k: x if v == "x" else getattr(lib, v) if k == "dtype" else v for k, v in kwargs.items()}
    return args, kwargs


@pytest.mark.parametrize("name, args, kwargs", KEYWORD_CALLS,
                         ids=[f"{n}-{a}-{'-'.join(k)}" for n, a, k in KEYWORD_CALLS])
def test_keywords_as_in_torch(name, args, kwargs):
    (our_args, our_kwargs), (their_args, their_kwargs) = _args_for(mc, args, kwargs), _args_for(torch, args, kwargs)
    ours, theirs = getattr(mc, name)(*our_args, **our_kwargs), getattr(torch, name)(*their_args, **their_kwargs)
    _same_kind(ours, theirs)
    assert ours.requires_grad == theirs.requires_grad
    if name in ("zeros", "ones", "full", "eye", "arange", "zeros_like", "ones_like", "full_like"):   # defined values
        np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    if name == "randint":
        low, high = kwargs.get("low", 0), kwargs.get("high", args[0] if args else None)
        assert low <= ours.numpy().min() and ours.numpy().max() < high


def test_random_keyword_size_repeats_with_the_seed():
    mc.manual_seed(3)
    a = mc.rand(size=(1, 1, 28, 28))
    mc.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), mc.rand(1, 1, 28, 28).numpy())


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_size_twice_is_refused(name):
    with pytest.raises(TypeError, match=f"{name}: give the size as arguments or as size=, not both"):
        getattr(mc, name)(2, 3, size=(2, 3))
    with pytest.raises(TypeError):
        getattr(torch, name)(2, 3, size=(2, 3))
