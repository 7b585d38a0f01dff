"""Learning-rate schedulers against torch.optim.lr_scheduler, step by step; state_dict; errors."""
import json

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

import minicnn as mc
from minicnn import optim
from minicnn.nn import Parameter
from minicnn.optim import lr_scheduler as ls

BASE_LRS = (0.1, 0.004)      # two param groups, so each group's base lr is followed separately


def _optimizers():
    ours = optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": BASE_LRS[0]},
                      {"params": [Parameter(np.zeros(2))], "lr": BASE_LRS[1]}], lr=1.0, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": BASE_LRS[0]},
                              {"params": [torch.zeros(2, requires_grad=True)], "lr": BASE_LRS[1]}],
                             lr=1.0, momentum=0.9)
    return ours, theirs


def _assert_lrs_equal(ours, theirs, where):
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-18, f"{where}: lr {a!r} != torch {b!r}"


def _compare(make_ours, make_theirs, steps):
    """Build both schedulers (epoch 0), then step both ``steps`` times, comparing every epoch."""
    our_opt, their_opt = _optimizers()
    ours, theirs = make_ours(our_opt), make_theirs(their_opt)
    lrs = []
    for epoch in range(steps + 1):
        if epoch:
            their_opt.step()          # torch warns when a scheduler steps before its optimizer
            ours.step()
            theirs.step()
        _assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), f"epoch {epoch}")
        _assert_lrs_equal([g["lr"] for g in our_opt.param_groups], [g["lr"] for g in their_opt.param_groups],
                          f"epoch {epoch}, param_groups")
        lrs.append(ours.get_last_lr()[0])
    return lrs


CASES = {
    "StepLR": (lambda o: ls.StepLR(o, step_size=7), lambda o: tls.StepLR(o, step_size=7), 40),
    "StepLR-inception": (lambda o: ls.StepLR(o, step_size=2, gamma=0.94), lambda o: tls.StepLR(o, 2, gamma=0.94), 40),
    "MultiStepLR": (lambda o: ls.MultiStepLR(o, [20, 5, 12]), lambda o: tls.MultiStepLR(o, [5, 12, 20]), 35),
    "MultiStepLR-repeated": (lambda o: ls.MultiStepLR(o, [4, 10, 10], gamma=0.5),
                             lambda o: tls.MultiStepLR(o, [4, 10, 10], gamma=0.5), 30),
    "ExponentialLR": (lambda o: ls.ExponentialLR(o, gamma=0.94), lambda o: tls.ExponentialLR(o, gamma=0.94), 60),
    # Exactly T_max steps: the closed form and torch's recursion agree to round-off there ...
    "CosineAnnealingLR": (lambda o: ls.CosineAnnealingLR(o, T_max=30),
                          lambda o: tls.CosineAnnealingLR(o, T_max=30), 30),
    "CosineAnnealingLR-eta_min": (lambda o: ls.CosineAnnealingLR(o, T_max=31, eta_min=1e-3),
                                  lambda o: tls.CosineAnnealingLR(o, T_max=31, eta_min=1e-3), 31),
    # ... and past T_max too (torch's recursion drifts by ~1e-14 relative there, see the docstring).
    "CosineAnnealingLR-beyond": (lambda o: ls.CosineAnnealingLR(o, T_max=10, eta_min=1e-4),
                                 lambda o: tls.CosineAnnealingLR(o, T_max=10, eta_min=1e-4), 45),
    "LinearWarmup-alone": (lambda o: ls.LinearWarmup(o, 10, start_factor=0.1),
                           lambda o: tls.LinearLR(o, start_factor=0.1, total_iters=10), 30),
    "LinearWarmup-default-factor": (lambda o: ls.LinearWarmup(o, 5), lambda o: tls.LinearLR(o, total_iters=5), 30),
    "LinearWarmup-then-cosine": (
        lambda o: ls.LinearWarmup(o, 5, after=ls.CosineAnnealingLR(o, T_max=25), start_factor=0.01),
        lambda o: tls.SequentialLR(o, [tls.LinearLR(o, 0.01, total_iters=5), tls.CosineAnnealingLR(o, T_max=25)],
                                   milestones=[5]), 30),
    "LinearWarmup-then-multistep": (
        lambda o: ls.LinearWarmup(o, 4, after=ls.MultiStepLR(o, [10, 20]), start_factor=0.25),
        lambda o: tls.SequentialLR(o, [tls.LinearLR(o, 0.25, total_iters=4), tls.MultiStepLR(o, [10, 20])],
                                   milestones=[4]), 35),
}


@pytest.mark.parametrize("case", CASES)
def test_matches_torch_every_step(case):
    make_ours, make_theirs, steps = CASES[case]
    lrs = _compare(make_ours, make_theirs, steps)
    assert len(set(lrs)) > 2, "the schedule should actually change the lr"


def test_warmup_ramps_from_zero_and_hands_over():
    opt, _ = _optimizers()
    sched = ls.LinearWarmup(opt, 4, after=ls.StepLR(opt, step_size=3, gamma=0.5), start_factor=0)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.05, 0.05], rtol=1e-15)
    assert opt.param_groups[1]["lr"] == pytest.approx(BASE_LRS[1] / 2, rel=1e-15)


