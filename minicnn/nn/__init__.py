"""Modules: the layer API users build models with (PyTorch's names and conventions)."""
from minicnn.nn import init
from minicnn.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minicnn.nn.containers import ModuleDict, ModuleList, Sequential
from minicnn.nn.conv import Conv2d
from minicnn.nn.conv_transpose import ConvTranspose2d
from minicnn.nn.dropout import Dropout
from minicnn.nn.flatten import Flatten
from minicnn.nn.lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyConv2d, LazyLinear, UninitializedParameter
from minicnn.nn.linear import Identity, Linear
from minicnn.nn.loss import BCELoss, CrossEntropyLoss, MSELoss
from minicnn.nn.module import Module
from minicnn.nn.norm import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.parameter import Parameter
from minicnn.nn.pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from minicnn.nn import functional  # noqa: E402  (after the layers: it uses nn.conv)
