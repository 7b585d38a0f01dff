"""What the command lines (train, evaluate, predict, summary, viz) do the same way: a flag error on
one line, pick the device, name an unknown architecture's nearest matches, and load a trained
model with an exit message instead of a traceback."""
import argparse
import difflib
import os

from minicnn import backend, models
from minicnn.serialization import CheckpointError
from minicnn.trained import load_trained

__all__ = ["Parser", "use_device", "unknown_arch", "load_for_command"]


class Parser(argparse.ArgumentParser):
    """argparse's parser with its errors on one line: the usage block it prints first (18 lines for
    train) pushed the one line that matters out of sight; --help still shows it all."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists every flag)\n")


def use_device(command, flag, default="auto", pick=backend.pick_device):
    """The device to run on: ``--device`` when given, else $MINICNN_DEVICE, else ``default``.

    It also becomes the default device, so that models built afterwards get their parameters
    there and not on the one $MINICNN_DEVICE names. ``pick`` turns the name into a device
    ('auto' -> 'cuda:0' or 'cpu'); a distributed run passes its rank's. An unknown or unusable
    device is an exit message naming where the choice came from.
    """
    if flag is not None:
        name, source = flag, f"--device {flag}"
    elif os.environ.get("MINICNN_DEVICE"):
        name = os.environ["MINICNN_DEVICE"]
        source = f"MINICNN_DEVICE={name} (--device overrides it)"
    else:
        name, source = default, f"--device {default}"
    try:
        device = pick(name)
        backend.set_default_device(device)
    except (backend.DeviceError, ValueError) as e:
        raise SystemExit(f"minicnn {command}: {source}: {e}")
    return device


def unknown_arch(name):
    """The message for an --arch that is not registered, with the nearest registered names."""
    close = difflib.get_close_matches(name, models.list(), n=6, cutoff=0.6)
    close = sorted(close, key=lambda c: not c.startswith(name))[:3]     # 'resnet2': resnet20 before resnet32
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"unknown --arch {name!r}; {hint}the models are: {', '.join(models.list())}"


def load_for_command(command, checkpoint, device_flag, default="auto"):
    """load_trained for a command line: the device as ``use_device`` picks it, and a bad checkpoint
    as an exit message that names the command. Returns (model, config, device)."""
    device = use_device(command, device_flag, default)
    try:
        return (*load_trained(checkpoint, device), device)
    except CheckpointError as e:
        raise SystemExit(f"minicnn {command}: {e}")
