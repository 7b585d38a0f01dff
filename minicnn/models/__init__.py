"""The model zoo: every architecture of the lectures, one family per file, all in one registry."""
from minicnn.models.registry import ModelInfo, check_input, get, info, list, register  # noqa: A004
# Each family registers its models on import.
from minicnn.models import alexnet, densenet, googlenet, inception, lenet, resnet, vgg, zfnet  # noqa: E402,F401


def _builder(name):
    """``models.resnet18()``, as torchvision names them: ``get(name, **kwargs)``, with no pretrained weights."""
    def build(weights=None, **kwargs):
        if weights is not None:
            raise ValueError(f"models.{name}: weights={weights!r}: minicnn has no pretrained weights; build the "
                             f"model untrained (models.{name}()) and train it, or load a state_dict you saved")
        return get(name, **kwargs)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"The {name} model of the registry (see models.info({name!r})); weights must be None."
    return build


# One function per registered model at the top of minicnn.models (models.vgg16(), models.resnet18()).
# alexnet, googlenet and zfnet name both a file and a model: the name means the model here, as in torchvision.
globals().update({_name: _builder(_name) for _name in list()})
