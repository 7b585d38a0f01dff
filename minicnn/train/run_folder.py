"""The run folder: created atomically under a unique name that sorts by time, held by one process
at a time, cleared of what a killed save left, checked for space, and its config.json."""
import contextlib
import fcntl
import os
import platform
import shutil
import time

import numpy as np

import minicnn as mc
from minicnn import backend
from minicnn.atomic import leftovers, write_json
from minicnn.train.errors import TrainError

__all__ = ["create", "locked", "remove_leftovers", "check_space", "write_config", "LOCK"]

LOCK = ".lock"      # hidden: not one of the run's results


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
        raise TrainError(f"cannot write to the run folder in {out}: {e}; choose another with --out") from e
    raise TrainError(f"100 runs of {arch} started in second {stamp} in {out}; wait a second")


@contextlib.contextmanager
def locked(folder):
    """Hold ``folder`` for this process, or raise TrainError naming the process that holds it.

    Two processes training in one folder would overwrite each other's checkpoints, and the folder
    would end with best, last and test.json from different runs. The lock is an flock on
    ``folder/.lock``, which holds the owner's PID: the kernel releases it when the owner dies, even
    by SIGKILL, so a lock left behind is recognised as stale. Yields the PID line of the dead
    process whose stale lock was taken over, or None.
    """
    path = os.path.join(folder, LOCK)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:            # only an existing folder, one being resumed, can be unwritable
            raise _unwritable(folder, e, resumed=True) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _owner(fd) or "another process"
            os.close(fd)
            raise TrainError(f"the run folder {folder} is in use by {holder}: two processes in one folder would "
                             "overwrite each other's checkpoints. Wait for it to end (or stop it), then resume; "
                             "to try something else, start a new run") from None
        try:                                   # the owner may have released and removed it in between
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = _owner(fd) or None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} on {platform.node()}\n".encode(), 0)
    try:
        yield stale
    finally:
        os.unlink(path)                        # before the unlock: a waiter then sees a new file
        os.close(fd)


def _owner(fd):
    return os.pread(fd, 200, 0).decode(errors="replace").strip()


def remove_leftovers(folder):
    """Remove the temporary files that saves killed mid-way left (only call it holding the folder);
    returns a sentence saying what was removed, or None."""
    found = leftovers(folder)
    if not found:
        return None
    size = sum(os.path.getsize(f) for f in found)
    for f in found:
        os.remove(f)
    return (f"removed {len(found)} temporary file(s) ({size / 2**20:.1f} MiB) that an interrupted save left: "
            + ", ".join(os.path.basename(f) for f in found))


def _elsewhere(folder, resumed):
    """Where to go when the run folder cannot take the run: --out for a new run; a resumed run
    stays in its folder, so a copy of it."""
    if resumed:
        return (f"copy the folder somewhere writable and resume the copy (cp -r {folder} DEST; python -m "
                f"minicnn.train --resume DEST/{os.path.basename(folder)})")
    return "choose another folder with --out"


def _unwritable(folder, error, resumed):
    return TrainError(f"cannot write to the run folder {folder}: {error}; {_elsewhere(folder, resumed)}")


def check_space(folder, checkpoint_bytes, resumed=False):
    """Fail now, not after an hour, when the run folder cannot be written or the disk is nearly full."""
    try:
        probe = os.path.join(folder, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise _unwritable(folder, e, resumed) from e
    free = shutil.disk_usage(folder).free
    if free < 3 * checkpoint_bytes:
        raise TrainError(f"not enough disk space in {folder}: {free / 2**20:.0f} MiB free, two checkpoints of "
                         f"{checkpoint_bytes / 2**20:.0f} MiB and their temporary copy need "
                         f"{3 * checkpoint_bytes / 2**20:.0f} MiB; free some space or {_elsewhere(folder, resumed)}")


def write_config(folder, config, device):
    """config.json: every resolved flag, the validation split, versions and the device, atomically."""
    write_json({**config, "versions": {"minicnn": mc.__version__, "numpy": np.__version__,
                                       "python": platform.python_version()},
                "device_name": backend.device_name(device)}, os.path.join(folder, "config.json"))
