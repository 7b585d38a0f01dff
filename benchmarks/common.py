"""Helpers shared by the benchmarks: timing (median of repeats after warm-up, one implementation
at a time), the measuring method (each implementation in its own process, alternated over rounds,
on a machine checked to be quiet), the machine's description, and the JSON / Markdown / PNG reports.

The method, for every CPU comparison in benchmarks/:
- each (implementation, case) runs in a child process of its own, so no library's idle threads
  take a core from another, and each peak RSS is its own;
- the implementations alternate, A B A B ..., for ``--rounds`` rounds (at least 3), so a slow
  spell of the machine falls on all of them alike;
- before every child the other processes' CPU use is sampled: a busy machine is refused unless
  ``--allow-noisy``, which marks the results as noisy;
- every figure is the median over the rounds, with the min-max range beside it.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# NumPy is imported inside the functions that need it: a minicnn child must import minicnn
# before NumPy, as its command-line tools do (see minicnn/fast/__init__.py, "Threads").

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def median_ms(fn, repeats=7, warmup=2):
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_model(arch):
    """The zoo's networks in PyTorch (the CIFAR-sized ones with 1 input channel and 10 classes, the
    ImageNet ones as in their papers):
    the references the model tests compare minicnn's against, built from tests/models."""
    if arch == "lenet5_28":
        from tests.models.test_lenet import TorchLeNet5
        return TorchLeNet5(padding=2)
    if arch == "resnet20":
        from tests.models.test_resnet import TorchBasicBlock, TorchResNet
        return TorchResNet(TorchBasicBlock, [3, 3, 3], 10, in_channels=1, width=16, shortcut="A", cifar=True)
    if arch == "resnet50":
        from tests.models.test_resnet import TorchBottleneck, TorchResNet
        return TorchResNet(TorchBottleneck, [3, 4, 6, 3], 1000)
    if arch == "googlenet":
        from tests.models.test_googlenet import TorchGoogLeNet
        return TorchGoogLeNet()
    if arch == "densenet121":
        from tests.models.test_densenet import torch_reference
        return torch_reference("densenet121")
    if arch == "inception_v3":
        from tests.models.test_inception import TorchInception3
        return TorchInception3()
    from tests.models.test_vgg import TABLE1, TorchVGG
    if arch == "vgg16_bn":
        return TorchVGG(TABLE1["D"], batch_norm=True)
    return TorchVGG(TABLE1["D"], num_classes=10, in_channels=1)


def sgemm_gflops(n=2048, repeats=5):
    """What NumPy's BLAS reaches on a large float32 matmul: the ceiling for an im2col convolution."""
    import numpy as np
    a = np.ones((n, n), np.float32)
    return 2 * n ** 3 / median_ms(lambda: a @ a, repeats) / 1e6


def machine_info(threads):
    import numpy as np
    import torch
    info = {"cpu": _cpu_model(), "isa": _simd_isa(), "cores": os.cpu_count(), "threads": threads,
            "numpy": np.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "blas": _blas_name(), "blas_kernel": _blas_kernel()}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    return info


def machine_line(info):
    """One line naming the machine, for captions: CPU, ISA, cores, BLAS and its kernel."""
    return (f"{info['cpu']} ({info['isa']}, {info['cores']} cores), {info['blas']} {info['blas_kernel']}, "
            f"{info['threads']} threads")


def _simd_isa():
    """The widest x86 vector extension the CPU reports: the one its BLAS kernels use."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return platform.machine()
    for isa in ("avx512f", "avx2", "avx"):
        if isa in flags:
            return {"avx512f": "AVX-512"}.get(isa, isa.upper())
    return platform.machine()


def _blas_kernel():
    """The BLAS's own name for the kernel it picked (OpenBLAS's 'Haswell', 'SkylakeX', ...)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return f"{blas[0].get('architecture') or '?'} kernel, {blas[0].get('version')}" if blas else "unknown"


