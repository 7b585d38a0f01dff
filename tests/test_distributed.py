"""Data-parallel training (minicnn/distributed.py): sharding, gradient buckets, and real MPI jobs.

The MPI tests start ``mpirun -np 2`` (Open MPI: ``apt-get install openmpi-bin libopenmpi-dev``,
``pip install -e ".[dist]"``) and skip, saying why, where either is missing.
"""
import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import distributed, nn
from minicnn.data import ArrayDataset, DataLoader
from minicnn.data.datasets import DEBIAN_FASHION

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def numbered(n):
    """A data set whose label i is its own index, so batches show which images they hold."""
    return ArrayDataset(np.zeros((n, 1, 2, 2), np.uint8), np.arange(n), [str(i) for i in range(n)], "numbered")


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("drop_last", [True, False])
def test_shards_are_disjoint_equal_and_make_up_the_single_process_batch(world_size, drop_last):
    data, batch = numbered(50), 4
    single = DataLoader(data, batch * world_size, shuffle=True, drop_last=drop_last, seed=7, prefetch=0)
    shards = [DataLoader(data, batch, shuffle=True, drop_last=drop_last, seed=7, prefetch=0, rank=r,
                         world_size=world_size) for r in range(world_size)]
    assert all(len(s) == len(single) for s in shards)
    for epoch in (0, 1):
        for loader in [single] + shards:
            loader.set_epoch(epoch)
        per_rank = [[y.array.tolist() for _, y in s] for s in shards]
        expected = [y.array.tolist() for _, y in single]
        for b, whole in enumerate(expected):
            parts = [ranks[b] for ranks in per_rank if b < len(ranks)]
            assert sum(parts, []) == whole                  # in rank order: the same images, the same order
            if drop_last:
                assert all(len(p) == batch for p in parts)


def test_each_rank_augments_with_its_own_random_numbers():
    first_draws = {}

    def record(images, rng):
        first_draws.setdefault(key, rng.random())
        return images.astype(np.float32)

    for key in ("alone", 0, 1):
        rank, size = (0, 1) if key == "alone" else (key, 2)
        next(iter(DataLoader(numbered(8), 2, transform=record, seed=1, prefetch=0, rank=rank, world_size=size)))
    assert first_draws["alone"] == np.random.default_rng([1, 0, 0]).random()      # unchanged without MPI
    assert first_draws[0] != first_draws[1]


def test_dataloader_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size=2\), got 2"):
        DataLoader(numbered(4), 2, rank=2, world_size=2)


class TwinWorld(distributed.World):
    """Two ranks in one process: the other rank computed the same gradients, so the sum doubles them."""
    size = 2

    def __init__(self):
        self.reductions = []

    def allreduce_sum(self, array):
        self.reductions.append(array.size)
        array *= 2


def test_gradient_averager_packs_buckets_and_unpacks_the_mean():
    model = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))      # 600+20 and 200+10 weights
    x = mc.Tensor(np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32))
    model(x).sum().backward()
    before = {name: p.grad.array.copy() for name, p in model.named_parameters()}
    world = TwinWorld()
    average = distributed.GradientAverager(world, model.parameters(), bucket_bytes=1000)
    # Last layer first, a new bucket whenever the next parameter would pass 1000 bytes:
    # [2.bias 40 B, 2.weight 800 B, 0.bias 80 B] = 920 B, then 0.weight's 2400 B alone (over the cap).
    assert [[p.shape for p in b] for b in average.buckets] == [[(10,), (10, 20), (20,)], [(20, 30)]]
    average()
    assert world.reductions == [230, 600] and average.calls == 2
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.array, before[name])          # (g + g) / 2 == g exactly


def test_gradient_averager_gives_a_missing_gradient_the_mean_of_zeros():
    used, unused = nn.Linear(3, 2), nn.Linear(3, 2)
    used(mc.Tensor(np.ones((1, 3), np.float32))).sum().backward()
    distributed.GradientAverager(TwinWorld(), list(used.parameters()) + list(unused.parameters()))()
    assert unused.weight.grad is not None and not unused.weight.grad.array.any()


def test_gradient_averager_does_nothing_in_a_single_process():
    model = nn.Linear(3, 2)
    model(mc.Tensor(np.ones((1, 3), np.float32))).sum().backward()
    average = distributed.GradientAverager(distributed.SINGLE_PROCESS, model.parameters())
    average()
    assert average.calls == 0


def test_init_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)           # makes `import mpi4py` fail
    with pytest.raises(distributed.DistributedError, match=r"apt-get install openmpi-bin libopenmpi-dev.*\[dist\]"):
        distributed.init()


