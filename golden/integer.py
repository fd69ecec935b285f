"""INT4 / INT8: the integer baselines FP4 is compared against (area in the synthesis report,
error in the quantization analysis).

Codes are two's complement (INT4: 0..15 with 8..15 meaning -8..-1). Products are exact
(``2 * bits`` signed bits); a dot product sums them into a 32-bit two's complement accumulator
that wraps, as integer GEMM hardware does (with INT8, overflow needs K > 2**17 products of -128 ×
-128, so it is exact for every K the engines take).

Quantization is symmetric (zero point 0): ``scale = amax / qmax`` with ``qmax = 2**(bits-1) - 1``
(INT4: 7, INT8: 127), ``code = clip(round_half_even(x / scale), -qmax, qmax)``; the code -2**(bits-1)
is never produced. ``scale`` may be one per tensor or one per block of ``block`` elements.
"""

from __future__ import annotations

import numpy as np

INT_BITS = {"int4": 4, "int8": 8}


def check_bits(bits, name: str | None = None) -> int:
    """The integer width of ``bits``: ``"int4"`` / ``"int8"`` or 4 / 8. A wrong value is a
    ValueError naming ``name`` (the caller's parameter: a unit's ``fmt``; default ``fmt`` for a
    name, ``bits`` for a number)."""
    if name is None:
        name = "fmt" if isinstance(bits, str) else "bits"
    if isinstance(bits, str):
        if bits.lower() not in INT_BITS:
            raise ValueError(f"{name}={bits!r} is not one of {', '.join(INT_BITS)}")
        return INT_BITS[bits.lower()]
    if bits not in (4, 8) or isinstance(bits, bool):
        raise ValueError(f"{name}={bits!r} must be 4 or 8 (or one of {', '.join(INT_BITS)})")
    return int(bits)


def values(codes, bits) -> np.ndarray:
    """Signed integer values (int64) of two's complement ``codes``."""
    bits = check_bits(bits)
    c = np.asarray(codes)
    if c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() >= 1 << bits)):
        raise ValueError(f"codes must be integers in [0, {1 << bits})")
    c = c.astype(np.int64)
    return np.where(c >= 1 << (bits - 1), c - (1 << bits), c)


def codes(vals, bits) -> np.ndarray:
    """Two's complement codes (uint8) of integer values in range."""
    bits = check_bits(bits)
    v = np.asarray(vals, dtype=np.int64)
    if v.size and (v.min() < -(1 << (bits - 1)) or v.max() >= 1 << (bits - 1)):
        raise ValueError(f"values outside the INT{bits} range")
    return (v & ((1 << bits) - 1)).astype(np.uint8)


def mul(a, b, bits) -> np.ndarray:
    """Exact products (int64) of code arrays ``a`` and ``b``."""
    return values(a, bits) * values(b, bits)


def wrap32(x) -> np.ndarray:
    """int64 values reduced to 32-bit two's complement."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def dot(a, b, bits) -> np.ndarray:
    """Dot products along the last axis into a wrapping 32-bit accumulator (int64 result)."""
    return wrap32(mul(a, b, bits).sum(axis=-1))


def qmax(bits) -> int:
    return (1 << (check_bits(bits) - 1)) - 1


def quantize(x, bits, scale=None, *, block: int | None = None):
    """Symmetric quantization of float ``x`` along its last axis.

    ``scale``: None (amax calibration: ``amax / qmax`` per tensor, or per block of ``block``
    elements when ``block`` is given), a float, or an array broadcasting to the blocks. A zero
    scale (all-zero input) quantizes to zero. Returns ``(codes, scale)`` with ``scale`` float64
    of shape ``x.shape[:-1] + (n_blocks,)`` when blocked, else a 0-d array.
    """
    bits = check_bits(bits)
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or Inf; integer formats cannot represent them")
    q = qmax(bits)
    if block is not None:
        if not isinstance(block, int) or block < 1 or x.shape[-1] % block:
            raise ValueError(f"block={block!r} must divide the last axis ({x.shape[-1]})")
        xb = x.reshape(x.shape[:-1] + (x.shape[-1] // block, block))
    else:
        xb = x
    if scale is None:
        amax = np.abs(xb).max(axis=-1) if block is not None else np.abs(x).max(initial=0.0)
        scale = np.asarray(amax, dtype=np.float64) / q
    scale = np.asarray(scale, dtype=np.float64)
    if (scale < 0).any() or not np.isfinite(scale).all():
        raise ValueError("scale must be finite and >= 0")
    s = scale[..., None] if block is not None else scale
    safe = np.where(s > 0, s, 1.0)
    v = np.clip(np.rint(xb / safe), -q, q)
    v = np.where(s > 0, v, 0.0).astype(np.int64)
    return codes(v.reshape(x.shape), bits), scale


def dequantize(code_array, scale, bits, *, block: int | None = None) -> np.ndarray:
    """float64 values of codes × scale (per tensor, or per block of ``block``)."""
    v = values(code_array, bits).astype(np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if block is None:
        return v * scale
    vb = v.reshape(v.shape[:-1] + (v.shape[-1] // block, block))
    return (vb * scale[..., None]).reshape(v.shape)
