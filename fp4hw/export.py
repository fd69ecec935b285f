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
- ``meta.json``: format, original and padded shape, word width, layout, scale mode, rounding
  (and the seed of stochastic rounding), the NVFP4 per-tensor scale (with its FP32 bits), the
  word and block counts.

The last axis is padded with zeros to whole blocks and whole words (a zero changes no block's
amax); a diagonal image also pads the rows to whole tiles. ``load(out_dir)`` reads the hex images
back (what the hardware sees) into a :class:`golden.mx.Quantized`; :func:`dequantize_dir` gives
the float32 tensor in its original shape.

A folder is written whole or not at all (built beside the target, then moved into place), and
replaces an existing ``out_dir`` only when that holds exactly an export fp4hw wrote (its six
files and nothing else) or nothing; any other folder is refused. ``load`` checks every
``meta.json`` field's type and range, and the hex files' sizes against them, before it uses
them; an error names the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from golden import mx, packing
from golden.params import is_int
from synth.files import check_target, replace_folder, staging

FORMATS = ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2")
EXPORT_FILES = frozenset({"words.hex", "scales.hex", "meta.json", "codes.npy", "scales.npy", "image.npy"})


def _padded_shape(shape: tuple, block_fmt, word_bits: int, layout: str) -> tuple[int, int]:
    """The 2-D shape an export pads ``shape`` to (rows x last axis), for ``export`` and to check
    a ``meta.json``."""
    cols = shape[-1]
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    lanes = word_bits // 4
    per_word = lanes * 4 // block_fmt.element.bits            # elements per word
    multiple = math.lcm(block_fmt.block, per_word)
    if layout == "diagonal":
        multiple = math.lcm(multiple, lanes)
        rows += (-rows) % lanes
    return rows, cols + (-cols) % multiple


def export(x, out_dir, fmt: str = "mxfp4", *, word_bits: int = 32, layout: str = "linear",
           scale_mode: str = "floor", rounding: str = "rne", two_level: bool = False, seed: int | None = None) -> dict:
    """Quantize ``x`` and write its memory images into ``out_dir`` (see the module docstring).
    ``seed`` (stochastic rounding only; default 0) seeds the random bits, so an export is
    reproducible; meta.json records it. Returns the metadata."""
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
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
    if not block_fmt.is_mx and scale_mode != "floor":
        raise ValueError(f"--scale-mode {scale_mode} applies to MX formats; nvfp4's block scale is fixed "
                         "(block amax / 6, RNE to UE4M3)")
    if rounding == "stochastic":
        seed = 0 if seed is None else seed
        if not is_int(seed) or not 0 <= seed < 1 << 63:
            raise ValueError(f"--seed {seed!r} must be an integer from 0 to 2^63 - 1")
    elif seed is not None:
        raise ValueError(f"--seed feeds stochastic rounding; with --rounding {rounding} it would be ignored")
    out_dir = check_export_target(out_dir)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"the tensor has dtype {x.dtype}, not float")
    with np.errstate(invalid="ignore"):
        beyond = np.abs(x[np.isfinite(x)]).max(initial=0) > np.finfo(np.float32).max
    if beyond:                   # a float64 tensor: fp4hw's formats and scales live in float32's range
        raise ValueError(f"the tensor holds finite values beyond float32's range (largest magnitude "
                         f"{np.abs(x[np.isfinite(x)]).max():.3g} > 3.4e38); they would export as Inf")
    shape = x.shape
    x2 = x.reshape(1, -1) if x.ndim == 1 else x.reshape(-1, shape[-1])
    rows, cols = _padded_shape(shape, block_fmt, word_bits, layout)
    padded = np.pad(x2, ((0, rows - x2.shape[0]), (0, cols - x2.shape[1])))
    q = mx.quantize(padded, block_fmt, scale_mode=scale_mode, rounding=rounding,
                    rbits=np.random.default_rng(seed) if rounding == "stochastic" else None,
                    tensor_scale="amax" if two_level else None)
    image = packing.pack_elements(q.codes, bits, word_bits, layout)
    words = packing.to_words(image, word_bits)
    digits = word_bits // 4
    meta = {"format": block_fmt.name.lower(), "shape": list(shape), "padded_shape": list(padded.shape),
            "word_bits": word_bits, "layout": layout, "scale_mode": scale_mode, "rounding": rounding,
            "tensor_scale": None if q.tensor_scale is None else float(q.tensor_scale),
            "tensor_scale_hex": None if q.tensor_scale is None else f"{np.float32(q.tensor_scale).view(np.uint32):08x}",
            "words": len(words), "blocks": int(q.scales.size), "element_bits": bits,
            "seed": seed if rounding == "stochastic" else None}
    files = {
        "words.hex": "".join(f"{w:0{digits}x}\n" for w in words),
        "scales.hex": "".join(f"{int(s):02x}\n" for s in q.scales.reshape(-1)),
        "meta.json": json.dumps(meta, indent=1, sort_keys=True) + "\n",
    }
    arrays = {"codes.npy": q.codes, "scales.npy": q.scales, "image.npy": image}
    _write_folder(out_dir, files, arrays)
    return meta


