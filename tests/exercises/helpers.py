"""Exercise files as a student would have them: the stub with a body of one's own filled in."""
import re
import textwrap

from minicnn.exercises.source import NOT_WRITTEN, stub_source
from tests.exercises.student_code import ALTERNATIVES


def filled_in(exercise, bodies):
    """The stub of ``exercise`` with each blanked member's raise replaced by ``bodies[member]``."""
    text = stub_source(exercise)
    for member, body in bodies.items():
        line = re.compile(rf'^( *){re.escape(NOT_WRITTEN)}\("exercise {exercise.name}: write {re.escape(member)}"\)$',
                          re.MULTILINE)
        indent = line.search(text).group(1)
        text = line.sub(lambda m: textwrap.indent(textwrap.dedent(body).strip("\n"), indent), text)
    return text


def alternative(exercise):
    """The correct solution of tests/exercises/student_code.py, written unlike the reference."""
    return filled_in(exercise, ALTERNATIVES[exercise.name])
