"""Grading: the student's code and the reference, run side by side on the same random inputs.

What decides, for each kind of exercise:
- a backward pass (and the autograd walk): ``minicnn.gradcheck``, float64 central differences
  with the student's code in place. A correct backward written any other way (loops, another
  formula) passes; the reference is only consulted to say *where* and *how* a wrong one is off;
- im2col and col2im: the output, element for element, against the reference's (there is one
  right layout);
- an optimiser's update: the parameters after each of a few steps, against the reference's.

Every case runs on inputs drawn from a fixed seed, so a failure repeats until it is fixed. The
first failing case stops the grading with one message: which case, which input, which element,
by how much, and a hint when the mistake is a typical one (see hints.py).
"""
import time
import traceback

import numpy as np

from minicnn.autograd import Observer, observe
from minicnn.gradcheck import GradcheckError, gradcheck
from minicnn.exercises.hints import shape_hints, value_hints, window_coverage
from minicnn.exercises.source import reference
from minicnn.exercises.substitute import Substitution
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor

__all__ = ["Case", "Report", "GradientCases", "OutputCases", "OptimizerCases"]

SEED = 31415          # not 0: gradcheck draws its upstream gradient from seed 0
ATOL, RTOL = 1e-7, 1e-5


class Case:
    """One configuration to grade. ``inputs`` name each input and give its shape (random normal
    values) or its array. ``fn`` runs the code under test on them (see each grader for how).
    ``hint`` is shown when this case fails: the mistake it was chosen to catch. ``windows`` =
    (input name, kernel, stride, pads) when that input is read through windows, for the hint on
    overlapping windows. ``check(yours, expected, arrays)`` replaces gradcheck where finite
    differences do not apply (ties); it returns a message, or None when the gradients are right."""

    def __init__(self, label, fn, hint=None, windows=None, check=None, **inputs):
        self.label, self.fn, self.hint, self.windows, self.check, self.inputs = label, fn, hint, windows, check, inputs

    def arrays(self, rng):
        return {name: rng.standard_normal(spec) if isinstance(spec, tuple) else np.array(spec, dtype=np.float64)
                for name, spec in self.inputs.items()}

    def describe(self, arrays):
        shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items())
        return f'case "{self.label}" ({shapes})'


class CaseFailed(Exception):
    """Raised inside a grader: the message says what is wrong in this case."""


class Report:
    """What ``check`` prints: passed with the times, or the first failing case explained."""

    def __init__(self, exercise):
        self.exercise = exercise
        self.problem = None
        self.cases = 0
        self.seconds_yours = self.seconds_reference = 0.0

    @property
    def passed(self):
        return self.problem is None

    def __str__(self):
        name = self.exercise.name
        if not self.passed:
            return f"{name}: not passed.\n{self.problem}"
        slower = self.seconds_yours / max(self.seconds_reference, 1e-9)
        speed = f" ({slower:.0f} times the reference's; correct is what counts)" if slower >= 10 else ""
        return (f"{name}: passed, {self.cases} cases. Time in your code {1e3 * self.seconds_yours:.2f} ms, in the "
                f"reference {1e3 * self.seconds_reference:.2f} ms{speed}.")


class _Grader:
    """Runs the cases in order and stops at the first failure."""

    def __init__(self, *cases):
        self.cases = cases

    def grade(self, exercise, student, source_file=None):
        report = Report(exercise)
        rng = np.random.default_rng(SEED)
        for case in self.cases:
            arrays = case.arrays(rng)
            try:
                self.run(exercise, student, case, arrays, rng, report)
            except CaseFailed as failure:
                problem = str(failure)
            except Exception as error:       # the student's code raised: say where, without a traceback
                problem = _raised(error, source_file)
            else:
                report.cases += 1
                continue
            # The case's own hint, unless a hint that names the mistake came already (or nothing is written yet).
            if case.hint and "hint:" not in problem and "not written yet" not in problem:
                problem += f"\nhint: {case.hint}"
            report.problem = f"{case.describe(arrays)}: {problem}"
            return report
        return report

    @staticmethod
    def timed(report, attribute, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        setattr(report, attribute, getattr(report, attribute) + time.perf_counter() - start)
        return result


def _raised(error, source_file):
    if isinstance(error, NotImplementedError):
        return f"not written yet ({error or 'NotImplementedError'}): replace the raise with your code"
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if source_file is not None and f.filename == source_file]
    where = f" at line {own[-1].lineno} of your file: {own[-1].line}" if own else ""
    return f"your code raised {type(error).__name__}: {error}{where}"


