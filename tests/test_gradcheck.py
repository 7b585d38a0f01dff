import numpy as np
import pytest

import minicnn as mc


def test_passes_on_a_correct_backward():
    x = mc.Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert mc.gradcheck(lambda t: (t * t).exp().sum(axis=1), [x])


class WrongSquare(mc.Function):
    """y = x**2 with a deliberately wrong backward (3x instead of 2x)."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved
        return 3 * x * gy


def test_reports_the_worst_element_readably():
    x = mc.Tensor(np.array([[0.1, 0.2], [0.3, 2.0]]), requires_grad=True)
    with pytest.raises(mc.GradcheckError) as info:
        mc.gradcheck(lambda t: WrongSquare()(t), [x])
    msg = str(info.value)
    assert "input 0 (shape (2, 2))" in msg and "4 of 4 elements" in msg
    assert "worst at index (1, 1)" in msg and "analytic" in msg and "numeric" in msg
    assert not mc.gradcheck(lambda t: WrongSquare()(t), [x], raise_exception=False)


def test_requires_float64_and_something_to_check():
    with pytest.raises(TypeError, match="float64"):
        mc.gradcheck(lambda t: t * 2, [mc.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)])
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        mc.gradcheck(lambda t: t * 2, [mc.Tensor(np.ones(2))])


def test_checks_every_input_and_ignores_constants():
    a = mc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mc.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    c = mc.Tensor(np.array([5.0, 6.0]))
    assert mc.gradcheck(lambda a, b, c: a * b / c, [a, b, c])
    with pytest.raises(mc.GradcheckError, match="input 1"):
        mc.gradcheck(lambda a, b, c: a * WrongSquare()(b), [a, b, c])
