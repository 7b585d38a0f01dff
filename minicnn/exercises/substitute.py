"""Putting a student's code in place of the reference, and taking it out again.

For a class (an op's Function, an optimiser) the student's methods are set on the reference
class itself: the blanked ones, and any method the student added or changed (a forward that
saves something else for backward). Every caller keeps working unchanged, the op's wrapper
(``conv2d`` builds ``Conv2d``), ``isinstance`` checks in the ONNX export, optimisers already
built. The methods left as the stub gave them stay the reference's.

For a module-level function (im2col, col2im, the autograd walk) every minicnn module that holds
the reference function under its name gets the student's: ``ops/conv.py`` did
``from minicnn.im2col import col2im``, so patching ``minicnn.im2col`` alone would not reach it.
"""
import ast
import inspect
import sys
import textwrap
import types

from minicnn.exercises.source import reference

__all__ = ["Substitution"]

_MISSING = object()


class Substitution:
    """Student code in place of the reference until ``undo()`` (or the end of a ``with`` block)."""

    def __init__(self):
        self.names = []           # the exercises whose code is the student's
        self.notes = []           # what else the student should know about this run
        self._undo = []           # callables that each put one thing back, newest last

    def put(self, exercise, student):
        """Use ``student`` (the class or function the student wrote) for ``exercise``."""
        original = reference(exercise)
        if inspect.isclass(original):
            blanked = {member.split(".")[-1] for member in exercise.blank}
            for name, member in vars(student).items():
                if inspect.isfunction(member) and (name in blanked or _changed(member, vars(original).get(name))):
                    self._set(original, name, _moved(member, original))
        else:
            for module in list(sys.modules.values()):
                name = getattr(module, "__name__", "") or ""
                ours = name == "minicnn" or (name.startswith("minicnn.") and not name.startswith("minicnn.exercises"))
                if ours and getattr(module, original.__name__, None) is original:
                    self._set(module, original.__name__, student)
        self.names.append(exercise.name)
        return self

    def _set(self, namespace, attribute, value):
        previous = vars(namespace).get(attribute, _MISSING)
        self.on_undo(lambda: delattr(namespace, attribute) if previous is _MISSING
                     else setattr(namespace, attribute, previous))
        setattr(namespace, attribute, value)

    def on_undo(self, put_back):
        """Call ``put_back()`` when the substitution is undone (after what was set later)."""
        self._undo.append(put_back)

    def undo(self):
        """Put the reference back everywhere."""
        while self._undo:
            self._undo.pop()()
        self.names, self.notes = [], []

    def __str__(self):
        said = (f"your own code for {', '.join(self.names)}; the reference everywhere else" if self.names
                else "no exercise has passed there yet: the reference everywhere")
        return "; ".join([said] + self.notes)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.undo()


def _changed(mine, theirs):
    """True when the student's method is new or its code differs from the reference's (compared as
    syntax trees, so a formatter's line breaks or an added comment change nothing)."""
    if not inspect.isfunction(theirs):
        return True
    try:
        return _tree(mine) != _tree(theirs)
    except (OSError, TypeError, SyntaxError):       # no source to compare: take the student's
        return True


def _tree(function):
    return ast.dump(ast.parse(textwrap.dedent(inspect.getsource(function))))


def _moved(method, cls):
    """``method`` as a method of ``cls``: a zero-argument ``super()`` finds its class in the closure
    cell ``__class__``, which must now be ``cls``, not the student's class."""
    if "__class__" not in method.__code__.co_freevars:
        return method
    cells = tuple(types.CellType(cls) if name == "__class__" else cell
                  for name, cell in zip(method.__code__.co_freevars, method.__closure__))
    moved = types.FunctionType(method.__code__, method.__globals__, method.__name__, method.__defaults__, cells)
    moved.__kwdefaults__, moved.__qualname__ = method.__kwdefaults__, method.__qualname__
    return moved
