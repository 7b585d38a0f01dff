"""use(DIR) and the milestone: LeNet-5 trained with the exercises in place of the reference."""
import csv
import os
import subprocess
import sys

import pytest

import minicnn.autograd
from minicnn import fast, fused, ops
from minicnn.autograd import backward as reference_walk
from minicnn.data.datasets import DEBIAN_FASHION
from minicnn.exercises import EXERCISES, check, use
from minicnn.exercises.catalogue import find
from minicnn.exercises.source import solution_source
from minicnn.exercises.workspace import Workspace
from minicnn.ops.activation import ReLU
from tests.exercises.helpers import alternative


def passed_folder(folder, names, text=solution_source):
    workspace = Workspace(str(folder))
    for name in names:
        workspace.write(name, text(find(name)))
        assert check(name, str(folder)).passed
    return str(folder)


def test_use_puts_the_passed_exercises_in_and_undo_takes_them_out(tmp_path):
    folder = passed_folder(tmp_path, ["relu", "autograd"], alternative)
    Workspace(folder).write("conv2d", solution_source(find("conv2d")))         # started, never checked
    original = vars(ReLU)["backward"]
    with use(folder) as substitution:
        assert substitution.names == ["relu", "autograd"]
        assert str(substitution).startswith("your own code for relu, autograd; the reference everywhere else")
        assert vars(ReLU)["backward"].__module__ == "minicnn_exercise_relu"
        assert minicnn.autograd.backward is not reference_walk
    assert vars(ReLU)["backward"] is original
    assert minicnn.autograd.backward is reference_walk


def test_an_exercise_changed_after_it_passed_is_not_used(tmp_path):
    folder = passed_folder(tmp_path, ["tanh"])
    with open(os.path.join(folder, "tanh.py"), "a") as f:
        f.write("# changed\n")
    with use(folder) as substitution:
        assert substitution.names == []
        assert "tanh changed since it passed" in str(substitution)


def test_im2col_switches_the_numba_kernels_off_while_in_use(tmp_path):
    folder = passed_folder(tmp_path, ["im2col"])
    before = fast.enabled()
    with use(folder) as substitution:
        assert not fast.enabled() and "numba kernels are off" in str(substitution)
        assert ops.conv.im2col.__module__ == "minicnn_exercise_im2col"
    assert fast.enabled() == before


def test_the_gpus_fused_kernels_are_off_while_an_exercise_is_in_use(tmp_path):
    folder = passed_folder(tmp_path, ["relu"])
    previous = fused.set_enabled(True)
    try:
        with use(folder):
            assert not fused.enabled()      # the fused ReLU keeps y for backward; a student's reads the mask
        assert fused.enabled()
    finally:
        fused.set_enabled(previous)


def _train(tmp_path, out, extra, fast_kernels):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MINICNN_FAST": "1" if fast_kernels else "0"}
    command = [sys.executable, "-m", "minicnn.train", "--arch", "lenet5", "--subset", "320", "--epochs", "1",
               "--batch-size", "32", "--no-progress", "--seed", "3", "--out", str(tmp_path / out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    (run,) = os.listdir(tmp_path / out)
    with open(tmp_path / out / run / "metrics.csv") as f:
        rows = [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(f)]
    with open(tmp_path / out / run / "test.json") as f:
        return rows, f.read(), done.stdout


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="Fashion-MNIST is not installed "
                                                               "(apt-get install dataset-fashion-mnist)")
@pytest.mark.parametrize("names, fast_kernels", [
    pytest.param([e.name for e in EXERCISES], False, id="every exercise (numba kernels off)"),
    pytest.param([e.name for e in EXERCISES if not e.skips_fast_kernels], True, id="all but im2col and col2im"),
])
def test_the_milestone_trains_lenet5_as_the_reference_does(tmp_path, names, fast_kernels):
    """The reference solutions placed as exercises: the same metrics, to the last digit, as a plain run."""
    folder = passed_folder(tmp_path / "mine", names)
    plain = _train(tmp_path, "plain", [], fast_kernels)
    mine = _train(tmp_path, "mine-run", ["--exercises", folder], fast_kernels=True)
    assert f"--exercises {folder}: your own code for {', '.join(names)}" in mine[2]
    assert mine[:2] == plain[:2]


def test_train_refuses_a_missing_exercise_folder(tmp_path):
    done = subprocess.run([sys.executable, "-m", "minicnn.train", "--arch", "lenet5", "--exercises",
                           str(tmp_path / "nowhere")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 2 and "--exercises" in done.stderr and "Traceback" not in done.stderr
