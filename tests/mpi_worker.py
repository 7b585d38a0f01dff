"""Run by tests/test_distributed.py under ``mpirun -np N`` (or alone, as one process).

``python tests/mpi_worker.py train OUT STEPS BATCH``: trains a small float64 CNN for STEPS steps of
BATCH images per rank on its shard of a fixed random data set, with gradients averaged by
GradientAverager; rank 0 saves the final weights and the Allreduce call count to OUT (.npz).

``python tests/mpi_worker.py fail``: rank 1 raises while rank 0 waits in an Allreduce; the job
must end (MPI_Abort), not hang.
"""
import sys

import numpy as np

import minicnn as mc
from minicnn import distributed, nn
from minicnn.data import ArrayDataset, DataLoader


def small_cnn():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    return model


def train(out, steps, batch):
    world = distributed.init()
    rng = np.random.default_rng(1)
    data = ArrayDataset(rng.integers(0, 256, (steps * batch * world.size, 1, 8, 8), dtype=np.uint8),
                        rng.integers(0, 3, steps * batch * world.size), ["a", "b", "c"], "random")
    to_float = lambda images, rng: images.astype(np.float64) / 255    # noqa: E731
    loader = DataLoader(data, batch, shuffle=True, drop_last=True, transform=to_float, seed=3, prefetch=0,
                        rank=world.rank, world_size=world.size)
    model = small_cnn()
    world.broadcast_module(model)
    average = distributed.GradientAverager(world, model.parameters(), bucket_bytes=512)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for images, labels in loader:
        loss = mc.ops.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        average()
        optimizer.step()
    if world.is_main:
        np.savez(out, calls=average.calls, buckets=len(average.buckets),
                 **{name: t.array for name, t in model.state_dict().items()})


def fail():
    world = distributed.init()
    with world.abort_on_failure():
        if world.rank == 1:
            raise RuntimeError("injected failure on rank 1")
        world.sum([1.0])                     # waits for rank 1 forever unless the job is aborted


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        fail()
