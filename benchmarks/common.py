"""Timing helpers shared by the benchmarks: median of repeats after warm-up, one implementation at a time."""
import json
import os
import platform
import statistics
import time

import numpy as np


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


def machine_info(threads):
    import torch
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": threads,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "blas": _blas_name(),
    }


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
