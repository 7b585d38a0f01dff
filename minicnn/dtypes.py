"""PyTorch's dtype names (``minicnn.float32``, ``minicnn.long`` ...) as the NumPy dtypes they mean.

A minicnn dtype *is* a NumPy dtype, so ``x.dtype == minicnn.float`` and ``x.dtype == np.float32``
are the same test.
"""
import numpy as np

__all__ = ["float16", "half", "float32", "float", "float64", "double", "int8", "uint8", "int16", "short",
           "int32", "int", "int64", "long", "bool", "resolve"]

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001  (torch.float is float32)
float64 = double = np.dtype(np.float64)
int8, uint8 = np.dtype(np.int8), np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001  (torch.int is int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001


def resolve(dtype):
    """A NumPy dtype from a minicnn/NumPy dtype or a name ("float32"); None stays None."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}: expected e.g. minicnn.float32, minicnn.long "
                        "or a NumPy dtype") from None
