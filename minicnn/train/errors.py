"""Why a run cannot start or go on. The library raises these; only command.py turns them into a
one-line message and an exit code, so that code importing minicnn.train is never exited from."""

__all__ = ["TrainError", "UsageError"]


class TrainError(Exception):
    """A run cannot start or go on; the message says why, what is on disk and what to do (exit code 1)."""
    exit_code = 1


class UsageError(TrainError):
    """A flag, or a combination of flags, that cannot work (exit code 2, like argparse's own errors)."""
    exit_code = 2
