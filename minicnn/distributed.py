"""Data-parallel training over MPI: every rank holds the whole model and a shard of each batch.

One training step on W ranks (launched with ``mpirun -np W``):

1. every rank computes the loss and the gradients of its own ``B`` images
   (the DataLoader's ``rank``/``world_size`` pick the disjoint shards of a global batch of W*B);
2. the gradients are summed over ranks with ``MPI_Allreduce`` and divided by W. The mean of W
   shard means of B images each is the mean over the whole global batch, so the update is the one
   a single process would make with batch W*B;
3. every rank applies the same update to the same weights (broadcast from rank 0 at the start), so
   the replicas never drift apart and nothing else has to be sent.

Allreduce has a fixed cost per call, so gradients are copied into a few contiguous buckets of up
to ``bucket_bytes`` each and reduced bucket by bucket, instead of one call per parameter.

Batch norm is not synchronised: each rank normalises with the statistics of its own B images and
keeps its own running averages (rank 0's are saved), as Goyal et al. (2017) did.

CuPy arrays go straight to MPI when the library is CUDA-aware (Open MPI built with CUDA says so
through ``MPIX_Query_cuda_support``; ``MINICNN_CUDA_AWARE_MPI=1``/``0`` overrides), and are
copied through host memory otherwise.

A failing rank must not leave the others waiting forever in a collective: ``World.abort_on_failure``
prints the error with the rank and calls ``MPI_Abort``, which ends every process of the job.
"""
import contextlib
import ctypes
import ctypes.util
import os
import sys
import time
import traceback

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor

__all__ = ["World", "MPIWorld", "GradientAverager", "init", "SINGLE_PROCESS", "DistributedError"]

INSTALL_HINT = ("install Open MPI and mpi4py: `apt-get install openmpi-bin libopenmpi-dev` and "
                "`pip install -e \".[dist]\"`")


class DistributedError(RuntimeError):
    """mpi4py or the MPI library under it is missing."""


class World:
    """A single process: rank 0 of 1. Every collective is the identity.

    Code written against World runs unchanged with or without MPI; ``MPIWorld`` is the real one.
    """
    rank, size = 0, 1

    def device(self, name):
        """The device this rank trains on, for a --device choice ('cpu', 'cuda', 'cuda:N', 'auto')."""
        return backend.pick_device(name)

    @property
    def is_main(self):
        """Rank 0 writes the run folder, the logs and the checkpoints."""
        return self.rank == 0

    def broadcast(self, array):
        """Overwrite ``array`` (NumPy or CuPy) in place with rank 0's values."""

    def allreduce_sum(self, array):
        """Replace ``array`` in place by its element-wise sum over all ranks."""

    def sum(self, values):
        """Sum a few Python numbers over all ranks (metrics); returns a float64 NumPy array."""
        return np.asarray(values, np.float64)

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every rank (small picklable values, such as a folder name)."""
        return obj

    @contextlib.contextmanager
    def abort_on_failure(self):
        yield

    def broadcast_module(self, module):
        """Give every rank rank 0's parameters and buffers."""
        for t in list(module.parameters()) + list(module.buffers()):
            self.broadcast(t.array)


SINGLE_PROCESS = World()