def _mismatch(name, yours, expected, batch, coverage=None, note=None):
    """None when yours matches expected, else the element facts, ``note`` and any hints."""
    bad = ~np.isclose(yours, expected, atol=ATOL, rtol=RTOL)
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(bad, abs(yours - expected), -1))), yours.shape)
    index = tuple(int(i) for i in worst)
    lines = [f"{name} is wrong at {int(bad.sum())} of {bad.size} elements; the worst at index {index}: "
             f"yours {yours[worst]:.10g}, expected {expected[worst]:.10g} "
             f"(difference {abs(yours[worst] - expected[worst]):.3g})"] + ([note] if note else [])
    lines += [f"hint: {h}" for h in value_hints(name, yours, expected, batch, bad, coverage)]
    return "\n".join(lines)


class _Returns(Observer):
    """Keeps what each backward of the class under exercise returned, before autograd checks it."""

    def __init__(self, cls, names_by_id):
        self.cls, self.names_by_id, self.seen = cls, names_by_id, []

    def op_end(self, function, phase, inputs, outputs):
        if phase == "backward" and isinstance(function, self.cls):
            names = [self.names_by_id.get(id(x), f"input {i}") for i, x in enumerate(function.inputs)]
            self.seen.append((names, [x.shape for x in function.inputs], function.needs_input_grad, outputs))


def _check_returns(seen, method):
    """A CaseFailed for a backward that returned the wrong number of gradients, None or a wrong shape."""
    for names, shapes, needed, returned in seen:
        if len(returned) < len(names):           # more is harmless: autograd pairs them with the inputs
            raise CaseFailed(f"{method} returned {len(returned)} value(s) for {len(names)} inputs "
                             f"({', '.join(names)}): return a tuple with one gradient per input")
        for name, shape, need, g in zip(names, shapes, needed, returned):
            if need and g is None:
                raise CaseFailed(f"{method} returned None for the gradient of {name}, which needs one")
            if need and tuple(g.shape) != tuple(shape):
                hints = "".join(f"\nhint: {h}" for h in shape_hints(name, tuple(g.shape), tuple(shape)))
                raise CaseFailed(f"the gradient of {name} has shape {tuple(g.shape)}, but {name} has shape "
                                 f"{tuple(shape)}{hints}")


