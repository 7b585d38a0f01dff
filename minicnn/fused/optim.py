"""Optimiser updates as one kernel per parameter (the plain code: five to nine launches each).

Twins of ``_update`` in ``minicnn/optim/sgd.py``, ``adam.py`` and ``rmsprop.py``: the same equations,
with every state array updated in place. Step counts and bias corrections stay on the host: they
are Python numbers passed in, so no step reads the device.
"""
import functools

from minicnn.fused import kernel


def _momentum_buffer(p, g, buf, momentum, dampening, weight_decay):
    """g with L2 decay, and buf = momentum * buf + (1 - dampening) * g in place (traced into the kernels)."""
    g = g + weight_decay * p
    buf *= momentum
    buf += (1 - dampening) * g
    return g


@kernel
def sgd(cp, p, g, lr, weight_decay):
    p -= lr * (g + weight_decay * p)


@kernel
def sgd_momentum(cp, p, g, buf, lr, momentum, dampening, weight_decay):
    _momentum_buffer(p, g, buf, momentum, dampening, weight_decay)
    p -= lr * buf


@kernel
def sgd_nesterov(cp, p, g, buf, lr, momentum, dampening, weight_decay):
    g = _momentum_buffer(p, g, buf, momentum, dampening, weight_decay)
    p -= lr * (g + momentum * buf)


def _adam_step(cp, p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt):
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * g * g
    p -= step_size * (m / (cp.sqrt(v) / bias_correction2_sqrt + eps))


@kernel
def adam(cp, p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay):
    _adam_step(cp, p, g + weight_decay * p, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt)


@kernel
def adamw(cp, p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, decay):
    p *= decay                      # decay = 1 - lr * weight_decay, before the update
    _adam_step(cp, p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt)


@functools.lru_cache(maxsize=None)
def rmsprop(centered, with_momentum):
    """The RMSprop kernel for one choice of centered / momentum (arguments that are None go unused)."""
    def update(cp, p, g, v, m, buf, lr, alpha, eps, weight_decay, momentum):
        g = g + weight_decay * p
        v *= alpha
        v += (1 - alpha) * g * g
        if centered:
            m += (1 - alpha) * (g - m)
            avg = cp.sqrt(v - m * m) + eps
        else:
            avg = cp.sqrt(v) + eps
        if with_momentum:
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)

    update.__name__ = f"rmsprop{'_centered' if centered else ''}{'_momentum' if with_momentum else ''}"
    return kernel(update)
