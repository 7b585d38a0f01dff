import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import nn
from tests.oracle import device_for


class Block(nn.Module):
    """A ResNet-style basic block, to exercise nested names."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.layer1 = nn.Sequential(Block(4), Block(4))
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 3)})
        self.extras = nn.ModuleList([nn.Dropout(0.5)])
        self.pool = nn.GlobalAvgPool2d()

    def forward(self, x):
        h = self.pool(self.layer1(self.stem(x)))
        return self.heads["cls"](self.extras[0](h.flatten(1)))


def test_names_follow_pytorch_convention():
    names = list(Net().state_dict())
    assert names[:2] == ["stem.weight", "stem.bias"]
    assert "layer1.0.conv1.weight" in names and "layer1.1.bn2.running_var" in names
    assert "layer1.0.bn1.num_batches_tracked" in names and "heads.cls.weight" in names
    assert [n for n, _ in Net().named_parameters()][:3] == ["stem.weight", "stem.bias", "layer1.0.conv1.weight"]
    assert [n for n, _ in Net().named_modules()][:4] == ["", "stem", "layer1", "layer1.0"]


def test_parameter_count_and_buffers():
    net = Net()
    conv = 4 * 4 * 9
    expected = (4 * 9 + 4) + 2 * (2 * conv + 2 * 8) + (4 * 3 + 3)
    assert net.num_parameters() == expected == sum(p.numel() for p in net.parameters())
    assert len(list(net.buffers())) == 4 * 3
    assert len(list(net.children())) == 5


def test_shared_parameter_is_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_train_eval_propagate_and_change_behaviour(xp):
    net = Net().to(device_for(xp))
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    x = net.as_input(np.random.default_rng(0).standard_normal((2, 1, 5, 5)))
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())   # no dropout, running stats fixed
    assert int(net.layer1[0].bn1.num_batches_tracked.item()) == 0
    net.train()
    net(x)
    assert int(net.layer1[0].bn1.num_batches_tracked.item()) == 1


def test_zero_grad_and_backward_reach_every_parameter(xp):
    net = Net().to(device_for(xp))
    net(net.as_input(np.ones((2, 1, 5, 5)))).sum().backward()
    assert all(p.grad is not None and p.grad.device == device_for(xp) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("to_cpu", [False, True], ids=["same-device", "to-cpu"])
def test_state_dict_round_trip_gives_identical_outputs(xp, to_cpu):
    """Also from a GPU model into a CPU one: the state_dict's tensors are on the model's device."""
    mc.manual_seed(1)
    a, b = Net().eval().to(device_for(xp)), Net().eval().to("cpu" if to_cpu else device_for(xp))
    assert all(t.device == device_for(xp) for t in a.state_dict().values())
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5))
    assert not np.allclose(a(a.as_input(x)).numpy(), b(b.as_input(x)).numpy())
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(t.device == b.stem.weight.device for t in b.state_dict().values())
    np.testing.assert_allclose(a(a.as_input(x)).numpy(), b(b.as_input(x)).numpy(), rtol=0, atol=1e-6 if to_cpu else 0)
    # Loading copies values: the two models do not share arrays afterwards.
    a.stem.weight.array[...] = 0
    assert b.stem.weight.array.any()


def test_state_dict_accepts_numpy_arrays_and_casts_to_the_parameter_dtype():
    layer = nn.Linear(2, 3)
    layer.load_state_dict({"weight": np.ones((3, 2)), "bias": np.zeros(3)})
    assert layer.weight.dtype == np.float32 and float(layer.weight.array.sum()) == 6


def test_strict_loading_names_every_problem_at_once():
    state = Net().state_dict()
    del state["stem.bias"]
    state["stem.extra"] = mc.zeros(1)
    state["heads.cls.weight"] = mc.zeros((5, 4))
    with pytest.raises(ValueError) as info:
        Net().load_state_dict(state)
    message = str(info.value)
    assert "missing keys: stem.bias" in message
    assert "unexpected keys: stem.extra" in message
    assert "heads.cls.weight: checkpoint (5, 4), model (3, 4)" in message
    del state["heads.cls.weight"]
    result = Net().load_state_dict(state, strict=False)
    assert result.missing_keys == ["stem.bias", "heads.cls.weight"] and result.unexpected_keys == ["stem.extra"]


def test_repr_is_nested_and_readable():
    text = repr(Net())
    assert text.startswith("Net(\n  (stem): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=1)")
    assert "  (layer1): Sequential(\n    (0): Block(\n      (conv1): Conv2d(4, 4" in text
    assert "(cls): Linear(in_features=4, out_features=3, bias=True)" in text


def test_assignment_rules():
    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) before assigning"):
        NoInit()
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign a int to 'weight'"):
        layer.weight = 3
    layer.bias = None
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    del layer.weight
    assert list(layer.parameters()) == []


def test_to_cpu_keeps_the_same_parameter_objects():
    net = Net()
    before = list(net.parameters())
    assert net.to("cpu") is net and list(net.parameters()) == before
    with pytest.raises(ValueError, match="unknown device"):
        net.to("tpu")


def test_to_cuda_moves_parameters_buffers_and_gradients_in_place(cupy):
    """The same Parameter objects get device arrays, so an optimiser built before the move steps them
    there (and keeps its momentum there): two SGD steps equal the same steps of a CPU copy."""
    net, reference = Net().eval(), Net().eval()        # eval: no dropout masks, which differ by device
    reference.load_state_dict(net.state_dict())
    params = list(net.parameters())
    optimizers = [mc.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (net, reference)]
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5))
    for step in range(2):
        for model, optimizer in zip((net, reference), optimizers):
            optimizer.zero_grad()
            model(model.as_input(x)).sum().backward()
            if step == 0 and model is net:
                assert net.to("cuda") is net and list(net.parameters()) == params
                moved = [*params, *net.buffers(), *(p.grad for p in params)]
                assert all(t.device == "cuda:0" for t in moved) and net.as_input(x).device == "cuda:0"
            optimizer.step()
    assert all(p.device == "cuda:0" for p in params)
    for p, q in zip(params, reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)


def test_inference_is_eval_without_a_graph_and_restores_each_modules_flag():
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model[1].eval()                                   # a mixed model: Linear training, Dropout not
    with model.inference():
        assert not any(m.training for m in model.modules())
        y = model(model.as_input(np.ones((1, 3))))
        assert not y.requires_grad and y.creator is None
    assert model.training and model[0].training and not model[1].training
    with pytest.raises(RuntimeError, match="boom"):
        with model.inference():
            raise RuntimeError("boom")
    assert model.training and not model[1].training and mc.is_grad_enabled()


def test_as_input_follows_the_weights_dtype():
    model = nn.Linear(3, 2)
    assert model.as_input(np.ones((1, 3))).dtype == np.float32
    model.weight.array = model.weight.array.astype(np.float64)
    model.bias.array = model.bias.array.astype(np.float64)
    assert model.as_input(np.ones((1, 3), np.float32)).dtype == np.float64
    assert nn.ReLU().as_input(np.ones(2, np.int64)).dtype == np.float32       # no weights: float32


def test_double_float_and_to_dtype_cast_in_place(xp):
    """model.double() makes a float64 model for gradcheck; parameters stay the same objects (optimisers
    keep them), integer buffers keep their dtype, as in torch."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3)).to(device_for(xp))
    params = list(model.parameters())
    assert model.double() is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert model[1].running_mean.dtype == np.float64 and model[1].num_batches_tracked.dtype == np.int64
    x = mc.randn(2, 1, 4, 4, dtype=mc.double, device=device_for(xp))
    assert mc.gradcheck(lambda x: model(x), [x.requires_grad_()])
    assert model.float()[0].weight.dtype == np.float32
    assert model.to(mc.float64)[3].bias.dtype == np.float64
    assert model.to("cpu", mc.float32)[3].bias.dtype == np.float32
    with pytest.raises(TypeError, match="Sequential.to: only floating-point dtypes can be given, got int64"):
        model.to(mc.long)


def test_apply_visits_children_before_parents_as_torch():
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(2, 1)))

    seen = {}
    for lib in (mc, torch):
        order = []
        assert build(lib).apply(lambda m: order.append(type(m).__name__)) is not None
        seen[lib.__name__] = order
    assert seen["minicnn"] == seen["torch"] == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    model = build(mc).apply(init_weights)
    assert (model[0].weight == 0.5).all() and (model[1][1].weight == 0.5).all()


def test_requires_grad_freezes_a_model():
    model = nn.Linear(3, 2)
    assert model.requires_grad_(False) is model and not any(p.requires_grad for p in model.parameters())
    assert model.num_parameters(trainable_only=True) == 0
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())
