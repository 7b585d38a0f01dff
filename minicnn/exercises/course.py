"""What a student does, as functions: the command line (``__main__.py``) and notebooks call these.

    start("conv2d")          write minicnn-exercises/conv2d.py, the stub
    check("conv2d")          grade it (a Report: print it, or test .passed)
    solution("conv2d", ...)  the reference, once it has been tried and asked for explicitly
    use("minicnn-exercises") train with every passed exercise in place of the reference
"""
import inspect
import os

from minicnn import fast, fused
from minicnn.exercises.catalogue import EXERCISES, find
from minicnn.exercises.source import reference, solution_source, stub_source
from minicnn.exercises.substitute import Substitution
from minicnn.exercises.workspace import DEFAULT_DIR, ExerciseError, Workspace

__all__ = ["exercise", "start", "check", "solution", "use", "progress"]


def exercise(name):
    """The Exercise called ``name``; an ExerciseError listing the names otherwise."""
    found = find(name)
    if found is None:
        raise ExerciseError(f"no exercise {name!r}; the exercises are: {', '.join(e.name for e in EXERCISES)}")
    return found


def start(name, folder=DEFAULT_DIR, force=False):
    """Write the stub of exercise ``name`` into ``folder``; returns its path."""
    return Workspace(folder).write(name, stub_source(exercise(name)), force)


def check(name, where=DEFAULT_DIR):
    """Grade exercise ``name``. ``where`` is the folder holding NAME.py, or a namespace that defines
    the class or function (in a notebook: ``globals()``). Returns the Report."""
    ex = exercise(name)
    target = reference(ex).__name__
    if isinstance(where, dict):
        namespace, source_file, workspace = where, None, None
    else:
        workspace = Workspace(where)
        namespace, source_file = workspace.load(name), workspace.path(name)
    student = namespace.get(target)
    if student is None or inspect.isclass(student) != inspect.isclass(reference(ex)):
        raise ExerciseError(f"{source_file or 'the namespace'} defines no {target}: keep the "
                            f"{'class' if inspect.isclass(reference(ex)) else 'function'} {target} of the stub")
    report = ex.grader.grade(ex, student, source_file)
    if workspace is not None:
        workspace.note_attempt(name, report.passed)
    return report


def solution(name, folder=DEFAULT_DIR, reveal=False):
    """The reference file of exercise ``name``: only after a ``check`` of one's own attempt, and
    only when asked for with ``reveal``."""
    ex, workspace = exercise(name), Workspace(folder)
    if workspace.attempts(name) == 0:
        raise ExerciseError(f"try it first: `python -m minicnn.exercises start {name}`, write it, and run "
                            f"`python -m minicnn.exercises check {name}` at least once")
    if not reveal:
        raise ExerciseError(f"you have tried {name} {workspace.attempts(name)} time(s). To see the reference "
                            f"anyway, add --reveal")
    return solution_source(ex)


def use(folder=DEFAULT_DIR):
    """Put every exercise that has passed in ``folder`` in place of the reference, for this process.

    Returns the Substitution: its ``names`` are the exercises now running the student's code, and
    ``undo()`` puts the reference back. im2col and col2im are used only by the NumPy ops, which
    the numba kernels replace on the CPU, so the kernels are switched off while they are in use; the
    GPU's fused kernels (minicnn/fused) are off while any exercise is.
    ``check`` compares with whatever code is in place, so undo() before checking a new attempt.
    """
    if not os.path.isdir(folder):
        raise ExerciseError(f"no folder {folder}: start an exercise with `python -m minicnn.exercises start NAME`")
    workspace = Workspace(folder)
    substitution = Substitution()
    for ex in EXERCISES:
        status = workspace.status(ex.name)
        if status == "passed":
            substitution.put(ex, workspace.load(ex.name)[reference(ex).__name__])
        elif status == "changed since it passed":
            substitution.notes.append(f"{ex.name} changed since it passed: check it again to use it")
    if any(find(name).skips_fast_kernels for name in substitution.names):
        substitution.on_undo(lambda previous=fast.set_enabled(False): fast.set_enabled(previous))
        substitution.notes.append("the numba kernels are off, as they do without im2col and col2im")
    if substitution.names and fused.enabled():
        # A GPU's fused kernels save other arrays for backward (ReLU its output, not the mask) than the
        # plain forward does, which is what a student's backward reads.
        substitution.on_undo(lambda previous=fused.set_enabled(False): fused.set_enabled(previous))
    return substitution


def progress(folder=DEFAULT_DIR):
    """(exercise, status) for every exercise, in order; status as ``Workspace.status`` says."""
    workspace = Workspace(folder)
    return [(ex, workspace.status(ex.name)) for ex in EXERCISES]
