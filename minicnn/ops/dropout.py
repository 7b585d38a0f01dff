"""Inverted dropout (Srivastava et al. 2014; AlexNet's classifier uses p = 0.5).

In training every element is kept with probability 1 - p and zeroed otherwise; the kept
ones are scaled by 1 / (1 - p) so that E[y] = x, and evaluation needs no rescaling:
    mask ~ Bernoulli(1 - p)  (one draw per element)
    y  = x * mask / (1 - p)
    dx = gy * mask / (1 - p)          the same mask, so dropped units get no gradient
In evaluation (or with p == 0) dropout is the identity and returns x itself.
The mask comes from ``minicnn.random.generator``, so ``minicnn.manual_seed`` repeats it.
On a GPU, the uniforms, the mask and y are one kernel each (minicnn/fused/random.py), backward one.
"""
from minicnn import fused
from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.random import generator

__all__ = ["dropout"]


class Dropout(Function):
    """y = x * mask * scale;  dx = gy * mask * scale, with scale = 1 / (1 - p)."""

    def __init__(self, p):
        self.p = p
        self.scale = 1.0 / (1.0 - p)

    def forward(self, x):
        xp = get_array_module(x)
        self.fused = fused.use(x)
        if self.fused:
            from minicnn.fused import random as kernels
            y, keep = kernels.dropout_forward(x, generator(xp).random(x.shape), self.p, self.scale)
            self.save_for_backward(keep)
            return y
        # Uniforms in [0, 1): u >= p has probability 1 - p. Drawn in float64 whatever x's
        # dtype, so one seed gives one mask for float32 and float64 alike; only the boolean
        # mask is kept (1 byte per element), never the uniforms.
        mask = generator(xp).random(x.shape) >= self.p
        self.save_for_backward(mask)
        return x * mask * self.scale

    def backward(self, gy):
        (mask,) = self.saved
        if self.fused:
            from minicnn.fused import random as kernels
            return kernels.dropout_backward(gy, mask, self.scale)
        return gy * mask * self.scale


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p in training, scaling the rest by 1 / (1 - p).

    Inputs:
    - x: any shape
    - p: drop probability, in [0, 1)
    - training: False (model.eval()) makes dropout the identity
    Returns y: the same shape and dtype as x; x itself when not training or p == 0.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout: p must be a number in [0, 1), got {p!r}")
    if not training or p == 0:
        return x
    return Dropout(float(p))(x)
