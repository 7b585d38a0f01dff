"""LazyLinear, LazyConv2d, LazyBatchNorm1d/2d: sizes from the first input or from a checkpoint, then the
ordinary layer with its initialisation; against torch.nn's lazy layers; optimiser and error messages."""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import nn, optim
from tests.nn.test_layers import run_both

LAZY = {
    "linear": (lambda: nn.LazyLinear(4), lambda: nn.Linear(6, 4), nn.Linear, (3, 6)),
    "linear_nobias": (lambda: nn.LazyLinear(2, bias=False), lambda: nn.Linear(5, 2, bias=False), nn.Linear, (3, 5)),
    "conv": (lambda: nn.LazyConv2d(4, 3, stride=2, padding=1, groups=2), lambda: nn.Conv2d(6, 4, 3, 2, 1, groups=2),
             nn.Conv2d, (2, 6, 5, 5)),
    "conv_dilated": (lambda: nn.LazyConv2d(4, 3, padding="same", dilation=2),
                     lambda: nn.Conv2d(3, 4, 3, padding="same", dilation=2), nn.Conv2d, (2, 3, 6, 6)),
    "bn": (lambda: nn.LazyBatchNorm2d(momentum=0.2), lambda: nn.BatchNorm2d(3, momentum=0.2), nn.BatchNorm2d,
           (4, 3, 2, 2)),
    "bn1d": (lambda: nn.LazyBatchNorm1d(affine=False), lambda: nn.BatchNorm1d(5, affine=False), nn.BatchNorm1d,
             (4, 5, 3)),
}


@pytest.mark.parametrize("name", LAZY)
def test_first_forward_makes_the_ordinary_layer(name):
    """The same parameters, buffers, initial values and repr as the layer built with the size."""
    make_lazy, make_ordinary, cls, shape = LAZY[name]
    lazy = make_lazy().eval()           # eval: batch norm's running statistics stay at their initial values
    assert all(p.numel() == 0 for p in lazy.parameters())
    mc.manual_seed(0)
    y = lazy(mc.ones(shape))
    mc.manual_seed(0)
    ordinary = make_ordinary()
    assert type(lazy) is cls and repr(lazy) == repr(ordinary) and not lazy.training
    assert all(type(p) is nn.Parameter for p in lazy.parameters())
    assert lazy.state_dict().keys() == ordinary.state_dict().keys()
    for key, value in ordinary.state_dict().items():
        np.testing.assert_array_equal(lazy.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    np.testing.assert_array_equal(y.numpy(), ordinary.eval()(mc.ones(shape)).numpy())


TORCH_LAZY = {
    "lenet_d2l": (lambda m: m.Sequential(m.LazyConv2d(6, kernel_size=5, padding=2), m.Sigmoid(),
                                         m.AvgPool2d(kernel_size=2, stride=2), m.LazyConv2d(16, kernel_size=5), m.Sigmoid(),
                                         m.AvgPool2d(kernel_size=2, stride=2), m.Flatten(), m.LazyLinear(120), m.Sigmoid(),
                                         m.LazyLinear(84), m.Sigmoid(), m.LazyLinear(10)),
                  (2, 1, 28, 28)),
    "linear_bn1d": (lambda m: m.Sequential(m.LazyLinear(3, bias=False), m.LazyBatchNorm1d()), (4, 5)),
    "conv_groups": (lambda m: m.Sequential(m.LazyConv2d(4, 3, groups=2, bias=False), m.LazyBatchNorm2d(affine=False)),
                    (2, 2, 5, 5)),
}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", TORCH_LAZY)
def test_checkpoint_into_a_lazy_model_matches_torch(name, train, xp):
    """torch's lazy model after one forward; its state_dict loaded into ours before any forward (our
    layers take their sizes from it), then the same outputs and gradients."""
    build, shape = TORCH_LAZY[name]
    theirs = build(torch.nn)
    theirs(torch.zeros(shape))
    ours = build(nn)
    run_both(ours, theirs, np.random.default_rng(2).standard_normal(shape), train, xp)
    lazy = (nn.LazyLinear, nn.LazyConv2d, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d)
    assert not any(isinstance(m, lazy) for m in ours.modules())


def test_optimizer_needs_a_forward_first():
    model = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(2))
    with pytest.raises(ValueError, match=r"SGD: parameter group 0 holds an uninitialised parameter of a lazy layer; "
                                         r"run one forward pass \(model\(example_batch\)\) before building"):
        optim.SGD(model.parameters(), lr=0.1)
    model(mc.randn(4, 7))
    opt = optim.Adadelta(model.parameters())
    model(mc.randn(4, 7)).sum().backward()
    before = model[0].weight.numpy().copy()
    opt.step()
    assert model[0].weight.shape == (3, 7) and not np.array_equal(before, model[0].weight.numpy())


def test_to_before_the_first_forward_sets_the_dtype_and_partial_checkpoints_leave_it_lazy():
    layer = nn.LazyConv2d(2, 1).to(mc.float64)
    assert layer(mc.ones((1, 3, 2, 2), dtype=mc.float64)).dtype == np.float64 and layer.weight.dtype == np.float64
    bn = nn.LazyBatchNorm2d()
    bn.load_state_dict({}, strict=False)
    assert type(bn) is nn.LazyBatchNorm2d and bn.num_features == 0


def test_lazy_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"LazyLinear\(in_features=0, out_features=3, bias=True\): expected input "
                                         r"of shape \(N, in_features\), got \(2, 3, 4\)"):
        nn.LazyLinear(3)(mc.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"LazyConv2d\(0, 4, .*\): groups=2 must divide the input's 3 channels"):
        nn.LazyConv2d(4, 3, groups=2)(mc.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"LazyBatchNorm2d\(0, .*\): expected input of shape \(N, C, H, W\), got \(2, 3\)"):
        nn.LazyBatchNorm2d()(mc.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"LazyBatchNorm1d\(0, .*\): expected input of shape \(N, C\) or \(N, C, L\)"):
        nn.LazyBatchNorm1d()(mc.zeros((2, 3, 4, 5)))


def test_the_summary_runs_a_lazy_model_and_counts_what_it_made():
    from minicnn.summary import summarize
    lazy = nn.Sequential(nn.LazyConv2d(6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.LazyLinear(10))
    eager = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1176, 10))
    assert summarize(lazy, (1, 28, 28)).total_params == summarize(eager, (1, 28, 28)).total_params == 11926
    assert type(lazy[0]) is nn.Conv2d and lazy[0].weight.shape == (6, 1, 5, 5)     # made by the summary's forward
