"""python -m minicnn.train as a user runs it, in a subprocess: each mistake a short message with
exit code 2 and nothing on disk, runs that never share a folder, resuming a folder, extending a
finished run, the non-terminal log, and a diverging run that says only what is true."""
import csv
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time

import pytest

import minicnn as mc
from minicnn import backend
from minicnn.data.datasets import DEBIAN_FASHION
from minicnn.train import run_folder

needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
TINY = ["--arch", "lenet5_28", "--subset", "160", "--epochs", "1", "--batch-size", "32"]


def command(module, *args, env=None, timeout=300):
    environ = {k: v for k, v in os.environ.items() if k != "MINICNN_DEVICE"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env={**environ, **(env or {})}, timeout=timeout)


def train(*args, **kwargs):
    return command("minicnn.train", *args, **kwargs)


def folders(out):
    return sorted(os.path.join(out, d) for d in os.listdir(out))


def assert_usage_error(done, *phrases):
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


@pytest.mark.parametrize("flag, value, rule", [
    ("--lr", "-1", "--lr must be > 0, got -1.0"),
    ("--lr", "nan", "--lr must be > 0, got nan"),
    ("--batch-size", "0", "--batch-size must be >= 1, got 0"),
    ("--momentum", "-0.5", "--momentum must be in [0, 1), got -0.5"),
    ("--weight-decay", "-1", "--weight-decay must be >= 0, got -1.0"),
    ("--label-smoothing", "1.5", "--label-smoothing must be in [0, 1), got 1.5"),
    ("--epochs", "0", "--epochs must be >= 1, got 0"),
    ("--subset", "0", "--subset must be >= 1, got 0"),
    ("--workers", "-1", "--workers must be >= 0, got -1"),
    ("--checkpoint-every", "-5", "--checkpoint-every must be >= 0 minutes"),
    ("--val-split", "0", "--val-split: must be a fraction in (0, 1) or a whole number of images >= 1, got '0'"),
    ("--val-split", "1.5", "got '1.5'"),
])
def test_a_bad_flag_is_a_short_message_before_anything_is_read(tmp_path, flag, value, rule):
    # No data here: a check that came after loading it would fail on the missing dataset instead.
    done = train("--arch", "lenet5", flag, value, "--out", tmp_path / "runs", env={"HOME": str(tmp_path)})
    assert_usage_error(done, rule)
    assert not os.path.exists(tmp_path / "runs")


def test_an_unknown_arch_suggests_the_nearest_names(tmp_path):
    done = train("--arch", "resnet2", "--out", tmp_path)
    assert_usage_error(done, "unknown --arch 'resnet2'; did you mean resnet20")
    assert_usage_error(train("--arch", "zzz", "--out", tmp_path), "unknown --arch 'zzz'; the models are: ")


