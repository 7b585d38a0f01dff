"""minicnn.save / minicnn.load: round trips, the safetensors layout PyTorch reads, atomic writes, bad files."""
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import minicnn as mc
from minicnn import atomic, ops, serialization
from minicnn.serialization import CheckpointError


def assert_same(got, want, where="root"):
    """Structure, container types, key order, dtypes and values all equal (Tensors compare as arrays)."""
    if isinstance(want, mc.Tensor):
        want = want.numpy()
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), f"{where}: {type(got).__name__}"
        assert got.dtype == want.dtype and got.shape == want.shape, f"{where}: {got.dtype}{got.shape}"
        np.testing.assert_array_equal(got, want, err_msg=where)
    elif isinstance(want, dict):
        assert type(got) is dict, f"{where}: {type(got).__name__}"
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), f"{where}: {got!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}.{i}")
    elif isinstance(want, float) and math.isnan(want):
        assert isinstance(got, float) and math.isnan(got), f"{where}: {got!r}"
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} != {want!r}"


def tensor_names(path):
    with safe_open(str(path), framework="np") as f:
        return set(f.keys())


def checkpoint(rng):
    """A training checkpoint as a trainer would write it (key order deliberately unsorted)."""
    model = OrderedDict([
        ("conv1.weight", mc.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))),
        ("conv1.bias", mc.Tensor(rng.standard_normal(4).astype(np.float32))),
        ("bn.running_mean", mc.Tensor(np.zeros(4, np.float32))),
        ("bn.num_batches_tracked", mc.Tensor(np.array(7, dtype=np.int64))),
        ("fc.weight", mc.Tensor(rng.standard_normal((2, 4)))),                     # float64
    ])
    return {
        "model": model,
        "optimizer": {"state": {0: {"momentum_buffer": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)},
                                1: {"momentum_buffer": np.ones(4, np.float32), "step": 12}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}]},
        "epoch": 3,
        "best_acc": 0.875,
        "loss": np.float32(0.5),            # NumPy scalars come back as Python numbers
        "arch": "resnet20",
        "scheduler": None,
        "history": [1.5, float("nan"), float("inf"), -float("inf")],
        "mask": rng.random((3, 5)) > 0.5,
        "labels": rng.integers(0, 10, 6).astype(np.uint8),
        "transposed": np.arange(12.0).reshape(3, 4).T,      # not contiguous
        "scalar": np.array(2.5),
        "empty_array": np.zeros((0, 3), np.float32),
        "empty": {}, "nothing": [], "pair": (),
        "zeta": {"b": 1, "a": 2, 10: "ten", 2: "two"},     # unsorted keys, str and int mixed
    }


