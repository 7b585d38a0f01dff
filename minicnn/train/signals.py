"""Stopping a run without losing it: Ctrl-C (SIGINT), SIGTERM (kill, timeout, Slurm, systemd,
Kubernetes) and SIGHUP (the terminal closed).

The command holds the handlers from its first line to its last, so a signal at any moment ends
in the same documented way (exit code 128 + the signal's number, a message, no traceback):

- while data loads, or the test set is scored, nothing is worth finishing: the first signal
  raises ``StopRequested`` at once (``stop.at_once``);
- while training, the first signal lets the current step finish and the loop saves
  last.safetensors; a second one stops at once (``KeyboardInterrupt``);
- while a file is being saved (``with stop.held():``) signals wait until it is complete: a
  checkpoint half written is worth nothing, and the save takes a moment.

``moment(name)`` is a test hook: $MINICNN_TEST_SIGNALS ("step#3=SIGTERM,save=SIGINT") sends this
process a signal the Nth time (default: the first) the run reaches a named moment, so tests hit
exact moments instead of relying on timing luck.
"""
import collections
import contextlib
import os
import signal
import sys
import threading

__all__ = ["StopRequested", "StopSignals", "moment", "signal_name"]

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGHUP"):                  # not on Windows
    NAMES[signal.SIGHUP] = "SIGHUP"
TEST_HOOK = "MINICNN_TEST_SIGNALS"
_reached = collections.Counter()


class StopRequested(Exception):
    """A stop signal arrived: raised at the end of the current training step, or at once outside training."""


class StopSignals:
    """``with StopSignals(enabled) as stop:`` handles the signals inside the block; ``stop.signum`` is
    the first one's number (None until one arrives), ``stop.again`` the second one's.
    Handlers are only installed when ``enabled`` and on the main thread (Python delivers signals
    there alone); disabled, it still answers ``held()`` and ``at_once`` for the library's sake."""

    def __init__(self, enabled=True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum, self.again, self.previous = None, None, {}
        self.at_once, self._holding, self._deferred = True, 0, False

    @property
    def name(self):
        return signal_name(self.signum)

    def _handler(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        else:
            self.again = signum
        if self._holding:
            self._deferred = True
            print(f"\n{signal_name(signum)}: finishing the file being saved first", file=sys.stderr, flush=True)
            return
        self._raise_pending()
        print(f"\n{self.name}: saving a checkpoint after this step (send it again to stop at once)",
              file=sys.stderr, flush=True)

    def _raise_pending(self):
        if self.again is not None:
            raise KeyboardInterrupt
        if self.signum is not None and self.at_once:
            raise StopRequested

    @contextlib.contextmanager
    def training(self):
        """Inside: a first signal waits for the end of the current step (the loop checks ``signum``)."""
        self.at_once = False
        try:
            yield
        finally:
            self.at_once = True

    @contextlib.contextmanager
    def held(self):
        """Signals arriving inside wait until the block is complete, then take effect."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding and self._deferred:
            self._deferred = False
            self._raise_pending()

    def __enter__(self):
        if self.enabled:
            self.previous = {s: signal.signal(s, self._handler) for s in NAMES}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        return False


def signal_name(signum):
    """Ctrl-C, SIGTERM, SIGHUP."""
    return NAMES.get(signum, f"signal {signum}")


def moment(name):
    """The run reached moment ``name``: send the signal $MINICNN_TEST_SIGNALS asks for here, if any."""
    spec = os.environ.get(TEST_HOOK)
    if not spec:
        return
    _reached[name] += 1
    for item in spec.split(","):
        where, _, signame = item.partition("=")
        wanted, _, nth = where.strip().partition("#")
        if wanted == name and int(nth or 1) == _reached[name]:
            os.kill(os.getpid(), signal.Signals[signame.strip()])
