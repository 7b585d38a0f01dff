"""The exercise notebooks: committed as notebooks/make_exercise_notebooks.py builds them, and run
with the stubs (every check cell reports "not passed", cleanly) and with the reference solutions
in the stub cells (every check cell reports "passed")."""
import importlib.util
import pathlib

import pytest

from minicnn.exercises import EXERCISES

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_exercise_notebooks", ROOT / "notebooks" / "make_exercise_notebooks.py")
maker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(maker)


def test_every_exercise_is_in_a_notebook():
    assert {e.group for e in EXERCISES} == set(maker.GROUPS)


@pytest.mark.parametrize("group", maker.GROUPS)
def test_the_committed_notebook_is_the_built_one(group):
    assert maker.path(group).read_text(encoding="utf-8") == maker.text(maker.build(group)), \
        "run python notebooks/make_exercise_notebooks.py"


def check_outputs(notebook, tmp_path):
    """Run the notebook in a fresh python3 kernel; the printed report of each check cell, by exercise."""
    nbformat = pytest.importorskip("nbformat", reason="running notebooks needs nbformat (pip install -e '.[dev]')")
    nbclient = pytest.importorskip("nbclient", reason="running notebooks needs nbclient (pip install -e '.[dev]')")
    pytest.importorskip("ipykernel", reason="running notebooks needs ipykernel (pip install -e '.[dev]')")
    nb = nbformat.reads(maker.text(notebook), as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    reports = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("print(check("):
            name = cell.source.split('"')[1]
            reports[name] = "".join(output.get("text", "") for output in cell.outputs)
    return reports


@pytest.mark.parametrize("group", maker.GROUPS)
def test_with_the_stubs_every_check_fails_cleanly(group, tmp_path):
    reports = check_outputs(maker.build(group), tmp_path)
    assert sorted(reports) == sorted(e.name for e in EXERCISES if e.group == group)
    for name, report in reports.items():
        assert report.startswith(f"{name}: not passed") and "not written yet" in report, report


@pytest.mark.parametrize("group", maker.GROUPS)
def test_with_the_solutions_every_check_passes(group, tmp_path):
    reports = check_outputs(maker.build(group, solved=True), tmp_path)
    assert len(reports) == sum(e.group == group for e in EXERCISES)
    for name, report in reports.items():
        assert report.startswith(f"{name}: passed"), report