# ---- real MPI jobs ------------------------------------------------------------------------------
def _mpi_missing():
    if shutil.which("mpirun") is None:
        return "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py.MPI  # noqa: F401
    except ImportError as e:
        return f"mpi4py does not load ({e}); pip install -e \".[dist]\""
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=f"MPI test skipped: {_mpi_missing()}")
needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def mpirun(ranks, *args, timeout=300):
    """Run ``python ARGS`` on ``ranks`` MPI processes; one BLAS thread each, as 2 ranks share 2 cores."""
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    command = ["mpirun", *root, "--oversubscribe", "-np", str(ranks), sys.executable, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def python(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@needs_mpi
def test_two_ranks_give_the_single_process_weights_in_float64(tmp_path):
    worker, steps = os.path.join(HERE, "mpi_worker.py"), 5
    ok(python(worker, "train", str(tmp_path / "one.npz"), str(steps), "16"))
    ok(mpirun(2, worker, "train", str(tmp_path / "two.npz"), str(steps), "8"))
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    weights = [k for k in one.files if k not in ("calls", "buckets")]
    assert len(weights) == 6
    for k in weights:
        assert one[k].dtype == np.float64
        np.testing.assert_allclose(two[k], one[k], rtol=0, atol=1e-13, err_msg=k)
    assert one["calls"] == 0                                           # one process: nothing to reduce
    assert two["calls"] == steps * two["buckets"] and two["buckets"] < len(weights)


@needs_mpi
def test_a_failing_rank_ends_the_job_instead_of_hanging():
    result = mpirun(2, os.path.join(HERE, "mpi_worker.py"), "fail", timeout=60)
    assert result.returncode != 0
    assert "rank 1 of 2 failed; ending all ranks (MPI_Abort)" in result.stderr
    assert "RuntimeError: injected failure on rank 1" in result.stderr


def train_args(out, *extra):
    return ["-m", "minicnn.train", "--arch", "lenet5", "--subset", "256", "--schedule", "none", "--no-progress",
            "--workers", "0", "--out", str(out), *extra]


def run_folder(out):
    folders = glob.glob(os.path.join(out, "*"))
    assert len(folders) == 1, folders                # rank 0 alone creates the run folder
    return folders[0]


def weights(folder):
    return mc.load(os.path.join(folder, "last.safetensors"))["model"]


@needs_mpi
@needs_data
def test_cli_two_ranks_match_one_process_and_resume_from_rank_0s_checkpoint(tmp_path):
    ok(python(*train_args(tmp_path / "one", "--epochs", "1", "--batch-size", "64")))
    two = ok(mpirun(2, *train_args(tmp_path / "two", "--epochs", "1", "--batch-size", "32", "--distributed")))
    assert two.stdout.count("epoch   1") == 1 and "x 2 ranks (MPI)" in two.stdout     # rank 0 alone logs
    assert "batch 32 per rank (64 in all)" in two.stdout and "allreduce" in two.stdout
    one_w, two_w = weights(run_folder(tmp_path / "one")), weights(run_folder(tmp_path / "two"))
    for k in one_w:
        np.testing.assert_allclose(two_w[k], one_w[k], rtol=0, atol=1e-6, err_msg=k)   # float32 round-off

    # Resume the 2-rank run for a second epoch: the same weights, bit for bit, as 2 epochs at once.
    folder = run_folder(tmp_path / "two")
    ok(mpirun(2, "-m", "minicnn.train", "--resume", os.path.join(folder, "last.safetensors"), "--epochs", "2",
              "--distributed", "--no-progress"))
    ok(mpirun(2, *train_args(tmp_path / "straight", "--epochs", "2", "--batch-size", "32", "--distributed")))
    resumed, straight = weights(folder), weights(run_folder(tmp_path / "straight"))
    for k in straight:
        np.testing.assert_array_equal(resumed[k], straight[k], err_msg=k)
    with open(os.path.join(folder, "metrics.csv")) as f:
        rows = f.read().strip().splitlines()
    assert len(rows) == 3 and "allreduce_ms" in rows[0]                 # header + one row per epoch


def test_scale_lr_multiplies_by_the_ranks_and_warms_up_from_the_single_process_lr():
    from minicnn.train import build_parser, make_optimizer, make_schedule, resolve

    class FourRanks(distributed.World):
        size = 4

    config = resolve(build_parser().parse_args(["--arch", "lenet5", "--lr", "0.1", "--schedule", "none",
                                                "--warmup-epochs", "3", "--scale-lr"]))
    params = list(nn.Linear(2, 2).parameters())
    optimizer = make_optimizer(config, params, FourRanks())
    schedule = make_schedule(config, optimizer, FourRanks())
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(4):
        schedule.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.2, 0.3, 0.4, 0.4])              # 0.1 -> 4 x 0.1 over 3 epochs
    unscaled = make_optimizer({**config, "scale_lr": False}, params, FourRanks())
    assert unscaled.param_groups[0]["lr"] == 0.1


def test_a_checkpoint_from_inside_an_epoch_resumes_only_with_the_same_number_of_ranks(tmp_path):
    from minicnn.train import TrainError
    from tests.train import tiny

    state = tiny.trainer(tmp_path).state()
    state["batch"] = 1                                           # saved by Ctrl-C after one batch
    mc.save(state, tmp_path / "last.safetensors")
    with pytest.raises(TrainError, match=r"stopped inside an epoch of batches of 1 rank\(s\); resume it with "
                                         r"1 rank\(s\), not 2"):
        tiny.trainer(tmp_path, world=TwinWorld()).restore(tmp_path / "last.safetensors")


@needs_mpi
@needs_data
def test_cli_two_ranks_on_cuda_match_one_process(cupy, tmp_path):
    ok(python(*train_args(tmp_path / "one", "--epochs", "1", "--batch-size", "64", "--device", "cuda")))
    two = ok(mpirun(2, *train_args(tmp_path / "two", "--epochs", "1", "--batch-size", "32", "--distributed",
                                   "--device", "cuda")))
    assert f"on {mc.backend.device_name('cuda')} x 2 ranks (MPI)" in two.stdout
    one_w, two_w = weights(run_folder(tmp_path / "one")), weights(run_folder(tmp_path / "two"))
    for k in one_w:
        np.testing.assert_allclose(two_w[k], one_w[k], rtol=0, atol=1e-6, err_msg=k)   # float32 round-off

