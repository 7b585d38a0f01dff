"""SGD, RMSprop, Adam, AdamW, Adadelta, Adagrad against torch.optim step by step; state_dict; error messages."""
import json

import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import optim
from minicnn.backend import device_of, to_device
from minicnn.nn import Parameter
from tests.oracle import rel_error

# Every test runs on the NumPy reference and with the numba kernels (SGD's fused update).
pytestmark = pytest.mark.usefixtures("fast_path")

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 25
TOL = 1e-12          # float64: the same equations agree to round-off


def _no_grad_at(step, i):
    """Parameter 2 gets no gradient on steps 0, 3, 6, ... (so its state starts late and lags)."""
    return i == 2 and step % 3 == 0


class _Pair:
    """The same parameters as minicnn Parameters (on xp) and as torch tensors."""

    def __init__(self, xp, rng, dtype=np.float64):
        arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.xp, self.dtype = xp, dtype
        self.ours = [Parameter(xp.asarray(a.copy())) for a in arrays]
        self.theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]

    def set_grads(self, rng, step, skip=_no_grad_at):
        grads = []
        for i, (p, tp) in enumerate(zip(self.ours, self.theirs)):
            if skip(step, i):
                p.grad = tp.grad = None
                grads.append(None)
                continue
            g = rng.standard_normal(p.shape).astype(self.dtype)
            p.grad = mc.Tensor(self.xp.asarray(g.copy()))
            tp.grad = torch.tensor(g)
            grads.append(g)
        return grads

    def check(self, tol, where):
        for i, (p, tp) in enumerate(zip(self.ours, self.theirs)):
            err = rel_error(p.numpy(), tp.detach().numpy())
            assert err < tol, f"{where}: parameter {i} differs from torch: rel error {err:.3g}"


def _groups(params, group_settings):
    """[p0, p1, p2] -> param groups: p0, p1 in the first with group_settings, p2 in the second."""
    return [{"params": params[:2], **group_settings}, {"params": params[2:]}]


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=1e-2)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=1e-3, centered=True)),
    ("RMSprop", dict(lr=1e-3, momentum=0.9)),
    ("RMSprop", dict(lr=1e-3, momentum=0.5, centered=True, weight_decay=1e-2)),
    ("RMSprop", dict(lr=0.045, alpha=0.9, eps=1.0)),                  # Inception v3
    ("RMSprop", dict(lr=0.045, alpha=0.9, eps=1.0, momentum=0.9)),
    ("Adam", dict()),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=1e-2, betas=(0.85, 0.995), weight_decay=0.1)),
    ("Adadelta", dict()),                                              # PyTorch's MNIST example
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-4, weight_decay=1e-2)),
    ("Adadelta", dict(rho=0.0)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=1e-2)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.3, eps=1e-3)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in CONFIGS]


def _run_side_by_side(pair, ours, theirs, rng, steps=STEPS, tol=TOL):
    ids = [[id(p.array) for p in pair.ours]]         # p.array of each parameter, before and after each step
    given = []           # every gradient handed to step(), with its value: none may change, ever
    for step in range(steps):
        grads = pair.set_grads(rng, step)
        given += [(p.grad, g) for p, g in zip(pair.ours, grads) if g is not None]
        ours.step()
        theirs.step()
        pair.check(tol, f"step {step}")
        ids.append([id(p.array) for p in pair.ours])
    assert all(np.array_equal(grad.numpy(), g) for grad, g in given), "step() must not modify (or keep) a gradient"
    # In place, except that on a GPU, SGD moves each group's parameters into one flat buffer once, at
    # the first step where all of them have a gradient (minicnn/fused/flat.py); never on the CPU.
    moves = sum(before != after for before, after in zip(ids, ids[1:]))
    allowed = len(ours.param_groups) if pair.xp is not np and isinstance(ours, optim.SGD) else 0
    assert moves <= allowed, "step() must update p.array in place"


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_matches_torch_every_step(name, kwargs, xp, rng):
    pair = _Pair(xp, rng)
    ours = getattr(optim, name)(pair.ours, **kwargs)
    theirs = getattr(torch.optim, name)(pair.theirs, **kwargs)
    _run_side_by_side(pair, ours, theirs, rng)
    # PyTorch's state names, and the parameter that skipped steps counts fewer of them.
    for p, tp in zip(pair.ours, pair.theirs):
        assert set(ours.state.get(p, {})) == set(theirs.state.get(tp, {}))
    if "step" in theirs.state[pair.theirs[2]]:
        assert ours.state[pair.ours[2]]["step"] == int(theirs.state[pair.theirs[2]]["step"]) == 16
    assert set(ours.param_groups[0]) <= set(theirs.param_groups[0])


