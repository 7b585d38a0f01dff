"""Progress of the command-line tools: a tqdm bar on a terminal, a line now and then in a log file.

Written to a file (``> log``, CI, ``nohup``) a bar would record every step (a megabyte of log for
one LeNet-5 run); there ``progress_bar`` prints one line each 10% of the way or each ``every_s``
seconds, whichever comes first, with the same numbers and an ETA.
"""
import sys
import time

__all__ = ["progress_bar", "duration"]


def duration(seconds):
    """'42s', '12m05s', '3h07m': a time at a glance."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class _Silent:
    def update(self, n=1):
        pass

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        pass

    def close(self):
        pass


class _Lines:
    """The stand-in for a bar where nobody watches a terminal: a line at each 10% step or each
    ``every_s`` seconds; each line shows the position, the ETA of this bar and the postfix."""

    def __init__(self, total, desc, initial, every_s, stream, unit):
        self.total, self.desc, self.n, self.every_s, self.stream, self.unit = total, desc, initial, every_s, stream, unit
        self.start_n, self.start = initial, time.monotonic()
        self.last, self.next_tenth = self.start, initial * 10 // max(total, 1) + 1
        self.postfix = {}

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        tenth = self.n * 10 // max(self.total, 1)
        if tenth >= self.next_tenth or now - self.last >= self.every_s:
            self.next_tenth, self.last = tenth + 1, now
            self._print(now)

    def _print(self, now):
        rate = (self.n - self.start_n) / max(now - self.start, 1e-9)
        eta = f", ETA {duration((self.total - self.n) / rate)}" if rate > 0 and self.n < self.total else ""
        if self.unit == "B":                        # a download: its speed too
            eta += f", {rate / 2**20:.1f} MiB/s"
        extra = "".join(f"  {k} {v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.n}/{self.total} ({100 * self.n // max(self.total, 1)}%{eta}){extra}",
              file=self.stream, flush=True)

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def close(self):
        pass


def progress_bar(total, desc, enabled=True, initial=0, every_s=60.0, stream=None, unit="batch"):
    """A bar over ``total`` steps (batches, or bytes: ``unit="B"``) starting at ``initial``: tqdm when
    ``stream`` (stderr) is a terminal, periodic lines when it is not, nothing when not ``enabled``.
    All three have update(n), set_postfix({name: value}) and close()."""
    if not enabled:
        return _Silent()
    stream = stream or sys.stderr
    if not stream.isatty():
        return _Lines(total, desc, initial, every_s, stream, unit)
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit == "B", leave=False,
                dynamic_ncols=True, file=stream)
