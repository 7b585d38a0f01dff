"""``minicnn.cuda``: PyTorch's ``torch.cuda.is_available()`` and ``device_count()`` (backend.py answers)."""
from minicnn.backend import cuda_available, cuda_device_count

__all__ = ["is_available", "device_count"]


def is_available():
    """True when CuPy imports and a CUDA device answers; False on a CPU-only machine."""
    return cuda_available()


def device_count():
    return cuda_device_count()
