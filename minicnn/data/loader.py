"""DataLoader: batches of (images, labels) Tensors, shuffled reproducibly, prepared ahead of time.

- Shuffling: epoch e uses the permutation of ``np.random.default_rng([seed, e])``, and batch b's
  augmentation uses ``np.random.default_rng([seed, e, b])``: a run is reproducible from its
  seed, and a resumed run (``set_epoch``) sees exactly the batches it would have seen.
- Sharding for data-parallel training: with ``world_size`` W > 1, each global batch of
  ``batch_size * W`` images is the one a single process with that batch size would draw, and rank
  r takes its r-th slice of ``batch_size`` images. Every rank uses the same seed, so the shards
  are disjoint, equal in size (with ``drop_last``) and together exactly the single-process batch.
  Augmentation draws from ``[seed, e, b, r]`` on rank r.
- Prefetching: a background thread gathers, transforms and moves the next ``prefetch`` batches
  to the device while the model computes on the current one (NumPy releases the GIL for its
  copies, so the two overlap).
"""
import queue
import threading

import numpy as np

from minicnn.tensor import Tensor

__all__ = ["DataLoader"]


class DataLoader:
    def __init__(self, dataset, batch_size=64, shuffle=False, drop_last=False, transform=None, seed=0,
                 device=None, prefetch=2, rank=0, world_size=1):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"DataLoader: rank must be in [0, world_size={world_size}), got {rank}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.transform, self.seed, self.device, self.prefetch = transform, seed, device, prefetch
        self.rank, self.world_size = rank, world_size
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
        if self.prefetch < 1:
            for b, indices in bounds:
                yield self._batch(epoch, b, indices)
            return
        yield from self._prefetched(bounds, epoch)

    def _prefetched(self, bounds, epoch):
        ready = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def work():
            try:
                for b, indices in bounds:
                    if stop.is_set():
                        return
                    ready.put(self._batch(epoch, b, indices))
                ready.put(done)
            except BaseException as e:                            # hand the error to the consumer
                ready.put(e)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():               # unblock a worker waiting on a full queue
                try:
                    ready.get_nowait()
                except queue.Empty:
                    thread.join(0.01)
