"""Fully connected (affine) layer, in PyTorch's convention: y = x @ W.T + b.

Shapes: x (N, IN), weight (OUT, IN), bias (OUT,), y (N, OUT). Each output feature o is the
dot product of an input row with weight row o: y[n, o] = sum_i x[n, i] W[o, i] + b[o].

Backward, with gy (N, OUT):
    gx = gy @ W          (N, IN)
    gW = gy.T @ x        (OUT, IN)    summed over the batch by the product
    gb = sum_n gy[n]     (OUT,)
"""
from minicnn.autograd import Function

__all__ = ["linear"]


class Linear(Function):
    """y = x @ W.T + b;  gx = gy @ W,  gW = gy.T @ x,  gb = gy summed over N."""

    def forward(self, x, W, b=None):
        self.save_for_backward(x, W)
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.saved
        gx = gy @ W if self.needs_input_grad[0] else None
        gW = gy.T @ x if self.needs_input_grad[1] else None
        gb = gy.sum(axis=0) if len(self.needs_input_grad) == 3 and self.needs_input_grad[2] else None
        return gx, gW, gb


def linear(x, weight, bias=None):
    """Affine map of a batch of feature vectors (the classifier layers of every model here).

    Inputs:
    - x: (N, IN); flatten conv features first, e.g. (N, C, H, W) -> (N, C*H*W)
    - weight: (OUT, IN), one row per output feature, as in torch.nn.Linear
    - bias: (OUT,) or None
    Returns y: (N, OUT) = x @ weight.T + bias.
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (OUT, IN), got shape {tuple(weight.shape)}")
    OUT, IN = weight.shape
    if x.ndim != 2:
        raise ValueError(f"linear: x must be (N, IN) = (N, {IN}), got shape {tuple(x.shape)}; "
                         "flatten it first")
    if x.shape[1] != IN:
        raise ValueError(f"linear: x has {x.shape[1]} input features but weight {tuple(weight.shape)} "
                         f"expects IN = {IN}: x shape {tuple(x.shape)}")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: x is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if bias is not None:
        if tuple(bias.shape) != (OUT,):
            raise ValueError(f"linear: bias must have shape (OUT,) = ({OUT},), got {tuple(bias.shape)}")
        if bias.dtype != weight.dtype:
            raise TypeError(f"linear: bias is {bias.dtype} but weight is {weight.dtype}; cast one of them")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Linear()(*inputs)
