"""The fused GPU kernels (minicnn/fused) against the plain CuPy code they twin, on the fake CuPy (or a GPU).

Each case runs an op forward and backward twice on the device, with the fused kernels and without
(``fused.set_enabled(False)``, MINICNN_FUSED=0's path), in float64, and compares outputs, gradients and
running statistics. The launch counts of the same calls are held to the budget of issue 26.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import fused, nn, ops, optim

PER_CALL = 8           # forward + backward launches of one call of an op, at most


def _run(cupy, fn, arrays, use_fused, setup=None):
    """fn's output and the gradients of its inputs (host copies), and the launches it made;
    ``setup()``, if given, makes (uncounted) what fn takes first."""
    previous = fused.set_enabled(use_fused)
    try:
        inputs = [mc.Tensor(cupy.asarray(a), requires_grad=a.dtype.kind == "f") for a in arrays]
        first = () if setup is None else (setup(),)
        with _launches(cupy) as forward:
            y = fn(*first, *inputs)
        upstream = mc.Tensor(cupy.asarray(np.random.default_rng(7).standard_normal(y.shape)))
        with _launches(cupy) as backward:
            y.backward(upstream)
    finally:
        fused.set_enabled(previous)
    grads = [None if t.grad is None else cupy.asnumpy(t.grad.array) for t in inputs]
    launches = forward.count + backward.count if hasattr(cupy, "fake") else None
    return cupy.asnumpy(y.array), grads, launches


def _launches(cupy):
    """The fake's launch counter; a real GPU has none to read (then the counts are not checked)."""
    import contextlib
    return cupy.fake.launches() if hasattr(cupy, "fake") else contextlib.nullcontext()


def _check(cupy, fn, arrays, budget=PER_CALL, setup=None):
    _run(cupy, fn, arrays, True, setup)         # a first call makes what is kept per shape (class numbers, ...)
    fused_y, fused_grads, launches = _run(cupy, fn, arrays, True, setup)
    plain_y, plain_grads, plain_launches = _run(cupy, fn, arrays, False, setup)
    np.testing.assert_allclose(fused_y, plain_y, rtol=1e-10, atol=1e-12)
    for got, want in zip(fused_grads, plain_grads):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if launches is not None:        # launches of the op itself, forward and backward
        assert launches <= budget < plain_launches, (launches, plain_launches)


RNG = np.random.default_rng(2026)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, bias, dilation", [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, False, 1),
    ((2, 3, 8, 8), (4, 3, 3, 3), 2, 1, True, 1),       # (8 + 2 - 3) mod 2 != 0: the last row is unread
    ((1, 2, 7, 9), (5, 2, 2, 3), (2, 1), ((1, 0), (2, 1)), True, 1),   # odd, non-square, per-side padding
    ((3, 4, 5, 5), (2, 4, 1, 1), 1, 0, True, 1),       # 1x1
    ((2, 1, 6, 6), (3, 1, 5, 5), 1, 2, False, 1),
    ((2, 3, 9, 9), (4, 3, 3, 3), 1, 2, True, 2),       # dilated
    ((1, 2, 11, 8), (3, 2, 2, 3), (2, 1), (1, 3), False, (3, 2)),
])
def test_conv2d(cupy, x_shape, w_shape, stride, padding, bias, dilation):
    arrays = [RNG.standard_normal(x_shape), RNG.standard_normal(w_shape)] + ([RNG.standard_normal(w_shape[0])]
                                                                            if bias else [])
    # forward 3 (im2col, GEMM, copy to NCHW with the bias); backward gy copy, GEMM, bias sum, GEMM, col2im
    _check(cupy, lambda *t: ops.conv2d(*t, stride=stride, padding=padding, dilation=dilation), arrays)


def test_conv2d_rebuilds_columns_too_big_to_keep(cupy, monkeypatch):
    from minicnn.fused import conv
    monkeypatch.setattr(conv, "KEEP_COLUMNS_BYTES", 0)
    _check(cupy, lambda x, w: ops.conv2d(x, w, padding=1), [RNG.standard_normal((2, 3, 6, 6)),
                                                            RNG.standard_normal((4, 3, 3, 3))])


POOLS = [((2, 3, 8, 8), 2, 2, 0, False), ((1, 2, 7, 9), 3, 2, 0, False), ((2, 2, 5, 5), 2, 1, 0, False),
         ((2, 2, 7, 7), 3, 2, 1, False), ((1, 3, 8, 6), 3, 2, 1, True)]     # padded; ceil_mode


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", POOLS)
def test_max_pool2d(cupy, shape, kernel, stride, padding, ceil_mode):
    x = RNG.standard_normal(shape) - 2                  # below zero: the padding must read -inf, not 0
    x[0, 0, :2, :2] = 1.5                               # a tie: the first maximum takes the gradient
    _check(cupy, lambda t: ops.max_pool2d(t, kernel, stride, padding, ceil_mode), [x], budget=5)


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", POOLS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(cupy, shape, kernel, stride, padding, ceil_mode, count_include_pad):
    _check(cupy, lambda t: ops.avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad),
           [RNG.standard_normal(shape)], budget=5)


