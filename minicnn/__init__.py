"""minicnn: a from-scratch CNN framework on NumPy (CPU) and CuPy (GPU)."""
from minicnn import fast  # noqa: I001  (first: it sets how BLAS threads idle before NumPy loads BLAS)
from minicnn.tensor import Tensor, ones, tensor, zeros  # noqa: I001  (tensor first: it loads the ops)
from minicnn.autograd import Function, enable_grad, is_grad_enabled, no_grad
from minicnn.backend import (DeviceError, cuda_available, get_array_module, get_default_device,
                             set_default_device)
from minicnn import models, nn, ops, optim, viz
from minicnn.gradcheck import GradcheckError, gradcheck
from minicnn.profiler import profile
from minicnn.random import manual_seed
from minicnn.serialization import load, save
from minicnn.tracing import trace

__version__ = "0.1.0"
