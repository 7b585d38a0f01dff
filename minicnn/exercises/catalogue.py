"""Every exercise, from easy to hard: what is blanked, the hint, and the cases that grade it.

The cases are chosen for the awkward spots (odd sizes, stride 2, padding, groups, a batch of
one) and for the typical mistakes: a case that targets one carries the hint shown when it fails.
"""
from dataclasses import dataclass

import numpy as np

import minicnn as mc
from minicnn import ops, optim
from minicnn.exercises.grading import Case, GradientCases, OptimizerCases, OutputCases
from minicnn.im2col import conv_outsize

__all__ = ["Exercise", "EXERCISES", "find"]


@dataclass(frozen=True)
class Exercise:
    name: str
    level: str                 # easy, medium or hard
    group: str                 # the notebook it belongs to
    target: str                # "module:name" of the class or function in minicnn
    blank: tuple               # its members whose bodies the student writes ("Conv2d.backward")
    hint: str
    grader: object
    skips_fast_kernels: bool = False    # the numba kernels do without it (see substitute.use)

    @property
    def title(self):
        return "write " + " and ".join(self.blank)


def _elementwise(op):
    """The cases of an element-wise op: any shape, so a matrix, feature maps and one odd row."""
    return GradientCases(Case("a matrix", op, x=(3, 4)), Case("feature maps", op, x=(2, 3, 4, 5)),
                         Case("a batch of 1, odd size", op, x=(1, 7)))


def _dropped(p, seed=5):
    """Dropout with a fixed mask: every call (finite differences make many) draws the same one."""
    def fn(x):
        mc.manual_seed(seed)
        return ops.dropout(x, p)
    return fn


def _im2col_case(label, x, kernel, stride, pads, hint=None):
    (KH, KW), (SH, SW) = kernel, stride
    OH, OW = conv_outsize(x[2], KH, SH, pads[0], pads[1]), conv_outsize(x[3], KW, SW, pads[2], pads[3])
    return Case(label, lambda f, x: f(x, KH, KW, SH, SW, pads, OH, OW), hint=hint, x=x)


def _col2im_case(label, x_shape, kernel, stride, pads, hint=None):
    (KH, KW), (SH, SW) = kernel, stride
    OH = conv_outsize(x_shape[2], KH, SH, pads[0], pads[1])
    OW = conv_outsize(x_shape[3], KW, SW, pads[2], pads[3])
    col = (x_shape[0], x_shape[1], KH, KW, OH, OW)
    return Case(label, lambda f, col: f(col, x_shape, SH, SW, pads), hint=hint,
                windows=("col", kernel, stride, pads), col=col)


def _one_gradient_per_window(yours, expected, arrays):
    """For max pooling with ties (kernel 2, stride 2): a tie makes max non-differentiable, so any
    split of gy among the tied winners is a valid subgradient (minicnn gives it all to the first).
    What is wrong is gradient on a non-winner, or gy given more than once."""
    x, gx = arrays["x"], yours["x"]
    N, C, H, W = x.shape
    windows = lambda a: a.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    wx, wg = windows(x), windows(gx)
    given, owed = wg.sum(axis=-1), windows(expected["x"]).sum(axis=-1)
    if np.any(wg[wx < wx.max(axis=-1, keepdims=True)] != 0):
        return "the gradient of x is not zero on an element that did not win its window"
    if not np.allclose(given, owed):
        index = tuple(int(i) for i in np.unravel_index(np.argmax(abs(given - owed)), given.shape))
        return (f"the window at (n, c, oh, ow) = {index} has several elements equal to its max, and its gradient adds "
                f"up to {given[index]:.6g} where gy is {owed[index]:.6g}.\nhint: max-pool ties: gy goes to the window "
                f"once, to one winner (minicnn takes the first, argmax), not to each tied element")
    return None


