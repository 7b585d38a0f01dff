"""numba twin of ``minicnn.optim.SGD._update``: the whole update in one pass over memory.

NumPy needs a new full-size array for each of ``wd * p``, ``g + ...``, ``(1 - dampening) * g``
and ``lr * g``; for VGG-16's 134M parameters that is several passes over half a gigabyte each,
and the update took longer than the backward pass. Here each element is read and written once,
with the reference's operations in the reference's order, and blocks of elements run in parallel.
"""
import numba
import numpy as np
from numba import prange

__all__ = ["sgd_update"]

BLOCK = 1 << 16       # elements per parallel task: big enough to amortise starting it
u = np.uintp          # unsigned indices: no negative-index check in the loop (see conv.py)


@numba.njit(parallel=True, cache=True)
def _update(p, g, buf, lr, momentum, keep, weight_decay, nesterov, first):
    for block in prange((p.size + BLOCK - 1) // BLOCK):
        for k in range(block * BLOCK, min(p.size, (block + 1) * BLOCK)):
            i = u(k)
            d = g[i]
            if weight_decay != 0:
                d = d + weight_decay * p[i]
            if momentum != 0:
                if first:
                    b = d
                else:
                    b = momentum * buf[i] + keep * d          # keep = 1 - dampening
                buf[i] = b
                d = d + momentum * b if nesterov else b
            p[i] -= lr * d


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """Update the contiguous arrays p (and the momentum buffer buf, unless momentum is 0) in place;
    g may have any layout of p's shape (reshaping it copies only if it must).

    The scalars are cast to p's dtype first, as NumPy does with Python numbers in the reference,
    so that float32 arithmetic stays float32 and both paths round alike, bit for bit.
    """
    lr, momentum, keep, weight_decay = (p.dtype.type(v) for v in (lr, momentum, 1 - dampening, weight_decay))
    _update(p.reshape(-1), g.reshape(-1), buf.reshape(-1), lr, momentum, keep, weight_decay, nesterov, first)
