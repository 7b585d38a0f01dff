"""Reusable work buffers for the fast kernels, one set per thread.

A fresh buffer of tens of MiB costs more in page faults on first touch than the copy that
fills it; reusing one (like cuDNN's workspace) pays that once. Each thread has its own
buffers, so two threads running convolutions never write into each other's columns.
"""
import threading

import numpy as np

__all__ = ["scratch", "release"]

_local = threading.local()


def scratch(like, size, slot):
    """A 1-D buffer of ``size`` elements of ``like``'s dtype, reused from call to call.

    ``slot`` names the buffer, so one op can hold several at once. The contents are only valid
    until the next call with the same slot and dtype on this thread: use it for arrays that die
    inside the op.
    """
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (like.dtype.str, slot)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buffers.pop(key, None)          # free the old one before allocating the larger one
        buf = buffers[key] = np.empty(size, dtype=like.dtype)
    return buf[:size]


def release():
    """Free this thread's buffers (they are made again, at the size needed, on the next call)."""
    _local.__dict__.pop("buffers", None)