class GradientCases(_Grader):
    """For a backward pass or the autograd walk: ``case.fn(*tensors)`` builds a graph with
    reference ops on float64 tensors that require grad; the gradients of the inputs are compared."""

    def run(self, exercise, student, case, arrays, rng, report):
        def tensors():
            return [Tensor(a.copy(), requires_grad=True) for a in arrays.values()]

        y = case.fn(*tensors())
        gy = rng.standard_normal(y.shape)
        y.backward(gy)                       # once untimed: the first run may compile numba kernels
        inputs = tensors()
        y = case.fn(*inputs)
        output = y.array.copy()
        self.timed(report, "seconds_reference", y.backward, gy)
        expected = [x.grad.array if x.grad is not None else np.zeros_like(x.array) for x in inputs]

        target = reference(exercise)
        with Substitution().put(exercise, student):
            inputs = tensors()
            watch = _Returns(target, {id(x): name for x, name in zip(inputs, arrays)}) \
                if isinstance(target, type) else None
            handle = observe(watch) if watch else None
            sent = gy.copy()
            try:
                y = case.fn(*inputs)
                self.timed(report, "seconds_yours", y.backward, sent)
            except RuntimeError:             # autograd refused a gradient's shape: say which input and why
                if watch:
                    _check_returns(watch.seen, exercise.blank[0])
                raise
            finally:
                if handle:
                    handle.remove()
            if watch:
                _check_returns(watch.seen, exercise.blank[0])
            # A changed forward is used too (substitute.py), and gradcheck would accept any backward
            # that matches it: the op itself must still compute what the reference does.
            problem = _mismatch("the output (your changes to the forward pass?)", y.array, output, 1)
            if problem:
                raise CaseFailed(problem)
            if not np.array_equal(sent, gy):
                raise CaseFailed("the upstream gradient gy was changed in place: other Functions may hold the same "
                                 "array (add passes one gy to both its inputs), so compute a new array instead")
            yours = [x.grad.array if x.grad is not None else np.zeros_like(x.array) for x in inputs]
            if case.check is not None:
                problem = case.check(dict(zip(arrays, yours)), dict(zip(arrays, expected)), arrays)
                if problem:
                    raise CaseFailed(problem)
                return
            try:
                gradcheck(case.fn, tensors())
            except GradcheckError as error:
                raise CaseFailed(self._explain(case, arrays, yours, expected, error)) from None

    @staticmethod
    def _explain(case, arrays, yours, expected, error):
        """The first input whose gradient differs from the reference's, or gradcheck's own report."""
        first = next(iter(arrays.values()))
        batch = first.shape[0] if first.ndim else 1
        for name, a, y, e in zip(arrays, arrays.values(), yours, expected):
            coverage = None
            if case.windows and case.windows[0] == name:
                coverage = window_coverage(a.shape, *case.windows[1:])
            problem = _mismatch(f"the gradient of {name}", y, e, batch, coverage,
                                note="(finite differences, minicnn.gradcheck, agree with the expected values)")
            if problem:
                return problem
        return str(error)


class OutputCases(_Grader):
    """For im2col and col2im: ``case.fn(function, *arrays)`` calls the function under test; the
    student's output must equal the reference's."""

    def run(self, exercise, student, case, arrays, rng, report):
        expected = self.timed(report, "seconds_reference", case.fn, reference(exercise),
                              *(a.copy() for a in arrays.values()))
        yours = self.timed(report, "seconds_yours", case.fn, student, *(a.copy() for a in arrays.values()))
        if not hasattr(yours, "shape"):
            raise CaseFailed(f"{exercise.name} returned {type(yours).__name__}, not an array")
        if yours.shape != expected.shape:
            raise CaseFailed(f"the result has shape {yours.shape}, expected {expected.shape}")
        coverage = window_coverage(expected.shape, *case.windows[1:]) if case.windows else None
        problem = _mismatch("the result", yours, expected, 1, coverage)
        if problem:
            raise CaseFailed(problem)


class OptimizerCases(_Grader):
    """For an optimiser's update: ``case.fn(params)`` builds the optimiser; a few steps run with the
    same random gradients, and the parameters must follow the reference's after every step."""

    steps = 4

    def run(self, exercise, student, case, arrays, rng, report):
        grads = [[rng.standard_normal(a.shape) for a in arrays.values()] for _ in range(self.steps)]
        self._trajectory(case, arrays, grads)           # once untimed: the first may compile numba kernels
        expected = self.timed(report, "seconds_reference", self._trajectory, case, arrays, grads)
        with Substitution().put(exercise, student):
            yours = self.timed(report, "seconds_yours", self._trajectory, case, arrays, grads)
        for step, (mine, theirs) in enumerate(zip(yours, expected), start=1):
            for name, y, e in zip(arrays, mine, theirs):
                problem = _mismatch(f"parameter {name} after step {step}", y, e, 1)
                if problem:
                    later = ("" if step == 1 else "\nhint: step 1 was right, so look at what the state carries "
                             "from one step to the next (a buffer, the step count)")
                    raise CaseFailed(problem + later)

    def _trajectory(self, case, arrays, grads):
        params = [Parameter(a.copy()) for a in arrays.values()]
        held = [p.array for p in params]
        optimizer = case.fn(params)
        trajectory = []
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = Tensor(g.copy())
            optimizer.step()
            if any(p.array is not a for p, a in zip(params, held)):
                raise CaseFailed("p.array was replaced by a new array: update it in place (p.array -= ...), "
                                 "since the model's layers hold that same array")
            trajectory.append([p.array.copy() for p in params])
        return trajectory
