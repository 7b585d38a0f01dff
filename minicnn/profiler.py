"""The profiler: time and memory of every op call, forward and backward, and the module it ran in.

    with minicnn.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    print(prof.table(sort_by="time", top=20))     # per op type, then per module
    prof.to_chrome_trace("trace.json")            # the timeline, for ui.perfetto.dev or chrome://tracing
    prof.to_json("profile.json")                  # every call, for your own analysis

It is an autograd Observer: the engine tells it when each op's forward or backward starts and
ends, and when each module's forward starts and ends. Wall time is read with perf_counter
(after a GPU synchronize for CuPy arrays, so a row is the op's real duration). Bytes count the
new arrays an op makes: its outputs, what it saves for backward, and in backward the gradients
it returns. Views of arrays that already existed cost nothing and are not counted.
"""
import json
import time
from collections import defaultdict, namedtuple

from minicnn.autograd import Observer, current_module, observe, outermost_module
from minicnn.backend import device_of, is_array, synchronize
from minicnn.names import ModuleNames
from minicnn.atomic import atomic_write

__all__ = ["profile", "Profiler", "OpRecord"]

OpRecord = namedtuple("OpRecord", "op phase module module_type input_shapes output_shapes "
                                  "start seconds output_bytes saved_bytes")
OpRecord.__doc__ = """One op call. ``start`` is seconds since the profile began; for a backward the
input shapes are those of the gradients flowing in and the output shapes those flowing out."""

SORT_KEYS = {"time": lambda r: -r["seconds"], "calls": lambda r: -r["calls"], "name": lambda r: r["key"],
             "memory": lambda r: -(r["output_bytes"] + r["saved_bytes"])}


def profile():
    """A Profiler to use as a context manager: ``with minicnn.profile() as prof: ...``."""
    return Profiler()


def _memory_root(array):
    while getattr(array, "base", None) is not None:
        array = array.base
    return id(array)


def _new_bytes(arrays, existing):
    """Bytes of the arrays in ``arrays`` that are not views of ``existing`` nor of each other."""
    seen, total = {_memory_root(a) for a in existing}, 0
    for a in arrays:
        root = _memory_root(a)
        if root not in seen:
            seen.add(root)
            total += a.nbytes
    return total


def _shapes(values):
    return tuple(tuple(v.shape) if v is not None else None for v in values)


