"""Issue 4's acceptance test: a small CNN built from minicnn modules trains exactly like the same
model in PyTorch (weights copied over), for every optimiser, in float64."""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn import nn, optim


def small_cnn(lib):
    return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1, bias=False), lib.BatchNorm2d(4), lib.ReLU(),
                          lib.MaxPool2d(2), lib.Flatten(), lib.Linear(4 * 4 * 4, 3))


OPTIMISERS = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_nesterov_wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)),
    "rmsprop_inception": (lambda p: optim.RMSprop(p, lr=0.045, alpha=0.9, eps=1.0, momentum=0.9),
                          lambda p: torch.optim.RMSprop(p, lr=0.045, alpha=0.9, eps=1.0, momentum=0.9)),
    "adam": (lambda p: optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adamw": (lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.1), lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_loss_curve_equals_pytorch(name):
    make_ours, make_theirs = OPTIMISERS[name]
    torch.manual_seed(0)
    theirs = small_cnn(torch.nn).double()
    ours = small_cnn(nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for t in list(ours.parameters()) + list(ours.buffers()):
        if t.dtype.kind == "f":
            t.array = t.array.astype(np.float64)
    opt, topt = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 1, 8, 8)), rng.integers(0, 3, 8)    # one batch, fitted for 10 steps
    losses, tlosses = [], []
    for _ in range(10):
        opt.zero_grad()
        loss = loss_fn(ours(mc.Tensor(x)), mc.Tensor(y))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(theirs(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        losses.append(loss.item())
        tlosses.append(tloss.item())
    np.testing.assert_allclose(losses, tlosses, rtol=1e-10)
    assert losses[-1] < 0.8 * losses[0]           # it does learn the batch
    final = dict(theirs.state_dict())
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v.numpy(), final[k].numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