@pytest.mark.parametrize("name, group_settings, defaults", [
    ("SGD", dict(lr=0.3, weight_decay=1e-2), dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(momentum=0.5, nesterov=True), dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
    ("RMSprop", dict(lr=1e-2, weight_decay=1e-2, centered=True), dict(lr=1e-3, momentum=0.9)),
    ("Adam", dict(lr=1e-2, weight_decay=1e-2), dict(lr=1e-3)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.2, betas=(0.5, 0.9)), dict(lr=1e-3)),
    ("Adadelta", dict(lr=0.3, rho=0.5), dict(weight_decay=1e-2)),
    ("Adagrad", dict(lr=0.1, eps=1e-3), dict(lr_decay=0.1, initial_accumulator_value=0.5)),
])
def test_two_param_groups_match_torch(name, group_settings, defaults, xp, rng):
    pair = _Pair(xp, rng)
    ours = getattr(optim, name)(_groups(pair.ours, group_settings), **defaults)
    theirs = getattr(torch.optim, name)(_groups(pair.theirs, group_settings), **defaults)
    for key, value in group_settings.items():
        assert ours.param_groups[0][key] == value
    for key, value in defaults.items():
        assert ours.param_groups[1][key] == value
    _run_side_by_side(pair, ours, theirs, rng)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("RMSprop", dict(centered=True)),
                                          ("Adam", dict(lr=1e-2)), ("AdamW", dict(lr=1e-2)),
                                          ("Adadelta", dict()), ("Adagrad", dict(lr=0.1))])
def test_float32_stays_float32_and_matches_torch(name, kwargs, xp, rng):
    pair = _Pair(xp, rng, dtype=np.float32)
    ours = getattr(optim, name)(pair.ours, **kwargs)
    theirs = getattr(torch.optim, name)(pair.theirs, **kwargs)
    _run_side_by_side(pair, ours, theirs, rng, steps=10, tol=1e-5)
    assert all(p.dtype == np.float32 for p in pair.ours)
    assert all(a.dtype == np.float32 for s in ours.state.values() for a in s.values() if hasattr(a, "dtype"))


@pytest.mark.parametrize("kwargs", [dict(momentum=0.9, weight_decay=5e-4), dict(momentum=0.9, nesterov=True),
                                    dict(momentum=0.5, dampening=0.1), dict(weight_decay=1e-4)])
def test_sgd_kernel_equals_the_numpy_update_bit_for_bit(kwargs, rng):
    """Same operations in the same order and dtype: float32 parameters end identical on both paths."""
    from minicnn import fast
    if not fast.available():
        pytest.skip("numba test skipped: numba is not installed")
    start = rng.standard_normal((7, 5)).astype(np.float32)
    grads = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(5)]
    results = []
    for numba_path in (False, True):
        previous = fast.set_enabled(numba_path)
        p = Parameter(start.copy())
        opt = optim.SGD([p], lr=0.1, **kwargs)
        for g in grads:
            p.grad = mc.Tensor(g)
            opt.step()
        fast.set_enabled(previous)
        results.append(p.array)
    np.testing.assert_array_equal(results[0], results[1])


def test_zero_grad_sets_none_and_step_skips_missing_grads(rng):
    p, q = Parameter(rng.standard_normal(3)), Parameter(rng.standard_normal(2))
    opt = optim.SGD([p, q], lr=0.1, momentum=0.9)
    p.grad, q.grad = mc.Tensor(np.ones(3)), mc.Tensor(np.ones(2))
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    before = q.numpy().copy()
    p.grad = mc.Tensor(np.ones(3))
    opt.step()
    assert np.array_equal(q.numpy(), before) and q not in opt.state


def test_step_calls_closure_and_returns_its_loss(rng):
    p = Parameter(rng.standard_normal(3))

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    opt = optim.SGD([p], lr=0.25)
    start = p.numpy().copy()
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(float(np.sum(start ** 2)))
    np.testing.assert_allclose(p.numpy(), start - 0.25 * 2 * start)


