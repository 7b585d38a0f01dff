"""The checkpoint's one list of fields: what state() writes, what read() checks field by field,
what restore() refuses, and what resuming allows."""
import argparse
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn.serialization import CheckpointError
from minicnn.train import TrainError, UsageError, build_parser, checkpoint
from tests.train import tiny


@pytest.fixture
def saved(tmp_path):
    """A trainer's checkpoint after one epoch, and the path it is saved at."""
    trainer = tiny.trainer(tmp_path)
    assert trainer.run() == 0
    return tmp_path / "last.safetensors"


def test_state_writes_exactly_the_fields_read_checks(tmp_path):
    assert list(tiny.trainer(tmp_path).state()) == list(checkpoint.FIELDS)


# field -> a damaged value, and the words that name what is wrong
DAMAGED = {
    "config": ({"arch": "lenet5_28"}, "'config' has no dataset"),
    "model": ({"features.0.weight": "not an array"}, "'model' is not a dict of named arrays"),
    "optimizer": ({"state": {}}, "'optimizer' is not an optimizer state dict"),
    "schedule": ([1, 2], "'schedule' is not a dict"),
    "epoch": (-1, "'epoch' is not an int >= 0"),
    "batch": (1.5, "'batch' is not an int >= 0"),
    "running": ({"images": 3}, "'running' is not a dict of the numbers images, loss_sum, aux_sum, correct"),
    "best_top1": ("high", "'best_top1' is not a number"),
    "history": ([{"epoch": "one"}], "'history' is not a list of per-epoch dicts of numbers"),
    "rng": ({"cpu": {"bit_generator": "MT19937"}, "device": {"seed": 0, "offset": 0}},
            "'rng' does not hold the random state of NumPy's PCG64"),
}


def test_every_field_has_a_damage_case():
    assert set(DAMAGED) == set(checkpoint.FIELDS)


@pytest.mark.parametrize("field", list(DAMAGED))
def test_read_checks_every_field_before_use(saved, field):
    content = mc.load(saved)
    content[field], words = DAMAGED[field]
    mc.save(content, saved)
    with pytest.raises(CheckpointError, match=f"checkpoint {saved} is damaged: .*{words[:30]}"):
        checkpoint.read(saved)


def test_a_missing_field_says_it_is_not_a_training_checkpoint(saved):
    content = mc.load(saved)
    del content["best_top1"]
    mc.save(content, saved)
    with pytest.raises(CheckpointError, match="is not a checkpoint of python -m minicnn.train .it has no best_top1."):
        checkpoint.read(saved)


def test_config_values_are_checked_too(saved):
    content = mc.load(saved)
    content["config"].update(arch="lenet9", epochs=0, input_size=[1, 28])
    mc.save(content, saved)
    with pytest.raises(CheckpointError) as refused:
        checkpoint.read(saved)
    assert all(words in str(refused.value) for words in ("config.arch is 'lenet9', expected a registered model",
                                                         "config.epochs is 0", "config.input_size is [1, 28]"))


def test_restore_refuses_a_schedule_or_optimizer_that_does_not_fit(saved, tmp_path):
    content = checkpoint.read(saved)
    bad_schedule = {**content, "schedule": {**content["schedule"], "T_max": "long"}}
    with pytest.raises(TrainError, match=r"'schedule.T_max' is 'long', expected a int"):
        checkpoint.restore(tiny.trainer(tmp_path), saved, bad_schedule)
    optimizer = content["optimizer"]
    state = {**optimizer["state"], 0: {"momentum_buffer": np.zeros(3, np.float32)}}
    with pytest.raises(TrainError, match="'optimizer' does not fit the model: .*has shape \\(3,\\)"):
        checkpoint.restore(tiny.trainer(tmp_path), saved, {**content, "optimizer": {**optimizer, "state": state}})


def args_of(*flags):
    return build_parser().parse_args(list(map(str, flags)))


def test_resume_accepts_the_original_flags_and_its_own_out_but_not_real_conflicts(saved, tmp_path):
    config = checkpoint.read(saved)["config"]
    folder = str(tmp_path)
    same = checkpoint.resume_config(config, args_of(*tiny.FLAGS, "--out", tmp_path.parent / tmp_path.name / "..",
                                                    "--resume", folder), folder)
    assert same["lr"] == config["lr"] and same["resume"] == folder
    with pytest.raises(UsageError, match="--out elsewhere: the run being resumed is in"):
        checkpoint.resume_config(config, args_of("--out", "elsewhere", "--resume", folder), folder)
    with pytest.raises(UsageError, match=r"--lr 0.5 \(the run's: 0.05\) differs from it"):
        checkpoint.resume_config(config, args_of(*tiny.FLAGS, "--lr", "0.5", "--resume", folder), folder)


def test_what_is_left_to_do_after_the_last_epoch(saved, tmp_path):
    content = checkpoint.read(saved)
    config = content["config"]
    args = argparse.Namespace(resume=str(tmp_path), epochs=None)
    with pytest.raises(UsageError, match="the run has finished its 1 epoch"):
        checkpoint.left_to_do(content, config, args, str(tmp_path))
    os.remove(tmp_path / "test.json")                       # stopped while the test set was scored
    assert checkpoint.left_to_do(content, config, args, str(tmp_path)) == "test"
    assert checkpoint.left_to_do(content, {**config, "epochs": 2}, args, str(tmp_path)) == "train"
    with pytest.raises(UsageError, match="--epochs 1: the run has trained 1 epoch"):
        checkpoint.left_to_do(content, config, argparse.Namespace(resume="x", epochs=1), str(tmp_path))


def test_checkpoint_of_a_folder_without_one_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="this folder has no last.safetensors"):
        checkpoint.checkpoint_of(str(tmp_path))
