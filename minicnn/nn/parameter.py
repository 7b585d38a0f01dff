"""Parameter: a Tensor that a Module learns (it requires grad and is listed by parameters())."""
import numpy as np

from minicnn.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A learnable tensor. Assigning one to a Module attribute registers it under that name."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.array
        # Keep an array's own float dtype (float64 for gradient checks); numbers become float32.
        dtype = None if getattr(data, "dtype", np.dtype("O")).kind == "f" else np.float32
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
