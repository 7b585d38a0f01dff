"""``minicnn.backends``: the flags PyTorch programs set on ``torch.backends``, accepted and recorded.

``torch.backends.cudnn.benchmark = True`` asks cuDNN to time its convolution algorithms and keep
the fastest; ``deterministic = True`` asks for algorithms that give the same result every run.
minicnn does not use cuDNN (its GPU convolutions are im2col and a matrix product), so the flags
are stored where a program can read them back and change nothing else. Apple's MPS is not a
minicnn device: ``mps.is_available()`` is False.
"""
from types import SimpleNamespace

__all__ = ["cudnn", "mps"]

cudnn = SimpleNamespace(
    enabled=True,
    benchmark=False,
    deterministic=False,
    is_available=lambda: False,     # no cuDNN in minicnn, whatever the machine has
)

mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
