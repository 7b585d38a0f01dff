"""Nothing lost, at any moment: python -m minicnn.train in a subprocess with faults injected at
chosen moments: a full disk during a save, a second signal while the stop checkpoint is written,
a signal while the test set is scored, damaged checkpoints, two processes on one run folder, the
temporary files of a killed save, and a resume that repeats the original command.

Signals land at exact moments through the test hook $MINICNN_TEST_SIGNALS (minicnn/train/
signals.py): "step#3=SIGTERM" sends SIGTERM during the third training step of the process;
SIGSTOP there freezes the process at that moment, for the test to act before it goes on."""
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn.data.datasets import DEBIAN_FASHION

pytestmark = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
RUN = ["--arch", "lenet5_28", "--subset", "160", "--epochs", "2", "--batch-size", "32", "--no-progress"]  # 4 steps


def train(*args, signals=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("MINICNN_DEVICE", "MINICNN_TEST_SIGNALS")}
    if signals:
        env["MINICNN_TEST_SIGNALS"] = signals
    return subprocess.run([sys.executable, "-m", "minicnn.train", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def start(*args, signals=None):
    env = {k: v for k, v in os.environ.items() if k not in ("MINICNN_DEVICE", "MINICNN_TEST_SIGNALS")}
    if signals:
        env["MINICNN_TEST_SIGNALS"] = signals
    return subprocess.Popen([sys.executable, "-m", "minicnn.train", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_until_stopped(child, timeout=120):
    """Wait until ``child`` froze itself with SIGSTOP (state T in /proc)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    raise AssertionError("the process did not stop")


def the_folder(out):
    (name,) = os.listdir(out)
    return os.path.join(out, name)


def assert_clean_exit(done, code, *phrases):
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for phrase in phrases:
        assert phrase in done.stderr + done.stdout, done.stderr


def assert_same_weights(folder, reference, name="last.safetensors"):
    got, want = (mc.load(os.path.join(f, name)) for f in (folder, reference))
    for key, value in want["model"].items():
        np.testing.assert_array_equal(got["model"][key], value, err_msg=key)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The run that nothing interrupted."""
    out = tmp_path_factory.mktemp("straight")
    done = train(*RUN, "--out", out)
    assert done.returncode == 0, done.stderr
    return the_folder(out)


@pytest.fixture
def finished(straight, tmp_path):
    """A copy of the finished run, to damage or resume."""
    return str(shutil.copytree(straight, tmp_path / "run"))


# ---- 1. a full disk during a save ---------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def fill(folder):
    """Write until the disk is full; returns the filler's path."""
    filler = os.path.join(folder, "filler")
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


def test_a_disk_full_during_a_save_says_which_save_and_what_is_on_disk(small_disk, straight):
    # The run freezes itself as epoch 2's first checkpoint save begins; the disk is then filled.
    child = start(*RUN, "--out", small_disk, signals="save#3=SIGSTOP")
    try:
        wait_until_stopped(child)
        filler = fill(small_disk)
    finally:
        child.send_signal(signal.SIGCONT)
        out, err = child.communicate(timeout=120)
    done = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    (folder,) = [os.path.join(small_disk, d) for d in os.listdir(small_disk) if d != "filler"]
    assert_clean_exit(done, 1, f"minicnn train: cannot write {folder}/", "No space left on device",
                      f"{folder}/last.safetensors holds the run at the end of epoch 1",
                      f"go on with: python -m minicnn.train --resume {folder}")
    assert mc.load(os.path.join(folder, "last.safetensors"))["epoch"] == 1
    with open(os.path.join(folder, "metrics.csv")) as f:
        assert len(f.read().splitlines()) == 2                # the header and epoch 1: never ahead of last
    assert not [n for n in os.listdir(folder) if n.startswith(".")]     # no temporary file, no lock
    os.remove(filler)
    done = train("--resume", folder)
    assert_clean_exit(done, 0, f"resuming {folder} at epoch 2 of 2, batch 1 of 4")
    assert_same_weights(folder, straight)


# ---- 2. a second signal while the stop checkpoint is written ----------------------------------
@pytest.mark.parametrize("second", ["SIGTERM", "SIGINT"])
def test_a_second_signal_while_the_stop_checkpoint_is_saved_waits_for_it(tmp_path, straight, second):
    done = train(*RUN, "--out", tmp_path, signals=f"step#3=SIGTERM,save#1={second}")
    folder = the_folder(tmp_path)
    assert_clean_exit(done, 143, "finishing the file being saved first",
                      f"SIGTERM: stopped at epoch 1, batch 3; {folder}/last.safetensors holds the run at epoch 1, "
                      f"batch 3", f"Resume with:\n  python -m minicnn.train --resume {folder}")
    assert mc.load(os.path.join(folder, "last.safetensors"))["batch"] == 3
    assert_clean_exit(train("--resume", folder), 0, f"resuming {folder} at epoch 1 of 2, batch 4 of 4")
    assert_same_weights(folder, straight)


@pytest.mark.parametrize("moment", ["step#6", "validate#2", "save#2", "data", "folder"])
def test_a_signal_at_any_moment_of_training_ends_as_documented(tmp_path, straight, moment):
    done = train(*RUN, "--out", tmp_path, signals=f"{moment}=SIGTERM")
    assert done.returncode == 143 and "Traceback" not in done.stderr, done.stderr
    if moment in ("data", "folder"):    # before the run folder has a file: nothing to resume, nothing left
        assert "SIGTERM: stopped before training began; nothing was changed" in done.stderr
        assert os.listdir(tmp_path) == []
        return
    folder = the_folder(tmp_path)
    assert f"Resume with:\n  python -m minicnn.train --resume {folder}" in done.stderr
    assert_clean_exit(train("--resume", folder), 0)
    assert_same_weights(folder, straight)


def test_a_second_signal_during_a_step_stops_at_once_and_says_what_is_on_disk(tmp_path):
    done = train(*RUN, "--out", tmp_path, signals="step#5=SIGTERM,step#5=SIGINT")
    folder = the_folder(tmp_path)
    # Step 5 is epoch 2's first: the second signal came before it could finish.
    assert_clean_exit(done, 143, f"stopped at once (Ctrl-C after SIGTERM); {folder}/last.safetensors holds the run "
                                 "at the end of epoch 1")


# ---- 3. a signal while the test set is scored ------------------------------------------------
@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_while_scoring_the_test_set_leaves_a_run_that_resume_scores(tmp_path, straight, signame, code):
    done = train(*RUN, "--out", tmp_path, signals=f"test={signame}")
    folder = the_folder(tmp_path)
    name = "SIGTERM" if signame == "SIGTERM" else "Ctrl-C"
    assert_clean_exit(done, code, f"{name}: stopped while scoring the test set; {folder}/last.safetensors holds "
                                  f"the run at the end of epoch 2. Score the test set with:\n  python -m "
                                  f"minicnn.train --resume {folder}")
    assert "test.json" not in os.listdir(folder)
    done = train("--resume", folder)
    assert_clean_exit(done, 0, "its 2 epoch(s) are trained, but its test set was never scored")
    tested, reference = (json.load(open(os.path.join(f, "test.json"))) for f in (folder, straight))
    assert tested == reference
    assert_clean_exit(train("--resume", folder), 2, "the run has finished its 2 epoch(s)")     # and now it is done


# ---- 4. damaged checkpoints ---------------------------------------------------------------------
def edit_header(path, edit):
    """Rewrite the minicnn structure in a safetensors header with ``edit`` (a function of its text);
    the file stays a valid safetensors file (the data offsets count from the end of the header)."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header["__metadata__"]["minicnn"] = edit(header["__metadata__"]["minicnn"])
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)                  # safetensors aligns the data that follows to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + length:])


def renamed(key, new):
    return lambda text: text.replace(f'["{key}", ', f'["{new}", ', 1)


DAMAGE = {
    "a renamed key": (renamed("best_top1", "best_top"), "it has no best_top1"),
    "a tensor reference to the wrong entry": (
        lambda text: text.replace('{"tensor": "model.features.0.weight"}', '{"tensor": "model.features.0.bias"}'),
        "its weights do not fit a 'lenet5_28' model"),
    "an unknown arch": (lambda text: text.replace('"lenet5_28"', '"lenet9"', 1),
                        "'config' config.arch is 'lenet9', expected a registered model"),
    "an unknown RNG": (lambda text: text.replace('"PCG64"', '"MT19937"'),
                       "'rng' does not hold the random state of NumPy's PCG64"),
    "an epoch that is a string": (lambda text: text.replace('["epoch", 2]', '["epoch", "2"]'),
                                  "'epoch' is not an int >= 0"),
    "a schedule of another kind": (lambda text: text.replace('["T_max", ', '["T_maks", '),
                                   "'schedule' has keys"),
    "optimizer state of another shape": (
        lambda text: text.replace('{"tensor": "optimizer.state.0.momentum_buffer"}',
                                  '{"tensor": "optimizer.state.1.momentum_buffer"}'),
        "momentum_buffer' of parameter 0 has shape"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_refused_with_a_message_naming_the_file_and_the_field(finished, damage):
    edit, phrase = DAMAGE[damage]
    last = os.path.join(finished, "last.safetensors")
    before = open(last, "rb").read()
    edit_header(last, edit)
    assert open(last, "rb").read() != before, "the edit changed nothing"
    done = train("--resume", finished, "--epochs", "3")
    assert_clean_exit(done, 1, f"minicnn train: --resume: ", last, phrase)
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(finished)) == ["best.safetensors", "config.json", "curves.png", "last.safetensors",
                                            "metrics.csv", "test.json"]       # nothing written, no lock left


# ---- 6. two processes on one run folder -------------------------------------------------------
def test_a_second_process_on_a_run_folder_is_refused_and_a_dead_ones_lock_is_taken_over(finished):
    first = start("--resume", finished, "--epochs", "3", signals="step#2=SIGSTOP")   # frozen, holding the folder
    wait_until_stopped(first)
    done = train("--resume", finished, "--epochs", "3")
    assert_clean_exit(done, 1, f"the run folder {finished} is in use by process {first.pid} on ",
                      "Wait for it to end (or stop it), then resume")
    first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert mc.load(os.path.join(finished, "last.safetensors"))["epoch"] == 3

    killed = start("--resume", finished, "--epochs", "4", signals="step#2=SIGSTOP")
    wait_until_stopped(killed)
    killed.kill()                                    # SIGKILL: its lock file stays, naming it
    killed.communicate(timeout=60)
    assert os.path.exists(os.path.join(finished, ".lock"))
    done = train("--resume", finished, "--epochs", "4")
    assert_clean_exit(done, 0, f"note: {finished} was held by process {killed.pid} on ",
                      "which is no longer running (killed?); taking it over")
    assert not os.path.exists(os.path.join(finished, ".lock"))


def test_two_resumes_started_together_never_both_run(finished):
    runs = [start("--resume", finished, "--epochs", "3") for _ in range(2)]
    outs = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], outs
    (refused,) = [err for run, (out, err) in zip(runs, outs) if run.returncode == 1]
    assert "is in use by process" in refused and "Traceback" not in refused


# ---- 7. temporary files of a killed save ----------------------------------------------------------
def test_temporary_files_left_by_a_killed_save_are_removed_at_the_next_start(finished):
    leftovers = [".last.safetensors.k2j4x9_a.tmp", ".curves.png.0abc12de.tmp.png", ".metrics.csv.zz99zz99.tmp"]
    for name in leftovers:
        with open(os.path.join(finished, name), "wb") as f:
            f.write(b"\0" * 2**20)
    with open(os.path.join(finished, ".notes"), "w") as f:      # not ours: it stays
        f.write("my notes")
    done = train("--resume", finished, "--epochs", "3")
    assert_clean_exit(done, 0, "removed 3 temporary file(s) (3.0 MiB) that an interrupted save left: "
                      + ", ".join(sorted(leftovers)))
    assert sorted(n for n in os.listdir(finished) if n.startswith(".")) == [".notes"]


def test_the_space_that_leftovers_took_counts_as_free_space(small_disk, straight):
    folder = shutil.copytree(straight, small_disk / "run")            # 1.1 MiB of the 4 MiB
    for name in (".last.safetensors.k2j4x9_a.tmp", ".best.safetensors.0abc12de.tmp"):
        with open(folder / name, "wb") as f:
            f.write(b"\0" * 900 * 2**10)                               # 1.1 MiB free: less than the run needs
    done = train("--resume", folder, "--epochs", "3")
    assert_clean_exit(done, 0, "removed 2 temporary file(s) (1.8 MiB)")


# ---- 8. a resume that repeats the original command ---------------------------------------------
def test_resume_accepts_the_original_command_repeated_and_refuses_only_real_conflicts(tmp_path, straight):
    original = [*RUN, "--out", tmp_path]
    done = train(*original, signals="step#2=SIGTERM")
    assert done.returncode == 143, done.stderr
    folder = the_folder(tmp_path)
    done = train(*RUN, "--lr", "0.5", "--out", tmp_path, "--resume", folder)
    assert_clean_exit(done, 2, "--lr 0.5 (the run's: 0.05)")
    assert len(done.stderr.strip().splitlines()) == 1
    done = train(*RUN, "--out", tmp_path / "elsewhere", "--resume", folder)
    assert_clean_exit(done, 2, f"--out {tmp_path / 'elsewhere'}: the run being resumed is in {tmp_path}")
    done = train(*original, "--resume", folder)
    assert_clean_exit(done, 0, f"resuming {folder} at epoch 1 of 2, batch 3 of 4")
    assert_same_weights(folder, straight)


def test_a_read_only_run_folder_advises_a_copy_not_out(finished, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a read-only mount needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", finished, str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        done = train("--resume", mount, "--epochs", "3")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert_clean_exit(done, 1, f"cannot write to the run folder {mount}", "Read-only file system",
                      f"copy the folder somewhere writable and resume the copy (cp -r {mount} DEST; python -m "
                      "minicnn.train --resume DEST/ro)")
    assert "--out" not in done.stderr
