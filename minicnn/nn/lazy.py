"""Lazy layers: LazyLinear, LazyConv2d, LazyBatchNorm1d and LazyBatchNorm2d learn their input size at the first forward.

d2l.ai builds its CNNs with them: ``nn.LazyConv2d(6, kernel_size=5)`` needs no in_channels and
``nn.LazyLinear(120)`` no in_features. Until the first forward pass the weights are
UninitializedParameters (size 0). That pass reads the size from the input's axis 1, makes the
parameters with the shapes and PyTorch's default initialisation of the ordinary layer, and the
module then becomes that layer (its class changes to Linear, Conv2d, BatchNorm1d or BatchNorm2d, as PyTorch's
``cls_to_become`` does), so later passes cost nothing extra.

Loading a state_dict into a layer that has not run yet takes the size from the checkpoint's shapes
(Module.load_state_dict asks each layer first, through ``_before_load``). An optimiser cannot hold
an uninitialised parameter: it would keep the size-0 array that the first forward replaces, so
Optimizer refuses one and asks for a forward pass first (PyTorch warns about lazy modules and
fails later, at the step).
"""
import numpy as np

from minicnn.backend import get_array_module
from minicnn.nn import init
from minicnn.nn.conv import Conv2d
from minicnn.nn.linear import Linear
from minicnn.nn.module import Module
from minicnn.nn.norm import BatchNorm1d, BatchNorm2d
from minicnn.nn.parameter import Parameter

__all__ = ["UninitializedParameter", "LazyLinear", "LazyConv2d", "LazyBatchNorm1d", "LazyBatchNorm2d"]


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet: size 0 until its lazy layer's first forward."""

    def __init__(self, requires_grad=True):
        super().__init__(np.zeros(0, np.float32), requires_grad)

    def __repr__(self):
        return "<UninitializedParameter>"


def _materialize(tensor, shape, fill=0.0):
    """Give a placeholder (parameter or buffer) its shape, on its device and in its dtype; an
    UninitializedParameter becomes a Parameter. None (bias=False, affine=False) stays None."""
    if tensor is None:
        return
    tensor.array = get_array_module(tensor.array).full(shape, fill, tensor.dtype)
    if isinstance(tensor, UninitializedParameter):
        tensor.__class__ = Parameter


class _LazyModule:
    """The first forward: read the size, make the parameters, become ``cls_to_become``, run it.

    A subclass gives ``input_layout`` (the expected shape, for the error message, and the ranks
    accepted), ``_size_from(state_dict, prefix)`` (None when the checkpoint does not say) and
    ``_create(size)`` (shapes and initial values). The size is always the input's axis 1.
    """
    cls_to_become = None
    input_layout = ("(N, C, H, W)", (4,))

    def forward(self, x):
        self.check_input(x, *self.input_layout)
        self._initialize(x.shape[1])
        return self.forward(x)            # now the ordinary layer's forward

    def _before_load(self, state_dict, prefix):
        size = self._size_from(state_dict, prefix)
        if size is not None:
            self._initialize(size)

    def _initialize(self, size):
        self._create(size)
        self.__class__ = self.cls_to_become


class LazyLinear(_LazyModule, Linear):
    """Linear(in_features, out_features) with in_features taken from the first input (N, in_features)."""
    cls_to_become = Linear
    input_layout = ("(N, in_features)", (2,))

    def __init__(self, out_features, bias=True):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = UninitializedParameter()
        self.register_parameter("bias", UninitializedParameter() if bias else None)

    def _size_from(self, state_dict, prefix):
        weight = state_dict.get(prefix + "weight")
        return None if weight is None else weight.shape[1]

    def _create(self, in_features):
        self.in_features = in_features
        _materialize(self.weight, (self.out_features, in_features))
        _materialize(self.bias, (self.out_features,))
        init.default_layer_init(self.weight, self.bias)


class LazyConv2d(_LazyModule, Conv2d):
    """Conv2d with in_channels taken from the first input (N, in_channels, H, W)."""
    cls_to_become = Conv2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        # Conv2d's own checks and settings, with groups input channels as a stand-in (it must divide them).
        Conv2d.__init__(self, groups, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, bias=bias)
        self.in_channels = 0
        self.weight = UninitializedParameter()
        self.register_parameter("bias", UninitializedParameter() if bias else None)

    def _size_from(self, state_dict, prefix):
        weight = state_dict.get(prefix + "weight")
        return None if weight is None else weight.shape[1] * self.groups

    def _create(self, in_channels):
        if in_channels % self.groups:
            raise ValueError(f"{self!r}: groups={self.groups} must divide the input's {in_channels} channels")
        self.in_channels = in_channels
        _materialize(self.weight, (self.out_channels, in_channels // self.groups, *self.kernel_size))
        _materialize(self.bias, (self.out_channels,))
        init.default_layer_init(self.weight, self.bias)


class _LazyBatchNorm(_LazyModule):
    """Shared by LazyBatchNorm1d and LazyBatchNorm2d: num_features from the input's axis 1."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.cls_to_become.__init__(self, 0, eps, momentum, affine, track_running_stats)   # size-0 buffers for now
        if affine:
            self.weight, self.bias = UninitializedParameter(), UninitializedParameter()

    def _size_from(self, state_dict, prefix):
        for name in ("weight", "running_mean"):
            if prefix + name in state_dict:
                return state_dict[prefix + name].shape[0]
        return None

    def _create(self, num_features):
        self.num_features = num_features
        _materialize(self.weight, (num_features,), 1.0)
        _materialize(self.bias, (num_features,))
        _materialize(self.running_mean, (num_features,))
        _materialize(self.running_var, (num_features,), 1.0)


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """BatchNorm1d with num_features taken from the first input (N, C) or (N, C, L)."""
    cls_to_become = BatchNorm1d
    input_layout = ("(N, C) or (N, C, L)", (2, 3))


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """BatchNorm2d with num_features taken from the first input (N, C, H, W)."""
    cls_to_become = BatchNorm2d
