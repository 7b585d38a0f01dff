"""The training library on a few random images in memory: a whole run, what it writes, and that
it raises TrainError instead of exiting."""
import ast
import copy
import csv
import errno
import json
import os
import pathlib

import pytest

import minicnn as mc
from minicnn import train
from minicnn.train import TrainError, UsageError, loaders_for, options
from tests.train import tiny

TRAIN_PACKAGE = pathlib.Path(train.__file__).parent


def test_a_run_on_data_in_memory_writes_its_folder_and_leaves_the_config_alone(tmp_path):
    trainer = tiny.trainer(tmp_path, "--epochs", "2")
    config = copy.deepcopy(trainer.config)
    assert trainer.run() == 0
    assert trainer.config == config                              # nothing derived is written back
    assert sorted(os.listdir(tmp_path)) == ["best.safetensors", "config.json", "curves.png", "last.safetensors",
                                            "metrics.csv", "test.json"]
    assert json.load(open(tmp_path / "test.json"))["images"] == 32
    assert [row["epoch"] for row in csv.DictReader(open(tmp_path / "metrics.csv"))] == ["1", "2"]
    last = mc.load(tmp_path / "last.safetensors")
    assert last["epoch"] == 2 and last["config"]["train_images"] == 72 and last["config"]["val_images"] == 8


def test_the_library_never_exits_only_the_command_does():
    for path in TRAIN_PACKAGE.glob("*.py"):
        if path.name in ("command.py", "__main__.py"):
            continue
        nodes = list(ast.walk(ast.parse(path.read_text())))
        names = {node.id for node in nodes if isinstance(node, ast.Name)}
        attributes = {node.attr for node in nodes if isinstance(node, ast.Attribute)}
        assert "SystemExit" not in names and not attributes & {"exit", "_exit", "error"}, path.name  # parser.error
    assert "SystemExit" not in (TRAIN_PACKAGE / "__main__.py").read_text()


def test_impossible_splits_and_batches_are_train_errors():
    config = tiny.config_of("--val-split", "40")
    with pytest.raises(TrainError, match="--val-split 40 holds out 40 of the 40 training images"):
        loaders_for(tiny.images(40), tiny.images(8), config)
    with pytest.raises(TrainError, match=r"--batch-size 64 x 1 rank\(s\) is larger than the 36 training images"):
        loaders_for(tiny.images(40), tiny.images(8), tiny.config_of("--batch-size", "64"))


def test_bad_flags_are_usage_errors_before_anything_is_read():
    parse = options.build_parser().parse_args
    with pytest.raises(UsageError, match="--lr must be > 0, got -1.0"):
        options.check(parse(["--arch", "lenet5", "--lr", "-1"]))
    with pytest.raises(UsageError, match="unknown --arch 'lenet9'"):
        options.check(parse(["--arch", "lenet9"]))
    assert UsageError.exit_code == 2 and TrainError.exit_code == 1


def test_a_full_disk_during_a_save_names_the_file_and_what_is_on_disk(tmp_path, monkeypatch):
    # Injected: the third checkpoint save (epoch 2's first) finds the disk full.
    trainer = tiny.trainer(tmp_path, "--epochs", "2", "--lr", "0.5")
    saves, real_save = [], mc.save

    def save(obj, path):
        saves.append(os.path.basename(path))
        if len(saves) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_save(obj, path)

    monkeypatch.setattr(mc, "save", save)
    with pytest.raises(TrainError) as failed:
        trainer.run()
    message = str(failed.value)
    assert message.startswith(f"cannot write {tmp_path}/{saves[2]}: No space left on device. "
                              f"{tmp_path}/last.safetensors holds the run at the end of epoch 1; once that is fixed, "
                              f"go on with: python -m minicnn.train --resume {tmp_path}")
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 1 == mc.load(tmp_path / "last.safetensors")["epoch"]       # never ahead of the checkpoint
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_a_run_killed_between_its_checkpoint_and_metrics_csv_catches_up_when_resumed(tmp_path):
    trainer = tiny.trainer(tmp_path, "--epochs", "2")
    assert trainer.run() == 0
    rows = open(tmp_path / "metrics.csv").read().splitlines()
    with open(tmp_path / "metrics.csv", "w") as f:
        f.write("\n".join(rows[:2]) + "\n")                     # as if killed before epoch 2's row was written
    resumed = tiny.trainer(tmp_path, "--epochs", "3")
    resumed.restore(tmp_path / "last.safetensors")
    assert resumed.run() == 0
    assert [r["epoch"] for r in csv.DictReader(open(tmp_path / "metrics.csv"))] == ["1", "2", "3"]


def test_a_diverging_loss_stops_the_run_and_says_what_is_on_disk(tmp_path, capsys):
    trainer = tiny.trainer(tmp_path, "--lr", "1e8")
    with pytest.warns(RuntimeWarning):
        assert trainer.run() == 1
    assert "stopped: the training loss became" in capsys.readouterr().err
    assert "last.safetensors" not in os.listdir(tmp_path)


def test_a_first_run_says_numba_compiles_and_img_per_s_leaves_the_first_step_out(tmp_path, monkeypatch, capsys):
    from minicnn import fast
    from minicnn.train import trainer as trainer_module

    monkeypatch.setattr(fast, "compiled_on_disk", lambda: False)
    monkeypatch.setattr(fast, "enabled", lambda: True)
    trainer = tiny.trainer(tmp_path, "--epochs", "1")
    real_step, calls = trainer.train_step, []

    def slow_first_step(x, y):               # the first step takes 2 s, as a numba compilation does
        calls.append(1)
        if len(calls) == 1:
            trainer_module.time.sleep(2)
        return real_step(x, y)

    trainer.train_step = slow_first_step
    assert trainer.run() == 0
    assert "numba compiles the CPU kernels in the first step (about 10 s" in capsys.readouterr().err
    (epoch,) = trainer.history
    assert epoch["images_per_s"] > 4 * 16 / 2        # 4 batches of 16 in 2 s would be 32 img/s


def test_compiled_kernels_are_found_in_numba_cache_dir(tmp_path, monkeypatch):
    from minicnn import fast

    monkeypatch.setattr(fast, "__file__", str(tmp_path / "package" / "__init__.py"))   # an empty __pycache__
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert not fast.compiled_on_disk()
    (tmp_path / "cache" / "minicnn" / "fast").mkdir(parents=True)
    (tmp_path / "cache" / "minicnn" / "fast" / "conv._im2col-38.py311.nbi").write_bytes(b"")
    assert fast.compiled_on_disk()


def test_a_full_disk_when_writing_test_json_leaves_a_run_that_resume_scores(tmp_path, monkeypatch):
    from minicnn.train import checkpoint
    from minicnn.train import trainer as trainer_module

    def full(obj, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(trainer_module, "write_json", full)
    with pytest.raises(TrainError, match=f"cannot write {tmp_path}/test.json: No space left on device. {tmp_path}/"
                                         "last.safetensors holds the run at the end of epoch 1; once that is fixed, "
                                         "go on with: python -m minicnn.train --resume"):
        tiny.trainer(tmp_path).run()
    monkeypatch.undo()
    saved = checkpoint.read(tmp_path / "last.safetensors")
    args = train.build_parser().parse_args(["--resume", str(tmp_path)])
    assert checkpoint.left_to_do(saved, saved["config"], args, str(tmp_path)) == "test"
    resumed = tiny.trainer(tmp_path)
    resumed.restore(tmp_path / "last.safetensors", saved)
    assert resumed.run() == 0 and json.load(open(tmp_path / "test.json"))["images"] == 32
