"""A training run saved mid-way (model, optimiser, schedule, epoch) and resumed from the
safetensors checkpoint continues exactly as if it had never stopped."""
import numpy as np

import minicnn as mc
from minicnn import nn, optim


def build():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5], gamma=0.1)
    return model, opt, sched


def train(model, opt, sched, steps, data):
    for x, y in data[:steps]:
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(mc.Tensor(x)), y).backward()
        opt.step()
        sched.step()


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((4, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 4)) for _ in range(8)]
    straight = build()
    train(*straight, 8, data)

    first = build()
    train(*first, 4, data)
    path = tmp_path / "ckpt.safetensors"
    model, opt, sched = first
    mc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "epoch": 4}, path)

    model, opt, sched = build()
    checkpoint = mc.load(path)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    sched.load_state_dict(checkpoint["scheduler"])
    assert checkpoint["epoch"] == 4
    train(model, opt, sched, 4, data[4:])
    for (name, a), b in zip(model.state_dict().items(), straight[0].state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert opt.param_groups[0]["lr"] == straight[1].param_groups[0]["lr"]
