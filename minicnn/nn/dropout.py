"""Dropout layer: drops in train() mode, the identity in eval() mode."""
from minicnn.nn.module import Module
from minicnn.ops.dropout import dropout

__all__ = ["Dropout"]


class Dropout(Module):
    """Inverted dropout with drop probability p (AlexNet and VGG: 0.5; GoogLeNet: 0.4, aux heads 0.7)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
