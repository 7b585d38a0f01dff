"""Adagrad (Duchi, Hazan & Singer, 2011), PyTorch's equations.

For each parameter p with gradient g, at its step t = 1, 2, ... (every operation is elementwise):

    g = g + weight_decay * p                          (if weight_decay != 0)
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g**2                                      (s starts at initial_accumulator_value: "sum")
    p = p - clr * g / (sqrt(s) + eps)

s only grows, so each coordinate's step shrinks like 1/sqrt(t): coordinates with rare, large
gradients keep larger steps than ones with frequent gradients. That suits sparse features and
convex problems; on long non-convex training the steps can shrink too soon, which RMSprop and
Adadelta fix by replacing the sum with a running average.

As in PyTorch, the state of every parameter exists from the constructor on (step 0, s filled with
initial_accumulator_value), so ``state_dict()`` lists all parameters before the first step. One
difference: a parameter group's own initial_accumulator_value is used for its parameters; PyTorch
fills every group's "sum" with the constructor's value.
"""
from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad(params, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10).

    State per parameter: "step", "sum".
    """

    def __init__(self, params, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def add_param_group(self, group):
        super().add_param_group(group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[p] = self._fresh_state(p, group)

    @staticmethod
    def _fresh_state(p, group):
        return {"step": 0, "sum": get_array_module(p.array).full_like(p.array, group["initial_accumulator_value"])}

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, p, g, state, group):
        if not state:                    # a loaded state_dict that lacks this parameter
            state.update(self._fresh_state(p, group))
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        std = get_array_module(p.array).sqrt(s)
        std += group["eps"]
        p.array -= clr * (g / std)
