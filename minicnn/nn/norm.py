"""Normalisation layers: BatchNorm1d/2d (learned gamma/beta + running statistics) and LocalResponseNorm."""
from minicnn.creation import ones, zeros
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.ops.batchnorm import batch_norm
from minicnn.ops.lrn import local_response_norm

__all__ = ["BatchNorm1d", "BatchNorm2d", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input shapes they accept.

    Training mode normalises with the batch's statistics and updates running_mean/running_var;
    eval mode uses the running statistics. With track_running_stats=False the batch's are always used.
    """
    layouts = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter("weight", Parameter(ones(num_features)) if affine else None)
        self.register_parameter("bias", Parameter(zeros(num_features)) if affine else None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features))
            self.register_buffer("running_var", ones(num_features))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64"))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x):
        layout, ndims = self.layouts
        self.check_input(x, layout.format(C=self.num_features), ndims, self.num_features)
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
        return batch_norm(x, self.running_mean if self.track_running_stats else None,
                          self.running_var if self.track_running_stats else None,
                          self.weight, self.bias, use_batch_stats, self.momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per feature C."""
    layouts = ("(N, {C}) or (N, {C}, L)", (2, 3))


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel, over N, H and W."""
    layouts = ("(N, {C}, H, W)", (4,))


class LocalResponseNorm(Module):
    """Normalise each activation by its neighbouring channels (AlexNet); see ops/lrn.py for the formula."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
