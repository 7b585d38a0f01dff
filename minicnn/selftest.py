"""First contact with a GPU, in one command: ``python -m minicnn.selftest --device cuda``.

1. The device: its name, memory, driver, CUDA runtime and CuPy versions.
2. The GPU test matrix (``pytest -m gpu``), from a source checkout with the dev extra.
3. One epoch of LeNet-5 and one of ResNet-20 on Fashion-MNIST, on the device.
4. ``benchmarks/cpu_vs_gpu.py``: minicnn's CPU and GPU paths against PyTorch's, with the
   ResNet-20 step's targets (>= 10x minicnn's CPU step, <= 3x PyTorch CUDA's).

Each step runs in a process of its own, so one failing does not hide the others. The report goes
to ``--out`` (default ``benchmarks/results/gpu-selftest/``): selftest.json and selftest.md, the
benchmark's cpu_vs_gpu.{json,md,png}, and the two training runs. Exit status 1 if a step failed.
"""
import csv
import json
import os
import subprocess
import sys
import time

from minicnn import backend
from minicnn.atomic import write_json
from minicnn.cli import Parser, use_device
from minicnn.progress import duration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # the source checkout, if this is one
TRAININGS = ("lenet5", "resnet20")
RESNET20_TARGETS = {"gpu_speedup": 10.0, "gpu_vs_torch_cuda": 3.0}


def build_parser():
    p = Parser(prog="python -m minicnn.selftest", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="the GPU to train on: cuda or cuda:N (default cuda; the test "
                   "matrix and the benchmark use cuda:0)")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "gpu-selftest"),
                   help="folder for the report, the benchmark's results and the training runs")
    p.add_argument("--subset", type=int, default=None, help="train on the first N images only (default: all)")
    p.add_argument("--no-tests", action="store_true", help="skip the GPU test matrix")
    p.add_argument("--quick-bench", action="store_true", help="the benchmark's smoke run (one op, LeNet-5; it "
                   "writes no results)")
    return p


def run_step(name, command, log):
    """Run ``command`` (a list) from the checkout's root, its output going to ``log``; returns the step's record."""
    start = time.perf_counter()
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    with open(log, "w") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    with open(log) as f:
        tail = f.read().strip().splitlines()[-3:]
    print("\n".join(tail), f"\n-> {'passed' if done.returncode == 0 else 'FAILED'} in {duration(seconds)}",
          flush=True)
    return {"step": name, "passed": done.returncode == 0, "seconds": round(seconds, 1), "log": log,
            "last_line": tail[-1] if tail else ""}


def training_result(runs, arch):
    """Speed, train loss and test top-1 of the run folder a passing training step wrote."""
    folder = os.path.join(runs, sorted(d for d in os.listdir(runs) if d.startswith(arch + "-"))[-1])
    with open(os.path.join(folder, "metrics.csv")) as f:
        epoch = list(csv.DictReader(f))[-1]
    with open(os.path.join(folder, "test.json")) as f:
        test = json.load(f)
    return {"arch": arch, "folder": folder, "images_per_s": float(epoch["images_per_s"]),
            "train_loss": float(epoch["train_loss"]), "test_top1": test["top1"]}


def resnet20_verdict(results_file):
    """The ResNet-20 step against its targets, from the benchmark's JSON (None without it)."""
    if not os.path.exists(results_file):
        return None
    with open(results_file) as f:
        rows = json.load(f)["results"]
    row = next((r for r in rows if r["case"] == "train step resnet20"), None)
    if row is None:
        return None
    verdict = {key: row.get(key) for key in ("minicnn_gpu_ms", "minicnn_cpu_ms", "torch_cuda_ms", *RESNET20_TARGETS,
                                             "minicnn_gpu_first_ms", "torch_cuda_first_ms")}
    with open(results_file) as f:
        settings = json.load(f)
    verdict["tf32"], verdict["cpu_steps"] = settings.get("tf32"), settings.get("cpu_steps")
    speedup, vs_torch = row.get("gpu_speedup"), row.get("gpu_vs_torch_cuda")
    verdict["speedup_met"] = speedup is not None and speedup >= RESNET20_TARGETS["gpu_speedup"]
    verdict["vs_torch_cuda_met"] = vs_torch is not None and vs_torch <= RESNET20_TARGETS["gpu_vs_torch_cuda"]
    return verdict


