"""The student's folder: one file per exercise (NAME.py) and a record of attempts and passes.

The record, ``.progress.json`` in the same folder, holds for each exercise the number of
``check`` runs and the SHA-256 of the file's text when it last passed. A file counts as passed
only while its text is unchanged since then, so ``use`` never runs code that was edited after
it was graded.
"""
import hashlib
import importlib.util
import json
import os

__all__ = ["DEFAULT_DIR", "Workspace", "ExerciseError"]

DEFAULT_DIR = "minicnn-exercises"


class ExerciseError(Exception):
    """A problem the student can fix (a missing file, a syntax error); the message says how."""


class Workspace:
    def __init__(self, folder=DEFAULT_DIR):
        self.folder = folder
        self.record_path = os.path.join(folder, ".progress.json")

    def path(self, name):
        return os.path.join(self.folder, f"{name}.py")

    def write(self, name, text, force=False):
        """Write the exercise file; an existing one is the student's work and stays unless ``force``."""
        path = self.path(name)
        if os.path.exists(path) and not force:
            raise ExerciseError(f"{path} exists already (your work is kept); check it with "
                                f"`python -m minicnn.exercises check {name}`, or add --force to start again")
        os.makedirs(self.folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def load(self, name):
        """Run the student's file as a module; returns its namespace (a dict)."""
        path = self.path(name)
        if not os.path.isfile(path):
            raise ExerciseError(f"no file {path}: start with `python -m minicnn.exercises start {name}`"
                                + (f" --dir {self.folder}" if self.folder != DEFAULT_DIR else ""))
        spec = importlib.util.spec_from_file_location(f"minicnn_exercise_{name}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            raise ExerciseError(f"{path}, line {e.lineno}: {e.msg}") from None
        except Exception as e:                  # the student's top-level code: report it, no traceback
            raise ExerciseError(f"{path} failed to load: {type(e).__name__}: {e}") from None
        return vars(module)

    def status(self, name):
        """'not started', 'started', 'passed' or 'changed since it passed'."""
        if not os.path.isfile(self.path(name)):
            return "not started"
        passed = self._record().get(name, {}).get("passed")
        if passed is None:
            return "started"
        return "passed" if passed == self._digest(name) else "changed since it passed"

    def attempts(self, name):
        return self._record().get(name, {}).get("attempts", 0)

    def note_attempt(self, name, passed):
        record = self._record()
        entry = record.setdefault(name, {})
        entry["attempts"] = entry.get("attempts", 0) + 1
        entry["passed"] = self._digest(name) if passed else None
        with open(self.record_path, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)

    def _digest(self, name):
        with open(self.path(name), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def _record(self):
        try:
            with open(self.record_path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}