def test_dropout_draws_the_plain_codes_mask(cupy):
    def dropped(x):
        mc.manual_seed(5)                               # the same stream for both runs
        return ops.dropout(x, 0.3)

    # forward: the uniforms (one kernel once their counter is made), mask and y; backward: one
    _check(cupy, dropped, [RNG.standard_normal((4, 50))], budget=4)


@pytest.mark.parametrize("shape, affine, running", [((4, 3, 5, 5), True, True), ((6, 4), True, False),
                                                    ((3, 2, 7), False, True)])
def test_batch_norm_training(cupy, shape, affine, running):
    C = shape[1]
    made = []

    def running_statistics():
        if not running:
            return None, None
        made.append((mc.Tensor(cupy.asarray(np.linspace(-1, 1, C))), mc.Tensor(cupy.asarray(np.linspace(0.5, 2, C)))))
        return made[-1]

    def bn(statistics, x, *params):
        return ops.batch_norm(x, *statistics, *params, training=True, momentum=0.3)

    params = [RNG.standard_normal(C) + 1, RNG.standard_normal(C)] if affine else []
    _check(cupy, bn, [RNG.standard_normal(shape) * 3 + 1] + params, setup=running_statistics)
    if running:                                         # the (second) fused run's statistics, then the plain run's
        for got, want in zip(*made[-2:]):
            np.testing.assert_allclose(cupy.asnumpy(got.array), cupy.asnumpy(want.array), rtol=1e-12)


@pytest.mark.parametrize("shape, size", [((2, 7, 3, 4), 5), ((2, 3, 5), 4), ((1, 2, 3, 3), 6)])  # even; over C
def test_local_response_norm(cupy, shape, size):
    _check(cupy, lambda a: ops.local_response_norm(a, size, alpha=0.3, beta=0.75, k=2.0),
           [RNG.standard_normal(shape)], budget=7)


def test_relu(cupy):
    x = RNG.standard_normal((3, 4, 5))
    x[0, 0, :2] = 0.0                                   # the slope at 0 is 0, as in the plain code
    _check(cupy, ops.relu, [x], budget=2)


@pytest.mark.parametrize("reduction, smoothing", [("mean", 0.0), ("sum", 0.1), ("none", 0.2)])
def test_cross_entropy(cupy, reduction, smoothing):
    labels = cupy.asarray(np.array([0, 3, 2, 3, 1]))
    _check(cupy, lambda z: ops.cross_entropy(z, labels, reduction, smoothing), [RNG.standard_normal((5, 4)) * 3])


def test_cross_entropy_gives_nan_for_a_label_out_of_range_on_the_gpu(cupy):
    loss = ops.cross_entropy(mc.Tensor(cupy.asarray(np.zeros((2, 3)))), cupy.asarray(np.array([1, 7])))
    assert np.isnan(cupy.asnumpy(loss.array))


def _train(cupy, opt_factory, use_fused, steps=4, reload_at=None):
    """A small model trained a few steps on the device; its parameters and the optimiser's state on the host."""
    previous = fused.set_enabled(use_fused)
    try:
        mc.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                              nn.Linear(4 * 6 * 6, 3)).double().to("cuda")
        optimizer = opt_factory(model.parameters())
        x = mc.Tensor(cupy.asarray(np.random.default_rng(1).standard_normal((5, 1, 6, 6))))
        labels = cupy.asarray(np.array([0, 1, 2, 1, 0]))
        for step in range(steps):
            if step == reload_at:               # new arrays in the optimiser's state: the flat buffers follow
                optimizer.load_state_dict(optimizer.state_dict())
                model.to("cuda")
            optimizer.zero_grad()
            ops.cross_entropy(model(x), labels).backward()
            optimizer.step()
    finally:
        fused.set_enabled(previous)
    buffers = [cupy.asnumpy(v) for state in optimizer.state_dict()["state"].values() for v in state.values()
               if not isinstance(v, (int, float))]
    return [cupy.asnumpy(p.array) for p in model.parameters()] + buffers    # what the next step would use


@pytest.mark.parametrize("name, opt_factory", [
    ("sgd", lambda p: optim.SGD(p, lr=0.1)),
    ("momentum", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.2, weight_decay=1e-3)),
    ("nesterov", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("adam", lambda p: optim.Adam(p, lr=1e-2, weight_decay=1e-3)),
    ("adamw", lambda p: optim.AdamW(p, lr=1e-2)),
    ("rmsprop", lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True, weight_decay=1e-3)),
    ("rmsprop_plain", lambda p: optim.RMSprop(p, lr=1e-2)),
])
def test_optimisers_train_as_the_plain_code(cupy, name, opt_factory):
    # Four steps through batch norm amplify round-off: 1e-6, as the models' device tests allow.
    for got, want in zip(_train(cupy, opt_factory, True), _train(cupy, opt_factory, False)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-10)


def test_flat_sgd_follows_parameters_and_buffers_replaced_between_steps(cupy):
    make = lambda p: optim.SGD(p, lr=0.1, momentum=0.9)          # noqa: E731
    for got, want in zip(_train(cupy, make, True, steps=5, reload_at=3), _train(cupy, make, False, steps=5)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-10)
