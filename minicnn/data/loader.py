"""DataLoader: batches of (images, labels) Tensors, shuffled reproducibly, prepared ahead of time.

- Shuffling: epoch e uses the permutation of ``np.random.default_rng([seed, e])``, and batch b's
  augmentation uses ``np.random.default_rng([seed, e, b])``: a run is reproducible from its
  seed, and a resumed run (``set_epoch``) sees exactly the batches it would have seen.
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
                 device=None, prefetch=2):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.transform, self.seed, self.device, self.prefetch = transform, seed, device, prefetch
        self.epoch = 0

    def set_epoch(self, epoch):
        """Make the next iteration produce epoch ``epoch``'s order (used when resuming)."""
        self.epoch = epoch

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, epoch):
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def _batch(self, epoch, b, indices):
        images, labels = self.dataset[indices]
        if self.transform is not None:
            images = self.transform(images, np.random.default_rng([self.seed, epoch, b]))
        return (Tensor(np.ascontiguousarray(images), device=self.device),
                Tensor(np.asarray(labels, np.int64), device=self.device))

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        order = self._order(epoch)
        bounds = [(b, order[start:start + self.batch_size])
                  for b, start in enumerate(range(0, len(order), self.batch_size))]
        if self.drop_last and bounds and len(bounds[-1][1]) < self.batch_size:
            bounds.pop()
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