def test_the_validation_split_must_leave_images_on_both_sides(tmp_path):
    done = train(*TINY, "--val-split", "160", "--out", tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--val-split 160 holds out 160 of the 160 training images" in done.stderr
    assert os.listdir(tmp_path) == []


def test_run_folders_are_unique_and_sort_by_time(tmp_path):
    now = time.time()
    made = [run_folder.create(tmp_path, "lenet5", now) for _ in range(3)]
    later = run_folder.create(tmp_path, "lenet5", now + 1)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    assert [os.path.basename(p) for p in made] == [f"lenet5-{stamp}", f"lenet5-{stamp}-01", f"lenet5-{stamp}-02"]
    assert sorted(made + [later]) == made + [later]


@needs_data
def test_parallel_runs_started_together_get_their_own_folders(tmp_path):
    runs = [subprocess.Popen([sys.executable, "-m", "minicnn.train", *TINY, "--subset", "64", "--lr", lr,
                              "--no-progress", "--out", str(tmp_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for lr in ("0.01", "0.02")]
    outs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    lrs = sorted(json.load(open(os.path.join(f, "config.json")))["lr"] for f in folders(tmp_path))
    assert lrs == [0.01, 0.02]
    assert all(not name.startswith(".") for f in folders(tmp_path) for name in os.listdir(f))  # no temporary files


@needs_data
def test_an_explicit_device_beats_minicnn_device_in_every_command(tmp_path):
    env = {"MINICNN_DEVICE": "tpu"}                   # a device no machine has: only --device can save the run
    done = train(*TINY, "--no-progress", "--device", "cpu", "--out", tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    (folder,) = folders(tmp_path)
    checkpoint = os.path.join(folder, "best.safetensors")
    image = tmp_path / "image.png"
    from PIL import Image
    Image.new("L", (28, 28)).save(image)
    for module, args in (("minicnn.evaluate", ["--checkpoint", checkpoint, "--subset", "32", "--no-progress"]),
                         ("minicnn.predict", ["--checkpoint", checkpoint, image]),
                         ("minicnn.summary", ["--arch", "lenet5"]), ("minicnn.demo", ["--steps", "1"])):
        done = command(module, *args, "--device", "cpu", env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (module, done.stderr)
        done = command(module, *args, env=env)                  # without --device the variable is used ...
        assert done.returncode == 1 and "Traceback" not in done.stderr, (module, done.stderr)
        assert "MINICNN_DEVICE=tpu (--device overrides it): unknown device 'tpu'" in done.stderr   # ... and named
    done = command("minicnn.viz", "graph", "--arch", "lenet5", "--out", tmp_path / "g.dot", env=env)
    assert done.returncode == 0, done.stderr                     # graphs are drawn on the CPU, whatever is set


@pytest.mark.skipif(backend.cuda_available(), reason="needs a machine without a GPU")
def test_minicnn_device_cuda_without_a_gpu_is_a_message_naming_the_variable(tmp_path):
    done = train(*TINY, "--out", tmp_path, env={"MINICNN_DEVICE": "cuda"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "minicnn train: MINICNN_DEVICE=cuda (--device overrides it): device 'cuda' is not available" in done.stderr


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished 1-epoch LeNet-5 run (cosine schedule: its lr reaches 0 at the end)."""
    out = tmp_path_factory.mktemp("runs")
    done = train(*TINY, "--no-progress", "--out", out)
    assert done.returncode == 0, done.stderr
    (folder,) = folders(out)
    return folder


@needs_data
def test_resume_with_a_conflicting_arch_or_recipe_flag_is_refused(one_epoch_run):
    done = train("--resume", one_epoch_run, "--epochs", "2", "--arch", "resnet20")
    assert_usage_error(done, "continues a lenet5_28 run as it was started", "--arch resnet20 (the run's: lenet5_28)",
                       "drop that flag, or start a new run")
    done = train("--resume", one_epoch_run, "--epochs", "2", "--lr", "0.1", "--batch-size", "32")   # 32: the same
    assert_usage_error(done, "--lr 0.1 (the run's: 0.05)")
    assert "--batch-size" not in done.stderr.splitlines()[-1]
    assert_usage_error(train("--resume", one_epoch_run, "--epochs", "2", "--out", "elsewhere"),
                       "--out elsewhere: the run being resumed is in",
                       "a resumed run stays in its own folder; drop --out")


@needs_data
def test_resume_with_another_models_weights_is_a_short_message(one_epoch_run, tmp_path):
    checkpoint = mc.load(os.path.join(one_epoch_run, "last.safetensors"))
    checkpoint["config"]["arch"] = "resnet20"                # the weights stay LeNet-5's
    mc.save(checkpoint, tmp_path / "last.safetensors")
    done = train("--resume", tmp_path, "--epochs", "2")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (message,) = [line for line in done.stderr.splitlines() if "do not fit" in line]
    assert "its weights do not fit a 'resnet20' model" in message and "missing" in message
    assert len(message) < 600                                 # a few names, not the 100-odd tensors
    assert sorted(os.listdir(tmp_path)) == ["last.safetensors"]


@needs_data
def test_resume_of_a_missing_folder_or_a_non_checkpoint_is_a_message(tmp_path):
    assert_usage_error(train("--resume", tmp_path), f"--resume {tmp_path}: this folder has no last.safetensors")
    mc.save({"weight": mc.tensor([1.0]).array}, tmp_path / "last.safetensors")
    done = train("--resume", tmp_path)
    assert done.returncode == 1 and "is not a checkpoint of python -m minicnn.train" in done.stderr


@needs_data
def test_extending_a_finished_run_rebuilds_its_schedule_and_says_so(one_epoch_run, tmp_path):
    done = train("--resume", one_epoch_run)
    assert_usage_error(done, "the run has finished its 1 epoch(s)",
                       f"python -m minicnn.train --resume {one_epoch_run} --epochs 2")
    assert_usage_error(train("--resume", one_epoch_run, "--epochs", "1"), "--epochs 1: the run has trained 1 epoch(s)")

    import shutil
    folder = shutil.copytree(one_epoch_run, tmp_path / "run")       # the fixture's run stays as it was
    done = train("--resume", folder, "--epochs", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (f"resuming {folder} at epoch 2 of 2, batch 1 of 4" in done.stdout
            and "--epochs 2: the cosine schedule was built for 1 epochs (lr 0 at epoch 2); rebuilt for 2: epoch 2 "
                "trains at lr 0.025, as if the run had started with --epochs 2" in done.stdout)
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    assert [float(r["lr"]) for r in rows] == [0.05, 0.025]          # not lr 0
    assert json.load(open(folder / "config.json"))["epochs"] == 2
    assert json.load(open(folder / "test.json"))["images"] == 160


@needs_data
@pytest.mark.filterwarnings("ignore:.*encountered:RuntimeWarning")
def test_a_diverging_run_says_only_what_is_true(tmp_path):
    done = train(*TINY, "--lr", "1e6", "--no-progress", "--out", tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "stopped: the training loss became" in done.stderr and "no checkpoint was saved yet" in done.stderr
    assert "kept" not in done.stderr
    (folder,) = folders(tmp_path)
    assert os.listdir(folder) == ["config.json"]


@needs_data
def test_in_a_log_file_progress_is_a_line_every_10_percent_not_every_step(tmp_path):
    done = train(*TINY, "--subset", "640", "--out", tmp_path)            # stderr is a pipe here, not a terminal
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("epoch 1/1: ")]
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("epoch 1/1: 18/18 (100%)")     # 18 steps
    assert "\r" not in done.stderr and all("run ETA" in line and "img/s" in line for line in lines)


@needs_data
def test_on_a_terminal_the_bar_shows_the_runs_eta(tmp_path):
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))     # tqdm sizes the bar to it
    run = subprocess.Popen([sys.executable, "-m", "minicnn.train", *TINY, "--out", str(tmp_path)],
                           stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:                                     # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert run.wait(timeout=300) == 0
    os.close(main)
    assert b"epoch 1/1" in seen and b"run ETA" in seen and b"\r" in seen      # a bar redrawn in place
