"""Exact products and the fused FP16 MAC (DESIGN §3.5), bit patterns in and out.

Every product of two elements of a format of <= 8 bits is a dyadic rational with few significant
bits, so it is exact in float64; so is ``a*b + c`` for FP16 ``c`` when the span from the smallest
to the largest magnitude involved fits 53 bits (every FP4 format and E4M3; not E5M2, which
:func:`mac` rejects). The result is then rounded once by the shared golden encoder.

``fixed`` products are the integer ``a*b*F`` with ``F = 1 / min_subnormal**2`` (E2M1: ``4ab``,
-144..144, 9 bits): the form the hardware adds in its exact block sums.
"""

from __future__ import annotations

import numpy as np

from .formats import FP16, FloatFormat, element_format, ieee_format
from .rounding import check_rounding

PRODUCT_FORMS = ("fixed", "fp16", "bf16", "fp32")


def fixed_scale(fmt) -> int:
    """F: the factor that makes every product of two ``fmt`` values an integer."""
    fmt = element_format(fmt)
    return int(round(1 / fmt.min_subnormal ** 2))


def fixed_width(fmt) -> int:
    """Bits of the two's-complement ``fixed`` product (E2M1: 9)."""
    fmt = element_format(fmt)
    largest = int(round(fmt.max * fmt.max)) * fixed_scale(fmt)
    return largest.bit_length() + 1


def _values(codes, fmt: FloatFormat, name: str) -> np.ndarray:
    try:
        return fmt.decode64(codes)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def mul(a, b, fmt=None, out: str = "fixed") -> np.ndarray:
    """Exact product of element codes ``a`` and ``b`` (broadcast).

    ``out="fixed"``: int64 ``a*b*F`` (``F`` from :func:`fixed_scale`; NaN/Inf inputs raise);
    ``"fp16"``, ``"bf16"``, ``"fp32"``: the product's bit pattern (uint16/uint32), exact for every
    FP4 pair, rounded RNE otherwise, IEEE specials (Inf*0 = NaN → canonical quiet NaN).
    """
    fmt = element_format("e2m1" if fmt is None else fmt)
    if out not in PRODUCT_FORMS:
        raise ValueError(f"out={out!r} is not one of {', '.join(PRODUCT_FORMS)}")
    va, vb = _values(a, fmt, "a"), _values(b, fmt, "b")
    with np.errstate(invalid="ignore"):             # Inf * 0 = NaN is the IEEE answer
        product = va * vb
    if out == "fixed":
        bad = ~np.isfinite(product)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} NaN/Inf operands have no fixed-point product "
                             f"(first at index {tuple(int(i[0]) for i in np.nonzero(bad))})")
        scale = fixed_scale(fmt)
        if fixed_width(fmt) > 62:
            # E5M2 products span 2^64: exact Python integers instead of int64
            return np.vectorize(lambda p: _exact_int(p, scale), otypes=[object])(product)
        return np.rint(product * scale).astype(np.int64)
    return ieee_format(out).encode(product, "rne", saturate=False)


def _exact_int(value: float, scale: int) -> int:
    numerator, denominator = float(value).as_integer_ratio()
    return numerator * scale // denominator


def mac_is_exact(fmt) -> bool:
    """Whether ``a*b + c`` (FP16 c) is exact in float64 for ``fmt``, as :func:`mac` requires."""
    fmt = element_format(fmt)
    smallest = min(fmt.min_subnormal ** 2, FP16.min_subnormal)
    largest = max(fmt.max ** 2, FP16.max)
    return np.log2(largest / smallest) + 2 <= 53


def mac(a, b, c, fmt=None, acc: str = "fp16", rounding: str = "rne") -> np.ndarray:
    """Fused ``round(a*b + c)`` to FP16: one rounding (``rne`` or ``rtz``).

    ``a``, ``b``: element codes; ``c``: FP16 bit patterns; returns FP16 bit patterns (uint16).
    IEEE 754 rules throughout: subnormals kept, overflow to ±Inf under rne and to ±65504 under
    rtz, Inf - Inf and Inf * 0 invalid, every NaN result the canonical quiet NaN 0x7E00, and an
    exact zero sum is +0 unless both addends are -0.
    """
    fmt = element_format("e2m1" if fmt is None else fmt)
    if acc != "fp16":
        raise ValueError(f"acc={acc!r}: only 'fp16' accumulation is defined")
    check_rounding(rounding, ("rne", "rtz"))
    if not mac_is_exact(fmt):
        raise ValueError(f"fmt={fmt.name}: a*b + c is not exact in float64, mac supports formats "
                         "whose products span at most 2^51 together with FP16")
    c = np.asarray(c)
    if c.dtype.kind not in "iu" or ((c < 0) | (c > 0xFFFF)).any():
        raise ValueError("c must hold FP16 bit patterns (integers in [0, 65535])")
    with np.errstate(invalid="ignore"):             # Inf - Inf = NaN is the IEEE answer
        total = _values(a, fmt, "a") * _values(b, fmt, "b") + FP16.decode64(c)   # exact
    return FP16.encode(total, rounding, saturate=False)


__all__ = ["mul", "mac", "fixed_scale", "fixed_width", "mac_is_exact", "PRODUCT_FORMS"]