# ---- state_dict --------------------------------------------------------------------------------
ROUND_TRIP = [("SGD", dict(lr=0.3, momentum=0.9), dict(lr=0.05, momentum=0.5, dampening=0.1)),
              ("RMSprop", dict(lr=1e-2, centered=True), dict(lr=1e-3, momentum=0.9)),
              ("Adam", dict(lr=1e-2, betas=(0.8, 0.9)), dict(lr=1e-3, weight_decay=1e-2)),
              ("AdamW", dict(lr=1e-2), dict(lr=1e-3)),
              ("Adadelta", dict(rho=0.8), dict(lr=0.5)),
              ("Adagrad", dict(lr=0.1), dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1))]


def _assert_plain(value, where="state_dict"):
    """Only arrays, Python numbers, strings, bools, None, lists and dicts (safetensors + JSON)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, (int, str)), f"{where}: key {k!r}"
            _assert_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _assert_plain(v, f"{where}[{i}]")
    else:
        ok = (value is None or type(value) in (bool, int, float, str)
              or isinstance(value, mc.get_array_module(value).ndarray))
        assert ok, f"{where} is a {type(value).__name__}"


def _as_if_from_disk(sd):
    """What a safetensors + JSON round trip may give back: str keys, JSON'd groups, and every state
    value a NumPy array, the step count included (a 0-d array)."""
    state = {str(i): {k: np.array(to_device(v, "cpu")) for k, v in s.items()} for i, s in sd["state"].items()}
    return {"state": state, "param_groups": json.loads(json.dumps(sd["param_groups"]))}


@pytest.mark.parametrize("name, group_settings, defaults", ROUND_TRIP)
def test_state_dict_round_trip_continues_identically(name, group_settings, defaults, xp, rng):
    pair = _Pair(xp, rng)
    a = getattr(optim, name)(_groups(pair.ours, group_settings), **defaults)
    grad_rng = np.random.default_rng(5)
    for step in range(8):
        pair.set_grads(grad_rng, step)
        a.step()
    sd = a.state_dict()
    _assert_plain(sd)
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert set(sd["state"]) == {0, 1, 2}
    if "step" in sd["state"][0]:
        assert sd["state"][0]["step"] == 8 and sd["state"][2]["step"] == 5

    resumed = []
    for loaded in (sd, _as_if_from_disk(sd)):
        params = [Parameter(p.array.copy()) for p in pair.ours]
        b = getattr(optim, name)(_groups(params, {}), lr=123.0)     # different hyperparameters: loaded over
        b.load_state_dict(loaded)
        assert b.param_groups[0]["params"] == params[:2] and b.param_groups[1]["params"] == params[2:]
        assert b.param_groups[0]["lr"] == a.param_groups[0]["lr"]
        assert type(b.param_groups[0].get("betas", ())) is tuple
        for p, q in zip(pair.ours, params):
            for key, value in a.state[p].items():
                if hasattr(value, "shape"):
                    assert b.state[q][key] is not value, "load_state_dict must copy the arrays"
                    assert device_of(b.state[q][key]) == q.device
        resumed.append((b, params))

    for step in range(8, 20):
        grads = pair.set_grads(grad_rng, step)
        a.step()
        for b, params in resumed:
            for q, g in zip(params, grads):
                q.grad = None if g is None else mc.Tensor(xp.asarray(g))
            b.step()
    for b, params in resumed:
        for p, q in zip(pair.ours, params):
            assert np.array_equal(p.numpy(), q.numpy()), "a resumed run differs from an uninterrupted one"


def test_adagrad_state_exists_before_the_first_step_as_in_torch(rng):
    """torch's Adagrad fills its state in the constructor, so a fresh state_dict lists every parameter."""
    pair = _Pair(np, rng)
    ours = optim.Adagrad(_groups(pair.ours, {}), initial_accumulator_value=0.25)
    theirs = torch.optim.Adagrad(_groups(pair.theirs, {}), initial_accumulator_value=0.25)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert set(sd["state"]) == set(tsd["state"]) == {0, 1, 2}
    for i, s in sd["state"].items():
        assert set(s) == set(tsd["state"][i]) and s["step"] == int(tsd["state"][i]["step"]) == 0
        np.testing.assert_array_equal(s["sum"], tsd["state"][i]["sum"].numpy())
    extra = Parameter(np.ones(4))
    ours.add_param_group({"params": [extra]})
    assert ours.state[extra]["step"] == 0 and np.all(ours.state[extra]["sum"] == 0.25)


