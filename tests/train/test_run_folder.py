"""The run folder: held by one process at a time, stale locks recognised, leftovers of killed
saves removed, and the advice when it cannot be written."""
import os
import subprocess
import sys

import pytest

from minicnn.atomic import atomic_write, leftovers
from minicnn.train import TrainError, run_folder


def test_a_held_folder_refuses_a_second_holder_naming_the_first(tmp_path):
    with run_folder.locked(tmp_path) as stale:
        assert stale is None
        assert open(tmp_path / ".lock").read().startswith(f"process {os.getpid()} on ")
        with pytest.raises(TrainError, match=f"the run folder {tmp_path} is in use by process {os.getpid()} on "):
            with run_folder.locked(tmp_path):
                pass
    assert not os.path.exists(tmp_path / ".lock")               # released and removed
    with run_folder.locked(tmp_path):                           # free again
        pass


def test_another_process_holding_the_folder_is_named(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from minicnn.train import run_folder\n"
                               f"with run_folder.locked({str(tmp_path)!r}):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(TrainError, match=f"in use by process {holder.pid} on "):
            with run_folder.locked(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_folder.locked(tmp_path) as stale:                  # SIGKILL left the file, not the lock
        assert stale.startswith(f"process {holder.pid} on ")


def test_leftovers_of_killed_saves_are_removed_and_nothing_else(tmp_path):
    for name in ("last.safetensors", "curves.png", ".notes", ".last.safetensors.tmp", "x.tmp"):
        (tmp_path / name).write_bytes(b"keep")
    dead = [".last.safetensors.abcd1234.tmp", ".curves.png.a_b1c2d3.tmp.png"]
    for name in dead:
        (tmp_path / name).write_bytes(b"\0" * 1000)
    said = run_folder.remove_leftovers(str(tmp_path))
    assert said == f"removed 2 temporary file(s) (0.0 MiB) that an interrupted save left: {', '.join(sorted(dead))}"
    assert sorted(os.listdir(tmp_path)) == [".last.safetensors.tmp", ".notes", "curves.png", "last.safetensors",
                                            "x.tmp"]
    assert run_folder.remove_leftovers(str(tmp_path)) is None


def test_the_temporary_files_of_atomic_write_are_what_leftovers_finds(tmp_path):
    for name, suffix in (("last.safetensors", ""), ("curves.png", ".png")):
        with pytest.raises(KeyboardInterrupt):
            with atomic_write(tmp_path / name, suffix=suffix) as tmp:
                found = leftovers(str(tmp_path))
                raise KeyboardInterrupt
        assert found == [tmp]
    assert os.listdir(tmp_path) == []


def test_an_unwritable_folder_advises_out_for_a_new_run_and_a_copy_for_a_resumed_one(tmp_path):
    folder = tmp_path / "run"
    folder.write_text("a file where the folder should be")    # unwritable for root too
    with pytest.raises(TrainError, match=f"cannot write to the run folder {folder}: .*; choose another folder with "
                                         "--out$"):
        run_folder.check_space(str(folder), 1)
    with pytest.raises(TrainError, match=f"; copy the folder somewhere writable and resume the copy \\(cp -r {folder} "
                                         "DEST; python -m minicnn.train --resume DEST/run\\)$"):
        run_folder.check_space(str(folder), 1, resumed=True)


def test_a_disk_nearly_full_says_how_much_is_free_and_needed(tmp_path):
    with pytest.raises(TrainError, match=r"not enough disk space in .*: \d+ MiB free, two checkpoints of .* need"):
        run_folder.check_space(str(tmp_path), 2**60)