# ---- round trips -------------------------------------------------------------------------------
def test_round_trip_keeps_structure_types_dtypes_and_key_order(tmp_path, rng):
    obj = checkpoint(rng)
    path = tmp_path / "ckpt.safetensors"
    mc.save(obj, path)
    got = mc.load(path)

    want = dict(obj, model=dict(obj["model"]), loss=0.5)
    assert_same(got, want)
    assert got["model"]["bn.num_batches_tracked"].dtype == np.int64
    assert list(got["optimizer"]["state"]) == [0, 1]               # int keys stay ints
    assert got["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert got["transposed"].flags.writeable                       # loaded arrays are ordinary arrays


def test_tensor_names_flat_state_dict_keeps_its_own_names_nested_ones_are_dotted(tmp_path, rng):
    obj = checkpoint(rng)
    flat = tmp_path / "flat.safetensors"
    mc.save(obj["model"], flat)
    assert tensor_names(flat) == set(obj["model"])

    nested = tmp_path / "nested.safetensors"
    mc.save(obj, nested)
    names = tensor_names(nested)
    assert {"model.conv1.weight", "model.bn.num_batches_tracked", "optimizer.state.0.momentum_buffer",
            "mask", "scalar"} <= names
    assert len(names) == 12

    # Two paths that spell the same name: the later one gets a suffix and both survive.
    clash = {"a.b": np.zeros(2), "a": {"b": np.ones(2)}}
    mc.save(clash, nested)
    assert tensor_names(nested) == {"a.b", "a.b~1"}
    assert_same(mc.load(nested), clash)


def test_top_level_array_and_scalars(tmp_path):
    path = tmp_path / "x.safetensors"
    for obj in [np.arange(5, dtype=np.int16), 42, "hello", None, [True, 0, 0.25], (1, (2, [3]))]:
        mc.save(obj, path)
        assert_same(mc.load(path), obj)


# ---- interoperability with safetensors.torch / other tools --------------------------------------
def test_flat_state_dict_loads_into_torch_module(tmp_path, rng):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    weight = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    state = OrderedDict([
        ("0.weight", mc.Tensor(weight)), ("0.bias", mc.Tensor(bias)),
        ("1.weight", mc.Tensor(np.full(6, 2.0, np.float32))), ("1.bias", mc.Tensor(np.zeros(6, np.float32))),
        ("1.running_mean", mc.Tensor(np.zeros(6, np.float32))), ("1.running_var", mc.Tensor(np.ones(6, np.float32))),
        ("1.num_batches_tracked", mc.Tensor(np.array(5, dtype=np.int64))),
    ])
    path = tmp_path / "model.safetensors"
    mc.save(state, path)

    loaded = load_file(str(path))
    assert set(loaded) == set(state)
    count = loaded["1.num_batches_tracked"]
    assert count.dtype == torch.int64 and count.shape == () and count.item() == 5
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6)).eval()
    net.load_state_dict(loaded)                   # strict: every name and shape must match

    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    with torch.no_grad():
        y_torch = net[0](torch.from_numpy(x)).numpy()
    y_mc = ops.conv2d(mc.Tensor(x), mc.Tensor(weight), mc.Tensor(bias), padding=1).numpy()
    assert np.abs(y_torch - y_mc).max() / max(1e-8, np.abs(y_torch).max()) < 1e-5


def test_loads_flat_files_written_by_other_tools(tmp_path, rng):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    tensors = {"w": torch.randn(3, 4, dtype=torch.float64), "idx": torch.arange(5), "on": torch.tensor([True, False])}
    save_file(tensors, str(tmp_path / "torch.safetensors"), metadata={"format": "pt"})
    got = mc.load(tmp_path / "torch.safetensors")
    assert sorted(got) == ["idx", "on", "w"]
    for k, t in tensors.items():
        assert_same(got[k], t.numpy())

    arrays = {"b": rng.standard_normal(3).astype(np.float32), "a": np.eye(2, dtype=np.int32)}
    safetensors.numpy.save_file(arrays, str(tmp_path / "np.safetensors"))        # no metadata at all
    got = mc.load(tmp_path / "np.safetensors")
    assert sorted(got) == ["a", "b"]
    for k in arrays:
        assert_same(got[k], arrays[k])


# ---- what cannot be saved ----------------------------------------------------------------------
@pytest.mark.parametrize("obj, message", [
    ({"config": {"tags": {"a", "b"}}}, "cannot store value of type set at 'config.tags'"),
    ({"layers": [1, object()]}, "cannot store value of type object at 'layers.1'"),
    ({"z": np.zeros(2, np.complex128)}, "cannot store an array of dtype complex128 at 'z'"),
    ({"opt": {1.5: 0}}, "dict keys must be str or int, got 1.5 (float) at 'opt'"),
    ({"opt": {True: 0}}, "dict keys must be str or int, got True (bool) at 'opt'"),
])
def test_unsupported_values_raise_typeerror_naming_the_path_and_write_nothing(tmp_path, obj, message):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError) as info:
        mc.save(obj, path)
    assert message in str(info.value)
    assert os.listdir(tmp_path) == []


# ---- atomic writes -----------------------------------------------------------------------------
class _OsWithFailingCall:
    """Stands in for the ``os`` module inside serialization: ``name`` raises ``exc`` when called."""

    def __init__(self, name, exc):
        self.name, self.exc, self.calls = name, exc, 0

    def __getattr__(self, attr):
        real = getattr(os, attr)
        if attr != self.name:
            return real

        def failing(*args):
            self.calls += 1
            raise self.exc
        return failing


