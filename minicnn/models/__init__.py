"""The model zoo: every architecture of the lectures, one family per file, all in one registry."""
from minicnn.models.registry import ModelInfo, check_input, get, info, list, register  # noqa: A004
from minicnn.models import lenet  # noqa: E402,F401  (each family registers its models on import)
