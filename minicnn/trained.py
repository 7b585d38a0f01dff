"""A trained model back from a ``python -m minicnn.train`` checkpoint: ``load_trained(path, device)``.

A training checkpoint holds the weights ("model") next to the run's config, which names the
architecture, the classes and the input size: enough to rebuild the model without the run's
flags. evaluate, predict, viz and train's ``--resume`` all rebuild models this way.
"""
import os

import minicnn as mc
from minicnn import models
from minicnn.serialization import CheckpointError

__all__ = ["load_trained", "load_weights", "CONFIG_KEYS"]

CONFIG_KEYS = ("arch", "dataset", "input_size", "classes")


def load_weights(model, weights, path, arch):
    """``model.load_state_dict(weights)``, or a CheckpointError that fits on a few lines: how many
    tensors are missing, unexpected or of another shape, with the first few names of each."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    reshaped = [f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}" for k in own
                if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or reshaped:
        shown = lambda names: ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")    # noqa: E731
        problems = [f"{len(names)} {what} ({shown(names)})" for names, what in
                    ((missing, "of its tensors missing"), (unexpected, "unexpected tensors"),
                     (reshaped, "of another shape")) if names]
        raise CheckpointError(f"checkpoint {path}: its weights do not fit a {arch!r} model of {len(own)} tensors: "
                              + "; ".join(problems) + ". Is it another model's checkpoint?")
    model.load_state_dict(weights)


def load_trained(path, device="cpu"):
    """Rebuild the model a ``python -m minicnn.train`` checkpoint holds; returns (model, config).

    The architecture is ``models.get(config["arch"], num_classes=len(config["classes"]),
    in_channels=config["input_size"][0])``; its weights are loaded strictly, it is moved to
    ``device`` and put in eval mode (BatchNorm uses its running statistics, Dropout is off).
    Raises CheckpointError naming the file when it is missing or corrupted, holds no training
    config (a bare state dict, some other safetensors file), or its weights do not fit the model.
    """
    path = os.fspath(path)
    checkpoint = mc.load(path)                 # CheckpointError names the file
    config = checkpoint.get("config") if isinstance(checkpoint, dict) else None
    if not isinstance(config, dict) or "model" not in checkpoint or any(k not in config for k in CONFIG_KEYS):
        raise CheckpointError(f"checkpoint {path} is not a minicnn training checkpoint: it holds no training config "
                              f"({', '.join(CONFIG_KEYS)}) next to the weights; use a last.safetensors or "
                              "best.safetensors written by python -m minicnn.train")
    try:
        model = models.get(config["arch"], num_classes=len(config["classes"]), in_channels=config["input_size"][0])
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from e
    load_weights(model, checkpoint["model"], path, config["arch"])
    return model.to(device).eval(), config
