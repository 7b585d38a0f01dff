"""The model registry: one name per architecture, used by the command-line tools.

    minicnn.models.list()                                   -> ['alexnet', 'densenet121', ...]
    minicnn.models.get("resnet50", num_classes=10, in_channels=1)
    minicnn.models.info("resnet50")                         -> input size, smallest input, source

Every constructor takes ``num_classes`` and ``in_channels``. A model that cannot take a small
image (its spatial size would shrink to zero) raises a ValueError naming the smallest input it
supports; the training CLI resizes images up to that size.
"""
from dataclasses import dataclass

__all__ = ["register", "get", "list", "info", "ModelInfo", "check_input"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: object
    input_size: tuple       # (C, H, W) the architecture was designed for
    min_size: int           # smallest H = W the forward pass accepts
    source: str             # the paper/lecture table it reproduces


_REGISTRY = {}


def register(name, input_size, min_size, source):
    """Decorator: register ``builder(num_classes=..., in_channels=..., **kwargs)`` under ``name``."""
    def decorate(builder):
        if name in _REGISTRY:
            raise ValueError(f"models.register: {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, builder, tuple(input_size), min_size, source)
        return builder
    return decorate


def info(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list())}")
    return _REGISTRY[name]


def get(name, num_classes=None, in_channels=None, **kwargs):
    """Build the registered model ``name``; num_classes and in_channels default to the architecture's own
    (1000 classes and 3 channels for the ImageNet models, 10 and 1 for LeNet-5, ...)."""
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None:
            kwargs[key] = value
    return info(name).builder(**kwargs)


def list():  # noqa: A001  (the name users know from torch.hub / timm)
    return sorted(_REGISTRY)


def check_input(model, x, min_size, max_size=None, why_max=""):
    """The error a model raises for an input it cannot take: wrong rank, channels, too small, or
    (models with fully connected layers of a fixed size) larger than ``max_size``, because ``why_max``."""
    name = type(model).__name__
    if x.ndim != 4 or x.shape[1] != model.in_channels:
        raise ValueError(f"{name}: expected input of shape (N, {model.in_channels}, H, W), got {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"{name}: input {x.shape[2]}x{x.shape[3]} is too small; the smallest input this "
                         f"model supports is {min_size}x{min_size} (resize first: the training CLI does)")
    if max_size is not None and max(x.shape[2:]) > max_size:
        raise ValueError(f"{name}: input {x.shape[2]}x{x.shape[3]} is too large; {why_max} of inputs from "
                         f"{min_size}x{min_size} to {max_size}x{max_size}")
