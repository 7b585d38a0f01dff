"""Thread scaling on CPU: how much faster minicnn (fast path) and PyTorch 2.13 get from 1 thread to
every core, for the training step (LeNet-5, ResNet-20, VGG-16, batch 64) and each op family
(conv2d, max pooling, batch norm; forward+backward).

    python benchmarks/thread_scaling.py [--rounds 3] [--threads 1 2] [--models ...]

The children are those of train_step_cpu.py and ops_cpu.py, run at each thread count (BLAS,
numba and torch alike) with the method of benchmarks/common.py: each in its own process,
alternated over --rounds rounds on a machine checked to be quiet, median [min-max].
Writes benchmarks/results/thread_scaling.{json,md,png}.
"""
import argparse
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import ops_cpu  # noqa: E402
import train_step_cpu  # noqa: E402
from common import (RESULTS, alternate, bar_chart, machine_info, machine_line, markdown_table, method_note,  # noqa: E402
                    spread, write_json)

IMPLS = ("minicnn_fast", "torch")


def rows_for(results, cases, key_of, value_of, threads):
    """One row per case: each implementation's median time at every thread count and its speed-up."""
    rows = []
    for case in cases:
        row = {"case": case}
        for impl in IMPLS:
            for t in threads:
                row[f"{impl}_{t}t"] = spread([value_of(r, case) for r in results[key_of(case, impl, t)]])["median"]
            row[f"{impl}_speedup"] = row[f"{impl}_{threads[0]}t"] / row[f"{impl}_{threads[-1]}t"]
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count()}))
    parser.add_argument("--models", nargs="+", default=list(train_step_cpu.SMALL), choices=list(train_step_cpu.MODELS))
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each op inside a child")
    parser.add_argument("--allow-noisy", action="store_true", help="measure even when other processes are busy")
    args = parser.parse_args()
    children = {}
    for t in args.threads:
        children.update(train_step_cpu.children(args.models, t, IMPLS))
        children.update(ops_cpu.children(IMPLS, t, args.repeats, quick=False))
    results, worst = alternate(children, args.rounds, args.allow_noisy)
    steps = rows_for(results, args.models, lambda arch, impl, t: (arch, impl, t), lambda r, _: r["step_ms"], args.threads)
    names = ops_cpu.case_names(quick=False)
    ops = rows_for(results, names, lambda name, impl, t: (impl, t), lambda r, name: r[name][1], args.threads)
    rows = [dict(r, case=f"training step {r['case']}") for r in steps] + ops
    for row in rows:
        print(f"{row['case']:<40} minicnn x{row['minicnn_fast_speedup']:.2f}  torch x{row['torch_speedup']:.2f}")
    machine = machine_info(args.threads[-1])
    note = method_note(args.rounds, worst)
    write_json(os.path.join(RESULTS, "thread_scaling.json"),
               {"benchmark": "ms at each thread count (training step batch 64; ops forward+backward)", "method": note,
                "threads": args.threads, "rounds": args.rounds, "other_processes_busy_max": worst, "machine": machine,
                "results": rows})
    columns = [("case", "case", "{}")]
    for impl, label in (("minicnn_fast", "minicnn"), ("torch", "PyTorch")):
        columns += [(f"{impl}_{t}t", f"{label} {t} thr ms", "{:.1f}") for t in args.threads]
        columns.append((f"{impl}_speedup", f"{label} speed-up", "{:.2f}x"))
    markdown_table(os.path.join(RESULTS, "thread_scaling.md"),
                   f"Speed-up from {args.threads[0]} to {args.threads[-1]} threads on {machine_line(machine)}; {note}",
                   columns, rows)
    bar_chart(os.path.join(RESULTS, "thread_scaling.png"),
              f"speed-up from {args.threads[0]} to {args.threads[-1]} threads (higher is better)",
              [r["case"] for r in rows], {"minicnn": [r["minicnn_fast_speedup"] for r in rows],
                                          "PyTorch": [r["torch_speedup"] for r in rows]})
    print(f"wrote {RESULTS}/thread_scaling.json, .md and .png")


if __name__ == "__main__":
    main()
