import os
import re
from pathlib import Path

import pytest

from minicnn.data import DataError

from minicnn import demo


def test_demo_learns_the_synthetic_task(capsys):
    accuracy = demo.main(["--steps", "150"])
    assert accuracy > 0.9
    assert "held-out accuracy" in capsys.readouterr().out


def test_readme_examples_run(tmp_path, monkeypatch):
    """The README's Python blocks run as written, one after the other."""
    monkeypatch.chdir(tmp_path)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", readme, re.S):
        try:
            exec(compile(block, "README.md", "exec"), namespace)
        except DataError as e:              # the Data example needs Fashion-MNIST installed
            pytest.skip(f"README's data example skipped: {e}")
    assert namespace["w"].grad.shape == (16, 3, 3, 3)
    assert namespace["checkpoint"]["epoch"] == 1 and namespace["opt"].param_groups[0]["lr"] == 0.1


def test_docs_seeing_inside_examples_run(tmp_path, monkeypatch, capsys):
    """docs/seeing-inside.md's Python blocks run as written, one after the other."""
    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).parents[1] / "docs" / "seeing-inside.md").read_text()
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(block, "docs/seeing-inside.md", "exec"), namespace)
    assert {"resnet20.dot", "blocks.dot", "trace.json", "profile.json", "filters.png", "maps.png"} <= set(os.listdir())
    assert "backward 1: CrossEntropy" in capsys.readouterr().out


def test_docs_new_op_example_runs():
    """docs/index.md's 'Writing a new op' example passes its own gradient check."""
    text = (Path(__file__).parents[1] / "docs" / "index.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(block, "docs/index.md", "exec"), {})
