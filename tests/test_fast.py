"""The switch between the NumPy reference ops and the numba kernels of minicnn/fast.
(The kernels' numbers are checked by the op tests, which run on both paths.)"""
import os
import subprocess
import sys

import numpy as np
import pytest

from minicnn import fast


def _run(code, **env):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True)
    return result.stdout.strip()


@pytest.mark.parametrize("value, expected", [("0", "False"), ("off", "False"), ("1", str(fast.available()))])
def test_environment_variable_switches_the_fast_path(value, expected):
    assert _run("from minicnn import fast; print(fast.enabled())", MINICNN_FAST=value) == expected


def test_only_numpy_arrays_take_the_fast_path(fast_path):
    a = np.zeros(3)
    assert fast.use(a, a) == (fast_path == "numba")
    assert not fast.use(a, [0.0, 1.0])          # anything that is not an ndarray stays on the reference


def test_set_enabled_returns_the_previous_setting():
    previous = fast.set_enabled(False)
    try:
        assert fast.set_enabled(True) is False and fast.set_enabled(False) is True
    finally:
        fast.set_enabled(previous)


def test_kernels_use_every_core_when_minicnn_comes_before_numpy():
    """minicnn sets OpenBLAS's idle threads to sleep before NumPy loads it; its kernels then use numba's cores."""
    code = ("import minicnn, os, numba; from minicnn import fast; "
            "print(os.environ['OPENBLAS_THREAD_TIMEOUT'], fast.threads() == numba.config.NUMBA_DEFAULT_NUM_THREADS)")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "NUMBA_NUM_THREADS")}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.split() == ["4", "True"]


def test_kernels_run_on_one_thread_when_numpy_came_first_without_the_setting():
    """NumPy loaded OpenBLAS with spinning idle threads: a parallel kernel would fight them for the cores."""
    code = "import numpy, minicnn; from minicnn import fast; print(fast.threads())"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "NUMBA_NUM_THREADS")}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.strip() == "1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
@pytest.mark.parametrize("value, faults_expected", [("1", False), ("0", True)])
def test_freed_arrays_are_reused_without_page_faults(value, faults_expected):
    """Eight 4 MiB activations made and freed ten times, as a training step does: with the fast path
    the heap keeps them and the later ones reuse its pages; without it each page faults again
    (about 40,000 faults)."""
    code = ("import minicnn, resource, numpy as np\n"
            "def faults():\n"
            "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "    for _ in range(10):\n"
            "        arrays = [np.ones(2**20, np.float32) for _ in range(8)]\n"
            "        del arrays\n"
            "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
            "faults()\n"                                   # the first round may grow the heap
            "print(faults())")
    faults = int(_run(code, MINICNN_FAST=value))
    assert (faults > 10000 if faults_expected else faults < 1000), faults
