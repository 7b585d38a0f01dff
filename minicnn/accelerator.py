"""``minicnn.accelerator``: PyTorch's device-neutral ``torch.accelerator`` (the GPU, when there is one)."""
from minicnn.backend import cuda_available, device

__all__ = ["is_available", "current_accelerator"]


def is_available():
    return cuda_available()


def current_accelerator():
    """``device('cuda:0')`` when a GPU works, else None (as PyTorch on a machine without one)."""
    return device("cuda") if cuda_available() else None
