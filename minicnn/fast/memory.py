"""Keep freed memory in the process, so that the next op's arrays do not page-fault.

glibc hands an array above its mmap threshold (128 KiB, raised as large blocks are freed) fresh
pages from the kernel, and returns the pages of a freed one; free space at the top of the heap
above 128 KiB is also given back. Each new page then faults on its first write: a ResNet-20 step
on 64 CIFAR images allocates and frees its activations so that it took about 28,000 page faults,
over a fifth of the step on a virtual machine. PyTorch's CPU allocator meets the same cost;
cuDNN-style workspaces and ``scratch.py`` avoid it for the column buffers only.

With a high mmap threshold and no trimming, freed blocks stay in the heap and are reused by the
next allocation of that size: after the first step a step takes almost no page faults. The
memory is not returned to the system until the process ends, and the peak can grow where a freed
block is too small for the next array and stays beside it (VGG-16's step at batch 64: 2,290 MiB
instead of 2,029, still below PyTorch's 2,708). Linux with glibc only; elsewhere a no-op.
"""
import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3     # glibc's mallopt parameters (malloc.h)
_MMAP_THRESHOLD = 2**30                            # arrays above 1 GiB still get their own pages


def keep_freed_memory():
    """Tell glibc's malloc to keep freed blocks for reuse; True when it took the setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):                 # musl or another C library: nothing to set
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
