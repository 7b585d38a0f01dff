"""CPU against GPU in one run: minicnn on NumPy and on CuPy, PyTorch 2.13 on the CPU and on CUDA.

    python benchmarks/cpu_vs_gpu.py [--repeats 7] [--batch 64] [--quick]

Ops, forward+backward, float32: conv2d at ResNet-20, VGG-16 (32x32) and ResNet-50 (56x56) shapes,
max pooling, batch norm and a fully connected layer. Training steps (forward, backward, SGD with
momentum): LeNet-5 at 28x28, ResNet-20 and VGG-16 at 32x32 (1 channel, 10 classes), and ResNet-50
at 224x224 on the GPUs only (on two CPU cores one of its steps takes minutes).
Each timed call ends with a device synchronize (CuPy's Device.synchronize, torch.cuda.synchronize),
so a kernel still running is not left out. The first call of each case is timed apart and reported
as its compile time (CuPy compiles each kernel, fused ones included, at its first call; cuBLAS and
cuDNN initialise): the median of --repeats comes after it and one more warm-up.
TF32 is off for both libraries unless --tf32 (PyTorch's convolutions would otherwise use it by
default, CuPy's matrix products not); the results say which.
Without a GPU the GPU columns stay empty and the reason is printed and written to the results.
The training steps' CPU columns, which the GPU speed-up divides by, come from the fair method of
train_step_cpu.py: each library in a process of its own, minicnn imported before NumPy (so its numba
kernels use every core), alternated over --rounds rounds. The ops' CPU columns share this process
with PyTorch (minicnn's kernels then run on one thread): they are a rough guide only.
Writes benchmarks/results/cpu_vs_gpu.{json,md,png} (or into --out; python -m minicnn.selftest runs it).
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), ROOT]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import minicnn as mc  # noqa: E402
from common import (RESULTS, alternate, bar_chart, machine_info, markdown_table, median_ms, torch_model,  # noqa: E402
                    write_json)
from minicnn import backend, ops  # noqa: E402
from train_step_cpu import SMALL as FAIR_CPU_STEPS, BATCH as FAIR_CPU_BATCH, children as cpu_step_children  # noqa: E402

# name, minicnn op, torch op, input shapes (batch first), keyword arguments
OPS = [
    ("conv resnet20 3x3 16ch 32x32", ops.conv2d, F.conv2d, [(None, 16, 32, 32), (16, 16, 3, 3)], dict(padding=1)),
    ("conv vgg16 3x3 64ch 32x32", ops.conv2d, F.conv2d, [(None, 64, 32, 32), (64, 64, 3, 3)], dict(padding=1)),
    ("conv vgg16 3x3 256ch 8x8", ops.conv2d, F.conv2d, [(None, 256, 8, 8), (256, 256, 3, 3)], dict(padding=1)),
    ("conv resnet50 3x3 64ch 56x56", ops.conv2d, F.conv2d, [(None, 64, 56, 56), (64, 64, 3, 3)], dict(padding=1)),
    ("maxpool 2x2 64ch 32x32", ops.max_pool2d, F.max_pool2d, [(None, 64, 32, 32)], dict(kernel_size=2)),
    ("linear 4096 -> 4096", ops.linear, F.linear, [(None, 4096), (4096, 4096)], {}),
]
STEPS = {"lenet5_28": 28, "resnet20": 32, "vgg16": 32, "resnet50": 224}
GPU_ONLY = {"resnet50"}
IMPLS = [("minicnn_cpu", "minicnn", "cpu"), ("minicnn_gpu", "minicnn", "cuda"),
         ("torch_cpu", "torch", "cpu"), ("torch_cuda", "torch", "cuda")]
LEGEND = {"minicnn_gpu": "minicnn GPU", "torch_cpu": "PyTorch CPU", "torch_cuda": "PyTorch CUDA"}


def gpu_status():
    """{library: None when its GPU works, else the reason it cannot be used}."""
    try:
        backend.device_name("cuda")
        minicnn_reason = None
    except mc.DeviceError as e:
        minicnn_reason = str(e)
    torch_reason = None if torch.cuda.is_available() else "torch.cuda.is_available() is False (no GPU or CPU build)"
    return {"minicnn": minicnn_reason, "torch": torch_reason}


def synchronizer(library, device, anchor):
    """What to call before reading the clock: nothing on a CPU."""
    if device == "cpu":
        return lambda: None
    if library == "torch":
        return torch.cuda.synchronize
    return lambda: backend.synchronize(anchor)


def time_op(library, device, op, arrays, kwargs, repeats):
    if library == "minicnn":
        tensors = [mc.Tensor(a, requires_grad=True, device=device) for a in arrays]
        ones = backend.get_array_module(tensors[0].array).ones       # the output gradient, on the device

        def run():
            y = op(*tensors, **kwargs)
            y.backward(ones(y.shape, np.float32))
            for t in tensors:
                t.grad = None
        sync = synchronizer(library, device, tensors[0].array)
    else:
        tensors = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]

        def run():
            y = op(*tensors, **kwargs)
            y.backward(torch.ones_like(y))
            for t in tensors:
                t.grad = None
        sync = synchronizer(library, device, None)
    return first_and_median_ms(lambda: (run(), sync()), repeats)


def first_and_median_ms(fn, repeats):
    """(the first call's ms, where kernels compile; the median ms of ``repeats`` calls after one more warm-up)."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3, median_ms(fn, repeats, warmup=1)


def fair_cpu_steps(archs, threads, rounds, allow_noisy):
    """{arch: {"minicnn_cpu_ms": ..., "torch_cpu_ms": ...}}: median CPU step times, each library in a process
    of its own and alternated (train_step_cpu.py's children)."""
    archs = [a for a in archs if a in FAIR_CPU_STEPS]
    results, worst = alternate(cpu_step_children(archs, threads, ("minicnn_fast", "torch")), rounds, allow_noisy)
    steps = {arch: {} for arch in archs}
    for (arch, impl, _), runs in results.items():
        label = "torch_cpu_ms" if impl == "torch" else "minicnn_cpu_ms"
        steps[arch][label] = statistics.median(r["step_ms"] for r in runs)
    return steps, worst


def time_step(library, device, arch, batch, repeats):
    size = STEPS[arch]
    channels, classes = (3, 1000) if arch == "resnet50" else (1, 10)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, channels, size, size)).astype(np.float32), rng.integers(0, classes, batch)
    if library == "minicnn":
        model = mc.models.get(arch, in_channels=channels, num_classes=classes).to(device)
        opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        xt, yt = mc.Tensor(x, device=device), mc.Tensor(y, device=device)

        def step():
            opt.zero_grad()
            mc.ops.cross_entropy(model(xt), yt).backward()
            opt.step()
        sync = synchronizer(library, device, xt.array)
    else:
        model = torch_model(arch).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        xt, yt = torch.tensor(x, device=device), torch.tensor(y, device=device)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            opt.step()
        sync = synchronizer(library, device, None)
    return first_and_median_ms(lambda: (step(), sync()), repeats)


