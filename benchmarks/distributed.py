"""Data-parallel training on this machine, and what to expect of the communication on a cluster.

    python benchmarks/distributed.py [--repeats 10]

Measured (ResNet-20, 1x32x32 inputs, batch 64 per rank, SGD; each configuration in its own
``mpirun`` job, median of the repeats after 2 warm-up steps):
  - 1 process with 2 BLAS threads (the ordinary run), 1 process with 1 thread, and 2 ranks with
    1 thread each (global batch 128) on the 2 cores;
  - per step: compute (forward + backward + update), waiting for the other rank (a barrier before
    the gradients are reduced: load imbalance, not communication) and the gradient Allreduce itself
    (GradientAverager: pack, MPI_Allreduce, unpack);
  - the Allreduce alone on a buffer of ResNet-20's, ResNet-50's and VGG-16's gradient size between
    the 2 ranks (shared memory inside one machine).
Estimated (arithmetic, no network here): the bytes each step reduces for VGG-16, ResNet-50 and
ResNet-20, and a bandwidth-bound ring Allreduce's time, 2 (N - 1) / N x bytes / bandwidth, at 10
and 100 Gbit/s for 8 and 64 ranks.
Writes benchmarks/results/distributed.{json,md}.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), ROOT]

import numpy as np  # noqa: E402

from common import RESULTS, markdown_table, write_json  # noqa: E402

BATCH = 64
CONFIGS = [(1, 2), (1, 1), (2, 1)]                  # (ranks, BLAS threads per rank)
# Parameters of the networks as their papers train them (ImageNet: 3x224x224, 1000 classes;
# ResNet-20: CIFAR-10), counted by minicnn's model zoo in the worker.
PAPER_MODELS = {"vgg16": dict(), "resnet50": dict(), "resnet20": dict(in_channels=3)}


def worker(repeats):
    """One rank of the job: time training steps, then raw Allreduces; rank 0 prints a JSON line."""
    import minicnn as mc
    from minicnn import distributed, models, ops, optim

    world = distributed.init()
    rng = np.random.default_rng(world.rank)
    x = mc.Tensor(rng.standard_normal((BATCH, 1, 32, 32)).astype(np.float32))
    y = mc.Tensor(rng.integers(0, 10, BATCH))
    mc.manual_seed(0)
    model = models.get("resnet20", in_channels=1)
    world.broadcast_module(model)
    average = distributed.GradientAverager(world, model.parameters())
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    phases = {"compute_ms": [], "wait_ms": [], "allreduce_ms": [], "step_ms": []}
    for step in range(repeats + 2):
        start = time.perf_counter()
        loss = ops.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        computed = time.perf_counter()
        world.sum([0.0])                     # a barrier: what is left is the Allreduce's own time
        waited = time.perf_counter()
        average()
        reduced = time.perf_counter()
        optimizer.step()
        end = time.perf_counter()
        if step >= 2:
            phases["compute_ms"].append(1e3 * ((computed - start) + (end - reduced)))
            phases["wait_ms"].append(1e3 * (waited - computed))
            phases["allreduce_ms"].append(1e3 * (reduced - waited))
            phases["step_ms"].append(1e3 * (end - start))
    result = {k: statistics.median(v) for k, v in phases.items()}
    result["gradient_bytes"] = sum(p.array.nbytes for p in model.parameters())
    result["buckets"] = len(average.buckets)
    result["allreduce_alone_ms"] = {}
    for name in PAPER_MODELS:
        buffer = np.ones(_paper_parameters(name), np.float32)
        times = []
        for _ in range(5):
            world.sum([0.0])
            start = time.perf_counter()
            world.allreduce_sum(buffer)
            times.append(1e3 * (time.perf_counter() - start))
        result["allreduce_alone_ms"][name] = statistics.median(times)
    if world.is_main:
        print(json.dumps(result), flush=True)


def _paper_parameters(name):
    from minicnn import models
    return models.get(name, **PAPER_MODELS[name]).num_parameters()


def run_config(ranks, threads, repeats):
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    command = ["mpirun", *root, "--oversubscribe", "-np", str(ranks), sys.executable, os.path.abspath(__file__),
               "--worker", "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ring_seconds(nbytes, ranks, gbit_s):
    """A bandwidth-bound ring Allreduce: each rank sends and receives 2 (N - 1) / N of the buffer."""
    return 2 * (ranks - 1) / ranks * nbytes * 8 / (gbit_s * 1e9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.repeats)
    if shutil.which("mpirun") is None:
        raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev; pip install -e \".[dist]\"")

    rows = []
    for ranks, threads in CONFIGS:
        r = run_config(ranks, threads, args.repeats)
        r.update(ranks=ranks, threads=threads, images_per_s=ranks * BATCH / (r["step_ms"] / 1e3),
                 comm_share=r["allreduce_ms"] / r["step_ms"])
        rows.append(r)
        print(f"{ranks} rank(s) x {threads} thread(s): {r['images_per_s']:6.1f} img/s, step {r['step_ms']:6.1f} ms "
              f"(compute {r['compute_ms']:.1f}, wait {r['wait_ms']:.1f}, allreduce {r['allreduce_ms']:.2f} ms "
              f"for {r['gradient_bytes'] / 2**20:.2f} MiB in {r['buckets']} bucket(s))", flush=True)
    base = rows[0]["images_per_s"]
    for r in rows:
        r["speedup"] = r["images_per_s"] / base
    local = rows[-1]["allreduce_alone_ms"]

    estimates = []
    for name in PAPER_MODELS:
        nbytes = 4 * _paper_parameters(name)
        row = {"model": name, "parameters": nbytes // 4, "mib": nbytes / 2**20, "local_2_ranks_ms": local[name]}
        for ranks in (8, 64):
            for gbit in (10, 100):
                row[f"ring_{ranks}_{gbit}_ms"] = 1e3 * ring_seconds(nbytes, ranks, gbit)
        estimates.append(row)

    write_json(os.path.join(RESULTS, "distributed.json"),
               {"benchmark": "data-parallel ResNet-20 training over MPI on this machine; Allreduce estimates",
                "batch_per_rank": BATCH, "repeats": args.repeats, "measured": rows, "estimates": estimates})
    path = os.path.join(RESULTS, "distributed.md")
    markdown_table(path, f"ResNet-20 training step over MPI on this machine (1x32x32, batch {BATCH} per rank, "
                         f"median of {args.repeats} steps); speed-up against 1 process with 2 threads",
                   [("ranks", "ranks", "{}"), ("threads", "threads per rank", "{}"),
                    ("images_per_s", "images/s", "{:.1f}"), ("speedup", "speed-up", "{:.2f}x"),
                    ("step_ms", "step ms", "{:.1f}"), ("compute_ms", "compute ms", "{:.1f}"),
                    ("wait_ms", "waiting ms", "{:.1f}"), ("allreduce_ms", "allreduce ms", "{:.2f}"),
                    ("comm_share", "allreduce share", "{:.2%}")], rows)
    markdown_table(path, "Gradient bytes reduced per step (float32) and a ring Allreduce's time at "
                                  "10 / 100 Gbit/s (bandwidth-bound estimate), with the measured 2-rank Allreduce "
                                  "over shared memory here",
                   [("model", "model", "{}"), ("parameters", "parameters", "{:,}"), ("mib", "MiB per step", "{:.1f}"),
                    ("local_2_ranks_ms", "2 ranks here ms", "{:.1f}"),
                    ("ring_8_10_ms", "8 ranks 10 Gbit/s ms", "{:.0f}"), ("ring_8_100_ms", "8 ranks 100 Gbit/s ms", "{:.1f}"),
                    ("ring_64_10_ms", "64 ranks 10 Gbit/s ms", "{:.0f}"),
                    ("ring_64_100_ms", "64 ranks 100 Gbit/s ms", "{:.1f}")], estimates, append=True)
    print(f"wrote {RESULTS}/distributed.json and .md")


if __name__ == "__main__":
    main()
