"""The model zoo: every architecture of the lectures, one family per file, all in one registry."""
from minicnn.models.registry import ModelInfo, check_input, get, info, list, register  # noqa: A004
# Each family registers its models on import.
from minicnn.models import alexnet, densenet, googlenet, inception, lenet, resnet, vgg, zfnet  # noqa: E402,F401
