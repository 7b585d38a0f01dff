"""DataLoader: batches of (images, labels) Tensors, shuffled reproducibly, prepared ahead of time.

- Shuffling: epoch e uses the permutation of ``np.random.default_rng([seed, e])``, and batch b's
  augmentation uses ``np.random.default_rng([seed, e, b])``: a run is reproducible from its
  seed, and a resumed run (``set_epoch``) sees exactly the batches it would have seen.
- Sharding for data-parallel training: with ``world_size`` W > 1, each global batch of
  ``batch_size * W`` images is the one a single process with that batch size would draw, and rank
  r takes its r-th slice of ``batch_size`` images. Every rank uses the same seed, so the shards
  are disjoint, equal in size (with ``drop_last``) and together exactly the single-process batch.
  Augmentation draws from ``[seed, e, b, r]`` on rank r.
- Prefetching: background threads gather, transform and move the next batches to the device
  while the model computes on the current one (NumPy releases the GIL for its copies and most
  array operations, so they overlap). One thread with ``num_workers=0`` (``prefetch=0``: none, all
  in the caller's thread), ``num_workers`` threads otherwise, which keep ``max(prefetch,
  num_workers)`` batches in flight. Each batch depends only on (seed, epoch, batch index), not on
  which thread makes it or when, and batches are handed out in order: the same batches in the
  same order for every num_workers. Threads rather than PyTorch's processes: nothing is pickled
  or copied between processes, and NumPy releases the GIL for most of the work. Whether more
  threads make training faster has not been measured on a quiet machine yet:
  benchmarks/loader_workers.py is that measurement.
- ``pin_memory`` is accepted and changes nothing: CuPy copies from ordinary host memory.
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np

from minicnn.tensor import Tensor

__all__ = ["DataLoader"]


class DataLoader:
    def __init__(self, dataset, batch_size=64, shuffle=False, drop_last=False, transform=None, seed=0,
                 device=None, prefetch=2, rank=0, world_size=1, num_workers=0, pin_memory=False):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"DataLoader: rank must be in [0, world_size={world_size}), got {rank}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.transform, self.seed, self.device, self.prefetch = transform, seed, device, prefetch
        self.rank, self.world_size = rank, world_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch, skip=0):
        """Make the next iteration produce epoch ``epoch``'s order (used when resuming), from its
        batch ``skip`` on: the batches before it are neither loaded nor transformed, and the ones
        after are exactly those of an iteration that went through them."""
        self.epoch, self.skip = epoch, skip

    def __len__(self):
        n, step = len(self.dataset), self.batch_size * self.world_size
        return n // step if self.drop_last else -(-n // step)

    def _order(self, epoch):
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def _batch(self, epoch, b, indices):
        images, labels = self.dataset[indices]
        if self.transform is not None:
            key = [self.seed, epoch, b] + ([self.rank] if self.world_size > 1 else [])
            images = self.transform(images, np.random.default_rng(key))
        return (Tensor(np.ascontiguousarray(images), device=self.device),
                Tensor(np.asarray(labels, np.int64), device=self.device))

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        order, step = self._order(epoch), self.batch_size * self.world_size
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        bounds = [(b, order[start:start + step][mine]) for b, start in enumerate(range(0, len(order), step))]
        if self.drop_last and bounds and len(order) % step:
            bounds.pop()
        bounds = [(b, indices) for b, indices in bounds if len(indices)]   # a short last batch may miss a rank
        bounds, self.skip = bounds[self.skip:], 0
        if self.prefetch < 1 and self.num_workers == 0:
            for b, indices in bounds:
                yield self._batch(epoch, b, indices)
            return
        yield from self._prefetched(bounds, epoch)

    def _prefetched(self, bounds, epoch):
        """The batches of ``bounds`` in order, made ahead by a pool of threads."""
        workers = max(1, self.num_workers)
        ahead = max(self.prefetch, workers)
        todo = iter(bounds)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="DataLoader")
        try:
            pending = deque(pool.submit(self._batch, epoch, b, indices) for b, indices in islice(todo, ahead))
            while pending:
                batch = pending.popleft().result()          # an error in a worker is raised here
                for b, indices in islice(todo, 1):
                    pending.append(pool.submit(self._batch, epoch, b, indices))
                yield batch
        finally:                                            # also when the caller stops early
            pool.shutdown(wait=True, cancel_futures=True)
