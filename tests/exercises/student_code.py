"""Test data: what students write. For every exercise, a correct solution written unlike the
reference (loops, another formula, no numba branch), and at least three typical wrong ones.

ALTERNATIVES[name][member] is the body of a blanked member, put in place of the stub's raise.
MUTANTS[name] is a list of (mistake, edits, words): ``edits`` are (old, new) replacements made in
the alternative's file (each old text must occur), ``words`` must appear in check's message.
"""

ALTERNATIVES = {
    "relu": {"ReLU.backward": """
        (y,) = self.saved
        positive = y > 0                    # exactly where x > 0
        gx = gy.copy()
        gx[~positive] = 0
        return gx
    """},
    "sigmoid": {"Sigmoid.backward": """
        (y,) = self.saved
        return gy * (y - y**2)
    """},
    "tanh": {"Tanh.backward": """
        (y,) = self.saved
        return gy - gy * y**2
    """},
    "linear": {"Linear.backward": """
        import numpy as np
        x, W = self.saved
        gx = np.einsum("no,oi->ni", gy, W)
        gW = np.einsum("no,ni->oi", gy, x)
        gb = np.einsum("no->o", gy)
        return gx, gW, gb
    """},
    "softmax": {"Softmax.backward": """
        import numpy as np
        (p,) = self.saved
        dot = np.sum(gy * p, axis=self.axis, keepdims=True)
        return p * gy - p * dot
    """},
    "cross_entropy": {"CrossEntropy.backward": """
        import numpy as np
        (p,) = self.saved
        N, C = p.shape
        q = np.full((N, C), self.eps / C)
        for n in range(N):
            q[n, self.labels[n]] += 1 - self.eps
        g = p - q
        if self.reduction == "none":
            return g * gy[:, None]
        if self.reduction == "mean":
            return g * gy / N
        return g * gy
    """},
    "dropout": {"Dropout.backward": """
        import numpy as np
        (mask,) = self.saved
        return np.where(mask, gy / (1 - self.p), 0.0)
    """},
    "im2col": {"im2col": """
    import numpy as np
    N, C, H, W = x.shape
    top, bottom, left, right = pads
    padded = np.zeros((N, C, H + top + bottom, W + left + right), x.dtype)
    padded[:, :, top:top + H, left:left + W] = x
    col = np.empty((C, KH, KW, N, OH, OW), x.dtype)
    for i in range(KH):
        for j in range(KW):
            col[:, i, j] = padded[:, :, i:i + SH * OH:SH, j:j + SW * OW:SW].transpose(1, 0, 2, 3)
    return col.reshape(C * KH * KW, N * OH * OW)
    """},
    "col2im": {"col2im": """
    import numpy as np
    N, C, KH, KW, OH, OW = col.shape
    H, W = x_shape[2:]
    top, bottom, left, right = pads
    out = np.zeros((N, C, H + top + bottom, W + left + right), col.dtype)
    for oh in range(OH):
        for ow in range(OW):
            out[:, :, oh * SH:oh * SH + KH, ow * SW:ow * SW + KW] += col[:, :, :, :, oh, ow]
    return out[:, :, top:top + H, left:left + W]
    """},
    "conv2d": {"Conv2d.backward": """
        import numpy as np
        x, W = self.saved
        N, C, OC, KH, KW, SH, SW, OH, OW = conv_geometry(x.shape, W.shape, self.stride, self.pads)
        G = self.groups
        Cg, OCg = C // G, OC // G
        gx, gW = np.zeros_like(x), np.zeros_like(W)
        for g in range(G):
            xs = x[:, g * Cg:(g + 1) * Cg]
            col = im2col(xs, KH, KW, SH, SW, self.pads, OH, OW)
            gyg = gy[:, g * OCg:(g + 1) * OCg].transpose(1, 0, 2, 3).reshape(OCg, -1)
            Wg = W[g * OCg:(g + 1) * OCg].reshape(OCg, -1)
            gW[g * OCg:(g + 1) * OCg] = (gyg @ col.T).reshape(OCg, Cg, KH, KW)
            gcol = (Wg.T @ gyg).reshape(Cg, KH, KW, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)
            gx[:, g * Cg:(g + 1) * Cg] = col2im(gcol, xs.shape, SH, SW, self.pads)
        gb = gy.sum(axis=(0, 2, 3))
        return gx, gW, gb
    """},
    "max_pool2d": {"MaxPool2d.backward": """
        import numpy as np
        (argmax,) = self.saved
        (KH, KW), (SH, SW) = self.kernel, self.stride
        N, C, OH, OW = gy.shape
        top, bottom, left, right = self.pads
        H, W = self.x_shape[2:]
        padded = np.zeros((N, C, H + top + bottom, W + left + right), gy.dtype)
        n, c = np.indices((N, C))
        for oh in range(OH):
            for ow in range(OW):
                i, j = np.divmod(argmax[:, :, oh, ow], KW)
                np.add.at(padded, (n, c, oh * SH + i, ow * SW + j), gy[:, :, oh, ow])
        return padded[:, :, top:top + H, left:left + W]
    """},
    "avg_pool2d": {"AvgPool2d.backward": """
        import numpy as np
        (KH, KW), (SH, SW) = self.kernel, self.stride
        N, C, OH, OW = gy.shape
        top, bottom, left, right = self.pads
        H, W = self.x_shape[2:]
        padded = np.zeros((N, C, H + top + bottom, W + left + right), gy.dtype)
        share = gy / self.divisor
        for oh in range(OH):
            for ow in range(OW):
                padded[:, :, oh * SH:oh * SH + KH, ow * SW:ow * SW + KW] += share[:, :, oh, ow, None, None]
        return padded[:, :, top:top + H, left:left + W]
    """},
    "batch_norm": {"BatchNorm.backward": """
        x, mu, invstd, gamma = self.saved
        xhat = (x - mu) * invstd
        gx = self._input_grad(gy, xhat, invstd, gamma) if self.needs_input_grad[0] else None
        ggamma = (gy * xhat).sum(axis=self.axes) if self.has_weight else None
        gbeta = gy.sum(axis=self.axes) if self.has_bias else None
        return (gx,) + ((ggamma,) if self.has_weight else ()) + ((gbeta,) if self.has_bias else ())
    """, "BatchNorm._input_grad": """
        # The long way: through var and mu, as in the paper.
        dxhat = gy * gamma if gamma is not None else gy
        if not self.training:
            return dxhat * invstd
        M = gy.size // gy.shape[1]
        xmu = xhat / invstd
        dvar = (dxhat * xmu).sum(axis=self.axes, keepdims=True) * -0.5 * invstd**3
        dmu = -(dxhat * invstd).sum(axis=self.axes, keepdims=True) - 2 * dvar * xmu.mean(axis=self.axes, keepdims=True)
        return dxhat * invstd + dvar * 2 * xmu / M + dmu / M
    """},
    "add": {"Add.backward": """
        def reduce(g, shape):
            while g.ndim > len(shape):
                g = g.sum(axis=0)
            for axis, n in enumerate(shape):
                if n == 1 and g.shape[axis] != 1:
                    g = g.sum(axis=axis, keepdims=True)
            return g

        ga = reduce(gy, self.shapes[0])
        gb = reduce(gy, self.shapes[1])
        return ga, gb
    """},
    "sgd": {"SGD._update": """
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.array
        if momentum:
            if "momentum_buffer" in state:
                state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - dampening) * g
            else:
                state["momentum_buffer"] = g.copy()
            buf = state["momentum_buffer"]
            g = g + momentum * buf if group["nesterov"] else buf
        p.array -= lr * g
    """},
    "adam": {"Adam._update": """
        import numpy as np
        lr, (b1, b2), wd, eps = group["lr"], group["betas"], group["weight_decay"], group["eps"]
        t = state["step"] = state.get("step", 0) + 1
        if wd:
            if self.decoupled_weight_decay:
                p.array *= 1 - lr * wd
            else:
                g = g + wd * p.array
        m = state["exp_avg"] = b1 * state.get("exp_avg", 0) + (1 - b1) * g
        v = state["exp_avg_sq"] = b2 * state.get("exp_avg_sq", 0) + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p.array -= lr * m_hat / (np.sqrt(v_hat) + eps)
    """},
    "autograd": {"backward": """
    # Kahn's algorithm instead of a heap: a Function is ready when all its consumers have run.
    import numpy as np
    grad = np.ones_like(root.array) if gradient is None else np.asarray(gradient, dtype=root.dtype)
    if root.creator is None:
        _accumulate_leaf(root, grad)
        return
    waiting, stack, seen = {}, [root.creator], {id(root.creator)}
    while stack:
        f = stack.pop()
        for x in f.inputs:
            if x.creator is not None:
                waiting[id(x.creator)] = waiting.get(id(x.creator), 0) + 1
                if id(x.creator) not in seen:
                    seen.add(id(x.creator))
                    stack.append(x.creator)
    # id -> (tensor, gradient): holding the tensor keeps it alive (Functions hold outputs weakly).
    grads, ready = {id(root): (root, grad)}, [root.creator]
    while ready:
        f = ready.pop()
        gys = []
        for ref, (shape, dtype) in zip(f.outputs, f.output_meta):
            y = ref()
            entry = grads.pop(id(y), None) if y is not None else None
            gys.append(np.zeros(shape, dtype) if entry is None else entry[1])
        gxs = f.backward(*gys)
        gxs = gxs if isinstance(gxs, tuple) else (gxs,)
        for x, gx, needed in zip(f.inputs, gxs, f.needs_input_grad):
            if needed and gx is not None:
                if x.creator is None:
                    _accumulate_leaf(x, gx)
                else:
                    grads[id(x)] = (x, grads[id(x)][1] + gx if id(x) in grads else gx)
        for x in f.inputs:
            if x.creator is not None:
                waiting[id(x.creator)] -= 1
                if waiting[id(x.creator)] == 0:
                    ready.append(x.creator)
        if not retain_graph:
            f.release()
    """},
}

