"""The validation split: training images held out to choose the best epoch, so that the test set
is never used for a choice and its score at the end is an honest estimate.

The held-out images are drawn at random (not the first or last ones, which may be ordered by class
or by source) from ``--seed``, so a run and its resumption, or two runs with the same seed, hold
out the same images.
"""
import numpy as np

from minicnn.data import ArrayDataset
from minicnn.train.errors import TrainError

__all__ = ["validation_size", "split"]

DEFAULT_SHARE, DEFAULT_MAX = 0.1, 5000
_STREAM = 0x76616c      # "val": keeps this generator apart from the loader's [seed, epoch] shuffles


def validation_size(n, val_split):
    """How many of ``n`` training images to hold out: ``val_split`` images, or that fraction of ``n``
    (None: 10%, at most 5,000). TrainError when that leaves no image on either side."""
    if val_split is None:
        k = min(round(DEFAULT_SHARE * n), DEFAULT_MAX)
    elif isinstance(val_split, float):
        k = round(val_split * n)
    else:
        k = val_split
    if not 1 <= k < n:
        shown = "the default 10%" if val_split is None else f"--val-split {val_split}"
        raise TrainError(f"{shown} holds out {k} of the {n} training images; validation and "
                         f"training each need at least one: use --val-split between 1 and {n - 1} images "
                         "(or a larger --subset)")
    return k


def split(dataset, k, seed):
    """(train, validation): ``dataset`` without and with ``k`` images drawn from ``seed``, each in
    the dataset's own order."""
    order = np.random.default_rng([seed, _STREAM]).permutation(len(dataset))
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    take = lambda idx: ArrayDataset(dataset.images[idx], dataset.labels[idx], dataset.classes,  # noqa: E731
                                    dataset.name)
    return take(kept), take(held)
