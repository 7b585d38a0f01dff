"""Files written all at once or not at all: ``atomic_write(path)``, ``write_json(obj, path)`` and
``save_figure(fig, path)``; ``leftovers(folder)`` finds the temporary files a killed writer left.

Checkpoints, run folders' config.json and metrics.csv, evaluation results, profiles and pictures
all go through it, so that a reader (or a run resumed after ``kill -9`` or a power cut) finds
either the old file or the complete new one, never half of one.
"""
import contextlib
import json
import os
import re
import tempfile

__all__ = ["atomic_write", "write_json", "save_figure", "leftovers"]

# ".<name>.<8 random characters>.tmp[<extension>]": the temporary file of atomic_write (mkstemp's).
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^.]+)?")


def _fsync_folder(folder):
    """Make the rename itself durable; not possible everywhere (Windows), hence best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()    # read once at import: os.umask cannot be read without setting it


@contextlib.contextmanager
def atomic_write(path, suffix=""):
    """Write ``path`` all at once or not at all: yields a temporary file name in the same folder;
    when the block succeeds the file is flushed to disk and renamed onto ``path``; when it fails
    (Ctrl-C included) the temporary file is removed and ``path`` keeps its old content.
    ``suffix`` ends the temporary name, so that writers that choose the format by extension
    (matplotlib) see the right one. SIGKILL or a power cut can still leave the temporary file:
    ``leftovers`` finds it."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp" + suffix)
    try:
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _FILE_MODE)    # mkstemp makes 0600 files; give what open() would
            os.fsync(fd)                     # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:                    # KeyboardInterrupt too: never leave the temporary file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def leftovers(folder):
    """The temporary files that writers killed mid-way (SIGKILL, a power cut) left in ``folder``.
    Only remove them when no other process can be writing there."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if _TEMPORARY.fullmatch(name))


def write_json(obj, path):
    """``obj`` as indented JSON at ``path``, atomically."""
    with atomic_write(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)


def save_figure(fig, path, dpi=100):
    """A matplotlib figure laid out tight and saved at ``path`` (format from the extension), atomically;
    the figure is closed either way (pyplot keeps every open figure alive)."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with atomic_write(path, suffix=os.path.splitext(path)[1]) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
