"""Stopping a run without losing it: Ctrl-C (SIGINT), SIGTERM (kill, timeout, Slurm, systemd,
Kubernetes) and SIGHUP (the terminal closed) all ask the run to stop after the current step, once
its checkpoint is consistent; a second signal stops at once."""
import signal
import sys
import threading

__all__ = ["StopRequested", "StopSignals"]

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGHUP"):                  # not on Windows
    NAMES[signal.SIGHUP] = "SIGHUP"


class StopRequested(Exception):
    """A stop signal arrived; raised at the end of the current training step."""


class StopSignals:
    """``with StopSignals(enabled) as stop:`` handles the signals inside the block; ``stop.signum`` is
    the first one's number (None until one arrives). Handlers are only installed when ``enabled``
    and on the main thread (Python delivers signals there alone)."""

    def __init__(self, enabled):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum, self.previous = None, {}

    @property
    def name(self):
        return NAMES.get(self.signum, f"signal {self.signum}")

    def _handler(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\n{self.name}: saving a checkpoint after this step (send it again to stop at once)",
              file=sys.stderr, flush=True)

    def __enter__(self):
        if self.enabled:
            self.previous = {s: signal.signal(s, self._handler) for s in NAMES}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        return False