def check_export_target(out) -> Path:
    """``out`` may be written: missing, an empty folder, or exactly an earlier export."""
    out = check_target(out, kind="folder")
    if out.exists():
        entries = {p.name: p for p in out.iterdir()}
        ours = set(entries) == EXPORT_FILES and all(p.is_file() and not p.is_symlink() for p in entries.values())
        if entries and not ours:
            raise ValueError(f"-o {out}: exists and is not an fp4hw export folder (it holds other files); "
                             "choose another name or remove it")
    return out


def _write_folder(out: Path, files: dict, arrays: dict) -> None:
    with staging(out) as work:
        target = work / "export"
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text)
        for name, array in arrays.items():
            np.save(target / name, array, allow_pickle=False)
        check_export_target(out)                          # still ours (or absent) just before the swap
        replace_folder(target, out)


def _read_hex(path: Path, digits: int, count: int) -> list[int]:
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path}: missing or not a regular file")
    if path.stat().st_size > (count + 1) * (digits + 2) + 4096:     # far larger than count lines can be
        raise ValueError(f"{path}: {path.stat().st_size} bytes, far more than the {count} lines meta.json says")
    data = path.read_bytes()
    if b"\0" in data:
        raise ValueError(f"{path}: a binary file, not hex text")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not hex text (holds non-ASCII bytes)") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("//")]
    if len(lines) != count:
        raise ValueError(f"{path}: {len(lines)} lines, meta.json says {count} (truncated?)")
    hexdigits = set("0123456789abcdefABCDEF")
    for number, line in enumerate(lines, 1):
        if not set(line) <= hexdigits:
            raise ValueError(f"{path}: line {number} is not hexadecimal")
        if len(line) > digits:
            raise ValueError(f"{path}: line {number} has {len(line)} hex digits, a word has {digits}")
    return [int(ln, 16) for ln in lines]