class MPIWorld(World):
    """The processes of an MPI job (``MPI.COMM_WORLD`` unless another communicator is given)."""

    def __init__(self, comm):
        from mpi4py import MPI
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()     # rank among this machine's
        self.cuda_aware = _cuda_aware_mpi()

    def device(self, name):
        """'cuda' (or 'auto' finding a GPU) becomes this rank's own GPU: local rank modulo the GPU count,
        so the ranks on one machine spread over its GPUs. 'cuda:N' is taken as given."""
        device = backend.pick_device(name)
        if device == "cpu" or str(name).strip().lower() not in ("cuda", "gpu", "auto"):
            return device
        return f"cuda:{self.local_rank % backend.cuda_device_count()}"

    def _on_buffer(self, array, collective):
        """Run ``collective(buffer)`` on ``array`` itself, or on a host copy for a CuPy array when MPI
        cannot read device memory."""
        if backend.get_array_module(array) is np:
            collective(array)
            return
        backend.synchronize(array)          # MPI reads the memory directly: the kernels must be done
        if self.cuda_aware:
            collective(array)
        else:
            host = array.get()
            collective(host)
            array.set(host)

    def broadcast(self, array):
        self._on_buffer(array, lambda buf: self.comm.Bcast(buf, root=0))

    def allreduce_sum(self, array):
        from mpi4py import MPI
        self._on_buffer(array, lambda buf: self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM))

    def sum(self, values):
        total = np.asarray(values, np.float64).copy()
        self.allreduce_sum(total)
        return total

    def broadcast_object(self, obj):
        return self.comm.bcast(obj, root=0)

    @contextlib.contextmanager
    def abort_on_failure(self):
        """Any exception, Ctrl-C or non-zero SystemExit on this rank ends the whole job."""
        try:
            yield
        except SystemExit as e:
            if e.code in (None, 0):
                raise
            self._abort(f"exited: {e.code}", int(e.code) if isinstance(e.code, int) else 1)
        except BaseException as e:                                   # noqa: B902 - Ctrl-C too
            self._abort("".join(traceback.format_exception(e)).rstrip(), 1)

    def _abort(self, what, code):
        print(f"\nminicnn.distributed: rank {self.rank} of {self.size} failed; ending all ranks "
              f"(MPI_Abort) so that none waits forever.\nrank {self.rank} {what}", file=sys.stderr, flush=True)
        self.comm.Abort(code)


def _cuda_aware_mpi():
    """Whether MPI accepts device pointers: $MINICNN_CUDA_AWARE_MPI, else Open MPI's own answer."""
    forced = os.environ.get("MINICNN_CUDA_AWARE_MPI")
    if forced in ("0", "1"):
        return forced == "1"
    path = ctypes.util.find_library("mpi")
    try:
        query = ctypes.CDLL(path).MPIX_Query_cuda_support if path else None
    except (OSError, AttributeError):                   # not Open MPI, or not loadable
        query = None
    return bool(query and query() == 1)


def init():
    """The MPI world this process belongs to (size 1 when started without mpirun).

    Raises DistributedError with the install commands when mpi4py or MPI is missing.
    """
    try:
        from mpi4py import MPI
    except ImportError as e:                             # mpi4py absent, or no MPI library under it
        raise DistributedError(f"--distributed needs MPI ({e}); {INSTALL_HINT}") from None
    return MPIWorld(MPI.COMM_WORLD)


class GradientAverager:
    """After ``loss.backward()``, replace every parameter's gradient by its mean over all ranks.

    Parameters are packed, last layer first (the order backward produces them), into buckets of at
    most ``bucket_bytes`` of one dtype; one Allreduce per bucket. A parameter without a gradient on
    a rank contributes zeros there. ``seconds`` and ``calls`` add up the time and the Allreduce
    calls spent so far (for the logs and benchmarks/distributed.py).
    """

    def __init__(self, world, parameters, bucket_bytes=25 * 2**20):
        self.world, self.seconds, self.calls = world, 0.0, 0
        self.buckets, current, size = [], [], 0
        for p in reversed([p for p in parameters if p.requires_grad]):
            if current and (p.dtype != current[0].dtype or size + p.array.nbytes > bucket_bytes):
                self.buckets.append(current)
                current, size = [], 0
            current.append(p)
            size += p.array.nbytes
        if current:
            self.buckets.append(current)
        self._buffers = [None] * len(self.buckets)

    def __call__(self):
        if self.world.size == 1 or not self.buckets:
            return
        start = time.perf_counter()
        for i, bucket in enumerate(self.buckets):
            flat = self._buffer(i, bucket)
            offset = 0
            for p in bucket:
                flat[offset:offset + p.numel()] = 0 if p.grad is None else p.grad.array.ravel()
                offset += p.numel()
            self.world.allreduce_sum(flat)
            flat /= self.world.size
            offset = 0
            for p in bucket:
                mean = flat[offset:offset + p.numel()].reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor._from_op(mean.copy())
                else:
                    p.grad.array[...] = mean
                offset += p.numel()
            self.calls += 1
        backend.synchronize(flat)
        self.seconds += time.perf_counter() - start

    def _buffer(self, i, bucket):
        """The bucket's flat array, allocated once on the parameters' device (moved models get a new one)."""
        first = bucket[0].array
        buf = self._buffers[i]
        if buf is None or backend.device_of(buf) != backend.device_of(first):
            xp = backend.get_array_module(first)
            buf = self._buffers[i] = xp.empty(sum(p.numel() for p in bucket), first.dtype)
        return buf
