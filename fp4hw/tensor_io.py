"""Reading user tensors (``.npy``, ``.safetensors``) with one-line errors.

The safetensors format is read here directly (an 8-byte little-endian header length, a JSON
header naming each tensor's dtype, shape and byte offsets, then the raw little-endian data), so
the ``safetensors`` package is not needed; the tests check this reader against files the
package writes.

Nothing from a file is used before it is checked: every safetensors header entry (an object with
a known ``dtype`` string, a ``shape`` list of non-negative integers, ``data_offsets`` two
integers inside the data section that span exactly shape × dtype bytes), and a ``.npy`` header's
shape and dtype against the bytes the file really holds, so a lying header is refused before
anything is allocated. Every error is a ValueError of one line that names the file and says what
is wrong in the user's terms.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from golden.params import is_int

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": "bf16",
                       "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
                       "BOOL": np.bool_}
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_MAX_HEADER = 100 * 1024 * 1024


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)



def _names(header: dict) -> str:
    names = sorted(header)
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


def _check_entry(path: Path, name: str, info, data_length: int) -> None:
    where = f"{path}: tensor {name!r}"
    if not isinstance(info, dict):
        raise ValueError(f"{where}: its header entry is not an object")
    dtype = info.get("dtype")
    if not isinstance(dtype, str):
        raise ValueError(f"{where}: dtype is missing or not a string")
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"{where}: unsupported dtype {dtype[:20]!r} (one of {', '.join(_SAFETENSORS_DTYPES)})")
    shape = info.get("shape")
    if not isinstance(shape, list) or not all(is_int(n) and n >= 0 for n in shape):
        raise ValueError(f"{where}: shape must be a list of non-negative integers")
    offsets = info.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_int(n) for n in offsets)):
        raise ValueError(f"{where}: data_offsets must be two integers")
    start, end = offsets
    if not 0 <= start <= end <= data_length:
        raise ValueError(f"{where}: data_offsets [{start}, {end}] lie outside the file's {data_length} data bytes "
                         "(truncated or corrupt)")
    needed = math.prod(shape) * _ITEMSIZE[dtype]
    if end - start != needed:
        raise ValueError(f"{where}: data_offsets span {end - start} bytes, its shape {tuple(shape)} of {dtype} "
                         f"needs {needed}")


def safetensors_header(path) -> tuple[dict, int]:
    """The checked header of a safetensors file (``{name: {"dtype", "shape", "data_offsets"}}``,
    without ``__metadata__``) and the byte offset where the data section starts."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(_MAX_HEADER, size - 8):
            raise ValueError(f"{path}: truncated or not a safetensors file (header of {length} bytes)")
        raw = f.read(length)
    def unique(pairs):
        names = [k for k, _ in pairs]
        twice = sorted({k for k in names if names.count(k) > 1})
        if twice:                 # json keeps the last silently; the safetensors library refuses
            raise ValueError(f"{path}: the header names {twice[0][:60]!r} twice")
        return dict(pairs)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"{path}: __metadata__ is not an object")
    base = 8 + length
    for name, info in header.items():
        _check_entry(path, name, info, size - base)
    # as the safetensors library: the tensors' data tile the data section, no overlap, no hole,
    # nothing after the last one (issue 33)
    position = 0
    for name, info in sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"])):
        start, end = info["data_offsets"]
        if start != position:
            what = "overlaps the tensor before it" if start < position else f"leaves a hole of {start - position} bytes"
            raise ValueError(f"{path}: tensor {name!r}: data_offsets [{start}, {end}] {what}")
        position = end
    if position != size - base:
        raise ValueError(f"{path}: {size - base - position} bytes after the last tensor's data (trailing bytes)")
    return header, base


def safetensors_names(path) -> dict:
    """The checked header of a safetensors file: ``{name: {"dtype", "shape", "data_offsets"}}``."""
    return safetensors_header(path)[0]


def load_safetensors(path, name: str | None) -> np.ndarray:
    path = Path(path)
    header, base = safetensors_header(path)
    if not header:
        raise ValueError(f"{path}: holds no tensors")
    if name is None:
        if len(header) > 1:
            raise ValueError(f"{path}: holds {len(header)} tensors; name one with --tensor ({_names(header)})")
        name = next(iter(header))
    if name not in header:
        raise ValueError(f"{path}: no tensor named {name!r} (it has {_names(header)})")
    info = header[name]
    start, end = info["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + start)
        raw = f.read(end - start)
    if len(raw) != end - start:
        raise ValueError(f"{path}: truncated while reading tensor {name!r}")
    dtype = _SAFETENSORS_DTYPES[info["dtype"]]
    if dtype == "bf16":
        array = _bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
    else:
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    return array.reshape(tuple(info["shape"]))


def _npy_header(path: Path):
    """(shape, fortran_order, dtype, data offset) of a .npy file, checked against its size."""
    from numpy.lib import format as npy

    size = path.stat().st_size
    with open(path, "rb") as f:
        try:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            else:
                raise ValueError(f"version {version}")
        except (ValueError, EOFError, SyntaxError, TypeError, OverflowError) as error:
            text = str(error).splitlines()[0][:100] if str(error) else type(error).__name__
            raise ValueError(f"{path}: not a readable .npy file ({text})") from None
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: holds Python objects, not numbers")
    if not all(is_int(n) and n >= 0 for n in shape):
        raise ValueError(f"{path}: .npy header has an invalid shape {shape}")
    needed = math.prod(shape) * dtype.itemsize
    if needed > size - offset:
        raise ValueError(f"{path}: truncated .npy file (its header promises {needed} data bytes, the file holds "
                         f"{size - offset})")
    return shape, fortran, dtype, offset


def load_npy(path) -> np.ndarray:
    path = Path(path)
    _npy_header(path)                                  # refuses a lying header before any allocation
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        text = str(error)
        if "pickle" in text.lower():
            raise ValueError(f"{path}: holds Python objects, not numbers") from None
        raise ValueError(f"{path}: truncated or corrupt .npy file ({text.splitlines()[0][:140]})") from None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read as .npy ({str(error).splitlines()[0][:80]})") from None


def load_tensor(path, name: str | None = None) -> np.ndarray:
    """A real-valued tensor from ``.npy`` or ``.safetensors`` (``name`` picks one tensor of a
    safetensors file; required when it has several). Returns float32 or float64 (float16 and
    bfloat16 widen to float32 exactly). Bad files raise ValueError with one line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    if path.suffix == ".npy":
        if name is not None:
            raise ValueError(f"{path}: --tensor names a tensor of a .safetensors file; a .npy holds one")
        array = load_npy(path)
    elif path.suffix == ".safetensors":
        array = load_safetensors(path, name)
    else:
        raise ValueError(f"{path}: unknown file type (expected .npy or .safetensors)")
    if array.dtype.kind != "f" or array.dtype.names is not None:
        raise ValueError(f"{path}: dtype {array.dtype} is not a float tensor (float16/32/64, bfloat16)")
    if array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    elif array.dtype.itemsize > 8:
        raise ValueError(f"{path}: dtype {array.dtype} is wider than float64")
    if array.ndim == 0 or array.size == 0:
        raise ValueError(f"{path}: the tensor is empty or a scalar")
    return array
