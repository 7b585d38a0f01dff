"""minicnn: a from-scratch CNN framework on NumPy (CPU) and CuPy (GPU)."""
from minicnn import fast  # noqa: I001  (first: it sets how BLAS threads idle before NumPy loads BLAS)
from minicnn.tensor import Tensor, tensor  # noqa: I001  (tensor first: it loads the ops)
from minicnn.creation import (arange, empty, empty_like, eye, from_numpy, full, full_like, ones, ones_like, rand,
                              rand_like, randint, randn, randn_like, zeros, zeros_like)
from minicnn.dtypes import (bool, double, float, float16, float32, float64, half, int, int8, int16, int32,  # noqa: A004
                            int64, long, short, uint8)
from minicnn.functions import (add, argmax, argmin, cat, clone, concat, div, exp, flatten, is_tensor, log,
                               log_softmax, matmul, max, mean, min, mul, numel, permute, relu, reshape, sigmoid,
                               softmax, sqrt, squeeze, stack, sub, sum, tanh, transpose, unsqueeze)
from minicnn.autograd import Function, enable_grad, is_grad_enabled, no_grad
from minicnn.backend import (DeviceError, cuda_available, device, get_array_module, get_default_device,
                             set_default_device)
from minicnn import accelerator, backends, cuda, models, nn, ops, optim, viz
from minicnn.gradcheck import GradcheckError, gradcheck
from minicnn.profiler import profile
from minicnn.random import manual_seed
from minicnn.serialization import load, save
from minicnn.tracing import trace

__version__ = "0.1.0"
