"""The commands on "cuda": train, then evaluate, predict and viz on its checkpoint, and the GPU
self-test (a real GPU, or the fake CuPy of tests/fakecupy, which the subprocesses find through
PYTHONPATH as this one did)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import backend, selftest
from minicnn.data.datasets import DEBIAN_FASHION

pytestmark = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="Fashion-MNIST is not installed "
                                "(apt-get install dataset-fashion-mnist)")


def run(*args):
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done


def test_train_evaluate_predict_and_viz_run_on_cuda(cupy, tmp_path):
    on_cuda = f"on {backend.device_name('cuda')}"
    trained = run("minicnn.train", "--arch", "resnet20", "--device", "cuda", "--subset", "256", "--epochs", "1",
                  "--no-progress", "--out", str(tmp_path))
    assert f"minicnn train: resnet20 {on_cuda}" in trained.stdout and "epoch   1" in trained.stdout
    (folder,) = [os.path.join(tmp_path, d) for d in os.listdir(tmp_path)]
    checkpoint = os.path.join(folder, "best.safetensors")
    evaluated = run("minicnn.evaluate", "--checkpoint", checkpoint, "--device", "cuda", "--subset", "64",
                    "--no-progress")
    assert on_cuda in evaluated.stdout and "test loss" in evaluated.stdout
    image = tmp_path / "shoe.png"
    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(image)
    predicted = run("minicnn.predict", "--checkpoint", checkpoint, "--device", "cuda", str(image))
    assert on_cuda in predicted.stderr and predicted.stdout.startswith(f"{image}:")
    drawn = run("minicnn.viz", "maps", "--checkpoint", checkpoint, "--layer", "layer1.0.conv1", "--device", "cuda",
                "--out", str(tmp_path / "maps.png"))
    assert drawn.stdout.strip().endswith(f"run {on_cuda}") and (tmp_path / "maps.png").stat().st_size > 0


def test_the_selftest_runs_its_steps_and_writes_its_report(cupy, tmp_path):
    done = run("minicnn.selftest", "--out", str(tmp_path), "--subset", "256", "--no-tests", "--quick-bench")
    report = json.load(open(tmp_path / "selftest.json"))
    assert report["device"]["device"] == backend.device_name("cuda") and report["device"]["cupy"] == cupy.__version__
    assert [s["step"] for s in report["steps"]] == ["one epoch of lenet5", "one epoch of resnet20",
                                                    "benchmarks/cpu_vs_gpu.py"]
    assert all(s["passed"] for s in report["steps"]) and [t["arch"] for t in report["trainings"]] == ["lenet5",
                                                                                                     "resnet20"]
    assert f"GPU self-test on {backend.device_name('cuda')}" in done.stdout and (tmp_path / "selftest.md").exists()


def test_the_selftest_needs_a_gpu():
    done = subprocess.run([sys.executable, "-m", "minicnn.selftest", "--device", "cpu"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "minicnn selftest: --device must be a GPU (cuda or cuda:N), got cpu" in done.stderr


@pytest.mark.parametrize("gpu_ms, torch_cuda_ms, met", [(10.0, 5.0, (True, True)), (30.0, 5.0, (False, False))])
def test_the_selftest_judges_the_resnet20_step_against_its_targets(tmp_path, gpu_ms, torch_cuda_ms, met):
    row = {"case": "train step resnet20", "minicnn_cpu_ms": 200.0, "minicnn_gpu_ms": gpu_ms,
           "torch_cuda_ms": torch_cuda_ms, "gpu_speedup": 200.0 / gpu_ms, "gpu_vs_torch_cuda": gpu_ms / torch_cuda_ms}
    (tmp_path / "cpu_vs_gpu.json").write_text(json.dumps({"results": [row]}))
    verdict = selftest.resnet20_verdict(str(tmp_path / "cpu_vs_gpu.json"))
    assert (verdict["speedup_met"], verdict["vs_torch_cuda_met"]) == met
    assert verdict["tf32"] is None          # a results file without the settings (older) still gives a verdict
    assert selftest.resnet20_verdict(str(tmp_path / "missing.json")) is None
