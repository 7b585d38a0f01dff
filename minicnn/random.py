"""One place for randomness: ``manual_seed`` makes dropout masks (and anything else drawn
from ``generator``) reproducible, as ``torch.manual_seed`` does.

There is one generator per array module: a NumPy ``Generator`` for CPU arrays and a CuPy one
for GPU arrays. The CuPy generator is made lazily, the first time a GPU op asks for it, with
the last seed given, so seeding never imports CuPy on a CPU-only machine. The two streams are
different: the same seed gives different masks on CPU and GPU.
"""
import numpy as np

from minicnn import backend

__all__ = ["manual_seed", "generator"]

_seed = None          # the last seed given to manual_seed (None: fresh entropy from the OS)
_generators = {}      # "numpy" / "cupy" -> Generator


def manual_seed(seed):
    """Seed every random stream of minicnn; the next draws repeat exactly after each call."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    global _seed
    _seed = int(seed)
    _generators.clear()                       # the CuPy one is remade from _seed when next asked for
    _generators["numpy"] = np.random.default_rng(_seed)


def generator(xp=np):
    """The random ``Generator`` for array module ``xp`` (numpy or cupy): draw with ``.random(shape)``."""
    key = "numpy" if xp is np else "cupy"
    if key not in _generators:
        _generators[key] = np.random.default_rng(_seed) if key == "numpy" else backend.cupy_generator(_seed)
    return _generators[key]
