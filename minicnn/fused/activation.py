"""ReLU's backward as one kernel (the plain code: a comparison saved in the forward, and a product).

The twin of ``ReLU`` in ``minicnn/ops/activation.py``. On the GPU the forward keeps its output y
instead of a mask: y > 0 exactly where x > 0, and y is alive anyway as the next layer's input.
"""
from minicnn.fused import kernel


@kernel
def relu_grad(cp, gy, y):
    """dx = gy where y > 0, else 0."""
    return cp.where(y > 0, gy, 0)
