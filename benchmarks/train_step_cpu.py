"""A whole training step on CPU (forward, backward, SGD with momentum), minicnn vs PyTorch 2.13, float32:
batch 64 of LeNet-5 at 28x28, CIFAR ResNet-20 and VGG-16 at 32x32 (1 channel, 10 classes), and the
ImageNet models at their input size in small batches (3 channels, 1000 classes; auxiliary heads on,
weighted 0.3 as in GoogLeNet's paper and 0.4 as in Google's released Inception v3 training code,
the models' own ``aux_loss_weight``).

    python benchmarks/train_step_cpu.py [--threads 2] [--rounds 3] [--models lenet5_28 resnet20 ...]

The method of benchmarks/common.py: every (model, implementation) runs in a process of its own,
the implementations alternate over --rounds rounds on a machine checked to be quiet, and each
figure is the median over the rounds with its min-max range. minicnn runs twice: with the numba
kernels (the fast path) and with MINICNN_FAST=0 (the NumPy reference). Each child reports the
median step time after warm-up, peak RSS, the time to import the library and the time of the
very first step (numba kernels load from their cache there), and the minor page faults per step.
Writes benchmarks/results/train_step_cpu.{json,md,png}.
"""
import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from common import (RESULTS, alternate, bar_chart, machine_info, machine_line, markdown_table, median_ms,  # noqa: E402
                    method_note, spread, torch_model, write_json)

