"""An epoch's sums: read on the host every READ_EVERY steps on a GPU, every step on the CPU; a
non-finite loss says which batches."""
import math

import numpy as np
import pytest

from minicnn.train.epoch_sums import READ_EVERY, EpochSums


def test_the_sums_add_up_and_are_read_when_due():
    sums = EpochSums("cuda:0")
    for step in range(READ_EVERY):
        assert not sums.due()
        sums.add(np.array([2.0, 0.5, 3.0, 4.0]))
    assert sums.due()
    sums.read(epoch=0, batch=READ_EVERY)
    assert sums.totals == {"images": 4 * READ_EVERY, "loss_sum": 20.0, "aux_sum": 5.0, "correct": 3 * READ_EVERY}
    assert sums.mean("loss_sum") == 0.5 and not sums.due()
    assert EpochSums("cpu").read_every == 1


def test_a_non_finite_loss_names_the_batches_it_may_be_in():
    sums = EpochSums("cuda:0")
    sums.add(np.array([1.0, 0.0, 1.0, 2.0]))
    sums.add(np.array([math.inf, 0.0, 1.0, 2.0]))
    with pytest.raises(FloatingPointError, match="the training loss became inf at epoch 3, one of batches 6-7"):
        sums.read(epoch=2, batch=7)
