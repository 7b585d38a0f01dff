"""Checkpoints: ``save(obj, path)`` / ``load(path, device=None)`` in the safetensors format.

Nothing is ever pickled, so loading a checkpoint cannot run code, and a minicnn state dict opens in
any safetensors-aware tool (``safetensors.torch.load_file`` gives tensors that a PyTorch module's
``load_state_dict`` accepts as they are).

What can be saved: nested dicts (str or int keys), lists, tuples, arrays (NumPy or CuPy),
``Tensor``s (their ``.array``), Python numbers, bools, strings and None, e.g.::

    {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}

On-disk format (a plain safetensors file):

- every array is one safetensors tensor, named by its path in ``obj`` with the keys joined by
  dots: ``"model.layer1.0.conv1.weight"``, ``"optimizer.state.0.momentum_buffer"``,
  ``"history.2"`` for item 2 of a list. A flat top-level state dict (name -> array) is therefore
  stored under exactly its own names (``"conv1.weight"``). If two paths give the same name (a key
  ``"a.b"`` next to a dict ``"a"`` holding ``"b"``) the later one gets a suffix: ``"a.b~1"``.
- the header metadata has one entry, ``"minicnn"``: a JSON document
  ``{"version": 1, "root": node}`` describing the structure, where a node is a JSON null, bool,
  int, finite float or string as itself, or one of
  ``{"tensor": name}``, ``{"dict": [[key, node], ...]}`` (key a string or an int, in order),
  ``{"list": [node, ...]}``, ``{"tuple": [node, ...]}``, ``{"float": "nan" | "inf" | "-inf"}``.

What comes back from ``load``: the same structure, with these differences: arrays and Tensors come
back as arrays (NumPy, or on ``device``); any Mapping (OrderedDict included) comes back as a
plain ``dict`` in the same key order; NumPy scalars (``np.float32(0.5)``) come back as Python
numbers. Tuples stay tuples and int keys stay ints. Array dtypes are kept (float16/32/64,
(u)int8..64, bool, complex64: the dtypes safetensors knows). A safetensors file written by another
tool (no ``"minicnn"`` metadata) loads as a flat dict name -> array, names in sorted order.

Saving is atomic: the bytes go to a temporary file in the target's folder, which is flushed to
disk and then renamed onto the target (``os.replace``), so the target is always either the old
checkpoint or the complete new one, even if the process is interrupted (Ctrl-C) or killed.
After an ordinary exception or Ctrl-C the temporary file is removed; after SIGKILL or a power
loss a stale temporary file (``.<name>.*.tmp``, or ``.tmp*`` from safetensors' own writer) may
remain next to the target, which itself is intact.

An array reached by two paths is stored twice and comes back as two arrays (no aliasing).
"""
import json
import math
import os
from collections.abc import Mapping

import numpy as np
import safetensors
from safetensors.numpy import save_file as _save_file