def test_load_state_dict_casts_to_parameter_dtype(rng):
    p64 = Parameter(rng.standard_normal((2, 3)))
    a = optim.Adam([p64])
    p64.grad = mc.Tensor(rng.standard_normal((2, 3)))
    a.step()
    p32 = Parameter(rng.standard_normal((2, 3)).astype(np.float32))
    b = optim.Adam([p32])
    b.load_state_dict(a.state_dict())
    assert b.state[p32]["exp_avg"].dtype == np.float32 and b.state[p32]["step"] == 1
    np.testing.assert_allclose(b.state[p32]["exp_avg"], a.state[p64]["exp_avg"], rtol=1e-6)


def test_load_state_dict_mismatch_errors(rng):
    ps = [Parameter(rng.standard_normal(2)) for _ in range(3)]
    two_groups = optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the state dict has 2 parameter group\(s\) "
                                         r"but this optimizer has 1"):
        optim.SGD(ps, lr=0.1).load_state_dict(two_groups)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: parameter group 0 has 2 parameter\(s\) "
                                         r"in the state dict but 1 in this optimizer"):
        optim.SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1).load_state_dict(two_groups)
    bad = optim.SGD(ps, lr=0.1).state_dict()
    bad["state"][7] = {"momentum_buffer": np.zeros(2)}
    with pytest.raises(ValueError, match="state for parameter index 7, which no parameter group lists"):
        optim.SGD(ps, lr=0.1).load_state_dict(bad)
    bad["state"] = {1: {"momentum_buffer": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: state 'momentum_buffer' of parameter 1 has shape "
                                         r"\(3,\) but the parameter has shape \(2,\)"):
        optim.SGD(ps, lr=0.1).load_state_dict(bad)


# ---- errors ------------------------------------------------------------------------------------
def _p():
    return Parameter(np.zeros(2))


@pytest.mark.parametrize("make, message", [
    (lambda: optim.SGD([_p()], lr=-0.1), r"SGD: lr must be >= 0, got -0.1"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=-0.9), r"SGD: momentum must be >= 0, got -0.9"),
    (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), r"SGD: nesterov needs momentum > 0 and dampening = 0"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     r"SGD: nesterov needs momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (lambda: optim.SGD([{"params": [_p()], "weight_decay": -1}], lr=0.1), r"SGD: weight_decay must be >= 0, got -1"),
    (lambda: optim.SGD([], lr=0.1), r"SGD: got an empty parameter list"),
    (lambda: optim.SGD([{"params": []}], lr=0.1), r"SGD: parameter group 0 has an empty parameter list"),
    (lambda: optim.RMSprop([_p()], alpha=-0.5), r"RMSprop: alpha must be >= 0, got -0.5"),
    (lambda: optim.RMSprop([_p()], eps=-1e-8), r"RMSprop: eps must be >= 0, got -1e-08"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda: optim.AdamW([_p()], betas=(0.9, -0.1)), r"AdamW: betas\[1\] must be in \[0, 1\), got -0.1"),
    (lambda: optim.Adam([{"params": [_p()], "lr": -1}]), r"Adam: lr must be >= 0, got -1"),
    (lambda: optim.Adam([_p()], lr=float("nan")), r"Adam: lr must be >= 0, got nan"),
    (lambda: optim.Adadelta([_p()], rho=1.5), r"Adadelta: rho must be in \[0, 1\], got 1.5"),
    (lambda: optim.Adadelta([_p()], eps=-1.0), r"Adadelta: eps must be >= 0, got -1.0"),
    (lambda: optim.Adagrad([_p()], lr_decay=-0.1), r"Adagrad: lr_decay must be >= 0, got -0.1"),
    (lambda: optim.Adagrad([_p()], initial_accumulator_value=-1),
     r"Adagrad: initial_accumulator_value must be >= 0, got -1"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_params():
    p = _p()
    with pytest.raises(TypeError, match="got a single Tensor: pass \\[param\\] instead"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="SGD: can only optimise Tensors \\(Parameters\\), got ndarray"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="SGD: a parameter appears more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