PLATEAU_METRICS = [1.0, 0.9, 0.8, 0.8, 0.8, 0.79995, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.69,
                   0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
                   0.5, 0.5, 0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("kwargs, metrics", [
    (dict(), PLATEAU_METRICS * 2),
    (dict(patience=2), PLATEAU_METRICS),
    (dict(patience=1, cooldown=3, factor=0.5), PLATEAU_METRICS),
    (dict(patience=2, threshold=0.05, threshold_mode="abs", min_lr=[1e-3, 1e-5]), PLATEAU_METRICS),
    (dict(mode="max", patience=1, factor=0.3), [1 - m for m in PLATEAU_METRICS]),
    (dict(mode="max", patience=1, factor=0.5, threshold=0.02, threshold_mode="abs", eps=1e-3),
     [1 - m for m in PLATEAU_METRICS]),
])
def test_reduce_on_plateau_matches_torch(kwargs, metrics):
    our_opt, their_opt = _optimizers()
    ours, theirs = ls.ReduceLROnPlateau(our_opt, **kwargs), tls.ReduceLROnPlateau(their_opt, **kwargs)
    seen = set()
    for epoch, metric in enumerate(metrics):
        their_opt.step()
        ours.step(metric)
        theirs.step(metric)
        _assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), f"epoch {epoch}")
        _assert_lrs_equal([g["lr"] for g in our_opt.param_groups], [g["lr"] for g in their_opt.param_groups],
                          f"epoch {epoch}")
        seen.add(ours.get_last_lr()[0])
    assert len(seen) >= 3, "the metric sequence should trigger at least two reductions"


def test_reduce_on_plateau_takes_a_tensor_metric():
    opt, _ = _optimizers()
    sched = ls.ReduceLROnPlateau(opt, patience=0)
    sched.step(mc.Tensor(np.array(1.0)))
    sched.step(mc.Tensor(np.array(1.0)))
    assert sched.get_last_lr()[0] == pytest.approx(BASE_LRS[0] * 0.1)


ROUND_TRIP = {
    "StepLR": lambda o: ls.StepLR(o, step_size=5, gamma=0.5),
    "MultiStepLR": lambda o: ls.MultiStepLR(o, [8, 15, 25]),
    "ExponentialLR": lambda o: ls.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: ls.CosineAnnealingLR(o, T_max=20, eta_min=1e-4),
    "LinearWarmup": lambda o: ls.LinearWarmup(o, 15, after=ls.CosineAnnealingLR(o, T_max=20), start_factor=0.1),
    "LinearWarmup-after-handover": lambda o: ls.LinearWarmup(o, 6, after=ls.StepLR(o, 4), start_factor=0.1),
    "ReduceLROnPlateau": lambda o: ls.ReduceLROnPlateau(o, patience=2, cooldown=1),
}


@pytest.mark.parametrize("case", ROUND_TRIP)
def test_state_dict_round_trip(case):
    make = ROUND_TRIP[case]
    plateau = case == "ReduceLROnPlateau"

    def step(sched, epoch):
        sched.step(PLATEAU_METRICS[epoch]) if plateau else sched.step()

    opt, _ = _optimizers()
    sched = make(opt)
    for epoch in range(12):
        step(sched, epoch)
    sd, opt_sd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd
    sd = json.loads(json.dumps(sd))                   # plain numbers, strings, lists and dicts only

    opt2, _ = _optimizers()
    sched2 = make(opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert sched2.get_last_lr() == sched.get_last_lr()
    for epoch in range(12, 30):
        step(sched, epoch)
        step(sched2, epoch)
        assert sched2.get_last_lr() == sched.get_last_lr(), f"epoch {epoch}"
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_initial_lr_is_recorded_once():
    opt, _ = _optimizers()
    ls.StepLR(opt, step_size=1, gamma=0.5).step()         # lr is now base / 2
    second = ls.ExponentialLR(opt, gamma=0.9)
    assert second.base_lrs == list(BASE_LRS) and second.get_last_lr() == list(BASE_LRS)


@pytest.mark.parametrize("make, message", [
    (lambda o: ls.StepLR(o, step_size=0), r"StepLR: step_size must be an int >= 1, got 0"),
    (lambda o: ls.CosineAnnealingLR(o, T_max=0), r"CosineAnnealingLR: T_max must be > 0, got 0"),
    (lambda o: ls.LinearWarmup(o, 0), r"LinearWarmup: warmup_steps must be an int >= 1, got 0"),
    (lambda o: ls.LinearWarmup(o, 5, start_factor=1.5), r"LinearWarmup: start_factor must be in \[0, 1\], got 1.5"),
    (lambda o: ls.LinearWarmup(o, 5, after=ls.ReduceLROnPlateau(o)),
     r"LinearWarmup: after cannot be ReduceLROnPlateau"),
    (lambda o: ls.LinearWarmup(o, 5, after=ls.StepLR(_optimizers()[0], 3)),
     r"LinearWarmup: after must be a scheduler of the same optimizer"),
    (lambda o: ls.ReduceLROnPlateau(o, factor=1.0), r"ReduceLROnPlateau: factor must be in \[0, 1\), got 1.0"),
    (lambda o: ls.ReduceLROnPlateau(o, mode="avg"), r"ReduceLROnPlateau: mode must be 'min' or 'max', got 'avg'"),
    (lambda o: ls.ReduceLROnPlateau(o, threshold_mode="x"),
     r"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs'"),
    (lambda o: ls.ReduceLROnPlateau(o, min_lr=[0.1]),
     r"ReduceLROnPlateau: expected 2 min_lr values \(one per group\), got 1"),
    (lambda o: ls.ExponentialLR(o, gamma=0.9, last_epoch=4),
     r"ExponentialLR: resuming at last_epoch=4 needs param_groups\[0\]\['initial_lr'\]"),
])
def test_errors(make, message):
    opt, _ = _optimizers()
    with pytest.raises(ValueError, match=message):
        make(opt)
