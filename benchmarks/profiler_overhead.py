"""What watching costs: the profiler's overhead on a training step, off and on.

    python benchmarks/profiler_overhead.py [--repeats 15]

Off: the engine's hooks for observers (a loop over an empty list before and after each op's
forward and backward, the op's module looked up, the module stack push/pop around each module call) are
timed alone, per call, and multiplied by the number of op and module calls in one step; that is
compared with the step's time (a difference between two step timings would drown in the noise of
a shared machine). On: the step's median time inside ``minicnn.profile()`` against without it.
LeNet-5 (many small ops: where per-op costs weigh most) and ResNet-20, batch 64, 2 threads.
Writes benchmarks/results/profiler_overhead.{json,md}.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), ROOT]

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import minicnn as mc  # noqa: E402
from common import RESULTS, markdown_table, median_ms, write_json  # noqa: E402
from minicnn import autograd, models, ops, optim  # noqa: E402

MODELS = {"lenet5": dict(size=32), "resnet20": dict(size=32, in_channels=1)}
CALLS = 100_000


class Counter(autograd.Observer):
    def __init__(self):
        self.ops = self.modules = 0

    def module_begin(self, module):
        self.modules += 1

    def op_begin(self, function, phase):
        self.ops += 1


def hook_costs_us():
    """Microseconds per op call and per module call spent in the hooks while nothing observes."""
    module = models.get("lenet5")
    observers = autograd._observers

    def per_op():           # what an op's forward (or backward) call adds: 2 empty loops, its module looked up
        for _ in range(CALLS):
            for _o in observers:
                pass
            for _o in observers:
                pass
            autograd.current_module()

    def per_module():
        for _ in range(CALLS):
            autograd.enter_module(module)
            try:
                pass
            finally:
                autograd.leave_module(module)

    def loop_only():
        for _ in range(CALLS):
            pass
    base = median_ms(loop_only, 5)
    return ((median_ms(per_op, 5) - base) * 1e3 / CALLS, (median_ms(per_module, 5) - base) * 1e3 / CALLS)


def step_fn(arch, size, in_channels=None):
    model = models.get(arch, **({"in_channels": in_channels} if in_channels else {}))
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.standard_normal((64, in_channels or 1, size, size)).astype(np.float32))
    y = mc.Tensor(rng.integers(0, 10, 64))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = ops.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    threadpool_limits(2)
    per_op_us, per_module_us = hook_costs_us()
    print(f"hooks while off: {per_op_us:.3f} us per op call, {per_module_us:.3f} us per module call")
    rows = []
    for arch, kwargs in MODELS.items():
        step = step_fn(arch, **kwargs)
        counter = Counter()
        with_counter = autograd.observe(counter)
        step()
        with_counter.remove()

        def profiled():
            with mc.profile():
                step()
        off_ms = median_ms(step, args.repeats)
        on_ms = median_ms(profiled, args.repeats)
        off_cost_ms = (counter.ops * per_op_us + counter.modules * per_module_us) / 1e3
        rows.append({"model": arch, "op_calls": counter.ops, "module_calls": counter.modules, "step_ms": off_ms,
                     "hooks_off_ms": off_cost_ms, "hooks_off_share": off_cost_ms / off_ms,
                     "profiled_ms": on_ms, "profiled_ratio": on_ms / off_ms})
        r = rows[-1]
        print(f"{arch:<9} step {off_ms:7.1f} ms; hooks while off {off_cost_ms * 1e3:.0f} us ({r['hooks_off_share']:.3%}); "
              f"profiled {on_ms:7.1f} ms ({r['profiled_ratio']:.2f}x), {counter.ops} op and {counter.modules} module calls")
    write_json(os.path.join(RESULTS, "profiler_overhead.json"),
               {"benchmark": "profiler overhead, training step, batch 64, median ms", "repeats": args.repeats,
                "hook_us_per_op_call": per_op_us, "hook_us_per_module_call": per_module_us, "results": rows})
    markdown_table(os.path.join(RESULTS, "profiler_overhead.md"),
                   f"Profiler overhead on a training step (batch 64, 2 threads, median of {args.repeats}); hooks "
                   f"while off: {per_op_us:.3f} us per op call, {per_module_us:.3f} us per module call",
                   [("model", "model", "{}"), ("op_calls", "op calls (fwd + bwd)", "{}"), ("module_calls", "module calls", "{}"),
                    ("step_ms", "step ms", "{:.1f}"), ("hooks_off_ms", "hooks off ms", "{:.3f}"),
                    ("hooks_off_share", "off share", "{:.3%}"), ("profiled_ms", "profiled ms", "{:.1f}"),
                    ("profiled_ratio", "on / off", "{:.2f}x")], rows)
    print(f"wrote {RESULTS}/profiler_overhead.json and .md")


if __name__ == "__main__":
    main()