_TIES = np.array([[[[1, 1, 0, 2], [1, 0, 2, 2], [3, 3, 5, 4], [3, 3, 4, 5]],
                   [[0, 0, 0, 0], [0, 0, 0, 0], [7, 1, 1, 7], [2, 7, 7, 2]]]], dtype=np.float64)
_LABELS = np.array([2, 0, 3, 3, 1])

EXERCISES = (
    Exercise("relu", "easy", "activations", "minicnn.ops.activation:ReLU", ("ReLU.backward",),
             "ReLU's slope is 1 where the input was positive and 0 elsewhere; forward kept its output y, which "
             "is positive exactly there.",
             _elementwise(ops.relu)),
    Exercise("sigmoid", "easy", "activations", "minicnn.ops.activation:Sigmoid", ("Sigmoid.backward",),
             "Write sigmoid's slope with its output y, which forward saved: no exp needed.",
             _elementwise(ops.sigmoid)),
    Exercise("tanh", "easy", "activations", "minicnn.ops.activation:Tanh", ("Tanh.backward",),
             "d tanh(x)/dx = 1 - tanh(x)**2, and forward saved y = tanh(x).",
             _elementwise(ops.tanh)),
    Exercise("linear", "easy", "activations", "minicnn.ops.linear:Linear", ("Linear.backward",),
             "Write y[n, o] = sum_i x[n, i] W[o, i] + b[o], differentiate one element, then find the matrix "
             "product that does them all. Each gradient has the shape of its input.",
             GradientCases(Case("with bias", ops.linear, x=(4, 5), W=(3, 5), b=(3,)),
                           Case("without bias", ops.linear, x=(3, 6), W=(2, 6)),
                           Case("a batch of 1, square weight", ops.linear, x=(1, 4), W=(4, 4), b=(4,)))),
    Exercise("softmax", "medium", "activations", "minicnn.ops.loss:Softmax", ("Softmax.backward",),
             "Every p_c depends on every z_j: dp_c/dz_j = p_c ([c == j] - p_j). Contract that with gy.",
             GradientCases(Case("classes on axis 1", ops.softmax, x=(4, 6)),
                           Case("on the last axis", lambda x: ops.softmax(x, axis=2), x=(2, 3, 5)),
                           Case("a batch of 1", ops.softmax, x=(1, 5)))),
    Exercise("cross_entropy", "medium", "activations", "minicnn.ops.loss:CrossEntropy", ("CrossEntropy.backward",),
             "Fused with log-softmax, the gradient of the loss with respect to the logits is p - q: no softmax "
             "Jacobian needed. Mind the reduction.",
             GradientCases(Case("mean over the batch", lambda z: ops.cross_entropy(z, _LABELS), z=(5, 4),
                                hint="reduction='mean' divides the loss, so every gradient, by N"),
                           Case("sum", lambda z: ops.cross_entropy(z, _LABELS, reduction="sum"), z=(5, 4)),
                           Case("label smoothing 0.1", lambda z: ops.cross_entropy(z, _LABELS, label_smoothing=0.1),
                                z=(5, 4), hint="with smoothing eps the target is (1 - eps) * onehot + eps / C"),
                           Case("per-sample losses", lambda z: ops.cross_entropy(z, _LABELS, reduction="none"),
                                z=(5, 4), hint="reduction='none': gy has one value per sample"),
                           Case("a batch of 1", lambda z: ops.cross_entropy(z, _LABELS[:1]), z=(1, 4)))),
    Exercise("dropout", "easy", "activations", "minicnn.ops.dropout:Dropout", ("Dropout.backward",),
             "y = x * mask * scale is linear in x: the gradient goes through the same mask, with the same scale.",
             GradientCases(Case("p = 0.5", _dropped(0.5), x=(4, 6)),
                           Case("p = 0.3, feature maps", _dropped(0.3), x=(2, 3, 4, 4)),
                           Case("a batch of 1", _dropped(0.2), x=(1, 9)))),
    Exercise("im2col", "medium", "convolution", "minicnn.im2col:im2col", ("im2col",),
             "col[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh*SH + i, ow*SW + j]: rows run over channel and kernel "
             "offset, columns over image and output pixel. Loops are fine; window_view is the fast way.",
             OutputCases(_im2col_case("3x3 kernel, stride 1", (2, 3, 5, 5), (3, 3), (1, 1), (0, 0, 0, 0)),
                         _im2col_case("stride 2, padding 1, odd size", (1, 2, 7, 6), (3, 3), (2, 2), (1, 1, 1, 1),
                                      hint="padding adds zeros around x before the windows are read"),
                         _im2col_case("2x3 kernel, strides (2, 1), uneven padding", (2, 2, 6, 5), (2, 3), (2, 1),
                                      (0, 1, 2, 0)),
                         _im2col_case("1x1 kernel, a batch of 1", (1, 4, 3, 3), (1, 1), (1, 1), (0, 0, 0, 0))),
             skips_fast_kernels=True),
    Exercise("col2im", "medium", "convolution", "minicnn.im2col:col2im", ("col2im",),
             "col2im is the adjoint of reading windows: send each window value back to where it was read "
             "from, and where windows overlap the values add up. Drop the padding at the end.",
             OutputCases(_col2im_case("3x3 windows, stride 1 (overlapping)", (2, 2, 5, 5), (3, 3), (1, 1),
                                      (0, 0, 0, 0)),
                         _col2im_case("stride 2, padding 1, H = 8", (1, 2, 8, 7), (3, 3), (2, 2), (1, 1, 1, 1),
                                      hint="(H + 2P - K) mod S != 0 here: the last row of x is read by no window"),
                         _col2im_case("2x2 windows, stride 2 (no overlap)", (2, 3, 4, 6), (2, 2), (2, 2), (0, 0, 0, 0)),
                         _col2im_case("2x3 windows, uneven padding", (1, 2, 5, 6), (2, 3), (1, 2), (1, 0, 0, 2))),
             skips_fast_kernels=True),
    Exercise("conv2d", "hard", "convolution", "minicnn.ops.conv:Conv2d", ("Conv2d.backward",),
             "Forward is y = W @ col + b per group. gW and gcol are matrix products with gy; col2im takes gcol "
             "back to the shape of x. Start with groups = 1, then cut the channels into G groups.",
             GradientCases(Case("3x3 kernel, with bias", lambda x, W, b: ops.conv2d(x, W, b), x=(2, 3, 5, 5),
                                W=(4, 3, 3, 3), b=(4,), windows=("x", (3, 3), (1, 1), (0, 0, 0, 0))),
                           Case("stride 2, padding 1, H = 8", lambda x, W: ops.conv2d(x, W, stride=2, padding=1),
                                x=(2, 2, 8, 7), W=(3, 2, 3, 3), windows=("x", (3, 3), (2, 2), (1, 1, 1, 1)),
                                hint="with stride 2 the windows step by 2: col2im needs the stride and padding"),
                           Case("groups = 2", lambda x, W, b: ops.conv2d(x, W, b, groups=2), x=(2, 4, 5, 5),
                                W=(6, 2, 3, 3), b=(6,), windows=("x", (3, 3), (1, 1), (0, 0, 0, 0)),
                                hint="with groups, each group of OC/G filters sees only its own C/G channels"),
                           Case("a batch of 1, a 2x3 kernel", lambda x, W: ops.conv2d(x, W, padding=(1, 0)),
                                x=(1, 2, 6, 5), W=(3, 2, 2, 3), windows=("x", (2, 3), (1, 1), (1, 1, 0, 0))))),
    Exercise("max_pool2d", "medium", "convolution", "minicnn.ops.pool:MaxPool2d", ("MaxPool2d.backward",),
             "Only the winner of each window moved the output: it gets all of gy, the others nothing. forward "
             "kept argmax (the winner's index among the KH*KW elements); col2im adds up overlapping windows.",
             GradientCases(Case("2x2 windows", lambda x: ops.max_pool2d(x, 2), x=(2, 3, 6, 6)),
                           Case("3x3 windows, stride 2, odd size", lambda x: ops.max_pool2d(x, 3, 2), x=(1, 2, 7, 7),
                                windows=("x", (3, 3), (2, 2), (0, 0, 0, 0))),
                           Case("padding 1", lambda x: ops.max_pool2d(x, 3, 2, padding=1), x=(2, 2, 6, 5),
                                windows=("x", (3, 3), (2, 2), (1, 1, 1, 1))),
                           Case("ties", lambda x: ops.max_pool2d(x, 2), x=_TIES, check=_one_gradient_per_window))),
    Exercise("avg_pool2d", "medium", "convolution", "minicnn.ops.pool:AvgPool2d", ("AvgPool2d.backward",),
             "Every element of a window moved the output by 1/divisor of its change; forward kept the divisor "
             "of each output position.",
             GradientCases(Case("2x2 windows", lambda x: ops.avg_pool2d(x, 2), x=(2, 3, 6, 6),
                                hint="the average divides by the window's size"),
                           Case("3x3 windows, stride 2, padding 1", lambda x: ops.avg_pool2d(x, 3, 2, padding=1),
                                x=(1, 2, 7, 7), windows=("x", (3, 3), (2, 2), (1, 1, 1, 1))),
                           Case("count_include_pad=False", lambda x: ops.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                                x=(2, 2, 6, 5), hint="each position has its own divisor: use self.divisor"),
                           Case("ceil_mode", lambda x: ops.avg_pool2d(x, 2, ceil_mode=True), x=(1, 2, 5, 5)))),
    Exercise("batch_norm", "hard", "training", "minicnn.ops.batchnorm:BatchNorm",
             ("BatchNorm.backward", "BatchNorm._input_grad"),
             "mu and var depend on every x of the channel, so gx has three terms; collect them into the short "
             "form invstd / M * (M dxhat - sum dxhat - xhat sum(dxhat xhat)). In evaluation mu and var are constants.",
             GradientCases(Case("(N, C) with gamma and beta", lambda x, g, b: ops.batch_norm(x, None, None, g, b),
                                x=(6, 3), g=(3,), b=(3,),
                                hint="in training mu and var depend on x, so gx has three terms, not just "
                                     "gy * gamma * invstd; ggamma sums gy * xhat, gbeta sums gy"),
                           Case("feature maps", lambda x, g, b: ops.batch_norm(x, None, None, g, b), x=(2, 3, 4, 5),
                                g=(3,), b=(3,)),
                           Case("without gamma and beta", lambda x: ops.batch_norm(x, None, None), x=(3, 2, 3, 3)),
                           Case("a batch of 1", lambda x, g: ops.batch_norm(x, None, None, g), x=(1, 2, 3, 3), g=(2,)),
                           Case("evaluation", lambda x, g, b: ops.batch_norm(x, mc.Tensor(np.zeros(3) + 0.5),
                                                                             mc.Tensor(np.ones(3) * 2.0), g, b,
                                                                             training=False),
                                x=(4, 3, 2, 2), g=(3,), b=(3,),
                                hint="in evaluation batch norm is a fixed per-channel affine map")),
             ),
    Exercise("add", "easy", "training", "minicnn.ops.arithmetic:Add", ("Add.backward",),
             "y = a + b moves one for one with a and with b: both get gy. When one was broadcast (a bias), its "
             "gradient sums over the broadcast axes: unbroadcast does that.",
             GradientCases(Case("same shapes", ops.add, a=(3, 4), b=(3, 4)),
                           Case("a broadcast bias", ops.add, a=(2, 3, 4, 4), b=(3, 1, 1),
                                hint="b was copied along the axes where it has size 1 (or no axis): sum gy over them"),
                           Case("a residual block", lambda x, W: ops.add(ops.relu(ops.linear(x, W)), x),
                                x=(3, 4), W=(4, 4),
                                hint="the shortcut carries the gradient straight back to x: Add gives gy to both"),
                           Case("a batch of 1", ops.add, a=(1, 5), b=(5,)))),
    Exercise("sgd", "medium", "training", "minicnn.optim.sgd:SGD", ("SGD._update",),
             "Follow the equations in the docstring line by line; the first step puts g itself in the buffer. "
             "Update p.array in place.",
             OptimizerCases(Case("plain", lambda ps: optim.SGD(ps, lr=0.1), w=(3, 4), b=(4,)),
                            Case("momentum and weight decay", lambda ps: optim.SGD(ps, 0.05, momentum=0.9,
                                                                                   weight_decay=0.01),
                                 w=(3, 4), b=(4,), hint="weight decay adds weight_decay * p to the gradient"),
                            Case("dampening", lambda ps: optim.SGD(ps, 0.05, momentum=0.8, dampening=0.3), w=(5,),
                                 hint="no dampening on the first step: the buffer starts as g itself"),
                            Case("Nesterov", lambda ps: optim.SGD(ps, 0.05, momentum=0.9, nesterov=True), w=(2, 3),
                                 hint="Nesterov steps with g + momentum * buf"))),
    Exercise("adam", "medium", "training", "minicnn.optim.adam:Adam", ("Adam._update",),
             "Keep m, v and the step count t in state; both averages start at 0, which the bias correction "
             "1 - beta**t undoes.",
             OptimizerCases(Case("defaults", lambda ps: optim.Adam(ps, lr=0.01), w=(3, 4), b=(4,),
                                 hint="the bias correction divides m by 1 - beta1**t and v by 1 - beta2**t"),
                            Case("betas and eps", lambda ps: optim.Adam(ps, 0.01, betas=(0.8, 0.9), eps=1e-3),
                                 w=(5,), hint="eps is added to sqrt(v_hat), outside the root"),
                            Case("weight decay", lambda ps: optim.Adam(ps, 0.01, weight_decay=0.1), w=(2, 3)),
                            Case("AdamW", lambda ps: optim.AdamW(ps, 0.01, weight_decay=0.1), w=(2, 3),
                                 hint="AdamW shrinks p by (1 - lr * weight_decay) and leaves g alone"))),
    Exercise("autograd", "hard", "training", "minicnn.autograd:backward", ("backward",),
             "A Function may run only once every consumer of its outputs has sent its gradient: order them "
             "by generation (a heap), and add up the gradients that reach a tensor used twice. Functions hold "
             "their outputs weakly: keep each tensor whose gradient is pending alive until it is used.",
             GradientCases(Case("a chain", lambda x, W: ops.sum(ops.relu(ops.linear(x, W))), x=(3, 4), W=(5, 4)),
                           Case("a tensor used twice", lambda x: _used_twice(ops.tanh(x)), x=(2, 3),
                                hint="a = tanh(x) reaches y along three paths: their gradients add up"),
                           Case("a residual block", lambda x, W: ops.add(ops.linear(ops.tanh(ops.linear(x, W)), W), x),
                                x=(2, 3), W=(3, 3),
                                hint="x and W are used twice each: their gradients add up, in the walk and in a "
                                     "leaf's .grad (_accumulate_leaf adds)"),
                           Case("a deep chain with a long shortcut", lambda x: ops.add(_deep(x, 20), ops.mul(x, 2.0)),
                                x=(2, 2), hint="order the walk by depth (generation), not by the order it finds "
                                              "Functions in"))),
)


def _used_twice(a):
    return ops.add(ops.mul(a, a), ops.sigmoid(a))


def _deep(x, layers):
    for _ in range(layers):
        x = ops.tanh(ops.mul(x, 1.1))
    return x


def find(name):
    """The exercise called ``name``, or None."""
    return next((e for e in EXERCISES if e.name == name), None)
