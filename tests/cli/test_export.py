"""python -m minicnn.export on a LeNet-5 checkpoint written by python -m minicnn.train (one short epoch)."""
import contextlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import export, train
from minicnn.data.datasets import DEBIAN_FASHION
from minicnn.trained import load_trained

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    if not os.path.isdir(DEBIAN_FASHION):
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    out = tmp_path_factory.mktemp("runs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--arch", "lenet5", "--subset", "128", "--epochs", "1", "--batch-size", "32",
                           "--no-progress", "--out", str(out)]) == 0
    (folder,) = os.listdir(out)
    return os.path.join(out, folder, "best.safetensors")


@needs_data
def test_exports_checks_and_compares_a_trained_lenet5(checkpoint, tmp_path, capsys):
    out = tmp_path / "lenet5.onnx"
    assert export.main(["--checkpoint", checkpoint, "--out", str(out), "--batch-size", "5"]) == 0
    text = capsys.readouterr().out
    assert "minicnn export: lenet5 from" in text and "input (1, 32, 32), opset 17" in text
    assert f"wrote {out}: 12 nodes, 61,706 parameters; onnx.checker: ok" in text
    largest, relative = map(float, re.search(r"largest difference from minicnn (\S+) \((\S+) of the largest", text)
                            .groups())
    assert relative < 1e-4 and largest <= relative * 1e3
    assert "same top class for 5/5" in text

    # the file holds the checkpoint's weights and runs on any batch size
    model, _ = load_trained(checkpoint)
    x = np.random.default_rng(5).standard_normal((3, 1, 32, 32)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with mc.no_grad():
        expected = model(mc.Tensor(x)).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


@needs_data
def test_default_out_is_next_to_the_checkpoint(checkpoint, tmp_path, capsys):
    assert export.main(["--checkpoint", checkpoint, "--opset", "13"]) == 0
    assert os.path.isfile(checkpoint[:-len(".safetensors")] + ".onnx")
    assert "opset 13" in capsys.readouterr().out


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "minicnn.export", *argv], capture_output=True, text=True,
                          timeout=120)


def test_mistakes_exit_2_with_a_message_and_no_traceback(tmp_path):
    missing = tmp_path / "nothing.safetensors"
    done = run_cli("--checkpoint", str(missing))
    assert done.returncode == 2 and f"{missing} does not exist" in done.stderr and "Traceback" not in done.stderr

    plain = tmp_path / "weights.safetensors"
    mc.save(mc.models.get("lenet5").state_dict(), plain)              # weights only: no training config
    done = run_cli("--checkpoint", str(plain))
    assert done.returncode == 2 and "is not a minicnn training checkpoint" in done.stderr
    assert "Traceback" not in done.stderr

    done = run_cli("--checkpoint", str(plain), "--batch-size", "0")
    assert done.returncode == 2 and "--batch-size must be >= 1, got 0" in done.stderr


@needs_data
def test_unwritable_out_and_bad_opset_exit_2(checkpoint, tmp_path):
    out = tmp_path / "no" / "folder" / "m.onnx"
    done = run_cli("--checkpoint", checkpoint, "--out", str(out))
    assert done.returncode == 2 and f"cannot write {out}: the folder" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_cli("--checkpoint", checkpoint, "--out", str(tmp_path / "m.onnx"), "--opset", "9")
    assert done.returncode == 2 and "opset must be an int from 13" in done.stderr and "Traceback" not in done.stderr
