import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import ops


def test_tensor_used_twice_accumulates():
    x = mc.Tensor([3.0], requires_grad=True)
    y = x * x + x          # dy/dx = 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [7.0])


def test_diamond_graph_residual():
    """y = relu-free residual: h = 2x; y = h*h + h; gradients meet at h (micrograd #64)."""
    x = mc.Tensor([1.5], requires_grad=True)
    h = x * 2
    y = h * h + h
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * (2 * 3.0 + 1)])


def test_grad_accumulates_across_backward_calls():
    x = mc.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_deep_chain_has_no_recursion_limit():
    """5000 ops deep (ResNet-1202 is ~3700): the iterative walk must not recurse."""
    x = mc.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 5000], rtol=1e-4)


def test_graph_freed_after_backward_unless_retained():
    x = mc.Tensor([2.0], requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0])
    assert y.creator.saved is None and y.creator.inputs is None
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_no_grad_records_nothing():
    x = mc.Tensor([2.0], requires_grad=True)
    with mc.no_grad():
        y = x * x
        assert not mc.is_grad_enabled()
    assert mc.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_saves_no_buffers():
    x = mc.Tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    f = ops.conv.Conv2d((1, 1), (0, 0, 0, 0), 1)
    with mc.no_grad():
        f(x, mc.Tensor(np.ones((1, 1, 3, 3)), requires_grad=True))
    assert f.saved == ()


def test_intermediate_graph_is_released_when_output_dies():
    import gc
    import weakref
    x = mc.Tensor(np.ones(3), requires_grad=True)
    y = (x * 2).sum()
    creator = weakref.ref(y.creator)
    del y
    gc.collect()
    assert creator() is None


def test_nonscalar_backward_needs_grad():
    x = mc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for a single-element output"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), expected the output's shape \(2,\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_only_inputs_that_need_grad_get_one():
    a = mc.Tensor([1.0], requires_grad=True)
    b = mc.Tensor([2.0])
    (a * b).backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [2.0])


def test_custom_function_with_wrong_gradient_shape_is_reported():
    class Bad(mc.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy[:1]

    x = mc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(1,\) for an input of shape \(2,\)"):
        Bad()(x).sum().backward()


def test_leaf_gradients_own_their_memory():
    """A leaf keeps a fresh gradient as is, but never one that another tensor or the caller holds:
    optimisers and clipping change .grad in place."""
    x, y = mc.Tensor(np.ones(3), requires_grad=True), mc.Tensor(np.ones(3), requires_grad=True)
    upstream = np.arange(3.0)
    (x + y).backward(upstream)                        # add hands the same gy to both inputs
    w = mc.Tensor(np.ones((2, 3)), requires_grad=True)
    (w.reshape(6) * 2).sum().backward()               # reshape's gradient is a view
    grads = [x.grad.array, y.grad.array, upstream, w.grad.array]
    for i, a in enumerate(grads):
        for b in grads[i + 1:]:
            assert not np.shares_memory(a, b)
    x.grad.array *= 10
    np.testing.assert_array_equal(y.grad.numpy(), [0, 1, 2])


def test_a_fresh_leaf_gradient_is_kept_without_a_copy():
    class Double(mc.Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            self.made = 2 * gy                        # a new array that nothing else holds
            return self.made

    x = mc.Tensor(np.ones(3), requires_grad=True)
    f = Double()
    f(x).backward(np.ones(3))
    assert x.grad.array is f.made


def test_in_place_change_of_a_saved_tensor_is_refused_as_in_torch():
    """exp saves its output; changing that output in place would corrupt exp's gradient."""
    for lib in (mc, torch):
        x = lib.ones(3, requires_grad=True)
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an in-place operation"):
            y.sum().backward()


def test_in_place_through_a_view_bumps_the_base_version():
    x = mc.ones(2, 3, requires_grad=True)
    y = x * 2
    z = y * y                          # Mul saves y's array
    with mc.no_grad():
        y.view(6)[0] = 5.0             # a write through a view of y
    assert y._version == 1
    with pytest.raises(RuntimeError, match="that Mul saved for its backward was modified by an in-place operation"):
        z.sum().backward()


def test_in_place_after_another_use_keeps_that_use_in_the_graph():
    """y is used by clone, then changed in place: clone's gradient still reaches x, as in torch."""
    results = []
    for lib in (mc, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 3
        z = y.clone()
        y.mul_(y.clone())
        (z + y).sum().backward()
        results.append(x.grad.numpy())
    np.testing.assert_allclose(*results)


def test_backward_gradient_keyword_and_no_double_backprop():
    a = mc.tensor([2.0, 3.0], requires_grad=True)
    b = mc.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    Q.backward(gradient=mc.tensor([1.0, 1.0]))
    assert (9 * a ** 2 == a.grad).all() and (-2 * b == b.grad).all()
    with pytest.raises(NotImplementedError, match="create_graph=True \\(double backprop\\) is not supported"):
        (a * a).sum().backward(create_graph=True)
