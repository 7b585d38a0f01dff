"""Loss layers around ops/loss.py: CrossEntropyLoss (with label smoothing), MSELoss and BCELoss."""
from minicnn.nn.module import Module
from minicnn.ops.loss import binary_cross_entropy, cross_entropy, mse_loss

__all__ = ["CrossEntropyLoss", "MSELoss", "BCELoss"]


class CrossEntropyLoss(Module):
    """Softmax cross-entropy from logits (N, C) and integer labels (N,).

    label_smoothing=0.1 is Inception v3's regularisation: the target is 0.9 * onehot + 0.1 / C.
    """

    def __init__(self, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits, labels):
        return cross_entropy(logits, labels, self.reduction, self.label_smoothing)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class MSELoss(Module):
    """Mean (or summed) squared error between two tensors of one shape."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return mse_loss(input, target, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCELoss(Module):
    """Binary cross-entropy between probabilities (a sigmoid's output) and targets in [0, 1].

    ``weight`` (optional) rescales each element's loss; it is a buffer, so it follows ``.to(device)``.
    """

    def __init__(self, weight=None, reduction="mean"):
        super().__init__()
        self.reduction = reduction
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return binary_cross_entropy(input, target, self.weight, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"

