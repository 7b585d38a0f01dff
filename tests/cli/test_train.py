"""The training command end to end on (a few hundred images of) the real Fashion-MNIST."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend, train
from minicnn.data.datasets import DEBIAN_FASHION
from tests.oracle import device_for

needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
QUICK = ["--arch", "lenet5_28", "--subset", "640", "--batch-size", "32", "--lr", "0.05", "--no-progress"]


def run_folder(out):
    (folder,) = [os.path.join(out, d) for d in os.listdir(out)]
    return folder


@needs_data
def test_short_run_writes_a_complete_run_folder(tmp_path, capsys):
    assert train.main(QUICK + ["--epochs", "2", "--out", str(tmp_path)]) == 0
    folder = run_folder(tmp_path)
    assert sorted(os.listdir(folder)) == ["best.safetensors", "config.json", "curves.png", "last.safetensors",
                                          "metrics.csv", "test.json"]
    rows = list(csv.DictReader(open(os.path.join(folder, "metrics.csv"))))
    assert list(rows[0]) == ["epoch", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr",
                             "images_per_s"]
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[-1]["val_top1"]) > 0.3   # chance is 0.1
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["arch"] == "lenet5_28" and config["input_size"] == [1, 28, 28] and config["epochs"] == 2
    assert config["schedule"] == "cosine" and "versions" in config and config["device_name"].startswith("cpu")
    assert (config["train_images"], config["val_images"], config["test_images"]) == (576, 64, 640)  # 10% held out
    tested = json.load(open(os.path.join(folder, "test.json")))
    best = mc.load(os.path.join(folder, "best.safetensors"))
    assert tested["epoch"] == best["epoch"] and tested["val_top1"] == max(float(r["val_top1"]) for r in rows)
    assert tested["images"] == 640 and 0.1 < tested["top1"] <= tested["top5"] and len(tested["per_class"]) == 10
    checkpoint = mc.load(os.path.join(folder, "best.safetensors"))
    model = mc.models.get("lenet5_28")
    model.load_state_dict(checkpoint["model"])
    assert checkpoint["epoch"] == 2 and checkpoint["config"]["classes"][9] == "Ankle boot"
    out = capsys.readouterr().out
    assert out.startswith("minicnn train: lenet5_28 on cpu") and "val loss" in out and "top-5" in out
    assert "576 training / 64 validation (held out) / 640 test images" in out
    assert f"test (640 images, best.safetensors = epoch {best['epoch']}" in out


@needs_data
def test_interrupted_and_resumed_run_ends_bit_identical(tmp_path, monkeypatch):
    args = QUICK + ["--arch", "resnet20", "--subset", "192", "--epochs", "2", "--batch-size", "32"]
    assert train.main(args + ["--eval-every", "5", "--out", str(tmp_path / "straight")]) == 0
    straight = mc.load(os.path.join(run_folder(tmp_path / "straight"), "last.safetensors"))

    real_forward, calls = mc.models.resnet.CifarResNet.forward, [0]

    def forward_with_ctrl_c(self, x):
        calls[0] += 1
        if calls[0] == 8:                      # Ctrl-C during the forward pass of epoch 2's third batch
            os.kill(os.getpid(), signal.SIGINT)    # (173 training images after validation's 19: 5 batches)
        return real_forward(self, x)

    monkeypatch.setattr(mc.models.resnet.CifarResNet, "forward", forward_with_ctrl_c)
    assert train.main(args + ["--eval-every", "5", "--out", str(tmp_path / "split")]) == 130
    monkeypatch.setattr(mc.models.resnet.CifarResNet, "forward", real_forward)
    last = os.path.join(run_folder(tmp_path / "split"), "last.safetensors")
    assert mc.load(last)["batch"] == 3 and mc.load(last)["epoch"] == 1       # that step was finished, then saved
    assert train.main(["--resume", last, "--no-progress"]) == 0
    resumed = mc.load(last)
    for name, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value, err_msg=name)
    for key in ("train_loss", "train_top1", "val_loss", "val_top1", "lr"):   # everything but the timing
        assert [h.get(key) for h in resumed["history"]] == [h.get(key) for h in straight["history"]], key


@needs_data
def test_ctrl_c_saves_a_loadable_checkpoint_and_says_how_to_resume(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "minicnn.train", "--arch", "lenet5_28", "--subset", "2000",
                              "--epochs", "100", "--no-progress", "--out", str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(os.path.exists(os.path.join(tmp_path, d, "last.safetensors"))
                                             for d in os.listdir(tmp_path)):
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Resume with:" in err and "--resume" in err
    checkpoint = mc.load(os.path.join(run_folder(tmp_path), "last.safetensors"))
    assert checkpoint["epoch"] >= 1


@needs_data
@pytest.mark.filterwarnings("ignore:.*encountered:RuntimeWarning")      # the overflow is the point
def test_a_diverging_run_stops_with_a_clear_message(tmp_path, capsys):
    assert train.main(QUICK + ["--epochs", "1", "--lr", "1e6", "--out", str(tmp_path)]) == 1
    assert "stopped: the training loss became" in capsys.readouterr().err


@needs_data
@pytest.mark.parametrize("asked, profiled", [(2, 2), (10, 3)])     # 144 images held in: 4 steps, a warm-up and 3
def test_profile_steps_writes_a_profile_of_the_steps_after_the_warm_up(tmp_path, asked, profiled, xp):
    device = device_for(xp)
    args = QUICK + ["--subset", "160", "--epochs", "1", "--profile-steps", str(asked), "--out", str(tmp_path),
                    "--device", device]
    assert train.main(args) == 0
    folder = run_folder(tmp_path)
    assert {"profile.txt", "profile.json", "trace.json"} <= set(os.listdir(folder))
    text = open(os.path.join(folder, "profile.txt")).read()
    assert text.startswith(f"{profiled} training steps of lenet5_28, batch 32, on {backend.device_name(device)}\n")
    assert "Conv2d.forward" in text and "features.0" in text
    records = json.load(open(os.path.join(folder, "profile.json")))["records"]
    count = lambda op, phase: sum(r["op"] == op and r["phase"] == phase for r in records)  # noqa: E731
    assert count("Conv2d", "forward") == count("Conv2d", "backward") == 2 * profiled     # two convs a step
    assert count("CrossEntropy", "forward") == profiled
    assert {r["module"] for r in records if r["op"] == "Conv2d"} == {"features.0", "features.3"}
    assert all(r["input_shapes"][0][0] == 32 for r in records if r["op"] == "Conv2d" and r["phase"] == "forward")
    events = json.load(open(os.path.join(folder, "trace.json")))["traceEvents"]
    stacks = {}
    for e in events:
        stack = stacks.setdefault(e["tid"], [])
        if e["ph"] == "B":
            stack.append(e["name"])
        else:
            assert stack and stack.pop() == e["name"], e
    assert not any(stacks.values())
    assert sum(e["ph"] == "B" and e.get("cat") in ("forward", "backward") for e in events) == len(records)


@needs_data
def test_profile_steps_in_a_run_of_one_step_says_nothing_was_profiled(tmp_path, capsys):
    args = QUICK + ["--subset", "40", "--epochs", "1", "--profile-steps", "3", "--out", str(tmp_path)]
    assert train.main(args) == 0
    assert "--profile-steps: nothing profiled, the run made 1 step(s)" in capsys.readouterr().err
    assert "profile.txt" not in os.listdir(run_folder(tmp_path))


def test_an_unusable_device_is_an_exit_message(tmp_path):
    with pytest.raises(SystemExit, match="minicnn train: --device tpu: unknown device"):
        train.main(["--arch", "lenet5_28", "--device", "tpu", "--out", str(tmp_path)])
    if not backend.cuda_available():
        with pytest.raises(SystemExit, match="minicnn train: --device cuda: device 'cuda' is not available"):
            train.main(["--arch", "lenet5_28", "--device", "cuda", "--out", str(tmp_path)])


def test_missing_and_corrupted_data_are_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    with pytest.raises(SystemExit, match="mnist: data files not found.*Nothing is downloaded"):
        train.main(["--arch", "lenet5_28", "--dataset", "mnist", "--out", str(tmp_path)])
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(SystemExit, match="train-images-idx3-ubyte is truncated or corrupted"):
        train.main(["--arch", "lenet5_28", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path)])


@needs_data
def test_unwritable_output_fails_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="cannot write to the run folder"):
        train.main(QUICK + ["--out", str(blocker)])


def test_every_architecture_has_a_recipe_and_an_input_size():
    from minicnn import recipes
    for arch in mc.models.list():
        config = recipes.defaults(arch)
        assert config["optimizer"] in train.OPTIMIZERS and config["schedule"] in train.SCHEDULES
        size = recipes.input_size(arch, 28)
        assert size >= mc.models.info(arch).min_size
    assert recipes.input_size("lenet5_28", 28) == 28 and recipes.input_size("resnet20", 28) == 32
    assert recipes.input_size("vgg16", 28) == 32 and recipes.input_size("googlenet", 28) == 224


class TwoHeads(mc.nn.Module):
    """A classifier with one auxiliary head, as GoogLeNet has two: (logits, aux logits) in training."""

    def __init__(self):
        super().__init__()
        self.main, self.aux = mc.nn.Linear(784, 10), mc.nn.Linear(784, 10)
        self.aux_logits = True

    def forward(self, x):
        x = x.reshape((x.shape[0], -1))
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


def test_auxiliary_losses_are_reported_apart_from_the_main_loss(tmp_path):
    from minicnn.train.metrics import epoch_line, write_metrics
    from tests.train import tiny

    trainer = tiny.trainer(tmp_path, "--aux-weight", "0.3", "--batch-size", "32", train_images=96)
    trainer.model = TwoHeads()
    trainer.has_aux = True
    trainer.optimizer = mc.optim.SGD(trainer.model.parameters(), lr=0.0)
    x, y = next(iter(trainer.train_loader))
    with mc.no_grad():
        main_loss = trainer.loss_fn(trainer.model.main(x.reshape((32, -1))), y).item()
        aux_loss = trainer.loss_fn(trainer.model.aux(x.reshape((32, -1))), y).item()
    loss_sum, aux_sum, _, n = trainer.train_step(x, y).tolist()     # sums over the batch of 32
    assert n == 32
    assert loss_sum / 32 == pytest.approx(main_loss, rel=1e-6) and aux_sum / 32 == pytest.approx(0.3 * aux_loss, rel=1e-6)
    metrics = trainer.train_epoch()
    assert {"train_loss", "train_aux_loss"} <= set(metrics) and metrics["train_aux_loss"] > 0
    metrics.update(epoch=1, lr=0.0)
    assert "train loss " + f"{metrics['train_loss']:.4f} (+ aux {metrics['train_aux_loss']:.4f})" in epoch_line(metrics)
    write_metrics([metrics], tmp_path / "metrics.csv")
    header = open(tmp_path / "metrics.csv").readline().strip().split(",")
    assert header == ["epoch", "train_loss", "train_aux_loss", "train_top1", "lr", "images_per_s"]
