"""Grad mode and the running module are per thread: one thread's no_grad() never switches another
thread's graph off, and an op records the module of its own thread.

Each test holds one thread inside a block while the other computes, with Events or a Barrier so the
two really overlap (a sequential run would pass even with process-wide state).
"""
import threading

import numpy as np

import minicnn as mc
from minicnn.autograd import current_module, outermost_module

WAIT = 30     # seconds: a broken test fails instead of hanging


def start(target):
    """Run target in a thread; the returned join() re-raises what it raised."""
    errors = []

    def run():
        try:
            target()
        except BaseException as e:       # noqa: B902 -- handed to the main thread
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(WAIT)
        assert not thread.is_alive(), "the worker thread did not finish"
        if errors:
            raise errors[0]
    return join


def linear_gradients(layer, x):
    layer.zero_grad()
    (layer(x) ** 2).sum().backward()
    return layer.weight.grad.numpy().copy(), layer.bias.grad.numpy().copy()


def test_a_worker_records_its_graph_while_the_main_thread_is_in_no_grad():
    mc.manual_seed(0)
    layer = mc.nn.Linear(4, 3)
    x = mc.randn(5, 4)
    expected = linear_gradients(layer, x)
    layer.zero_grad()
    main_in_no_grad, worker_done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        try:
            assert main_in_no_grad.wait(WAIT)
            seen["enabled"] = mc.is_grad_enabled()       # a new thread starts with grad mode on
            seen["grads"] = linear_gradients(layer, x)
        finally:
            worker_done.set()

    join = start(worker)
    with mc.no_grad():
        main_in_no_grad.set()
        assert worker_done.wait(WAIT)
        # the main thread is still off while the worker recorded and backpropagated
        assert not mc.is_grad_enabled()
        assert not layer(x).requires_grad
    join()
    assert seen["enabled"] is True
    for got, want in zip(seen["grads"], expected):
        np.testing.assert_array_equal(got, want)


def test_a_worker_in_no_grad_does_not_switch_the_main_thread_off():
    mc.manual_seed(1)
    layer = mc.nn.Linear(4, 3)
    x = mc.randn(5, 4)
    expected = linear_gradients(layer, x)
    worker_in_no_grad, main_done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with mc.no_grad():
            worker_in_no_grad.set()
            assert main_done.wait(WAIT)
            seen["enabled"] = mc.is_grad_enabled()
            seen["records"] = layer(x).requires_grad

    join = start(worker)
    assert worker_in_no_grad.wait(WAIT)
    try:
        assert mc.is_grad_enabled()
        grads = linear_gradients(layer, x)
    finally:
        main_done.set()
    join()
    for got, want in zip(grads, expected):
        np.testing.assert_array_equal(got, want)
    assert seen == {"enabled": False, "records": False}    # the worker's own block still held


def test_each_thread_sees_the_module_it_is_running():
    barrier, seen = threading.Barrier(2, timeout=WAIT), {}

    class Waits(mc.nn.Module):
        def __init__(self, label):
            super().__init__()
            self.label = label

        def forward(self, x):
            barrier.wait()                  # both threads are inside a forward from here
            seen[self.label] = (current_module(), outermost_module(), (x * 2).creator.module)
            barrier.wait()
            return x

    a, b = Waits("a"), Waits("b")
    join = start(lambda: b(mc.zeros(1, requires_grad=True)))
    a(mc.zeros(1, requires_grad=True))
    join()
    assert seen == {"a": (a, a, a), "b": (b, b, b)}