def check_meta(meta, where: str) -> dict:
    """Every field of an export's ``meta.json``, checked for type and range; ValueError naming
    ``where`` and the field otherwise. Returns the fields ``load`` uses."""
    def bad(field, why):
        raise ValueError(f"{where}: {field} {why}")
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: not a JSON object")
    fmt_name = meta.get("format")
    if not isinstance(fmt_name, str) or fmt_name.lower() not in FORMATS:
        bad("format", f"must be one of {', '.join(FORMATS)}")
    fmt = mx.block_format(fmt_name)
    word_bits = meta.get("word_bits")
    if not is_int(word_bits) or word_bits not in packing.WORD_BITS:
        bad("word_bits", f"must be one of {', '.join(map(str, packing.WORD_BITS))}")
    layout = meta.get("layout")
    if layout not in packing.LAYOUTS:
        bad("layout", f"must be one of {', '.join(packing.LAYOUTS)}")
    if layout == "diagonal" and fmt.element.bits != 4:
        bad("layout", f"diagonal packs 4-bit elements; {fmt_name} has {fmt.element.bits}-bit elements")
    shape = meta.get("shape")
    if not (isinstance(shape, list) and shape and all(is_int(n) and n >= 1 for n in shape)):
        bad("shape", "must be a non-empty list of positive integers")
    padded = meta.get("padded_shape")
    if not (isinstance(padded, list) and len(padded) == 2 and all(is_int(n) and n >= 1 for n in padded)):
        bad("padded_shape", "must be two positive integers (rows, padded last axis)")
    if tuple(padded) != _padded_shape(tuple(shape), fmt, word_bits, layout):
        bad("padded_shape", f"{padded} is not what shape {shape} pads to in {word_bits}-bit {layout} words")
    elements = padded[0] * padded[1]
    bits = meta.get("element_bits", fmt.element.bits)
    if bits != fmt.element.bits:
        bad("element_bits", f"is {bits!r}; {fmt_name} has {fmt.element.bits}-bit elements")
    words = meta.get("words")
    if not is_int(words) or words != elements * fmt.element.bits // word_bits:
        bad("words", f"must be {elements * fmt.element.bits // word_bits} for padded_shape {padded}")
    blocks = meta.get("blocks")
    if not is_int(blocks) or blocks != elements // fmt.block:
        bad("blocks", f"must be {elements // fmt.block} for padded_shape {padded}")
    ts = meta.get("tensor_scale")
    if ts is not None:
        if fmt.is_mx:
            bad("tensor_scale", "applies to nvfp4 only")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts) or ts <= 0:
            bad("tensor_scale", "must be a positive finite number or null")
        tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
        if not tiny <= ts <= huge:            # the hardware's FP32 multiplier takes it (issue 33)
            bad("tensor_scale", f"{ts:g} is outside float32's normal range ({tiny:.3g} to {huge:.3g})")
        hex_text = meta.get("tensor_scale_hex")
        if hex_text is not None:
            if not (isinstance(hex_text, str) and len(hex_text) == 8
                    and all(c in "0123456789abcdefABCDEF" for c in hex_text)):
                bad("tensor_scale_hex", "must be 8 hex digits (the FP32 bits of tensor_scale) or null")
            if np.uint32(int(hex_text, 16)).view(np.float32) != np.float32(ts):
                bad("tensor_scale_hex", f"{hex_text} is not the FP32 of tensor_scale {ts!r} "
                    f"({np.float32(ts).view(np.uint32):08x})")
    elif meta.get("tensor_scale_hex") is not None:
        bad("tensor_scale_hex", "is set while tensor_scale is null")
    seed = meta.get("seed")
    if seed is not None and (not is_int(seed) or seed < 0):
        bad("seed", "must be a non-negative integer or null")
    for field in ("scale_mode", "rounding"):
        if field in meta and not isinstance(meta[field], str):
            bad(field, "must be a string")
    return {"format": fmt, "word_bits": word_bits, "layout": layout, "shape": tuple(shape),
            "padded_shape": tuple(padded), "words": words, "blocks": blocks,
            "tensor_scale": None if ts is None else np.float32(ts)}


def load(out_dir) -> tuple[mx.Quantized, dict]:
    """The Quantized tensor (padded shape) an export folder's hex images hold, and its metadata."""
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"{out}: not a folder" if out.exists() else f"{out}: no such folder")
    meta_path = out / "meta.json"
    if meta_path.is_symlink() or not meta_path.is_file():
        raise ValueError(f"{out}: not an fp4hw export folder (no meta.json)")
    if meta_path.stat().st_size > 1 << 20:
        raise ValueError(f"{meta_path}: far too large for an export's metadata")
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{meta_path}: corrupt (not JSON)") from None
    checked = check_meta(meta, str(meta_path))
    fmt, word_bits, layout, padded = checked["format"], checked["word_bits"], checked["layout"], checked["padded_shape"]
    words = _read_hex(out / "words.hex", word_bits // 4, checked["words"])
    scales = np.array(_read_hex(out / "scales.hex", 2, checked["blocks"]), dtype=np.uint8)
    if not fmt.is_mx:                  # UE4M3 scale codes are 7 bits; the file must say which is wrong
        bad = np.flatnonzero(scales >= 1 << fmt.scale.bits)
        if bad.size:
            raise ValueError(f"{out / 'scales.hex'}: line {bad[0] + 1}: {int(scales[bad[0]]):02x} is not a "
                             f"{fmt.scale.name} scale code (00 to {(1 << fmt.scale.bits) - 1:02x}); "
                             f"{bad.size} such line(s)")
    image = packing.from_words(words, word_bits)
    codes = packing.unpack_elements(image, padded, fmt.element.bits, word_bits, layout)
    scales = scales.reshape(padded[:-1] + (padded[-1] // fmt.block,))
    return mx.Quantized(codes, scales, checked["tensor_scale"], fmt, -1), meta


def dequantize_dir(out_dir) -> np.ndarray:
    """float32 values of an export folder, in the original tensor's shape."""
    q, meta = load(out_dir)
    values = mx.dequantize(q)
    shape = tuple(meta["shape"])
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    return values[:rows, :shape[-1]].reshape(shape)
