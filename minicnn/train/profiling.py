"""``--profile-steps N``: the profiler over training steps 1..N (step 0 warms up: its first calls
allocate and compile), written to profile.txt, profile.json and trace.json in the run folder."""
import contextlib
import os
import sys

from minicnn.atomic import atomic_write
from minicnn.profiler import Profiler

__all__ = ["StepProfiler"]


class StepProfiler:
    def __init__(self, steps, folder, title, enabled=True):
        self.steps, self.folder, self.title, self.enabled = steps, folder, title, enabled
        self.profiler, self.steps_run, self.profiled = Profiler(), 0, 0

    @contextlib.contextmanager
    def step(self):
        """Around one training step: profiled when it is one of the N."""
        profiling = 1 <= self.steps_run <= self.steps
        with self.profiler if profiling else contextlib.nullcontext():
            yield
        self.steps_run += 1
        if profiling:
            self.profiled += 1
            if self.profiled == self.steps:
                self.write()

    def write(self):
        if not self.enabled:
            return
        plural = "s" * (self.profiled != 1)
        with atomic_write(os.path.join(self.folder, "profile.txt")) as tmp, open(tmp, "w") as f:
            f.write(f"{self.profiled} training step{plural} of {self.title}\n\n")
            f.write(self.profiler.table(sort_by="time", top=25) + "\n")
        self.profiler.to_json(os.path.join(self.folder, "profile.json"))
        self.profiler.to_chrome_trace(os.path.join(self.folder, "trace.json"))
        print(f"\nprofiled {self.profiled} step{plural}: {self.folder}/profile.txt; open {self.folder}/trace.json "
              "in https://ui.perfetto.dev", file=sys.stderr, flush=True)

    def finish(self):
        """At the end of a run (a stop signal and a diverging loss included) that profiled fewer steps than asked."""
        if 0 < self.profiled < self.steps:
            self.write()
        elif self.profiled == 0 and self.steps and self.steps_run <= 1 and self.enabled:
            print(f"--profile-steps: nothing profiled, the run made {self.steps_run} step(s) and the first one "
                  "only warms up", file=sys.stderr)
