"""python -m minicnn.train --tensorboard in a subprocess: the event files hold each epoch's curves,
lr, histograms and first-layer filters, and the graph; a resumed run continues the same curves; without the
tensorboard package the flag is a one-line usage error."""
import csv
import os
import subprocess
import sys

import pytest

from tests.cli.test_train_cases import TINY, assert_usage_error, folders, needs_data, train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_back(log_dir):
    events = EventAccumulator(log_dir, size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    events.Reload()
    return events


@needs_data
def test_a_resumed_run_continues_the_curves_it_logged(tmp_path):
    first = train(*TINY, "--out", tmp_path, "--tensorboard", "--no-progress")
    assert first.returncode == 0, first.stderr
    (run,) = folders(tmp_path)
    # no --tensorboard here: the run was started with it, so it goes on logging
    second = train("--resume", run, "--epochs", "2", "--no-progress")
    assert second.returncode == 0, second.stderr
    events = read_back(os.path.join(run, "tensorboard"))
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    for key, tag in (("train_loss", "loss/train"), ("val_top1", "top1/val"), ("lr", "lr")):
        points = events.Scalars(tag)
        assert [p.step for p in points] == [1, 2]
        assert [p.value for p in points] == pytest.approx([float(row[key]) for row in rows], rel=1e-6)
    tags = events.Tags()
    assert {"weights/features.0.weight", "gradients/features.0.weight"} <= set(tags["histograms"]), tags
    assert [e.step for e in events.Histograms("gradients/features.0.weight")] == [1, 2]
    assert tags["graph"]
    graph = {node.name: list(node.input) for node in events.Graph().node}
    assert graph["LeNet5/features/0/Conv2d_0"] == ["input/input.0", "LeNet5/features/0/weight",
                                                   "LeNet5/features/0/bias"]
    assert tags["images"] == ["filters/features.0"]          # LeNet-5's first convolution
    assert events.Images("filters/features.0")[-1].width >= 256        # enlarged to be seen


def without_tensorboard(*args):
    """python -m minicnn.train ARGS where the tensorboard package cannot be imported."""
    script = ("import runpy, sys\n"
              "sys.modules['tensorboard'] = None\n"     # the import fails, as without the extra
              f"sys.argv = ['minicnn.train', *{[str(a) for a in args]!r}]\n"
              "runpy.run_module('minicnn.train', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_without_tensorboard_the_flag_is_a_usage_error(tmp_path):
    assert_usage_error(without_tensorboard(*TINY, "--out", tmp_path, "--tensorboard"),
                       '--tensorboard: the tensorboard package is not installed: pip install -e ".[tensorboard]"')
    assert os.listdir(tmp_path) == []


@needs_data
def test_resuming_a_tensorboard_run_without_tensorboard_is_a_one_line_error(tmp_path):
    assert train(*TINY, "--out", tmp_path, "--tensorboard", "--no-progress").returncode == 0
    (run,) = folders(tmp_path)
    done = without_tensorboard("--resume", run, "--epochs", "2", "--no-progress")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert '--tensorboard: the tensorboard package is not installed: pip install -e ".[tensorboard]"' in done.stderr
