"""Shared checks for the model zoo: torch reference equivalence, MAC counts, end-to-end gradcheck."""
import math

import numpy as np
import torch

import minicnn as mc
from minicnn.summary import summarize
from tests.oracle import rel_error


def to_float64(model):
    """Cast a minicnn model's float parameters and buffers to float64 in place."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.dtype.kind == "f":
            t.array = t.array.astype(np.float64)
    return model


def load_from_torch(model, torch_model):
    """Copy a torch reference's state_dict into the minicnn model (the names are the same by design)."""
    model.load_state_dict({k: v.detach().cpu().numpy() for k, v in torch_model.state_dict().items()})
    return model


def assert_logits_match(model, torch_model, x, train=False, tol=1e-8):
    """Same weights, same float64 input: the logits (and, in train mode, the updated BN buffers) agree.

    In train mode dropout is random in both libraries, so the references must be built with
    dropout p = 0 (or the comparison made in eval mode) by the caller.
    """
    torch_model.double().train(train)
    to_float64(model).train(train)          # first: loading float64 values into float32 would round them
    load_from_torch(model, torch_model)
    ours = model(mc.Tensor(x.astype(np.float64)))
    theirs = torch_model(torch.tensor(x, dtype=torch.float64))
    if isinstance(theirs, (tuple, list)):
        theirs, ours = theirs[0], ours[0]
    assert tuple(ours.shape) == tuple(theirs.shape)
    err = rel_error(ours.numpy(), theirs.detach().numpy())
    assert err < tol, f"logits differ from the torch reference: rel error {err:.3g}"
    if train:
        buffers = dict(torch_model.named_buffers())
        for name, b in model.named_buffers():
            assert rel_error(b.numpy(), buffers[name].numpy()) < tol, name


def torch_macs(torch_model, input_size):
    """Multiply-adds of conv and linear layers counted with torch forward hooks (one image)."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            total[0] += output[0].numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        elif isinstance(module, torch.nn.Linear):
            total[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in torch_model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    torch_model.eval()
    with torch.no_grad():
        torch_model(torch.zeros((1, *input_size), dtype=next(torch_model.parameters()).dtype))
    for h in handles:
        h.remove()
    return total[0]


def assert_macs_match_torch(model, torch_model, input_size):
    ours = summarize(model, input_size).total_macs
    assert ours == torch_macs(torch_model, input_size)
    return ours


def gradcheck_model(model, x, params=2, **kwargs):
    """End-to-end float64 gradcheck of ``model`` w.r.t. its input and its first and last ``params``
    parameter tensors (checking every parameter would take too many forward passes).

    The random streams are reseeded before every forward, so dropout draws the same mask each time.
    """
    to_float64(model)
    named = list(model.parameters())
    chosen = named[:params // 2] + named[-(params - params // 2):] if params else []

    def run(x, *_):
        mc.manual_seed(0)
        out = model(x)
        return out[0] if isinstance(out, tuple) else out

    assert mc.gradcheck(run, [mc.Tensor(x.astype(np.float64), requires_grad=True), *chosen], **kwargs)


def assert_outputs_match(model, torch_model, x, grads=False, tol=1e-8):
    """Train mode, every output (logits and the auxiliary heads') and the BN buffers in float64; with
    ``grads`` also the gradients of the training loss's weighting (logits + aux_loss_weight * each aux
    output, each against a random upstream gradient) w.r.t. the input and every parameter."""
    torch_model.double().train()
    to_float64(model).train()
    load_from_torch(model, torch_model)
    ours_input, tx = mc.Tensor(x, requires_grad=grads), torch.tensor(x, requires_grad=grads)
    ours, theirs = model(ours_input), torch_model(tx)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == tuple(b.shape) and rel_error(a.numpy(), b.detach().numpy()) < tol
    buffers = dict(torch_model.named_buffers())
    for name, b in model.named_buffers():
        assert rel_error(b.numpy(), buffers[name].numpy()) < tol, name
    if not grads:
        return
    gys = [np.random.default_rng(i).standard_normal(a.shape) for i, a in enumerate(ours)]
    weights = [1.0] + [model.aux_loss_weight] * (len(ours) - 1)
    sum((a * mc.Tensor(w * g)).sum() for a, g, w in zip(ours, gys, weights)).backward()
    sum((b * torch.tensor(w * g)).sum() for b, g, w in zip(theirs, gys, weights)).backward()
    assert rel_error(ours_input.grad.numpy(), tx.grad.numpy()) < tol
    ours_params = dict(model.named_parameters())
    for name, p in torch_model.named_parameters():
        assert rel_error(ours_params[name].grad.numpy(), p.grad.numpy()) < tol, name


class PatchInput(mc.nn.Module):
    """``model(base + patch)``, the patch zero-padded to ``base``'s size at (top, left) (and, when it holds
    fewer images, to its batch): an end-to-end gradcheck of a model whose smallest input is large (every
    checked element costs two forward passes) checks the gradient of a small patch, through every layer.
    A tuple output (auxiliary heads in train mode) is combined as the training loss weighs it."""

    def __init__(self, model, base, top, left):
        super().__init__()
        self.model, self.base, self.top, self.left = model, mc.Tensor(base), top, left

    def forward(self, patch):
        N, _, H, W = self.base.shape
        n, _, h, w = patch.shape
        placed = mc.ops.pad(patch, ((self.top, H - h - self.top), (self.left, W - w - self.left)))
        if n < N:
            placed = mc.ops.concat([placed, mc.zeros((N - n, *placed.shape[1:]), dtype=placed.dtype)], axis=0)
        out = self.model(self.base + placed)
        if isinstance(out, tuple):
            return out[0] + self.model.aux_loss_weight * sum(out[1:])
        return out


def he_scale(model, seed=0):
    """Redraw conv and linear weights as N(0, 2 / fan_in) and biases as U(0, 0.1), in float64: with the papers'
    N(0, 0.01) the gradients of a narrow model's input are ~1e-13, far below gradcheck's atol, which would
    then pass anything."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (mc.nn.Conv2d, mc.nn.Linear)):
            fan_in = m.weight.numel() // m.weight.shape[0]
            m.weight.array = rng.standard_normal(m.weight.shape) * np.sqrt(2 / fan_in)
            m.bias.array = rng.uniform(0, 0.1, m.bias.shape)
    return model