def other_cpu_use(seconds=0.5, ignore=()):
    """(busy share of the whole machine, [(process, share of one core), ...]) over ``seconds``,
    leaving out this process, its parent (the benchmark's own driver) and the pids in ``ignore``."""
    mine = {os.getpid(), os.getppid(), *ignore}

    def ticks():
        out = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)
                name = fields[0].split("(", 1)[1]
                rest = fields[1].split()
                out[int(pid)] = (name, int(rest[11]) + int(rest[12]))      # utime + stime
            except (OSError, IndexError, ValueError):
                pass
        return out

    before = ticks()
    time.sleep(seconds)
    after = ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busy = [(name, (t - before[pid][1]) / hz / seconds) for pid, (name, t) in after.items()
            if pid in before and pid not in mine]
    busy = sorted((b for b in busy if b[1] > 0.05), key=lambda b: -b[1])
    return sum(b[1] for b in busy) / os.cpu_count(), busy


def check_quiet(allow_noisy, limit=0.10, ignore=()):
    """Sample the machine; refuse a busy one (other processes using over ``limit`` of it) unless
    ``allow_noisy``. Returns the busy share seen. ``ignore``: pids of the benchmark's own load."""
    share, busy = other_cpu_use(ignore=ignore)
    if share > limit:
        names = ", ".join(f"{name} {use:.0%}" for name, use in busy[:5])
        message = f"the machine is busy: other processes use {share:.0%} of it ({names})"
        if not allow_noisy:
            sys.exit(f"{message}. Measure on a quiet machine, or pass --allow-noisy to mark the results noisy.")
        print(f"warning: {message}; results marked noisy", file=sys.stderr)
    return share


def alternate(children, rounds, allow_noisy, ignore=()):
    """Run each child command once per round, in the same order every round (A B C A B C ...),
    each in its own process; every child prints one JSON object as its last line.

    ``children`` maps a label to (argv, extra environment). Returns ({label: [result per round]},
    the largest busy share of other processes seen before any child). ``ignore``: pids of a load
    the benchmark runs on purpose."""
    results, worst = {label: [] for label in children}, 0.0
    for r in range(rounds):
        for label, (argv, env) in children.items():
            worst = max(worst, check_quiet(allow_noisy, ignore=ignore))
            out = subprocess.run([sys.executable] + argv, capture_output=True, text=True,
                                 env={**os.environ, **env}, cwd=ROOT)
            if out.returncode:
                raise RuntimeError(f"{label} failed:\n{out.stderr}")
            results[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  round {r + 1}/{rounds} {label} done", file=sys.stderr)
    return results, worst


def spread(values):
    """Median, min and max of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def method_note(rounds, worst_busy):
    """The line every report carries about how it was measured."""
    quiet = "quiet" if worst_busy <= 0.10 else f"NOISY (other processes used up to {worst_busy:.0%} of it)"
    return (f"each implementation in its own process, alternated over {rounds} rounds; median of the rounds "
            f"[min-max]; machine {quiet}")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_name():
    import numpy as np
    try:
        config = np.show_config(mode="dicts")
        return config["Build Dependencies"]["blas"]["name"]
    except Exception:
        return "unknown"


def write_json(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")


def markdown_table(path, caption, columns, rows, append=False):
    """columns: (key, header, format) triples; a missing value prints as '-'. ``append`` adds the
    table to the end of an existing file (a report with several tables)."""
    lines = [caption, "", "| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    with open(path, "a" if append else "w") as f:
        f.write(("\n" if append else "") + "\n".join(lines) + "\n")


def bar_chart(path, title, labels, series):
    """Grouped horizontal bars: one group per label, one bar per series (name -> values);
    a dashed line at 1 marks parity with the reference."""
    import matplotlib
    import numpy as np
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(labels) * len(series) / 2 + 1.5))
    for k, (name, values) in enumerate(series.items()):
        ax.barh(np.arange(len(labels)) + k * height, values, height, label=name)
    ax.set_yticks(np.arange(len(labels)) + height * (len(series) - 1) / 2, labels)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