# Put before the alternative's body: gy to every element equal to its window's max.
_ALL_TIES = """        from minicnn.im2col import pad_spatial, window_view
        (x,) = self.saved
        (KH, KW), (SH, SW) = self.kernel, self.stride
        N, C, OH, OW = gy.shape
        windows = window_view(np.ascontiguousarray(pad_spatial(x, self.pads, value=-np.inf)), KH, KW, SH, SW, OH, OW)
        winners = windows == windows.max(axis=(2, 3), keepdims=True)
        return col2im(winners * gy[:, :, None, None], self.x_shape, SH, SW, self.pads)
"""

MUTANTS = {
    "relu": [
        ("the mask taken from gy", [("gx[~positive] = 0", "gx[gy <= 0] = 0")], ["gradient of x is wrong", "index"]),
        ("the mask without gy", [("gx = gy.copy()", "gx = gy * 0 + 1")], ["gradient of x is wrong"]),
        ("the mask inverted", [("gx[~positive] = 0", "gx[positive] = 0")], ["gradient of x is wrong"]),
        ("gy changed in place", [("gx = gy.copy()", "gx = gy")], ["changed in place"]),
        ("a forward changed to match a wrong backward",
         [("    def forward(self, x):\n", "    def forward(self, x):\n        self.save_for_backward(x > 0)\n"
                                          "        return x\n"), ("gx[~positive] = 0", "pass")], ["the output"]),
    ],
    "sigmoid": [
        ("1 - y forgotten", [("gy * (y - y**2)", "gy * y")], ["gradient of x is wrong"]),
        ("gy forgotten", [("gy * (y - y**2)", "(y - y**2)")], ["gradient of x is wrong"]),
        ("the saved output thrown away", [("(y,) = self.saved", "(y,) = self.saved\n        y = y * 0")],
         ["zero everywhere"]),
    ],
    "tanh": [
        ("y instead of y**2", [("gy - gy * y**2", "gy - gy * y")], ["gradient of x is wrong"]),
        ("a plus sign", [("gy - gy * y**2", "gy + gy * y**2")], ["gradient of x is wrong"]),
        ("the sign flipped", [("gy - gy * y**2", "gy * y**2 - gy")], ["wrong sign"]),
    ],
    "linear": [
        ("the bias not summed over the batch", [('np.einsum("no->o", gy)', "gy")], ["sum over the batch"]),
        ("a transposed weight gradient", [('"no,ni->oi"', '"no,ni->io"')], ["transposed weight"]),
        ("gx with W's axes swapped", [('"no,oi->ni"', '"no,io->ni"')], ["raised ValueError", "line"]),
        ("no gradient for x", [("return gx, gW, gb", "return None, gW, gb")], ["returned None for the gradient of x"]),
    ],
    "softmax": [
        ("the sum term forgotten", [("p * gy - p * dot", "p * gy")], ["gradient of x is wrong"]),
        ("summed over the batch axis", [("axis=self.axis", "axis=0")], ["gradient of x is wrong"]),
        ("p left out of the sum", [("np.sum(gy * p,", "np.sum(gy,")], ["gradient of x is wrong"]),
    ],
    "cross_entropy": [
        ("a missing 1/N", [("return g * gy / N", "return g * gy")], ["missing 1/N"]),
        ("label smoothing ignored", [("+= 1 - self.eps", "+= 1")], ["label smoothing 0.1", "smoothing eps"]),
        ("p - q the wrong way round", [("g = p - q", "g = q - p")], ["wrong sign"]),
    ],
    "dropout": [
        ("the scale forgotten", [("gy / (1 - self.p)", "gy")], ["0.5 times the expected"]),
        ("the mask forgotten", [("np.where(mask,", "np.where(True,")], ["gradient of x is wrong"]),
        ("the scale inverted", [("gy / (1 - self.p)", "gy * (1 - self.p)")], ["times the expected"]),
    ],
    "im2col": [
        ("padding ignored", [("top, bottom, left, right = pads", "top, bottom, left, right = 0, 0, 0, 0")],
         ["stride 2, padding 1", "padding adds zeros"]),
        ("the columns in the wrong order",
         [("return col.reshape(C * KH * KW, N * OH * OW)",
           "return col.transpose(3, 4, 5, 0, 1, 2).reshape(C * KH * KW, N * OH * OW)")],
         ["the result is wrong at", "index"]),
        ("the stride ignored", [("i:i + SH * OH:SH, j:j + SW * OW:SW", "i:i + OH, j:j + OW")],
         ["stride 2", "the result is wrong"]),
    ],
    "col2im": [
        ("overwriting where windows overlap", [("+= col[", "= col[")], ["windows overlap", "(+=)"]),
        ("the padding left on", [("return out[:, :, top:top + H, left:left + W]", "return out")],
         ["the result has shape"]),
        ("the stride ignored", [("oh * SH:oh * SH + KH, ow * SW:ow * SW + KW", "oh:oh + KH, ow:ow + KW")],
         ["stride 2", "the result is wrong"]),
    ],
    "conv2d": [
        ("the bias summed over the batch only", [("gy.sum(axis=(0, 2, 3))", "gy.sum(axis=0)")],
         ["sum over the batch"]),
        ("col2im without the stride", [("col2im(gcol, xs.shape, SH, SW, self.pads)",
                                        "col2im(gcol, xs.shape, 1, 1, self.pads)")],
         ["stride 2", "gradient of x is wrong"]),
        ("gW from a transposed product", [("(gyg @ col.T).reshape", "(col @ gyg.T).T.T.reshape")],
         ["gradient of W is wrong"]),
    ],
    "max_pool2d": [
        ("overwriting where windows overlap",
         [("np.add.at(padded, (n, c, oh * SH + i, ow * SW + j), gy[:, :, oh, ow])",
           "padded[n, c, oh * SH + i, ow * SW + j] = gy[:, :, oh, ow]")], ["windows overlap"]),
        ("gy to every tied element", [("self.save_for_backward(argmax)", "self.save_for_backward(x)"),
                                      ("        (argmax,) = self.saved\n", _ALL_TIES)],
         ["max-pool ties"]),
        ("the winner's row and column swapped", [("np.divmod(argmax[:, :, oh, ow], KW)", "np.divmod(argmax[:, :, oh, ow], KH)[::-1]")],
         ["gradient of x is wrong"]),
    ],
    "avg_pool2d": [
        ("no divisor", [("share = gy / self.divisor", "share = gy")], ["4 times the expected"]),
        ("always the full window", [("share = gy / self.divisor", "share = gy / (KH * KW)")],
         ["count_include_pad=False"]),
        ("overwriting where windows overlap", [("+= share", "= share")], ["windows overlap"]),
    ],
    "batch_norm": [
        ("mu and var taken as constants in training", [("if not self.training:", "if True:")],
         ["mu and var depend on x"]),
        ("ggamma without xhat", [("(gy * xhat).sum(axis=self.axes)", "gy.sum(axis=self.axes)")],
         ["gradient of g is wrong"]),
        ("a missing 1/M on the mean term", [("dmu / M", "dmu")], ["gradient of x is wrong"]),
        ("gamma forgotten", [("dxhat = gy * gamma if gamma is not None else gy", "dxhat = gy")],
         ["gradient of x is wrong"]),
    ],
    "add": [
        ("no gradient through the shortcut", [("return ga, gb", "return ga, None")],
         ["returned None for the gradient of b"]),
        ("the broadcast not undone", [("gb = reduce(gy, self.shapes[1])", "gb = gy")], ["the gradient of b has shape"]),
        ("a zero shortcut gradient", [("return ga, gb", "return ga, 0 * gb")], ["zero everywhere"]),
    ],
    "sgd": [
        ("weight decay forgotten", [('if group["weight_decay"]:', "if False:")], ["weight decay adds"]),
        ("dampening on the first step", [('state["momentum_buffer"] = g.copy()',
                                          'state["momentum_buffer"] = (1 - dampening) * g')],
         ["buffer starts as g itself"]),
        ("p.array replaced", [("p.array -= lr * g", "p.array = p.array - lr * g")], ["in place"]),
        ("Nesterov ignored", [('g + momentum * buf if group["nesterov"] else buf', "buf")], ["Nesterov"]),
    ],
    "adam": [
        ("no bias correction", [("m_hat = m / (1 - b1 ** t)", "m_hat = m")], ["bias correction"]),
        ("eps inside the root", [("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")], ["outside the root"]),
        ("the step count stuck at 1", [('state.get("step", 0) + 1', "1")], ["step 1 was right"]),
        ("AdamW decay as L2", [("if self.decoupled_weight_decay:", "if False:")], ["AdamW shrinks p"]),
    ],
    "autograd": [
        ("gradients overwritten, not added", [("grads[id(x)][1] + gx if id(x) in grads else gx", "gx")],
         ["a tensor used twice", "add up"]),
        ("a Function run before all its consumers", [("if waiting[id(x.creator)] == 0:", "if True:")],
         ["a tensor used twice", "raised"]),
        ("a leaf's gradient overwritten", [("_accumulate_leaf(x, gx)", "x.grad = Tensor(gx)")],
         ["gradient of x is wrong"]),
    ],
}
