"""Helpers shared by the benchmarks: timing (median of repeats after warm-up, one implementation
at a time), the machine's description, and the JSON / Markdown / PNG reports."""
import json
import os
import platform
import statistics
import time

import numpy as np

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
    """The zoo's networks in PyTorch (1 input channel and 10 classes, ResNet-50 as in its paper):
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
    from tests.models.test_vgg import TABLE1, TorchVGG
    return TorchVGG(TABLE1["D"], num_classes=10, in_channels=1)


def sgemm_gflops(n=2048, repeats=5):
    """What NumPy's BLAS reaches on a large float32 matmul: the ceiling for an im2col convolution."""
    a = np.ones((n, n), np.float32)
    return 2 * n ** 3 / median_ms(lambda: a @ a, repeats) / 1e6


def machine_info(threads):
    import torch
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "threads": threads, "numpy": np.__version__,
            "torch": torch.__version__, "python": platform.python_version(), "blas": _blas_name()}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    return info


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
