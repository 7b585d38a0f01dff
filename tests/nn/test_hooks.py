import minicnn as mc
from minicnn import nn
from minicnn.autograd import register_op_hook
from tests.oracle import device_for


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    layer = nn.Linear(3, 2)
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: seen.append(("pre", m, args[0].shape)))
    post = layer.register_forward_hook(lambda m, args, out: seen.append(("post", m, out.shape)))
    layer(mc.zeros((4, 3)))
    assert seen == [("pre", layer, (4, 3)), ("post", layer, (4, 2))]
    pre.remove()
    post.remove()
    layer(mc.zeros((4, 3)))
    assert len(seen) == 2


def test_op_hook_sees_every_op_once(xp):
    names = []
    handle = register_op_hook(lambda fn, inputs, outputs: names.append(type(fn).__name__))
    device = device_for(xp)
    try:
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).to(device)(mc.zeros((1, 1, 4, 4), device=device))
    finally:
        handle.remove()
    assert names == ["Conv2d", "ReLU"]
    nn.ReLU()(mc.zeros(2))
    assert names == ["Conv2d", "ReLU"]
