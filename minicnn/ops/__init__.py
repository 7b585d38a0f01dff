"""Every op of minicnn: a Function subclass (forward + hand-written backward) and its lowercase wrapper."""
from minicnn.ops.arithmetic import add, cast, div, exp, log, matmul, mul, neg, pow, sub
from minicnn.ops.reduce import argmax, argmin, max, mean, sum
from minicnn.ops.shape import (ConcatBuffer, clone, concat, expand, flatten, getitem, pad, pad_channels, reshape,
                               setitem, squeeze, stack, transpose, unsqueeze)
from minicnn.ops.conv import conv2d
from minicnn.ops.conv_transpose import conv_transpose2d
from minicnn.ops.pool import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d
from minicnn.ops.activation import leaky_relu, relu, sigmoid, tanh
from minicnn.ops.linear import linear
from minicnn.ops.dropout import dropout
from minicnn.ops.lrn import local_response_norm
from minicnn.ops.batchnorm import batch_norm
from minicnn.ops.loss import (accuracy, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                              log_softmax, mse_loss, softmax, topk_correct)