class Profiler(Observer):
    def __init__(self):
        self.records = []            # OpRecord per op call, in order
        self.trace_events = []       # Chrome trace events, in order
        self.total_seconds = 0.0     # wall time inside the profiled blocks
        self.names = ModuleNames()
        self._open_ops = []          # start times of ops running now (ops never nest, but be safe)
        self._open_modules = []
        self._gpu = False            # last op ran on the GPU: synchronize before reading the clock
        self._handle = None          # set while a with-block is profiling

    # ---- context manager: several blocks (e.g. some training steps) add up in one profile ----
    def __enter__(self):
        if self._handle is not None:
            raise RuntimeError("Profiler: this profiler is already profiling (a with-block inside another one "
                               "on the same profiler would count every op twice)")
        if not hasattr(self, "_t0"):
            self._t0 = time.perf_counter()     # times in the records and the trace count from here
        self._entered = self._now()
        self._handle = observe(self)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        self._handle = None
        while self._open_modules:        # an exception left modules open: close their spans
            self.module_end(self._open_modules[-1])
        self.total_seconds += self._now() - self._entered
        return False

    def _now(self):
        return time.perf_counter() - self._t0

    # ---- what the engine calls -----------------------------------------------------------------
    def module_begin(self, module):
        if module is outermost_module():
            self.names.add_root(module)
        self._open_modules.append(module)
        self._event("B", self.names.module(module), "module", self._now(), {"type": type(module).__name__})

    def module_end(self, module):
        if self._open_modules and self._open_modules[-1] is module:   # else it began before the profile
            self._open_modules.pop()
            self._event("E", self.names.module(module), "module", self._now())

    def op_begin(self, function, phase):
        if self._gpu:
            synchronize(self._last_array)
        self._open_ops.append(self._now())

    def op_end(self, function, phase, inputs, outputs):
        if not self._open_ops:
            return                       # the op began before the profile
        if phase == "forward":
            module = current_module()
            in_arrays, out_arrays = [x.array for x in inputs], [y.array for y in outputs]
            saved = [a for a in (function.saved or ()) if is_array(a)]
            saved_bytes = _new_bytes(saved, in_arrays + out_arrays)
        else:
            module = getattr(function, "module", None)
            in_arrays, out_arrays = list(inputs), [g for g in outputs if g is not None]
            saved_bytes = 0
        last = (out_arrays or in_arrays or [None])[-1]
        self._gpu = last is not None and device_of(last) != "cpu"
        if self._gpu:
            synchronize(last)
            self._last_array = last
        end, start = self._now(), self._open_ops.pop()
        record = OpRecord(type(function).__name__, phase, self.names.module(module),
                          type(module).__name__ if module is not None else "-",
                          _shapes(inputs if phase == "backward" else in_arrays), _shapes(outputs),
                          start, end - start, _new_bytes(out_arrays, in_arrays), saved_bytes)
        self.records.append(record)
        args = {"module": record.module, "inputs": str(record.input_shapes), "outputs": str(record.output_shapes),
                "output_bytes": record.output_bytes, "saved_bytes": record.saved_bytes}
        self._event("B", record.op, phase, start, args)
        self._event("E", record.op, phase, end)

    def _event(self, ph, name, category, seconds, args=None):
        # Forward ops nest inside their modules' spans on one track; backward ops get their own.
        event = {"name": name, "cat": category, "ph": ph, "ts": round(seconds * 1e6, 3), "pid": 1,
                 "tid": 2 if category == "backward" else 1}
        if args:
            event["args"] = args
        self.trace_events.append(event)

    # ---- reports -------------------------------------------------------------------------------
    def op_seconds(self):
        """Total wall time spent inside ops (forward and backward)."""
        return sum(r.seconds for r in self.records)

    def summary(self, by="op"):
        """Totals per op type and phase (``by="op"``) or per module (``by="module"``), as dicts."""
        groups = defaultdict(lambda: {"calls": 0, "seconds": 0.0, "forward_seconds": 0.0,
                                      "backward_seconds": 0.0, "output_bytes": 0, "saved_bytes": 0})
        for r in self.records:
            key = f"{r.op}.{r.phase}" if by == "op" else r.module
            g = groups[key]
            g.update(key=key, type=r.module_type)
            g["calls"] += 1
            g["seconds"] += r.seconds
            g[f"{r.phase}_seconds"] += r.seconds
            g["output_bytes"] += r.output_bytes
            g["saved_bytes"] += r.saved_bytes
        return list(groups.values())

    def table(self, sort_by="time", top=20):
        """A readable text table: the ``top`` op types, then the ``top`` modules, sorted by
        "time", "calls", "memory" (bytes allocated) or "name"."""
        if sort_by not in SORT_KEYS:
            raise ValueError(f"Profiler.table: sort_by must be one of {sorted(SORT_KEYS)}, got {sort_by!r}")
        total = self.op_seconds()
        lines = [f"{len(self.records)} op calls: {total * 1e3:.1f} ms inside ops, "
                 f"{self.total_seconds * 1e3:.1f} ms profiled"]
        mib = 2.0 ** 20
        columns = {  # header, width, cell
            "op": (lambda r: f"{r['key'][:30]:<30}", "op.phase".ljust(30)),
            "module": (lambda r: f"{r['key'][:32]:<32} {r['type'][:18]:<18}", f"{'module':<32} {'type':<18}"),
        }
        for by, (name_cell, name_header) in columns.items():
            lines += ["", f"{name_header} {'calls':>6} {'total ms':>10} {'%':>6} {'mean ms':>9} {'fwd ms':>9} "
                          f"{'bwd ms':>9} {'out MiB':>8} {'saved MiB':>9}"]
            for r in sorted(self.summary(by), key=SORT_KEYS[sort_by])[:top]:
                lines.append(f"{name_cell(r)} {r['calls']:>6} {r['seconds'] * 1e3:>10.2f} "
                             f"{r['seconds'] / total if total else 0:>6.1%} {r['seconds'] / r['calls'] * 1e3:>9.3f} "
                             f"{r['forward_seconds'] * 1e3:>9.2f} {r['backward_seconds'] * 1e3:>9.2f} "
                             f"{r['output_bytes'] / mib:>8.1f} {r['saved_bytes'] / mib:>9.1f}")
        return "\n".join(lines)

    def to_json(self, path):
        """Every op call as a JSON list of objects, with the profile's totals (written atomically)."""
        payload = {"total_seconds": self.total_seconds, "op_seconds": self.op_seconds(),
                   "records": [r._asdict() for r in self.records]}
        _write_json(path, payload)

    def to_chrome_trace(self, path):
        """The Chrome trace-event JSON: module spans and op calls as begin/end pairs, microseconds."""
        _write_json(path, {"traceEvents": self.trace_events, "displayTimeUnit": "ms"})


def _write_json(path, payload):
    with atomic_write(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f)
