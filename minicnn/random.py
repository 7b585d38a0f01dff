"""One place for randomness: ``manual_seed`` makes dropout masks and weight initialisation (and
anything else drawn from ``generator``) reproducible, as ``torch.manual_seed`` does, and
``get_state`` / ``set_state`` let a checkpoint carry every stream so a resumed run draws exactly
what it would have drawn without the interruption.

There are two streams, and the same seed gives different numbers on each:

- CPU arrays draw from a NumPy ``Generator`` (PCG64); its state is NumPy's ``bit_generator.state``.
- GPU arrays draw from ``CounterGenerator``, below: CuPy's own generators cannot be saved, so a
  GPU run could not resume bit-exact. The counter generator's whole state is two integers.
"""
import math
import secrets
import threading

import numpy as np

from minicnn import fused

__all__ = ["manual_seed", "generator", "get_state", "set_state", "CounterGenerator"]

_MASK64 = 2 ** 64 - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)       # 2^64 / golden ratio, odd: SplitMix64's counter step
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class CounterGenerator:
    """Counter-based random numbers whose whole state is ``(seed, offset)``, as PyTorch's CUDA
    generator is (there Philox; here the simpler SplitMix64).

    Word ``k`` of the stream (k = 0, 1, 2, ...) is SplitMix64's output function applied to a
    counter, with all arithmetic modulo 2^64::

        z = seed + (k + 1) * gamma            gamma = 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        word = z ^ (z >> 31)

    which is exactly the k-th output of Vigna's sequential SplitMix64 seeded with ``seed`` (a
    generator that passes BigCrush). Since word k depends on k alone, a draw of n numbers computes
    words offset .. offset + n - 1 at once, elementwise, with uint64 array ops only, so it runs on
    the GPU with no host round-trip; then ``offset += n``. Saving the two integers saves the
    stream, and any draw can be recomputed from them.

    Floats: ``random`` keeps the top 24 (float32) or 53 (float64) bits of a word, an integer m,
    and returns m / 2^24 or m / 2^53: uniform on [0, 1), exact in that dtype. ``standard_normal``
    uses Box-Muller: from uniforms u1, u2, the radius r = sqrt(-2 ln(1 - u1)) and the angle
    t = 2 pi u2 give two independent N(0, 1) values r cos t and r sin t.

    ``xp`` is the array module the numbers are made on (numpy or cupy). minicnn's device stream is
    made with NumPy's and ``generator(cupy)`` points it at CuPy, so seeding and saving the stream
    never import CuPy.
    """

    def __init__(self, seed, offset=0, xp=np):
        self.seed, self.offset, self.xp = seed & _MASK64, offset & _MASK64, xp
        self._lock = threading.Lock()         # two threads never get the same words

    @property
    def state(self):
        return {"seed": self.seed, "offset": self.offset}

    @state.setter
    def state(self, state):
        _check_counter_state(state)
        self.seed, self.offset = state["seed"], state["offset"]

    def _words(self, n):
        """The next n uint64 words of the stream (see the class docstring)."""
        xp = self.xp
        with self._lock:
            first, self.offset = self.offset, (self.offset + n) & _MASK64
        z = xp.arange(1, n + 1, dtype=xp.uint64)
        z += np.uint64(first)
        z *= _GAMMA
        z += np.uint64(self.seed)
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
        return z

    def random(self, size, dtype=np.float64):
        """Uniform numbers in [0, 1) of shape ``size`` (int or tuple), float32 or float64."""
        shape, dtype = _shape(size), _float_dtype(dtype, "random")
        if self.xp is not np and fused.enabled():      # on a GPU: one kernel (minicnn/fused/random.py)
            return self._fused_random(shape, dtype)
        bits = 24 if dtype == np.float32 else 53
        words = self._words(math.prod(shape))
        words >>= np.uint64(64 - bits)
        out = self.xp.empty(shape, dtype)
        out.reshape(-1)[...] = words          # exact: an integer below 2^bits fits the mantissa
        out *= dtype.type(2.0 ** -bits)
        return out

    def _fused_random(self, shape, dtype):
        from minicnn.fused import random as kernels
        n = math.prod(shape)
        with self._lock:
            first, self.offset = self.offset, (self.offset + n) & _MASK64
        counter = fused.counting(1, n + 1, (n,), "uint64")        # the words' counter before the offset
        return kernels.uniform(dtype)(counter, np.uint64(first), np.uint64(self.seed)).reshape(shape)

    def standard_normal(self, size, dtype=np.float64):
        """Standard normal numbers of shape ``size`` (Box-Muller), float32 or float64."""
        shape, dtype = _shape(size), _float_dtype(dtype, "standard_normal")
        xp, n = self.xp, math.prod(shape)
        pairs = (n + 1) // 2
        u = self.random(2 * pairs, dtype)
        radius = xp.sqrt(-2 * xp.log1p(-u[:pairs]))      # 1 - u1 is in (0, 1]: the log is finite
        angle = u[pairs:] * dtype.type(2 * np.pi)
        out = xp.empty(shape, dtype)
        flat = out.reshape(-1)
        flat[:pairs] = radius * xp.cos(angle)
        flat[pairs:] = (radius * xp.sin(angle))[:n - pairs]
        return out


def _check_counter_state(state):
    if not isinstance(state, dict) or not all(
            isinstance(state.get(key), int) and 0 <= state[key] <= _MASK64 for key in ("seed", "offset")):
        raise ValueError(f"CounterGenerator.state: expected {{'seed': int, 'offset': int}} with values in "
                         f"[0, 2^64), got {state!r}")


def _shape(size):
    return tuple(int(s) for s in size) if isinstance(size, (tuple, list)) else (int(size),)


def _float_dtype(dtype, method):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"CounterGenerator.{method}: dtype must be float32 or float64, got {dtype}")
    return dtype


_cpu = np.random.default_rng()                        # fresh entropy from the OS until manual_seed
_device = CounterGenerator(secrets.randbits(64))


def manual_seed(seed):
    """Seed every random stream of minicnn; the next draws repeat exactly after each call."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    global _cpu, _device
    _cpu = np.random.default_rng(int(seed))
    _device = CounterGenerator(int(seed))     # seeds at or above 2^64 are taken modulo 2^64


def generator(xp=np):
    """The random generator for array module ``xp`` (numpy or cupy): draw with ``.random(shape)``
    or ``.standard_normal(shape, dtype)``."""
    if xp is np:
        return _cpu
    _device.xp = xp
    return _device


def get_state():
    """Every stream's state, as plain ints, strings and dicts (a checkpoint can hold it):
    ``{"cpu": NumPy's bit_generator.state, "device": {"seed": s, "offset": k}}``."""
    return {"cpu": _cpu.bit_generator.state, "device": _device.state}


def set_state(state):
    """Put back a state from ``get_state``: the next draws on both streams repeat what followed it."""
    if not isinstance(state, dict) or set(state) != {"cpu", "device"}:
        got = f"keys {sorted(state)}" if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"set_state: expected the dict of minicnn.random.get_state(), with keys "
                         f"['cpu', 'device'], got {got}")
    _check_counter_state(state["device"])     # before NumPy's setter, so a bad state changes nothing
    _cpu.bit_generator.state = state["cpu"]
    _device.state = state["device"]