class _WriteHalfThenFail:
    """Stands in for safetensors' save_file: writes the file, cuts it in half (disk full), raises."""

    def __init__(self, exc):
        self.exc, self.calls, self.real = exc, 0, serialization._save_file

    def __call__(self, tensors, filename, metadata=None):
        self.calls += 1
        self.real(tensors, filename, metadata=metadata)
        os.truncate(filename, os.path.getsize(filename) // 2)
        raise self.exc


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["OSError", "Ctrl-C"])
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_interrupted_save_keeps_previous_checkpoint_and_removes_temp_file(tmp_path, monkeypatch, rng, exc, where):
    path = tmp_path / "ckpt.safetensors"
    old = {"model": {"w": rng.standard_normal((64, 64)).astype(np.float32)}, "epoch": 1}
    mc.save(old, path)

    if where == "write":
        fake = _WriteHalfThenFail(exc)
        monkeypatch.setattr(serialization, "_save_file", fake)
    else:
        fake = _OsWithFailingCall(where, exc)
        monkeypatch.setattr(atomic, "os", fake)         # the temporary file and rename live in minicnn.atomic
    new = {"model": {"w": np.zeros((64, 64), np.float32)}, "epoch": 2}
    with pytest.raises(type(exc)):
        mc.save(new, path)
    monkeypatch.undo()

    assert fake.calls == 1                                    # the failure really happened mid-save
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]       # no temporary file left
    assert_same(mc.load(path), old)


_KILL_CHILD = """
import sys, numpy as np, minicnn
big = np.arange(50_000_000, dtype=np.int32)              # 200 MB
print("ready", flush=True)
epoch = 0
while True:
    minicnn.save({"big": big, "epoch": epoch, "tail": np.full(3, epoch, np.float64)}, sys.argv[1])
    print(epoch, flush=True)
    epoch += 1
"""


