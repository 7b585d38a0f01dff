"""Recognising the typical mistakes from a wrong result and the expected one.

Each detector looks at the student's array and the reference's for one input and returns a
sentence, or None when the mistake it knows is not the one made. The grader shows every
sentence that applies, after the plain facts (which element, by how much).
"""
import numpy as np

from minicnn.im2col import col2im

__all__ = ["shape_hints", "value_hints", "window_coverage"]


def shape_hints(name, yours, expected):
    """For a gradient of the wrong shape."""
    hints = []
    if len(yours) > len(expected):
        hints.append(f"{name} is shared by every sample (and every position): its gradient is the sum of "
                     f"theirs; sum over the batch axis (and the spatial axes) to get shape {expected}")
    if yours == expected[::-1] and yours != expected:
        hints.append(f"a transposed weight: the gradient of {name} has {name}'s own shape {expected}; "
                     f"for y = x @ W.T that is gy.T @ x, not x.T @ gy")
    return hints


def value_hints(what, yours, expected, batch, bad, coverage=None):
    """For a result of the right shape whose values are off (``what``: "the gradient of W");
    ``bad`` marks the elements out of tolerance, ``coverage`` (when the input is read through
    windows) counts the windows that read each element."""
    hints = []
    if not np.any(yours):
        hints.append(f"yours is zero everywhere ({what}): is it computed and returned, for every input?")
        return hints
    if yours.ndim == 2 and yours.shape[0] == yours.shape[1] and np.allclose(yours, expected.T):
        hints.append(f"a transposed weight: yours is the expected one transposed ({what})")
    ratio = _constant_ratio(yours, expected)
    if ratio is not None:
        hints.append(_ratio_hint(what, ratio, batch))
    if coverage is not None and np.all(coverage[bad] > 1) and np.any(coverage > 1):
        hints.append("wrong only where windows overlap (elements that two or more windows read): there the "
                     "windows' gradients must add up (+=); an assignment (=) keeps only the last one")
    return hints


def _constant_ratio(yours, expected):
    """c when yours == c * expected everywhere (and c != 1), else None."""
    scale = float(np.vdot(expected, expected))
    if scale == 0:
        return None
    c = float(np.vdot(yours, expected)) / scale
    if abs(c - 1) < 1e-6 or not np.allclose(yours, c * expected, rtol=1e-6, atol=1e-9):
        return None
    return c


def _ratio_hint(what, c, batch):
    if np.isclose(c, -1):
        return f"yours has the wrong sign ({what})"
    hint = f"yours is {c:.6g} times the expected one everywhere ({what}): a constant factor is off"
    if batch > 1 and np.isclose(c, batch):
        hint += f"; N = {batch} is the batch size: a missing 1/N, where the loss is a mean over the N samples?"
    elif batch > 1 and np.isclose(c, 1 / batch):
        hint += f"; 1/N with the batch size N = {batch}: divided by N once too often?"
    return hint


def window_coverage(x_shape, kernel, stride, pads):
    """How many windows read each element of an (N, C, H, W) input (1 or more where windows overlap)."""
    (KH, KW), (SH, SW) = kernel, stride
    H, W = x_shape[2] + pads[0] + pads[1], x_shape[3] + pads[2] + pads[3]
    OH, OW = (H - KH) // SH + 1, (W - KW) // SW + 1
    ones = np.ones((x_shape[0], x_shape[1], KH, KW, OH, OW))
    return col2im(ones, x_shape, SH, SW, pads)
