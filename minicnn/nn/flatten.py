"""Flatten layer: (N, C, H, W) -> (N, C*H*W) between the convolutional and the fully connected part."""
from minicnn.nn.module import Module
from minicnn.ops.shape import flatten

__all__ = ["Flatten"]


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