from minicnn import backend
from minicnn.atomic import atomic_write
from minicnn.nn.module import Module
from minicnn.tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT_KEY = "minicnn"     # the header-metadata entry that holds the structure
FORMAT_VERSION = 1
_DTYPES = frozenset(["float16", "float32", "float64", "int8", "int16", "int32", "int64",
                     "uint8", "uint16", "uint32", "uint64", "bool", "complex64"])


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted, or not in the expected format."""


# ---- save --------------------------------------------------------------------------------------
def _host_array(array, where):
    """A C-contiguous NumPy array with the same dtype and values (GPU arrays are copied to the host)."""
    array = backend.to_device(array, "cpu")
    if array.dtype.name not in _DTYPES:
        raise TypeError(f"save: cannot store an array of dtype {array.dtype} at '{where or '<top level>'}' "
                        f"(safetensors stores {', '.join(sorted(_DTYPES))})")
    # safetensors reads the raw buffer: it must be C-contiguous (a transposed view would be scrambled).
    # Not np.ascontiguousarray, which turns a 0-d array into shape (1,).
    return array if array.flags.c_contiguous else array.copy(order="C")


class _Encoder:
    """Walks ``obj``, collecting arrays under unique dotted names and building the JSON node tree."""

    def __init__(self):
        self.tensors = {}

    def node(self, value, path):
        where = ".".join(path)          # the tensor name, and the place named in errors
        shown = where or "<top level>"
        if isinstance(value, Tensor):
            value = value.array
        if isinstance(value, Module):
            raise TypeError(f"save: cannot store a whole model ({type(value).__name__}) at '{shown}': minicnn "
                            "checkpoints hold arrays, never pickled code. Save model.state_dict() and load it "
                            "into a freshly built model (zoo models: minicnn.models.get(name)) with load_state_dict")
        if backend.is_array(value):
            return {"tensor": self._add(_host_array(value, where), where)}
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            value = value.item()
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, Mapping):
            items = []
            for key, item in value.items():
                if isinstance(key, np.integer):
                    key = int(key)
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"save: dict keys must be str or int, got {key!r} "
                                    f"({type(key).__name__}) at '{shown}'")
                items.append([key, self.node(item, path + [str(key)])])
            return {"dict": items}
        if isinstance(value, (list, tuple)):
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {kind: [self.node(item, path + [str(i)]) for i, item in enumerate(value)]}
        raise TypeError(f"save: cannot store value of type {type(value).__name__} at '{shown}' "
                        "(supported: dict, list, tuple, array, Tensor, int, float, bool, str, None)")

    def _add(self, array, name):
        name = name or "tensor"          # a bare array saved at the top level
        unique, n = name, 0
        while unique in self.tensors:
            n += 1
            unique = f"{name}~{n}"
        self.tensors[unique] = array
        return unique


def save(obj, path):
    """Write ``obj`` (see the module docstring for what it may contain) to ``path`` atomically.

    Raises TypeError naming the key path ("save: cannot store value of type set at
    'config.tags'") before anything is written when ``obj`` holds something unsupported. A whole
    Module is refused: safetensors stores arrays, never code (save ``model.state_dict()`` instead).
    """
    path = os.fspath(path)
    encoder = _Encoder()
    root = encoder.node(obj, [])
    header = json.dumps({"version": FORMAT_VERSION, "root": root}, allow_nan=False, ensure_ascii=False)

    with atomic_write(path) as tmp:
        # save_file streams each array from its own buffer: no second copy of the checkpoint in memory.
        _save_file(encoder.tensors, tmp, metadata={FORMAT_KEY: header})


# ---- load --------------------------------------------------------------------------------------
class _Decoder:
    def __init__(self, path, tensors):
        self.path, self.tensors, self.used = path, tensors, set()

    def fail(self, reason):
        raise CheckpointError(f"checkpoint {self.path} has minicnn metadata that does not describe "
                              f"a valid structure (corrupted?): {reason}")

    def node(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            self.fail(f"expected a value or a one-key object, found {json.dumps(node)[:80]}")
        (kind, body), = node.items()
        if kind == "tensor":
            if not isinstance(body, str) or body not in self.tensors:
                self.fail(f"tensor {body!r} is referenced but not in the file")
            return self.tensors[body]
        if kind == "dict":
            if not isinstance(body, list):
                self.fail(f"'dict' must hold a list of [key, value] pairs, found {type(body).__name__}")
            out = {}
            for pair in body:
                if (not isinstance(pair, list) or len(pair) != 2 or isinstance(pair[0], bool)
                        or not isinstance(pair[0], (str, int))):
                    self.fail(f"expected a [str or int key, value] pair, found {json.dumps(pair)[:80]}")
                out[pair[0]] = self.node(pair[1])
            return out
        if kind in ("list", "tuple"):
            if not isinstance(body, list):
                self.fail(f"'{kind}' must hold a list, found {type(body).__name__}")
            items = [self.node(item) for item in body]
            return items if kind == "list" else tuple(items)
        if kind == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        self.fail(f"unknown node {json.dumps(node)[:80]}")


def _read(path):
    """(metadata dict or None, {name: NumPy array}) from a safetensors file, or CheckpointError."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist (expected a safetensors file)")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} is not a file (expected a safetensors file)")
    try:
        with safetensors.safe_open(path, framework="np") as f:
            metadata = f.metadata()
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is not a valid safetensors file "
                              f"(truncated or corrupted?): {e}") from e
    return metadata, tensors


def load(path, device=None, weights_only=True, map_location=None):
    """Read a checkpoint written by ``save`` (or any flat safetensors file).

    Returns the saved structure with arrays as NumPy arrays, or on ``device`` ("cpu", "cuda",
    "cuda:N") when given (``map_location`` is PyTorch's name for it). Raises CheckpointError (a
    ValueError) naming the file when it is missing, truncated, corrupted, or its minicnn metadata
    is unreadable. ``weights_only=True`` is what minicnn always does; False (unpickle code) is refused.
    """
    if not weights_only:
        raise ValueError("load: weights_only=False is not supported: minicnn checkpoints are safetensors files "
                         "that hold arrays only, never pickled code or whole models; load a state_dict "
                         "(weights_only=True) into a freshly built model")
    if device is not None and map_location is not None:
        raise TypeError("load: give device or map_location, not both")
    device = device if map_location is None else map_location
    path = os.fspath(path)
    if device is not None:
        device = backend.normalize_device(device)
    metadata, tensors = _read(path)
    doc = None
    if metadata and FORMAT_KEY in metadata:
        try:
            doc = json.loads(metadata[FORMAT_KEY])
        except ValueError as e:
            raise CheckpointError(f"checkpoint {path} has a '{FORMAT_KEY}' metadata entry that is not "
                                  f"valid JSON (corrupted?): {e}") from e
        if not isinstance(doc, dict) or "root" not in doc or doc.get("version") != FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {path}: expected '{FORMAT_KEY}' metadata "
                                  f'{{"version": {FORMAT_VERSION}, "root": ...}}, found '
                                  f"{metadata[FORMAT_KEY][:80]}")
    if device is not None and device != "cpu":
        tensors = {name: backend.to_device(a, device) for name, a in tensors.items()}
    if doc is None:
        return tensors      # a flat file from another tool: name -> array
    return _Decoder(path, tensors).node(doc["root"])
