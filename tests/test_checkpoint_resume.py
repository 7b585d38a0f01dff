"""A training run saved mid-way (model, optimiser, schedule, epoch) and resumed from the
safetensors checkpoint continues exactly as if it had never stopped: by hand, and with the training
command stopped by SIGTERM or SIGHUP, or killed after a timed checkpoint."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim
from minicnn.data.datasets import DEBIAN_FASHION


def build():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5], gamma=0.1)
    return model, opt, sched


def train(model, opt, sched, steps, data):
    for x, y in data[:steps]:
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(mc.Tensor(x)), y).backward()
        opt.step()
        sched.step()


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((4, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 4)) for _ in range(8)]
    straight = build()
    train(*straight, 8, data)

    first = build()
    train(*first, 4, data)
    path = tmp_path / "ckpt.safetensors"
    model, opt, sched = first
    mc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "epoch": 4}, path)

    model, opt, sched = build()
    checkpoint = mc.load(path)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    sched.load_state_dict(checkpoint["scheduler"])
    assert checkpoint["epoch"] == 4
    train(model, opt, sched, 4, data[4:])
    for (name, a), b in zip(model.state_dict().items(), straight[0].state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert opt.param_groups[0]["lr"] == straight[1].param_groups[0]["lr"]


# ---- the training command, stopped by a signal or killed, then resumed (subprocesses) -----------
RUN = ["--arch", "lenet5_28", "--subset", "640", "--epochs", "2", "--batch-size", "32"]      # 18 steps an epoch
needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def test_the_trainer_restores_both_random_streams_and_reads_older_checkpoints(tmp_path):
    from tests.train import tiny

    trainer = tiny.trainer(tmp_path)
    mc.random.generator().random(10)
    moved = {**mc.random.get_state(), "device": {"seed": 0, "offset": 40}}   # as after GPU draws
    mc.random.set_state(moved)
    state = trainer.state()
    mc.save(state, tmp_path / "now.safetensors")
    mc.save({**state, "rng": state["rng"]["cpu"]}, tmp_path / "before.safetensors")   # "rng" was NumPy's state

    tiny.trainer(tmp_path).restore(tmp_path / "now.safetensors")
    assert mc.random.get_state() == moved
    tiny.trainer(tmp_path).restore(tmp_path / "before.safetensors")
    assert mc.random.get_state() == {"cpu": moved["cpu"], "device": {"seed": 0, "offset": 0}}


def start(*args):
    """python -m minicnn.train with stderr on a pipe: progress comes as lines, about every 10% of an epoch."""
    return subprocess.Popen([sys.executable, "-m", "minicnn.train", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_progress(child):
    """Read stderr up to the first progress line of epoch 1 (after its second step); returns what was read."""
    read = []
    for line in child.stderr:
        read.append(line)
        if line.startswith("epoch 1/2: "):
            return read
    raise AssertionError("no progress line: " + "".join(read))


def the_folder(out):
    (name,) = os.listdir(out)
    return os.path.join(out, name)


def assert_same_run(folder, reference):
    """The weights bit for bit, every epoch's numbers (but timing) and the test score."""
    got, want = (mc.load(os.path.join(f, "last.safetensors")) for f in (folder, reference))
    for name, value in want["model"].items():
        np.testing.assert_array_equal(got["model"][name], value, err_msg=name)
    for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr"):
        assert [h[key] for h in got["history"]] == [h[key] for h in want["history"]], key
    tested = [json.load(open(os.path.join(f, "test.json"))) for f in (folder, reference)]
    assert tested[0]["top1"] == tested[1]["top1"] and tested[0]["loss"] == tested[1]["loss"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    done = subprocess.run([sys.executable, "-m", "minicnn.train", *RUN, "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return the_folder(out)


@needs_data
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_run_stopped_by_a_signal_mid_epoch_and_resumed_is_bit_identical(uninterrupted, tmp_path, signum):
    child = start(*RUN, "--out", tmp_path)
    wait_for_progress(child)
    child.send_signal(signum)
    out, err = child.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert child.returncode == 128 + signum and "Traceback" not in err, err
    folder = the_folder(tmp_path)
    assert f"{name}: saving a checkpoint after this step" in err
    assert f"Resume with:\n  python -m minicnn.train --resume {folder}" in err
    checkpoint = mc.load(os.path.join(folder, "last.safetensors"))
    assert checkpoint["epoch"] == 0 and 2 <= checkpoint["batch"] < 18          # inside epoch 1
    assert "test.json" not in os.listdir(folder)                                # only a finished run is tested

    resumed = start("--resume", folder)                  # the folder is enough
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    batch = checkpoint["batch"]
    assert f"resuming {folder} at epoch 1 of 2, batch {batch + 1} of 18" in out
    first = next(line for line in err.splitlines() if line.startswith("epoch 1/2: "))
    assert int(first.split()[2].split("/")[0]) > batch        # the bar starts where the run stopped
    assert_same_run(folder, uninterrupted)


@needs_data
def test_a_killed_run_loses_at_most_the_time_since_its_last_timed_checkpoint(uninterrupted, tmp_path):
    child = start(*RUN, "--checkpoint-every", "0.0005", "--out", tmp_path)       # every 0.03 s: after each step
    wait_for_progress(child)
    child.kill()                                                                   # SIGKILL: nothing runs after it
    child.communicate(timeout=60)
    folder = the_folder(tmp_path)
    checkpoint = mc.load(os.path.join(folder, "last.safetensors"))
    assert checkpoint["epoch"] == 0 and checkpoint["batch"] >= 1                  # saved inside epoch 1
    resumed = subprocess.run([sys.executable, "-m", "minicnn.train", "--resume", folder, "--no-progress"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(folder, uninterrupted)
