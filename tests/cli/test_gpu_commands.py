"""The commands on "cuda": train, then evaluate, predict and viz on its checkpoint (a real GPU, or
the fake CuPy of tests/fakecupy, which the subprocesses find through PYTHONPATH as this one did)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import backend
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
