"""Exercise mode: write the backward passes yourself, graded by minicnn's own gradient checks.

    python -m minicnn.exercises list              the exercises, from ReLU to the autograd walk
    python -m minicnn.exercises start conv2d      writes minicnn-exercises/conv2d.py: Conv2d as in
                                                  minicnn/ops/conv.py, its backward left to write
    python -m minicnn.exercises check conv2d      grades it: passed, or where and by how much it is off
    python -m minicnn.train --arch lenet5 --exercises minicnn-exercises
                                                  trains LeNet-5 with your passed backward passes

In a notebook, ``check("relu", globals())`` grades the class defined there, and
``use("minicnn-exercises")`` puts your passed exercises in place of the reference.

The pieces: catalogue.py (the exercises and their cases), source.py (stubs and solutions made
from the reference source), grading.py and hints.py (the grader and its diagnostics),
workspace.py (your folder and your progress), substitute.py (your code in place of the
reference), course.py (the verbs), __main__.py (the command line). See docs/exercises.md.
"""
from minicnn.exercises.catalogue import EXERCISES
from minicnn.exercises.course import check, progress, solution, start, use
from minicnn.exercises.workspace import ExerciseError

__all__ = ["EXERCISES", "check", "progress", "solution", "start", "use", "ExerciseError"]
