"""The run folder: created atomically under a unique name that sorts by time, checked for space,
and its config.json."""
import os
import platform
import shutil
import time

import numpy as np

import minicnn as mc
from minicnn import backend
from minicnn.atomic import write_json

__all__ = ["create", "check_space", "write_config"]


def create(out, arch, now=None):
    """Make ``out/<arch>-<YYYYmmdd-HHMMSS>`` and return its path.

    ``os.mkdir`` fails if the folder exists, so two runs started in the same second (in parallel,
    or a sweep in a shell loop) cannot share a folder: the later one takes the next free name,
    ``-01``, ``-02``, ... which sorts after the first and before the next second's runs.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    try:
        os.makedirs(out, exist_ok=True)
        for n in range(100):
            path = os.path.join(out, f"{arch}-{stamp}" + (f"-{n:02d}" if n else ""))
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                continue
    except OSError as e:
        raise SystemExit(f"minicnn train: cannot write to the run folder in {out}: {e}; choose another with --out")
    raise SystemExit(f"minicnn train: 100 runs of {arch} started in second {stamp} in {out}; wait a second")


def check_space(folder, checkpoint_bytes):
    """Fail now, not after an hour, when the run folder cannot be written or the disk is nearly full."""
    try:
        probe = os.path.join(folder, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise SystemExit(f"minicnn train: cannot write to the run folder {folder}: {e}; choose another with --out")
    free = shutil.disk_usage(folder).free
    if free < 3 * checkpoint_bytes:
        raise SystemExit(f"minicnn train: not enough disk space in {folder}: {free / 2**20:.0f} MiB free, two "
                         f"checkpoints of {checkpoint_bytes / 2**20:.0f} MiB and their temporary copy need "
                         f"{3 * checkpoint_bytes / 2**20:.0f} MiB")


def write_config(folder, config, device):
    """config.json: every resolved flag, the validation split, versions and the device, atomically."""
    write_json({**config, "versions": {"minicnn": mc.__version__, "numpy": np.__version__,
                                       "python": platform.python_version()},
                "device_name": backend.device_name(device)}, os.path.join(folder, "config.json"))
