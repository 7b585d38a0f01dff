"""The exercise files, made from the reference source itself: a stub and the solution.

Nothing here copies op code. ``inspect`` finds the class or function under exercise in its
module, ``ast`` finds the methods to blank and the names the code uses, and the file is written
from those pieces:

    <the exercise's title, the module's docstring (the maths) and a hint>
    <the module's imports that the code uses, plus its own helpers, imported from it>
    <the class or function, exactly as in minicnn/, each blanked body replaced by one raise>

The solution is the same file with nothing blanked, so a solution put in place of a stub is
the reference, line for line.
"""
import ast
import importlib
import inspect
import textwrap

__all__ = ["reference", "stub_source", "solution_source", "introduction", "code", "NOT_WRITTEN"]

# The line that stands for a body to write. The grader recognises the error it raises.
NOT_WRITTEN = "raise NotImplementedError"


def reference(exercise):
    """The object under exercise, e.g. the class ``minicnn.ops.conv.Conv2d``."""
    module_name, _, name = exercise.target.partition(":")
    return getattr(importlib.import_module(module_name), name)


def stub_source(exercise):
    """The file ``start`` writes: the code with the body of each member in ``exercise.blank`` replaced."""
    return f'"""{introduction(exercise)}\n"""\n{code(exercise, blanked=True)}'


def solution_source(exercise):
    """The file ``solution`` shows: the same code, nothing blanked."""
    return f'"""{introduction(exercise)}\n"""\n{code(exercise, blanked=False)}'


def introduction(exercise):
    """What the student reads first: the task, the hint, and the maths from the module's docstring."""
    module = inspect.getmodule(reference(exercise))
    return (f"Exercise {exercise.name} ({exercise.level}): {exercise.title}\n\n"
            f"{textwrap.fill('Hint: ' + exercise.hint, 100)}\n\n"
            f"Check it with:  python -m minicnn.exercises check {exercise.name}\n\n"
            f"From {module.__name__}:\n\n{inspect.getdoc(module)}")


def code(exercise, blanked):
    """The imports the code needs, then the class or function, blanked or not."""
    obj = reference(exercise)
    source = inspect.getsource(obj)
    return f"{_imports(inspect.getmodule(obj), obj)}\n\n\n{_blank(source, exercise) if blanked else source}"


def _blank(code, exercise):
    """``code`` with the body of every member named in ``exercise.blank`` replaced by NOT_WRITTEN
    (a docstring stays: it says what the member returns)."""
    lines = code.splitlines()
    tree = ast.parse(code)
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and _qualified(tree, node) in exercise.blank:
            first = node.body[0]
            has_docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                and isinstance(first.value.value, str)
            start = first.end_lineno if has_docstring else _header_end(lines, node)
            indent = " " * (node.col_offset + 4)
            message = f'"exercise {exercise.name}: write {_qualified(tree, node)}"'
            spans.append((start, node.end_lineno, f"{indent}{NOT_WRITTEN}({message})"))
    missing = set(exercise.blank) - {_qualified(tree, n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    if missing:
        raise LookupError(f"exercise {exercise.name}: {', '.join(sorted(missing))} not found in {exercise.target}")
    for start, end, replacement in sorted(spans, reverse=True):     # from the bottom: line numbers stay valid
        lines[start:end] = [replacement]
    return "\n".join(lines) + "\n"


def _qualified(tree, target):
    """'Conv2d.backward' for a method, 'backward' for a module-level function."""
    for node in tree.body:
        if node is target:
            return node.name
        if isinstance(node, ast.ClassDef) and target in node.body:
            return f"{node.name}.{target.name}"
    return target.name


def _header_end(lines, function):
    """The index of the first body line of ``function`` (lines is 0-based; ast is 1-based): after
    the ``def ...:`` header, which may span lines, and before any comment that opens the body."""
    end = function.body[0].lineno - 1
    while end > function.lineno and lines[end - 1].strip().startswith("#"):
        end -= 1
    return end


def _imports(module, obj):
    """Import lines for the names ``obj``'s source uses: the module's own import statements, cut
    down to those names, and ``from <module> import ...`` for its helpers defined there."""
    used = {node.id for node in ast.walk(ast.parse(inspect.getsource(obj))) if isinstance(node, ast.Name)}
    tree = ast.parse(inspect.getsource(module))
    lines, imported = [], set()
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        aliases = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
        if not aliases:
            continue
        imported |= {a.asname or a.name.split(".")[0] for a in aliases}
        names = ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in aliases)
        lines.append(f"import {names}" if isinstance(node, ast.Import) else f"from {node.module} import {names}")
    local = sorted(name for name in used - imported - {obj.__name__}
                   if name in vars(module) and not name.startswith("__") and not inspect.ismodule(vars(module)[name]))
    if local:
        lines.append(f"from {module.__name__} import {', '.join(local)}")
    return "\n".join(lines)