def ratios(row):
    """Speed-up of minicnn's GPU path over its CPU path, and its time against PyTorch CUDA's."""
    cpu, gpu, tcuda = row.get("minicnn_cpu_ms"), row.get("minicnn_gpu_ms"), row.get("torch_cuda_ms")
    row["gpu_speedup"] = cpu / gpu if cpu and gpu else None
    row["gpu_vs_torch_cuda"] = gpu / tcuda if gpu and tcuda else None
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for BLAS and torch")
    parser.add_argument("--quick", action="store_true", help="one op and LeNet-5 only (a smoke run)")
    parser.add_argument("--out", default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the CPU steps' own processes")
    parser.add_argument("--allow-noisy", action="store_true", help="measure the CPU steps on a busy machine too "
                        "(the results say so)")
    parser.add_argument("--tf32", action="store_true", help="let both libraries use TF32 (default: neither)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    os.environ["CUPY_TF32"] = "1" if args.tf32 else "0"        # read when CuPy loads, below
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    tf32 = {"minicnn (CUPY_TF32)": args.tf32, "torch matmul": torch.backends.cuda.matmul.allow_tf32,
            "torch cudnn": torch.backends.cudnn.allow_tf32}
    status = gpu_status()
    for library, reason in status.items():
        print(f"{library} GPU: {'available' if reason is None else 'SKIPPED: ' + reason}")
    impls = [(label, lib, dev) for label, lib, dev in IMPLS if dev == "cpu" or status[lib] is None]
    rng = np.random.default_rng(0)
    rows = []
    for name, ours, theirs, shapes, kwargs in OPS[:1] if args.quick else OPS:
        arrays = [rng.standard_normal(tuple(args.batch if d is None else d for d in s)).astype(np.float32) * 0.1
                  for s in shapes]
        row = {"case": name, "kind": "op"}
        for label, library, device in impls:
            row[f"{label}_first_ms"], row[f"{label}_ms"] = time_op(
                library, device, ours if library == "minicnn" else theirs, arrays, kwargs, args.repeats)
        rows.append(ratios(row))
        print(name, {k: round(v, 2) for k, v in row.items() if k.endswith("_ms")})
    archs = ["lenet5_28"] if args.quick else list(STEPS)
    fair, busy = ({}, 0.0) if args.batch != FAIR_CPU_BATCH else fair_cpu_steps(
        archs, args.threads, 1 if args.quick else args.rounds, args.allow_noisy or args.quick)
    for arch in archs:
        row = {"case": f"train step {arch}", "kind": "step"}
        runs = [(label, library, device) for label, library, device in impls if device != "cpu" or arch not in GPU_ONLY]
        if not runs:
            print(f"train step {arch}: on the GPUs only, and none is available")
            continue
        for label, library, device in runs:
            if f"{label}_ms" in fair.get(arch, {}):
                row[f"{label}_ms"] = fair[arch][f"{label}_ms"]          # its own process (see the docstring)
                continue
            row[f"{label}_first_ms"], row[f"{label}_ms"] = time_step(library, device, arch, args.batch,
                                                                     max(3, args.repeats // 2))
        rows.append(ratios(row))
        print(row["case"], {k: round(v, 1) for k, v in row.items() if k.endswith("_ms")})
    if args.quick:
        return
    skipped = "; ".join(f"{lib} GPU skipped: {reason}" for lib, reason in status.items() if reason)
    write_json(os.path.join(args.out, "cpu_vs_gpu.json"),
               {"benchmark": f"forward+backward and training steps, batch {args.batch}, float32, median ms",
                "machine": machine_info(args.threads),
                "gpu": {"minicnn": status["minicnn"] or backend.device_name("cuda"),
                        "torch": status["torch"] or torch.cuda.get_device_name()},
                "tf32": tf32,
                "cpu_steps": (f"each library in its own process, {args.rounds} rounds alternated, other processes "
                              f"up to {busy:.0%} busy" if fair else "in this process (batch is not 64)"),
                "results": rows})
    columns = [("case", "case", "{}"), ("minicnn_cpu_ms", "minicnn CPU ms", "{:.1f}"),
               ("minicnn_gpu_ms", "minicnn GPU ms", "{:.2f}"), ("torch_cpu_ms", "PyTorch CPU ms", "{:.1f}"),
               ("torch_cuda_ms", "PyTorch CUDA ms", "{:.2f}"), ("gpu_speedup", "GPU speed-up", "{:.1f}x"),
               ("gpu_vs_torch_cuda", "minicnn GPU / PyTorch CUDA", "{:.2f}x"),
               ("minicnn_gpu_first_ms", "minicnn GPU first call ms (compiles)", "{:.0f}"),
               ("torch_cuda_first_ms", "PyTorch CUDA first call ms", "{:.0f}")]
    tf32_note = ", ".join(f"{name} {'on' if on else 'off'}" for name, on in tf32.items())
    markdown_table(os.path.join(args.out, "cpu_vs_gpu.md"),
                   f"Batch {args.batch}, float32, median ms, {args.threads} CPU threads; TF32: {tf32_note}; "
                   f"the training steps' CPU times from each library's own process"
                   + (f". {skipped}" if skipped else ""), columns, rows)
    reference = [r.get("minicnn_cpu_ms") or float("nan") for r in rows]
    series = {LEGEND[label]: [(r.get(f"{label}_ms") or float("nan")) / ref for r, ref in zip(rows, reference)]
              for label, _, _ in impls if label != "minicnn_cpu"}
    bar_chart(os.path.join(args.out, "cpu_vs_gpu.png"), "time / minicnn CPU's (log scale, lower is faster)",
              [r["case"] for r in rows], series)
    print(f"wrote {args.out}/cpu_vs_gpu.json, .md and .png" + (f" ({skipped})" if skipped else ""))


if __name__ == "__main__":
    main()
