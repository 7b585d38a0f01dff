"""python -m minicnn.exercises list | start | check | solution: exit codes, messages, the student's files."""
import os
import subprocess
import sys

import pytest

from minicnn.exercises.__main__ import main
from minicnn.exercises.catalogue import find
from minicnn.exercises.source import solution_source
from tests.exercises.helpers import alternative


def run(tmp_path, *args):
    """The command in a fresh process, from tmp_path (so the default folder lands there)."""
    return subprocess.run([sys.executable, "-m", "minicnn.exercises", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def lines_of(capsys):
    out = capsys.readouterr().out
    return {line.split()[0]: line for line in out.splitlines()}


def test_start_then_check_a_stub_fails_cleanly(tmp_path):
    started = run(tmp_path, "start", "conv2d")
    assert started.returncode == 0, started.stderr
    stub = tmp_path / "minicnn-exercises" / "conv2d.py"
    assert "class Conv2d(Function):" in stub.read_text()
    checked = run(tmp_path, "check", "conv2d")
    assert checked.returncode == 1
    assert "conv2d: not passed" in checked.stdout and "not written yet" in checked.stdout
    assert "Traceback" not in checked.stdout + checked.stderr


def test_check_passes_with_exit_0(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "relu.py").write_text(alternative(find("relu")))
    checked = run(tmp_path, "check", "relu", "--dir", str(folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("relu: passed")


def test_list_follows_the_student(tmp_path, capsys):
    folder = str(tmp_path)
    assert main(["list", "--dir", folder]) == 0
    assert lines_of(capsys)["relu"].split()[1:] == ["easy", "ReLU.backward", "not", "started"]
    main(["start", "relu", "--dir", folder])
    capsys.readouterr()
    main(["list", "--dir", folder])
    assert lines_of(capsys)["relu"].endswith("started")
    (tmp_path / "relu.py").write_text(alternative(find("relu")))
    assert main(["check", "relu", "--dir", folder]) == 0
    capsys.readouterr()
    main(["list", "--dir", folder])
    listing = lines_of(capsys)
    assert listing["relu"].endswith("passed") and listing["conv2d"].endswith("not started")
    (tmp_path / "relu.py").write_text(alternative(find("relu")) + "\n# edited\n")
    main(["list", "--dir", folder])
    assert lines_of(capsys)["relu"].endswith("changed since it passed")


def test_start_keeps_the_students_file_unless_forced(tmp_path, capsys):
    folder = str(tmp_path)
    main(["start", "tanh", "--dir", folder])
    (tmp_path / "tanh.py").write_text("# my work\n")
    assert main(["start", "tanh", "--dir", folder]) == 1
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "tanh.py").read_text() == "# my work\n"
    assert main(["start", "tanh", "--dir", folder, "--force"]) == 0
    assert "class Tanh" in (tmp_path / "tanh.py").read_text()


def test_the_solution_needs_an_attempt_and_an_explicit_flag(tmp_path, capsys):
    folder = str(tmp_path)
    main(["start", "linear", "--dir", folder])
    capsys.readouterr()
    assert main(["solution", "linear", "--dir", folder, "--reveal"]) == 1
    assert "try it first" in capsys.readouterr().err
    assert main(["check", "linear", "--dir", folder]) == 1
    capsys.readouterr()
    assert main(["solution", "linear", "--dir", folder]) == 1
    assert "--reveal" in capsys.readouterr().err
    assert main(["solution", "linear", "--dir", folder, "--reveal"]) == 0
    assert capsys.readouterr().out == solution_source(find("linear"))


@pytest.mark.parametrize("args, message", [
    (["check", "conv3d"], "no exercise 'conv3d'"),
    (["check", "relu"], "no file"),
    (["start", "nope"], "the exercises are: relu"),
])
def test_mistakes_on_the_command_line_are_one_line(tmp_path, capsys, args, message):
    assert main([*args, "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_syntax_error_names_the_line(tmp_path, capsys):
    (tmp_path / "sigmoid.py").write_text("class Sigmoid:\n    def backward(self, gy)\n        return gy\n")
    assert main(["check", "sigmoid", "--dir", str(tmp_path)]) == 1
    assert "sigmoid.py, line 2" in capsys.readouterr().err


def test_a_file_without_the_class_is_told_so(tmp_path, capsys):
    (tmp_path / "tanh.py").write_text("x = 1\n")
    assert main(["check", "tanh", "--dir", str(tmp_path)]) == 1
    assert "defines no Tanh" in capsys.readouterr().err


def test_a_slow_correct_solution_passes_with_its_time(tmp_path, capsys):
    slow = alternative(find("relu")).replace("gx[~positive] = 0", "import time\n        time.sleep(0.05)\n"
                                             "        gx[~positive] = 0")
    (tmp_path / "relu.py").write_text(slow)
    assert main(["check", "relu", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "times the reference's" in out
