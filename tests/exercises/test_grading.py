"""Every exercise: the fresh stub fails cleanly, the reference passes, a correct solution written
differently passes, and the typical wrong solutions of student_code.py fail with a useful message."""
import ast
import inspect

import numpy as np
import pytest

import minicnn as mc
from minicnn import ops
from minicnn.exercises import EXERCISES, check, use
from minicnn.exercises.source import reference, solution_source, stub_source
from minicnn.exercises.workspace import Workspace
from minicnn.ops.pool import AvgPool2d
from tests.exercises.helpers import alternative
from tests.exercises.student_code import ALTERNATIVES, MUTANTS

NAMES = [e.name for e in EXERCISES]


def graded(tmp_path, exercise, text):
    Workspace(str(tmp_path)).write(exercise.name, text)
    return check(exercise.name, str(tmp_path))


def test_every_exercise_has_test_data():
    assert sorted(ALTERNATIVES) == sorted(NAMES)
    assert sorted(MUTANTS) == sorted(NAMES)
    assert all(len(mutants) >= 3 for mutants in MUTANTS.values())


@pytest.mark.parametrize("exercise", EXERCISES, ids=NAMES)
def test_the_stub_is_the_reference_with_the_bodies_left_out(exercise):
    stub, solution = stub_source(exercise), solution_source(exercise)
    assert inspect.getsource(reference(exercise)) in solution
    functions = {node.name: node for node in ast.walk(ast.parse(stub)) if isinstance(node, ast.FunctionDef)}
    for member in exercise.blank:
        body = functions[member.split(".")[-1]].body
        assert isinstance(body[-1], ast.Raise) and len(body) <= 2           # a docstring at most, then the raise
        assert f'raise NotImplementedError("exercise {exercise.name}: write {member}")' in stub


@pytest.mark.parametrize("exercise", EXERCISES, ids=NAMES)
def test_the_fresh_stub_fails_cleanly(exercise, tmp_path):
    report = graded(tmp_path, exercise, stub_source(exercise))
    assert not report.passed
    assert "not written yet" in str(report) and "Traceback" not in str(report)


@pytest.mark.parametrize("exercise", EXERCISES, ids=NAMES)
def test_the_reference_passes(exercise, tmp_path):
    report = graded(tmp_path, exercise, solution_source(exercise))
    assert report.passed, str(report)
    assert report.cases == len(exercise.grader.cases) >= 3
    assert "ms" in str(report)           # the time is shown


@pytest.mark.parametrize("exercise", EXERCISES, ids=NAMES)
def test_a_correct_solution_written_differently_passes(exercise, tmp_path):
    text = alternative(exercise)
    assert "NotImplementedError" not in text
    report = graded(tmp_path, exercise, text)
    assert report.passed, str(report)


MUTANT_PARAMS = [pytest.param(exercise, edits, words, id=f"{exercise.name}: {mistake}")
                 for exercise in EXERCISES for mistake, edits, words in MUTANTS[exercise.name]]


@pytest.mark.parametrize("exercise, edits, words", MUTANT_PARAMS)
def test_a_typical_mistake_fails_with_a_useful_message(exercise, edits, words, tmp_path):
    text = alternative(exercise)
    for old, new in edits:
        assert old in text, f"the mutant's edit {old!r} does not apply"
        text = text.replace(old, new)
    report = graded(tmp_path, exercise, text)
    assert not report.passed
    message = str(report)
    assert "Traceback" not in message
    for word in words:
        assert word in message, message



def test_a_changed_method_is_used_even_with_super_and_a_reformatted_one_is_not(tmp_path):
    """AvgPool2d.__init__ calls super(): set on the reference class it must still find its parent."""
    exercise = next(e for e in EXERCISES if e.name == "avg_pool2d")
    text = alternative(exercise)
    init = "        super().__init__(kernel, stride, padding, ceil_mode)\n"
    divisor = ("        return _window_sizes(xp, H, W, OH, OW, self.kernel, self.stride, self.padding, "
               "self.count_include_pad,\n                             dtype)\n")
    assert init in text and divisor in text
    text = text.replace(init, init + "        self.written_by_me = True\n")
    text = text.replace(divisor, "        return _window_sizes(xp, H, W, OH, OW, self.kernel, self.stride, self.padding,\n"
                                 "                             self.count_include_pad, dtype)   # reformatted\n")
    assert graded(tmp_path, exercise, text).passed
    with use(str(tmp_path)):
        y = ops.avg_pool2d(mc.Tensor(np.ones((1, 1, 4, 4)), requires_grad=True), 2)
        assert y.creator.written_by_me
        assert vars(AvgPool2d)["_divisor"].__module__ == "minicnn.ops.pool"
