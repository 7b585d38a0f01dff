"""Kernel launches per training step on a GPU, counted on the fake CuPy of tests/fakecupy.

Small CNNs on a GPU are bound by launches, not FLOPs: each CuPy call costs the host about 10 us to
launch whatever its size, so the number of launches per step bounds the step time from below. The
fake CuPy counts them the way CuPy makes them (``cupy.fake.launches``; tests/fakecupy/cupy/fake.py
lists the rules), so this needs no GPU:

    PYTHONPATH=tests/fakecupy python benchmarks/gpu_launches.py            # prints, writes results/
    PYTHONPATH=tests/fakecupy python benchmarks/gpu_launches.py --arch resnet20

For each model: one SGD step (momentum 0.9, weight decay 5e-4; forward with the loss, backward,
optimiser, the auxiliary heads' losses for GoogLeNet) after a first step that builds the state,
and one evaluation forward under no_grad. Each is counted with the fused kernels of
minicnn/fused and without them (MINICNN_FUSED=0's path), by phase and by op. Launches do not depend
on the batch size (until the columns of a batch need more than one chunk), so the 224-pixel models
run a batch of 2 to keep the fake quick.
"""
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minicnn as mc  # noqa: E402  (before NumPy, as the commands do)
import numpy as np  # noqa: E402

from benchmarks.common import RESULTS  # noqa: E402
from minicnn import autograd, fused, nn, optim  # noqa: E402

CASES = {"lenet5": 64, "resnet20": 64, "vgg16": 2, "googlenet": 2, "densenet_bc100": 8}   # arch: batch
TARGETS = {"lenet5": 80, "resnet20": 400}          # launches per training step (issue 26)
PER_LAYER_TARGET = 8                               # forward + backward launches per call of any op
AUX_WEIGHT = 0.3                                   # GoogLeNet's auxiliary classifiers (the paper's weight)


def _cupy():
    import cupy
    if not hasattr(cupy, "fake"):
        raise SystemExit("gpu_launches: run with the fake CuPy first on the path: PYTHONPATH=tests/fakecupy")
    return cupy


class _LaunchesPerOp(autograd.Observer):
    """Launches made inside each op's forward and backward, read off the fake's launch clock."""

    def __init__(self, fake):
        self.fake, self.start = fake, 0
        self.launches = collections.Counter()       # (op, phase) -> launches
        self.calls = collections.Counter()          # op -> forward calls

    def op_begin(self, function, phase):
        self.start = self.fake.total_launches

    def op_end(self, function, phase, inputs, outputs):
        op = type(function).__name__
        self.launches[op, phase] += self.fake.total_launches - self.start
        self.calls[op] += phase == "forward"


def count_step(arch, use_fused=True, batch=None):
    """Launches of one training step and one evaluation forward of ``arch`` on the fake "cuda":
    {"train": {phase: n}, "eval": n, "ops": {op: {"calls", "forward", "backward", "per_call"}}}."""
    cupy = _cupy()
    previous = fused.set_enabled(use_fused)
    try:
        mc.manual_seed(0)
        model = mc.models.get(arch).to("cuda")
        batch = batch or CASES[arch]
        x = mc.tensor(np.random.default_rng(0).standard_normal((batch,) + mc.models.info(arch).input_size)
                      .astype(np.float32)).to("cuda")
        y = mc.tensor(np.arange(batch) % 10).to("cuda")
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = nn.CrossEntropyLoss()
        phases = collections.Counter()

        def counted(phase, work):
            start = cupy.fake.total_launches
            result = work()
            phases[phase] += cupy.fake.total_launches - start
            return result

        def step():
            model.train()
            out = counted("forward", lambda: model(x))
            logits, heads = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
            loss = counted("forward", lambda: loss_fn(logits, y))
            for head in heads:
                loss = counted("forward", lambda: loss + AUX_WEIGHT * loss_fn(head, y))
            counted("optimizer", optimizer.zero_grad)
            counted("backward", loss.backward)
            counted("optimizer", optimizer.step)

        step()                                  # the first step makes the optimiser's state
        phases.clear()
        per_op = _LaunchesPerOp(cupy.fake)
        handle = autograd.observe(per_op)
        try:
            step()
        finally:
            handle.remove()
        model.eval()
        with mc.no_grad():
            start = cupy.fake.total_launches
            model(x)
            evaluation = cupy.fake.total_launches - start
    finally:
        fused.set_enabled(previous)
    ops = {}
    for op in sorted(per_op.calls, key=lambda o: -(per_op.launches[o, "forward"] + per_op.launches[o, "backward"])):
        forward, backward, calls = per_op.launches[op, "forward"], per_op.launches[op, "backward"], per_op.calls[op]
        ops[op] = {"calls": calls, "forward": forward, "backward": backward,
                   "per_call": round((forward + backward) / calls, 2)}
    inside_ops = {phase: sum(per_op.launches[op, phase] for op in per_op.calls) for phase in ("forward", "backward")}
    return {"batch": batch, "train": dict(phases, total=sum(phases.values())), "eval": evaluation, "ops": ops,
            "outside_ops": {phase: phases[phase] - inside_ops[phase] for phase in ("forward", "backward")}}


def markdown(results):
    lines = ["# Kernel launches per step on a GPU (counted on the fake CuPy)", "",
             "One SGD step (momentum, weight decay) after a first step, and one evaluation forward; "
             "`python benchmarks/gpu_launches.py` (see its docstring). \"plain\" is `MINICNN_FUSED=0`.", "",
             "| model | batch | plain: train step | fused: train step | forward | backward | optimiser | "
             "plain: eval | fused: eval | target |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arch, r in results.items():
        f, p = r["fused"], r["plain"]
        target = f"<= {TARGETS[arch]}" if arch in TARGETS else ""
        lines.append(f"| {arch} | {f['batch']} | {p['train']['total']} | **{f['train']['total']}** | "
                     f"{f['train']['forward']} | {f['train']['backward']} | {f['train']['optimizer']} | {p['eval']} | "
                     f"{f['eval']} | {target} |")
    for arch, r in results.items():
        lines += ["", f"## {arch}: launches by op (fused)", "",
                  "| op | calls | forward | backward | per call |", "|---|---:|---:|---:|---:|"]
        for op, o in r["fused"]["ops"].items():
            lines.append(f"| {op} | {o['calls']} | {o['forward']} | {o['backward']} | {o['per_call']} |")
        outside = r["fused"]["outside_ops"]
        lines.append(f"| outside ops (autograd's sums, module code) | | {outside['forward']} | "
                     f"{outside['backward']} | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default=RESULTS, help="folder for gpu_launches.json and .md (default: %(default)s)")
    args = parser.parse_args(argv)
    results = {arch: {"plain": count_step(arch, use_fused=False), "fused": count_step(arch)} for arch in args.arch}
    text = markdown(results)
    print(text)
    if args.arch == list(CASES):
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu_launches.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(args.out, "gpu_launches.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
