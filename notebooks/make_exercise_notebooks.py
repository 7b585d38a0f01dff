"""Writes the exercise notebooks 07-09 from the exercises themselves: ``python notebooks/make_exercise_notebooks.py``.

One notebook per group of exercises; for each exercise, the derivation (the task, the hint and the
maths from the op's docstring), the stub cell (the code as ``python -m minicnn.exercises start``
writes it) and a check cell. The stub cells come from the ops' source, so the notebooks are
rebuilt, never edited by hand: tests/exercises/test_notebooks.py fails when a committed notebook
differs from what this script builds, and runs each one with the stubs (every check reports
"not passed") and with the reference solutions in the stub cells (every check passes).
"""
import json
import pathlib

from minicnn.exercises import EXERCISES
from minicnn.exercises.source import code, introduction

HERE = pathlib.Path(__file__).resolve().parent
GROUPS = {
    "activations": ("07", "ReLU, sigmoid, tanh, linear, softmax, cross-entropy and dropout"),
    "convolution": ("08", "im2col, col2im, convolution, max and average pooling"),
    "training": ("09", "batch norm, the residual add, SGD, Adam and the autograd walk"),
}


def path(group):
    return HERE / f"{GROUPS[group][0]}_exercises_{group}.ipynb"


def build(group, solved=False):
    """The notebook of ``group`` as a dict; ``solved`` puts the reference in the stub cells (for the tests)."""
    number, contents = GROUPS[group]
    cells = [_markdown(f"# {int(number)}. Exercises: {contents}\n\n"
                       "Each exercise below is an op's class (or function) exactly as in minicnn, with the body you "
                       "write replaced by `raise NotImplementedError`. Read the derivation, write the body in the "
                       "code cell, run it, then run the check cell under it: it grades your code with minicnn's "
                       "gradient check and says what is wrong, or that it passed.\n\n"
                       "The same exercises exist as files (`python -m minicnn.exercises start NAME`); see "
                       "docs/exercises.md."),
             _code("from minicnn.exercises import check")]
    for exercise in (e for e in EXERCISES if e.group == group):
        cells += [_markdown(f"## {exercise.name}\n\n```\n{introduction(exercise)}\n```"),
                  _code(code(exercise, blanked=not solved), {"exercise": exercise.name}),
                  _code(f'print(check("{exercise.name}", globals()))')]
    for i, cell in enumerate(cells):
        cell["id"] = f"exercises-{group}-{i:02d}"
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"}, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def text(notebook):
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def _lines(source):
    return source.splitlines(keepends=True)


def _markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": _lines(source)}


def _code(source, metadata=None):
    return {"cell_type": "code", "execution_count": None, "metadata": metadata or {}, "outputs": [],
            "source": _lines(source.rstrip("\n"))}


if __name__ == "__main__":
    for name in GROUPS:
        path(name).write_text(text(build(name)), encoding="utf-8")
        print(f"wrote {path(name)}")