IMPLS = ("minicnn_fast", "minicnn_numpy", "torch")
# The environment of each implementation's child. minicnn_serial is the fast path with the threading
# of before: kernels on one thread, OpenBLAS's idle threads spinning for its default 2**28 cycles.
ENV = {"minicnn_fast": {"MINICNN_FAST": "1"}, "minicnn_numpy": {"MINICNN_FAST": "0"}, "torch": {},
       "minicnn_serial": {"MINICNN_FAST": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_THREAD_TIMEOUT": "28"}}
BATCH = 64                      # the small models' batch (cpu_vs_gpu.py compares at it)
# arch: (input size, batch, input channels, classes, timed steps, weight of the auxiliary losses)
MODELS = {"lenet5_28": (28, BATCH, 1, 10, 20, 0), "resnet20": (32, BATCH, 1, 10, 10, 0),
          "vgg16": (32, BATCH, 1, 10, 4, 0),
          "googlenet": (224, 8, 3, 1000, 5, 0.3), "resnet50": (224, 8, 3, 1000, 5, 0),
          "densenet121": (224, 8, 3, 1000, 5, 0), "inception_v3": (299, 4, 3, 1000, 5, 0.4),
          "vgg16_bn": (224, 4, 3, 1000, 3, 0)}
SMALL = ("lenet5_28", "resnet20", "vgg16")       # the default set: a run of the others takes ~15 minutes


def training_loss(cross_entropy, out, y, aux_weight):
    """The loss of a step: the main head's, plus the auxiliary heads' at ``aux_weight``."""
    if not isinstance(out, tuple):
        return cross_entropy(out, y)
    return cross_entropy(out[0], y) + aux_weight * sum(cross_entropy(a, y) for a in out[1:])


def child(impl, arch, threads):
    """Runs in its own process: time the steps, print one JSON line."""
    size, batch, channels, classes, steps, aux_weight = MODELS[arch]
    start = time.perf_counter()
    if impl == "torch":
        import torch
        torch.set_num_threads(threads)
        import_s = time.perf_counter() - start
        model = torch_model(arch)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x, y = torch.randn(batch, channels, size, size), torch.randint(0, classes, (batch,))

        def step():
            opt.zero_grad()
            training_loss(torch.nn.functional.cross_entropy, model(x), y, aux_weight).backward()
            opt.step()
    else:
        import minicnn as mc           # before NumPy, as the minicnn commands do
        import numpy as np
        import_s = time.perf_counter() - start
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
        mc.fast.set_threads(threads)
        model = mc.models.get(arch, in_channels=channels, num_classes=classes)
        opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        rng = np.random.default_rng(0)
        x = mc.Tensor(rng.standard_normal((batch, channels, size, size)).astype(np.float32))
        y = mc.Tensor(rng.integers(0, classes, batch))

        def step():
            opt.zero_grad()
            training_loss(mc.ops.cross_entropy, model(x), y, aux_weight).backward()
            opt.step()
    t = time.perf_counter()
    step()
    first_s = time.perf_counter() - t
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ms = median_ms(step, repeats=steps, warmup=1)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (steps + 1)
    print(json.dumps({"step_ms": ms, "first_step_s": first_s, "import_s": import_s, "page_faults_per_step": faults,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def children(models, threads, impls=IMPLS):
    """(arch, impl, threads) -> the child's command line and environment, for common.alternate."""
    return {(arch, impl, threads): ([__file__, "--child", impl, arch, "--threads", str(threads)], ENV[impl])
            for arch in models for impl in impls}


def summarize(results, arch, impl, threads):
    """The figures of one (model, implementation) over its rounds."""
    runs = results[(arch, impl, threads)]
    step = spread([r["step_ms"] for r in runs])
    return {"step_ms": step["median"], "step_ms_min": step["min"], "step_ms_max": step["max"],
            "images_per_s": MODELS[arch][1] / step["median"] * 1e3,
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "first_step_s": spread([r["first_step_s"] for r in runs])["median"],
            "page_faults_per_step": spread([r["page_faults_per_step"] for r in runs])["median"],
            "import_s": spread([r["import_s"] for r in runs])["median"]}


@contextlib.contextmanager
def background_load(n):
    """n processes spinning on the CPU for as long as the block runs; yields their pids."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield {h.pid for h in hogs}
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(SMALL), choices=list(MODELS))
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(ENV))
    parser.add_argument("--background-load", type=int, default=0, metavar="N",
                        help="keep N busy processes running while measuring: a loaded machine (results go to "
                             "train_step_cpu_loaded.*)")
    parser.add_argument("--allow-noisy", action="store_true", help="measure even when other processes are busy")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "ARCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.threads)
    with background_load(args.background_load) as hogs:
        results, worst = alternate(children(args.models, args.threads, args.impls), args.rounds, args.allow_noisy,
                                   ignore=hogs)
    rows = []
    for arch in args.models:
        size, batch = MODELS[arch][:2]
        row = {"model": arch, "input": f"{batch}x{size}"}
        for impl in args.impls:
            for key, value in summarize(results, arch, impl, args.threads).items():
                row[f"{impl}_{key}"] = value
        for impl in (i for i in args.impls if i != "torch"):
            row[f"{impl}_vs_torch"] = row[f"{impl}_step_ms"] / row["torch_step_ms"]
            row[f"{impl}_rss_vs_torch"] = row[f"{impl}_peak_rss_mib"] / row["torch_peak_rss_mib"]
        for impl in args.impls:
            row[f"{impl}_range"] = f"{row[impl + '_step_ms_min']:.0f}-{row[impl + '_step_ms_max']:.0f}"
        rows.append(row)
        print(f"{arch:<10} " + ", ".join(f"{impl} {row[impl + '_step_ms']:.0f} ms" for impl in args.impls))
    machine = machine_info(args.threads)
    note = method_note(args.rounds, worst)
    standard = not args.background_load and list(args.impls) == list(IMPLS)
    name = "train_step_cpu" if standard else "train_step_cpu_loaded" if args.background_load else "train_step_cpu_other"
    if any(arch not in SMALL for arch in args.models):
        name += "_large"          # the ImageNet models' results beside, not over, the small ones'
    if args.background_load:
        note += f"; {args.background_load} busy background process(es) running throughout"
    write_json(os.path.join(RESULTS, f"{name}.json"),
               {"benchmark": "training step, float32, SGD momentum", "method": note,
                "rounds": args.rounds, "other_processes_busy_max": worst, "machine": machine, "results": rows})
    if not standard:
        columns = [("model", "model", "{}"), ("input", "batch x size", "{}")]
        for impl in args.impls:
            columns += [(f"{impl}_step_ms", f"{impl} ms", "{:.0f}"), (f"{impl}_range", "range", "{}")]
        columns += [(f"{impl}_vs_torch", f"{impl} / torch", "{:.2f}x") for impl in args.impls if impl != "torch"]
        markdown_table(os.path.join(RESULTS, f"{name}.md"),
                       f"Training step, median ms on {machine_line(machine)}; {note}", columns, rows)
        print(f"wrote {RESULTS}/{name}.json and .md")
        return
    columns = [("model", "model", "{}"), ("input", "batch x size", "{}"),
               ("minicnn_fast_step_ms", "minicnn ms", "{:.0f}"),
               ("minicnn_numpy_step_ms", "NumPy path ms", "{:.0f}"), ("torch_step_ms", "PyTorch ms", "{:.0f}"),
               ("minicnn_fast_range", "minicnn range", "{}"), ("torch_range", "torch range", "{}"),
               ("minicnn_fast_vs_torch", "minicnn / torch", "{:.2f}x"),
               ("minicnn_fast_images_per_s", "minicnn img/s", "{:.0f}"), ("torch_images_per_s", "torch img/s", "{:.0f}"),
               ("minicnn_fast_peak_rss_mib", "minicnn RSS MiB", "{:.0f}"),
               ("torch_peak_rss_mib", "torch RSS MiB", "{:.0f}"), ("minicnn_fast_rss_vs_torch", "RSS ratio", "{:.2f}x"),
               ("minicnn_fast_page_faults_per_step", "minicnn page faults / step", "{:.0f}"),
               ("torch_page_faults_per_step", "torch page faults / step", "{:.0f}"),
               ("minicnn_fast_import_s", "import s", "{:.2f}"), ("minicnn_fast_first_step_s", "first step s", "{:.2f}")]
    markdown_table(os.path.join(RESULTS, f"{name}.md"),
                   f"Training step, median ms on {machine_line(machine)}; {note}", columns, rows)
    bar_chart(os.path.join(RESULTS, f"{name}.png"), "training step time / PyTorch's (lower is faster)",
              [r["model"] for r in rows], {"minicnn NumPy": [r["minicnn_numpy_vs_torch"] for r in rows],
                                           "minicnn fast": [r["minicnn_fast_vs_torch"] for r in rows]})
    print(f"wrote {RESULTS}/{name}.json, .md and .png")


if __name__ == "__main__":
    main()
