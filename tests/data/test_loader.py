import numpy as np
import pytest

from minicnn.data import ArrayDataset, DataLoader
from minicnn.data import transforms as T


def dataset(n=10):
    images = np.arange(n, dtype=np.uint8).repeat(4).reshape(n, 1, 2, 2)
    return ArrayDataset(images, np.arange(n) % 3, ["a", "b", "c"], "toy")


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_cover_the_dataset_once(prefetch):
    loader = DataLoader(dataset(), batch_size=4, shuffle=True, seed=3, prefetch=prefetch)
    assert len(loader) == 3
    seen = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in loader])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    loader.drop_last = True
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_order_is_reproducible_per_epoch_and_resumable():
    def epochs(loader, n):
        return [[int(v) for x, _ in loader for v in x.numpy()[:, 0, 0, 0]] for _ in range(n)]

    a = epochs(DataLoader(dataset(), 3, shuffle=True, seed=1), 3)
    b = epochs(DataLoader(dataset(), 3, shuffle=True, seed=1), 3)
    assert a == b and a[0] != a[1]
    resumed = DataLoader(dataset(), 3, shuffle=True, seed=1)
    resumed.set_epoch(2)
    assert epochs(resumed, 1)[0] == a[2]


def test_augmentation_is_seeded_per_batch_and_labels_follow_images():
    tf = T.Compose([T.ToFloat(), T.RandomCrop(2, padding=1)])
    one = [x.numpy() for x, _ in DataLoader(dataset(), 4, shuffle=True, seed=5, transform=tf)]
    two = [x.numpy() for x, _ in DataLoader(dataset(), 4, shuffle=True, seed=5, transform=tf, prefetch=0)]
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p, q)
    for x, y in DataLoader(dataset(), 4, shuffle=True, seed=0):
        assert (x.numpy()[:, 0, 0, 0] % 3 == y.numpy()).all() and y.dtype == np.int64


THREADS = [dict(prefetch=1), dict(num_workers=4)]


@pytest.mark.parametrize("threads", THREADS)
def test_errors_in_the_worker_reach_the_caller(threads):
    def broken(x, rng):
        raise RuntimeError("transform failed")

    with pytest.raises(RuntimeError, match="transform failed"):
        list(DataLoader(dataset(), 4, transform=broken, **threads))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(dataset(), 0)
    with pytest.raises(ValueError, match=r"DataLoader: num_workers must be an int >= 0, got -1"):
        DataLoader(dataset(), 4, num_workers=-1)


@pytest.mark.parametrize("threads", THREADS)
def test_stopping_early_does_not_hang(threads):
    loader = DataLoader(dataset(100), 2, **threads)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert sum(1 for _ in loader) == 50


@pytest.mark.parametrize("num_workers", [1, 3])
def test_workers_give_the_same_batches_in_the_same_order(num_workers):
    """The caller's thread's batches (seeded augmentation included), epoch after epoch, from 1 or 3 threads."""
    tf = T.Compose([T.ToFloat(), T.RandomCrop(2, padding=1), T.RandomHorizontalFlip()])

    def epochs(**kwargs):
        loader = DataLoader(dataset(37), 4, shuffle=True, seed=11, transform=tf, **kwargs)
        return [[(x.numpy(), y.numpy()) for x, y in loader] for _ in range(3)]

    reference, parallel = epochs(prefetch=0), epochs(num_workers=num_workers, pin_memory=True)   # no threads; threads
    assert len(parallel) == 3 and all(len(e) == 10 for e in parallel)
    for ref_epoch, epoch in zip(reference, parallel):
        for (x0, y0), (x1, y1) in zip(ref_epoch, epoch):
            np.testing.assert_array_equal(x0, x1)
            np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(reference[0][0][0], reference[1][0][0])       # the epochs differ

