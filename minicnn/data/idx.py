"""Reading IDX files, the format of MNIST and Fashion-MNIST (gzipped or not).

Layout: a 4-byte magic number 0x00 0x00 <type code> <number of dimensions>, then one big-endian
uint32 per dimension, then the values in C order. MNIST's images are type 0x08 (uint8) with 3
dimensions (count, rows, columns); its labels are uint8 with 1 dimension.
"""
import gzip
import zlib

import numpy as np

__all__ = ["read_idx", "DataError"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataError(ValueError):
    """A data file is missing, truncated or not what it claims to be; the message names the file."""


def read_idx(path):
    """The array stored in the IDX file ``path`` (``.gz`` is decompressed), checked against its header."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:    # truncated, not gzip, or damaged inside (a flipped byte)
        raise DataError(f"cannot read IDX file {path} (damaged? download it again): {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'} "
                        f"(expected 0000 followed by a type code and the number of dimensions)")
    dtype, ndim = np.dtype(_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupted: its header promises shape {shape} "
                        f"({expected} bytes in all), the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
