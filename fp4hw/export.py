"""Model-to-hardware export: a float tensor → the memory image the RTL reads, and back.

``export(x, out_dir, fmt, word_bits, layout, ...)`` block-quantizes ``x`` along its last axis
with :func:`golden.mx.quantize` and writes into ``out_dir``:

- ``words.hex``: the packed element codes (:func:`golden.packing.pack`, the loader's linear or
  diagonal layout; FP8 codes as two nibbles, low first, as the dot engine reads them), one
  ``word_bits``-bit word per line in hex, most significant digit first: ``$readmemh`` format,
  word 0 first;
- ``scales.hex``: one scale code (2 hex digits) per line, in block order (row-major blocks);
- ``codes.npy`` (uint8 element codes, padded shape), ``scales.npy`` (uint8), ``image.npy`` (the
  packed little-endian bytes, = ``words.hex``);
- ``meta.json``: format, original and padded shape, word width, layout, scale mode, rounding,
  the NVFP4 per-tensor scale, the word and block counts.

The last axis is padded with zeros to whole blocks and whole words (a zero changes no block's
amax); a diagonal image also pads the rows to whole tiles. ``load(out_dir)`` reads the hex images
back (what the hardware sees) into a :class:`golden.mx.Quantized`; :func:`dequantize_dir` gives
the float32 tensor in its original shape. A folder is written whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from golden import mx, packing

FORMATS = ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2")


def _nibbles(codes: np.ndarray, bits: int) -> np.ndarray:
    if bits == 4:
        return codes
    return np.stack([codes & 0xF, codes >> 4], axis=-1).reshape(codes.shape[:-1] + (-1,))


def export(x, out_dir, fmt: str = "mxfp4", *, word_bits: int = 32, layout: str = "linear",
           scale_mode: str = "floor", rounding: str = "rne", two_level: bool = False) -> dict:
    """Quantize ``x`` and write its memory images into ``out_dir`` (see the module docstring).
    Returns the metadata."""
    if str(fmt).lower() not in FORMATS:
        raise ValueError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    block_fmt = mx.block_format(fmt)
    packing.check_word_bits(word_bits)
    if layout not in packing.LAYOUTS:
        raise ValueError(f"--layout {layout!r} is not one of {', '.join(packing.LAYOUTS)}")
    bits = block_fmt.element.bits
    if layout == "diagonal" and bits != 4:
        raise ValueError(f"--layout diagonal packs 4-bit elements; {block_fmt.name} has {bits}-bit elements")
    if two_level and block_fmt.is_mx:
        raise ValueError("--two-level (an FP32 per-tensor scale) applies to nvfp4 only")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"the tensor has dtype {x.dtype}, not float")
    shape = x.shape
    x2 = x.reshape(1, -1) if x.ndim == 1 else x.reshape(-1, shape[-1])
    lanes = word_bits // 4
    per_word = lanes * 4 // bits                      # elements per word
    multiple = int(np.lcm(block_fmt.block, per_word))
    if layout == "diagonal":
        multiple = int(np.lcm(multiple, lanes))
    padded = np.pad(x2, ((0, (-x2.shape[0]) % lanes if layout == "diagonal" else 0), (0, (-x2.shape[1]) % multiple)))
    q = mx.quantize(padded, block_fmt, scale_mode=scale_mode, rounding=rounding,
                    tensor_scale="amax" if two_level else None)
    image = packing.pack(_nibbles(q.codes, bits), word_bits, layout)
    words = packing.to_words(image, word_bits)
    digits = word_bits // 4
    meta = {"format": block_fmt.name.lower(), "shape": list(shape), "padded_shape": list(padded.shape),
            "word_bits": word_bits, "layout": layout, "scale_mode": scale_mode, "rounding": rounding,
            "tensor_scale": None if q.tensor_scale is None else float(q.tensor_scale),
            "tensor_scale_hex": None if q.tensor_scale is None else f"{np.float32(q.tensor_scale).view(np.uint32):08x}",
            "words": len(words), "blocks": int(q.scales.size), "element_bits": bits}
    files = {
        "words.hex": "".join(f"{w:0{digits}x}\n" for w in words),
        "scales.hex": "".join(f"{int(s):02x}\n" for s in q.scales.reshape(-1)),
        "meta.json": json.dumps(meta, indent=1, sort_keys=True) + "\n",
    }
    arrays = {"codes.npy": q.codes, "scales.npy": q.scales, "image.npy": image}
    _write_folder(Path(out_dir), files, arrays)
    return meta


def _write_folder(out: Path, files: dict, arrays: dict) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "meta.json").exists())):
        raise ValueError(f"-o {out}: exists and is not an fp4hw export folder; choose another name")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise ValueError(f"-o {out}: folder {parent} does not exist")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for name, text in files.items():
            (work / name).write_text(text)
        for name, array in arrays.items():
            np.save(work / name, array, allow_pickle=False)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.replace(out, old / "x")
            os.replace(work, out)
            shutil.rmtree(old)
        else:
            os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _read_hex(path: Path, digits: int, count: int) -> list[int]:
    if not path.is_file():
        raise ValueError(f"{path}: missing")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("//")]
    if len(lines) != count:
        raise ValueError(f"{path}: {len(lines)} lines, meta.json says {count} (truncated?)")
    try:
        values = [int(ln, 16) for ln in lines]
    except ValueError:
        raise ValueError(f"{path}: a line is not hexadecimal") from None
    if any(len(ln) > digits for ln in lines):
        raise ValueError(f"{path}: a line has more than {digits} hex digits")
    return values


def load(out_dir) -> tuple[mx.Quantized, dict]:
    """The Quantized tensor (padded shape) an export folder's hex images hold, and its metadata."""
    out = Path(out_dir)
    try:
        meta = json.loads((out / "meta.json").read_text())
        fmt = mx.block_format(meta["format"])
        word_bits, layout, padded = meta["word_bits"], meta["layout"], tuple(meta["padded_shape"])
        words_count, blocks = meta["words"], meta["blocks"]
    except FileNotFoundError:
        raise ValueError(f"{out}: not an fp4hw export folder (no meta.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{out}/meta.json: corrupt ({error})") from None
    words = _read_hex(out / "words.hex", word_bits // 4, words_count)
    scales = np.array(_read_hex(out / "scales.hex", 2, blocks), dtype=np.uint8)
    image = packing.from_words(words, word_bits)
    bits = fmt.element.bits
    n = int(np.prod(padded)) * bits // 4
    if layout == "diagonal":
        nibbles = packing.unpack(image, padded, word_bits, layout)
    else:
        nibbles = packing.unpack(image, n, word_bits, layout)
    if bits == 8:
        pairs = nibbles.reshape(-1, 2)
        codes = (pairs[:, 0] | (pairs[:, 1] << 4)).astype(np.uint8)
    else:
        codes = nibbles.astype(np.uint8)
    codes = codes.reshape(padded)
    scales = scales.reshape(padded[:-1] + (padded[-1] // fmt.block,))
    ts = None if meta.get("tensor_scale") is None else np.float32(meta["tensor_scale"])
    return mx.Quantized(codes, scales, ts, fmt, -1), meta


def dequantize_dir(out_dir) -> np.ndarray:
    """float32 values of an export folder, in the original tensor's shape."""
    q, meta = load(out_dir)
    values = mx.dequantize(q)
    shape = tuple(meta["shape"])
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return values[:rows, :shape[-1]].reshape(shape)