def _wait_until_a_save_starts(path, full_size, timeout=30.0):
    """Return as soon as the folder holds anything besides the complete checkpoint ``path``:
    a temporary file, or ``path`` itself being rewritten (a non-atomic save)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.scandir(path.parent):
            try:
                if entry.name != path.name or entry.stat().st_size != full_size:
                    return
            except FileNotFoundError:             # renamed between scandir and stat
                pass
    raise AssertionError(f"no save was ever seen in progress in {path.parent}")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("when", ["early", "random", "mid-save", "mid-save-again"])
def test_sigkill_during_save_never_leaves_a_partial_checkpoint(tmp_path, when):
    """SIGKILL a process that saves 200 MB checkpoints in a loop: the target is absent or complete.

    The kill comes at a random moment, possibly before the first save ends ("early"), at a random
    moment after the first save ("random"), or within 50 ms of seeing a later save start writing
    ("mid-save": a save that truncates and rewrites the target in place is caught there).
    Stale temporary files may remain after SIGKILL (nothing can remove them); only the target is
    checked.
    """
    path = tmp_path / "ckpt.safetensors"
    try:
        _kill_while_saving(path, when)
    finally:
        for stale in tmp_path.iterdir():             # free the disk now, not at pytest's cleanup
            stale.unlink()


def _kill_while_saving(path, when):
    child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        if when == "early":
            time.sleep(random.uniform(0.0, 0.3))
        else:
            start = time.perf_counter()
            assert child.stdout.readline() == "0\n"
            if when == "random":
                time.sleep(random.uniform(0.0, time.perf_counter() - start))
            else:
                _wait_until_a_save_starts(path, path.stat().st_size)
                time.sleep(random.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        reported = [int(line) for line in child.stdout.read().split() if line != "ready"]
    finally:
        child.kill()
        child.stdout.close()
    last = reported[-1] if reported else (-1 if when == "early" else 0)

    if not path.exists():
        assert last == -1, f"save {last} completed but the target is gone"
    else:
        got = mc.load(path)                          # raises CheckpointError if truncated
        assert got["epoch"] in (last, last + 1), f"epoch {got['epoch']}, last reported {last}"
        np.testing.assert_array_equal(got["tail"], np.full(3, got["epoch"], np.float64))
        assert np.array_equal(got["big"], np.arange(50_000_000, dtype=np.int32))


# ---- bad files ---------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(CheckpointError, match="does not exist") as info:
        mc.load(path)
    assert str(path) in str(info.value)
    with pytest.raises(CheckpointError, match="is not a file"):
        mc.load(tmp_path)


def _truncated(path, rng):
    mc.save(checkpoint(rng), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _random_bytes(path, rng):
    path.write_bytes(rng.bytes(4096))


def _one_byte_short(path, rng):
    mc.save({"w": np.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.parametrize("corrupt", [_truncated, _random_bytes, _one_byte_short])
def test_corrupted_file_is_not_valid_safetensors(tmp_path, rng, corrupt):
    path = tmp_path / "ckpt.safetensors"
    corrupt(path, rng)
    with pytest.raises(CheckpointError) as info:
        mc.load(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} is not a valid safetensors file (truncated or corrupted?): ")
    assert "header" in message                   # the underlying reason from safetensors follows


@pytest.mark.parametrize("metadata, expected", [
    ('{"version": 1, "root": {"dict": [["w", {"tensor": "w"}]', "is not valid JSON"),
    ('{"version": 99, "root": null}', 'expected \'minicnn\' metadata {"version": 1, "root": ...}'),
    ('[1, 2]', 'expected \'minicnn\' metadata {"version": 1, "root": ...}'),
    ('{"version": 1, "root": {"dict": [["w", {"tensor": "missing"}]]}}', "'missing' is referenced but not in the file"),
    ('{"version": 1, "root": {"set": [1]}}', 'unknown node {"set": [1]}'),
    ('{"version": 1, "root": {"dict": [[null, 1]]}}', "expected a [str or int key, value] pair"),
])
def test_broken_minicnn_metadata(tmp_path, metadata, expected):
    path = tmp_path / "ckpt.safetensors"
    safetensors.numpy.save_file({"w": np.ones(3)}, str(path), metadata={"minicnn": metadata})
    with pytest.raises(CheckpointError) as info:
        mc.load(path)
    assert f"checkpoint {path}" in str(info.value) and expected in str(info.value)


# ---- devices -----------------------------------------------------------------------------------
def test_device_round_trip(tmp_path, xp):
    """CuPy arrays are saved from the host copy and come back on the GPU with device='cuda'."""
    w = xp.arange(12, dtype=xp.float32).reshape(3, 4)
    obj = {"model": {"w": mc.Tensor(w, device="cuda" if xp is not np else "cpu")}, "m": w.T, "steps": 4}
    path = tmp_path / "ckpt.safetensors"
    mc.save(obj, path)

    device = "cpu" if xp is np else "cuda"
    got = mc.load(path, device=device)
    assert mc.get_array_module(got["model"]["w"]) is xp and mc.get_array_module(got["m"]) is xp
    assert got["model"]["w"].dtype == np.float32 and got["steps"] == 4
    np.testing.assert_array_equal(mc.backend.to_device(got["m"], "cpu"), np.arange(12, dtype=np.float32).reshape(3, 4).T)

    on_host = mc.load(path)                      # the default is NumPy, whatever was saved
    assert type(on_host["model"]["w"]) is np.ndarray
    np.testing.assert_array_equal(on_host["model"]["w"], np.arange(12, dtype=np.float32).reshape(3, 4))


@pytest.mark.parametrize("map_location", ["cuda", None], ids=["to-cuda", "to-host"])
def test_a_cuda_model_and_its_optimizer_resume_exactly(tmp_path, cupy, map_location):
    """A checkpoint of a model and its Adam state on the GPU, loaded to the GPU (or to the host and then into
    the GPU model), restores every array bit for bit on the device, and the next step is the same."""
    from minicnn import nn
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 9))

    def build():
        model = _Block.build(nn, nn.Module).to("cuda")
        return model, mc.optim.Adam(model.parameters(), lr=1e-2)

    def step(model, optimizer):
        optimizer.zero_grad()
        model(model.as_input(x)).sum().backward()
        optimizer.step()

    mc.manual_seed(3)
    model, optimizer = build()
    step(model, optimizer)                        # Adam's moments and batch norm's statistics now exist
    path = tmp_path / "ckpt.safetensors"
    mc.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1}, path)
    saved = mc.load(path, map_location=map_location)
    assert mc.get_array_module(saved["model"]["bn1.running_var"]) is (cupy if map_location else np)
    restored, restored_optimizer = build()
    restored.load_state_dict(saved["model"])
    restored_optimizer.load_state_dict(saved["optimizer"])
    for a, b in [(model, restored), (optimizer, restored_optimizer)]:
        want, got = _arrays(a.state_dict()), _arrays(b.state_dict())
        assert len(want) == 18 and got.keys() == want.keys()    # 9 parameters: 9 buffers or 9 x 2 Adam moments
        assert all(mc.get_array_module(v) is cupy for v in got.values())
        for key in want:
            np.testing.assert_array_equal(cupy.asnumpy(got[key]), cupy.asnumpy(want[key]), err_msg=key)
    step(model, optimizer)
    step(restored, restored_optimizer)
    for p, q in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def _arrays(state, prefix=""):
    """The arrays of a (nested) state dict by dotted name."""
    found = {}
    for key, value in (state.items() if isinstance(state, dict) else enumerate(state)):
        if isinstance(value, (dict, list)):
            found.update(_arrays(value, f"{prefix}{key}."))
        elif isinstance(value, mc.Tensor) or mc.backend.is_array(value):
            found[f"{prefix}{key}"] = value.array if isinstance(value, mc.Tensor) else value
    return found


class _Block:
    """A ResNet basic block with a projection shortcut, in minicnn or torch (same attribute names)."""

    @staticmethod
    def build(lib, base):
        class BasicBlock(base):
            def __init__(self):
                super().__init__()
                self.conv1 = lib.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
                self.bn1 = lib.BatchNorm2d(8)
                self.relu = lib.ReLU()
                self.conv2 = lib.Conv2d(8, 8, 3, padding=1, bias=False)
                self.bn2 = lib.BatchNorm2d(8)
                self.downsample = lib.Sequential(lib.Conv2d(4, 8, 1, stride=2, bias=False), lib.BatchNorm2d(8))

            def forward(self, x):
                out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
                return self.relu(out + self.downsample(x))

        return BasicBlock()


def test_resnet_block_saved_by_minicnn_runs_identically_in_torch(tmp_path):
    import torch
    from safetensors.torch import load_file

    from minicnn import nn
    mc.manual_seed(3)
    ours = _Block.build(nn, nn.Module)
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 9)).astype(np.float32)
    ours(mc.Tensor(x))                           # one training step moves the running statistics
    ours.eval()
    path = tmp_path / "block.safetensors"
    mc.save(ours.state_dict(), path)
    theirs = _Block.build(torch.nn, torch.nn.Module)
    theirs.load_state_dict(load_file(path))       # strict: every name and shape must match
    theirs.eval()
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ours.state_dict()[name].numpy())
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(mc.Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_whole_models_are_refused_with_the_way_to_save_them(tmp_path):
    """torch.save(model) pickles code; minicnn says to save the state_dict instead, and writes nothing."""
    path = tmp_path / "model.pth"
    model = mc.nn.Sequential(mc.nn.Linear(2, 2))
    for obj, where in [(model, "<top level>"), ({"net": model}, "net")]:
        with pytest.raises(TypeError, match=f"save: cannot store a whole model \\(Sequential\\) at '{where}'.*"
                                            "Save model.state_dict\\(\\)"):
            mc.save(obj, path)
    assert not path.exists()


def test_load_takes_torchs_arguments(tmp_path):
    path = tmp_path / "weights.pth"
    model = mc.nn.Linear(3, 2)
    mc.save(model.state_dict(), path)
    copy = mc.nn.Linear(3, 2)
    copy.load_state_dict(mc.load(path, weights_only=True))
    assert (copy.weight == model.weight).all()
    assert isinstance(mc.load(path, map_location="cpu")["bias"], np.ndarray)
    with pytest.raises(ValueError, match="load: weights_only=False is not supported: minicnn checkpoints are "
                                         "safetensors files that hold arrays only"):
        mc.load(path, weights_only=False)
    with pytest.raises(TypeError, match="load: give device or map_location, not both"):
        mc.load(path, device="cpu", map_location="cpu")