def write_report(out, report):
    write_json(report, os.path.join(out, "selftest.json"))
    lines = [f"GPU self-test on {report['device']['device']}", "",
             "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in report["device"].items() if k != "device"]
    lines += ["", "| step | result | time |", "|---|---|---|"]
    lines += [f"| {s['step']} | {'passed' if s['passed'] else 'FAILED'} | {duration(s['seconds'])} |"
              for s in report["steps"]]
    if report["trainings"]:
        lines += ["", "| one epoch | images/s | train loss | test top-1 |", "|---|---|---|---|"]
        lines += [f"| {t['arch']} | {t['images_per_s']:.0f} | {t['train_loss']:.4f} | {t['test_top1']:.4f} |"
                  for t in report["trainings"]]
    verdict = report["resnet20_step"]
    if verdict:
        lines += ["", f"ResNet-20 training step: {verdict['minicnn_gpu_ms']:.2f} ms on the GPU, "
                      f"{verdict['gpu_speedup'] or float('nan'):.1f}x minicnn's CPU step (target >= 10x: "
                      f"{'met' if verdict['speedup_met'] else 'NOT met'}), "
                      f"{verdict['gpu_vs_torch_cuda'] or float('nan'):.2f}x PyTorch CUDA's (target <= 3x: "
                      f"{'met' if verdict['vs_torch_cuda_met'] else 'NOT met'}); the first step, where the kernels "
                      f"compile, took {verdict['minicnn_gpu_first_ms'] or float('nan'):.0f} ms apart from that. "
                      f"TF32: {verdict['tf32']}. CPU steps: {verdict['cpu_steps']}."]
    with open(os.path.join(out, "selftest.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.subset is not None and args.subset < 1:
        raise SystemExit(f"minicnn selftest: --subset must be >= 1, got {args.subset}")
    device = use_device("selftest", args.device, "cuda")
    if device == "cpu":
        raise SystemExit("minicnn selftest: --device must be a GPU (cuda or cuda:N), got cpu")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    report = {"device": backend.device_report(device), "steps": [], "trainings": [], "resnet20_step": None}
    for key, value in report["device"].items():
        print(f"{key:>20}: {value}")
    checkout = os.path.isdir(os.path.join(ROOT, "tests")) and os.path.isdir(os.path.join(ROOT, "benchmarks"))
    if not checkout:
        print(f"\nminicnn is not installed from a source checkout ({ROOT} has no tests/ and benchmarks/): the test "
              "matrix and the benchmark are skipped; clone the repository for them", flush=True)
    if checkout and not args.no_tests:
        report["steps"].append(run_step("GPU test matrix", [sys.executable, "-m", "pytest", "-q", "-m", "gpu"],
                                        os.path.join(out, "tests.log")))
    runs = os.path.join(out, "runs")
    for arch in TRAININGS:
        command = [sys.executable, "-m", "minicnn.train", "--arch", arch, "--device", device, "--epochs", "1",
                   "--no-progress", "--out", runs] + (["--subset", str(args.subset)] if args.subset else [])
        report["steps"].append(run_step(f"one epoch of {arch}", command, os.path.join(out, f"train-{arch}.log")))
        if report["steps"][-1]["passed"]:
            report["trainings"].append(training_result(runs, arch))
    if checkout:
        # --allow-noisy: a busy machine marks the CPU steps noisy in the results instead of ending the self-test
        command = [sys.executable, os.path.join("benchmarks", "cpu_vs_gpu.py"), "--out", out, "--allow-noisy"]
        report["steps"].append(run_step("benchmarks/cpu_vs_gpu.py", command + ["--quick"] * args.quick_bench,
                                        os.path.join(out, "cpu_vs_gpu.log")))
        report["resnet20_step"] = resnet20_verdict(os.path.join(out, "cpu_vs_gpu.json"))
    print("\n" + write_report(out, report) + f"\n\nwrote {out}/selftest.json and selftest.md")
    return 0 if all(step["passed"] for step in report["steps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
