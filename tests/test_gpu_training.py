"""Training on a GPU without making it wait: the host reads device values once per READ_EVERY steps.

These run on CuPy: a real GPU, or the fake one (``PYTHONPATH=tests/fakecupy pytest -m gpu``),
which counts every host synchronisation and where it came from.
"""
import math
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim, train
from minicnn.data.datasets import DEBIAN_FASHION
from minicnn.evaluate import predict_log_probs
from minicnn.train.epoch_sums import READ_EVERY

pytestmark = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="Fashion-MNIST is not installed "
                                "(apt-get install dataset-fashion-mnist)")


def _trainer(tmp_path, *flags):
    args = ["--arch", "lenet5_28", "--device", "cuda", "--subset", "400", "--batch-size", "16", "--epochs", "1",
            "--no-progress", "--out", str(tmp_path), *flags]
    config = {**train.resolve(train.build_parser().parse_args(args)), "device": "cuda:0"}
    data = train.build_loaders(config, "cuda:0")
    return train.Trainer({**config, **data.facts, "world_size": 1}, data, str(tmp_path))


def _host_syncs(cupy):
    if not hasattr(cupy, "fake"):
        pytest.skip("counting host synchronisations needs the fake CuPy of tests/fakecupy")
    return cupy.fake.host_syncs()


@pytest.mark.parametrize("flags", [(), ("--clip", "1.0", "--optimizer", "adam")], ids=["sgd", "clip-adam"])
def test_a_training_step_reads_nothing_and_an_epoch_reads_once_per_read_every_steps(cupy, tmp_path, flags):
    trainer = _trainer(tmp_path, *flags)
    x, y = next(iter(trainer.train_loader))
    with _host_syncs(cupy) as syncs:
        sums = trainer.train_step(x, y)
    assert syncs.count == 0, syncs.places
    assert type(sums) is cupy.ndarray and sums.shape == (4,)
    steps = len(trainer.train_loader)
    with _host_syncs(cupy) as syncs:
        metrics = trainer.train_epoch()
    assert syncs.count == math.ceil(steps / READ_EVERY) <= steps, syncs.places
    assert trainer.running["images"] == 0 and math.isfinite(metrics["train_loss"])
    assert 0 <= metrics["train_top1"] <= 1
    with _host_syncs(cupy) as syncs:
        val = trainer.validate()
    assert syncs.count == 1, syncs.places
    assert set(val) == {"val_loss", "val_top1", "val_top5"} and val["val_top1"] <= val["val_top5"]


def test_evaluation_copies_to_the_host_once_at_the_end(cupy, tmp_path):
    trainer = _trainer(tmp_path)
    assert len(trainer.val_loader) > 1
    with _host_syncs(cupy) as syncs:
        log_probs, labels = predict_log_probs(trainer.model, trainer.val_loader, ten_crop=False)
    assert syncs.count == 2, syncs.places                       # the log-probabilities and the labels
    assert type(log_probs) is np.ndarray and log_probs.shape == (len(labels), 10)


def test_the_epoch_sums_equal_the_per_step_values(cupy, tmp_path):
    """What the device sums hold is what reading every step would have given."""
    trainer = _trainer(tmp_path)
    trainer.optimizer.param_groups[0]["lr"] = 0.0         # the same weights at every step
    batches = list(trainer.train_loader)
    expected = np.zeros(4)
    for x, y in batches:
        expected += trainer.train_step(x, y).get()
    metrics = trainer.train_epoch()
    images = sum(len(y) for _, y in batches)
    assert expected[3] == images
    assert metrics["train_loss"] == pytest.approx(expected[0] / images, rel=1e-6)
    assert metrics["train_top1"] == pytest.approx(expected[2] / images, rel=1e-12)


def test_a_nan_loss_stops_the_run_naming_the_batches_it_came_from(cupy, tmp_path):
    trainer = _trainer(tmp_path)
    trainer.model.classifier[-1].weight.array[...] = cupy.nan
    with pytest.raises(FloatingPointError, match=rf"loss became nan at epoch 1, one of batches 1-{READ_EVERY}$"):
        trainer.train_epoch()


def test_a_run_resumed_on_the_device_continues_bit_exact(cupy, tmp_path):
    """Dropout draws its masks from the device stream; the checkpoint carries that stream's state."""
    def trainer_with_dropout():
        trainer = _trainer(tmp_path, "--schedule", "none")
        mc.manual_seed(1)
        trainer.model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Dropout(0.5),
                                      nn.Linear(32, 10)).to("cuda")
        trainer.optimizer = optim.SGD(trainer.model.parameters(), lr=0.05, momentum=0.9)
        return trainer

    def train_on(trainer, steps):
        trainer.model.train()
        for x, y in steps:
            trainer.train_step(x, y)
        return {k: v.numpy() for k, v in trainer.model.state_dict().items()}

    first = trainer_with_dropout()
    batches = list(first.train_loader)[:6]
    train_on(first, batches[:3])
    path = os.path.join(tmp_path, "last.safetensors")
    mc.save(first.state(), path)
    straight = train_on(first, batches[3:])

    resumed = trainer_with_dropout()
    mc.manual_seed(99)                                  # a new process: its streams are anywhere
    resumed.restore(path)
    for name, value in train_on(resumed, batches[3:]).items():
        np.testing.assert_array_equal(value, straight[name], err_msg=name)

    without_streams = trainer_with_dropout()            # the same, with every state but the random one
    checkpoint = mc.load(path)
    without_streams.model.load_state_dict(checkpoint["model"])
    without_streams.optimizer.load_state_dict(checkpoint["optimizer"])
    mc.manual_seed(99)
    assert not np.array_equal(train_on(without_streams, batches[3:])["4.weight"], straight["4.weight"])

