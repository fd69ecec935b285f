"""Reading user tensors (``.npy``, ``.safetensors``) with one-line errors.

The safetensors format is read here directly (an 8-byte little-endian header length, a JSON
header naming each tensor's dtype, shape and byte offsets, then the raw little-endian data), so
the ``safetensors`` package is not needed; the tests check this reader against files the
package writes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": "bf16",
                       "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
                       "BOOL": np.bool_}
_MAX_HEADER = 100 * 1024 * 1024


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def safetensors_names(path: Path) -> dict:
    """The header of a safetensors file: ``{name: {"dtype", "shape", "data_offsets"}}``."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"{path}: truncated or not a safetensors file (header of {length} bytes)")
    try:
        header = json.loads(data[8:8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: corrupt safetensors header")
    header.pop("__metadata__", None)
    return header


def load_safetensors(path, name: str | None) -> np.ndarray:
    path = Path(path)
    header = safetensors_names(path)
    if not header:
        raise ValueError(f"{path}: holds no tensors")
    if name is None:
        if len(header) > 1:
            raise ValueError(f"{path}: holds {len(header)} tensors; name one with --tensor "
                             f"({', '.join(sorted(header)[:8])}{', ...' if len(header) > 8 else ''})")
        name = next(iter(header))
    if name not in header:
        raise ValueError(f"{path}: no tensor named {name!r} (it has {', '.join(sorted(header)[:8])}"
                         f"{', ...' if len(header) > 8 else ''})")
    info = header[name]
    dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
    if dtype is None:
        raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
    start, end = info["data_offsets"]
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    base = 8 + length
    if base + end > len(data):
        raise ValueError(f"{path}: truncated (tensor {name!r} needs bytes up to {base + end}, "
                         f"the file has {len(data)})")
    raw = data[base + start:base + end]
    shape = tuple(info["shape"])
    if dtype == "bf16":
        array = _bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
    else:
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: tensor {name!r} has {array.size} elements, its shape {shape} needs "
                         f"{int(np.prod(shape))}")
    return array.reshape(shape)


def load_npy(path) -> np.ndarray:
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
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".npy":
        if name is not None:
            raise ValueError(f"{path}: --tensor names a tensor of a .safetensors file; a .npy holds one")
        array = load_npy(path)
    elif path.suffix == ".safetensors":
        array = load_safetensors(path, name)
    else:
        raise ValueError(f"{path}: unknown file type (expected .npy or .safetensors)")
    if array.dtype.kind != "f":
        raise ValueError(f"{path}: dtype {array.dtype} is not a float tensor (float16/32/64, bfloat16)")
    if array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    if array.ndim == 0 or array.size == 0:
        raise ValueError(f"{path}: the tensor is empty or a scalar")
    return array
