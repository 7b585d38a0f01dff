"""Mistakes are one line: every command's flag errors, and the mistakes a newcomer makes first, are
one line on stderr with no usage block and no traceback."""
import subprocess
import sys

import pytest

COMMANDS = ["minicnn.train", "minicnn.evaluate", "minicnn.predict", "minicnn.export", "minicnn.summary",
            "minicnn.viz", "minicnn.data.fetch", "minicnn.demo", "minicnn.selftest"]


def run(module, *args):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, timeout=120)


def assert_one_line(done, code, text):
    assert done.returncode == code, done.stderr
    assert done.stderr.strip().splitlines() == [text], done.stderr


@pytest.mark.parametrize("module", COMMANDS)
def test_an_unknown_flag_is_one_line_in_every_command(module):
    done = run(module, "--no-such-flag")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"python -m {module}: error: ") and "(--help lists every flag)" in done.stderr
    assert "usage:" not in done.stderr


@pytest.mark.parametrize("args, text", [
    (["--arch", "lenet5", "--lr", "-1"], "python -m minicnn.train: error: --lr must be > 0, got -1.0"),
    (["--arch", "lenet5", "--optimizer", "sgdd"], "python -m minicnn.train: error: argument --optimizer: invalid "
     "choice: 'sgdd' (choose from 'sgd', 'rmsprop', 'adam', 'adamw') (--help lists every flag)"),
    (["--arch", "lenet5", "--epochs", "ten"], "python -m minicnn.train: error: argument --epochs: invalid int value: "
     "'ten' (--help lists every flag)"),
])
def test_train_flag_errors_are_one_line(tmp_path, args, text):
    assert_one_line(run("minicnn.train", *args, "--out", tmp_path), 2, text)


def test_summary_of_an_input_too_small_for_the_model_is_one_line():
    assert_one_line(run("minicnn.summary", "--arch", "alexnet", "--input", "1,28,28"), 1,
                    "minicnn summary: AlexNet: input 28x28 is too small; the smallest input this model supports is "
                    "223x223 (resize first: the training CLI does)")


def test_a_graph_into_a_missing_folder_is_one_line(tmp_path):
    assert_one_line(run("minicnn.viz", "graph", "--arch", "lenet5", "--out", tmp_path / "missing" / "x.png"), 1,
                    f"minicnn viz graph: cannot write {tmp_path}/missing/x.png: the folder {tmp_path}/missing does "
                    "not exist")
