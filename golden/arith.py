"""Exact products and the fused FP16 MAC (DESIGN §3.5), bit patterns in and out.

Every product of two elements of a format of <= 8 bits is a dyadic rational with few significant
bits, so it is exact in float64; so is ``a*b + c`` for FP16 ``c`` when the span from the smallest
to the largest magnitude involved fits 53 bits (every FP4 format and E4M3; not E5M2, which
:func:`mac` rejects). The result is then rounded once by the shared golden encoder.

``fixed`` products are the integer ``a*b*F`` with ``F = 1 / min_subnormal**2`` (E2M1: ``4ab``,
-144..144, 9 bits): the form the hardware adds in its exact block sums. Every value is a multiple
of ``min_subnormal`` (a power of two), so ``a*b*F`` is the product of the two codes' integer
significands, shifted: it depends on the codes alone, not on the bias. ``F`` is exact: a
``Fraction`` below 1 where ``min_subnormal > 1`` (a bias below ``1 - mbits``), so
``MiniFloat(2, 1, bias=-1)``'s 24 × 24 = 576 is 576 / 4 = 144, as E2M1's 6 × 6 × 4.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .formats import FP16, FloatFormat, element_format, ieee_format
from .rounding import check_rounding

PRODUCT_FORMS = ("fixed", "fp16", "bf16", "fp32")


def fixed_exponent(fmt) -> int:
    """``log2(F)``: ``-2 * log2(min_subnormal)`` (E2M1: 2), negative where ``min_subnormal > 1``."""
    fmt = element_format(fmt)
    mantissa, exponent = np.frexp(fmt.min_subnormal)     # min_subnormal = 0.5 * 2**exponent
    assert mantissa == 0.5, "min_subnormal is a power of two"
    return -2 * (int(exponent) - 1)


def fixed_scale(fmt) -> int | Fraction:
    """F = 1 / min_subnormal**2, exactly: the factor that puts every product of two ``fmt``
    values on the integer grid of its smallest product (an ``int``, or a ``Fraction`` < 1)."""
    exponent = fixed_exponent(fmt)
    return 1 << exponent if exponent >= 0 else Fraction(1, 1 << -exponent)


def fixed_width(fmt) -> int:
    """Bits of the two's-complement ``fixed`` product (E2M1: 9); the same for every bias."""
    fmt = element_format(fmt)
    largest = Fraction(fmt.max) ** 2 * fixed_scale(fmt)          # exact: an integer
    return int(largest).bit_length() + 1


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
    if out == "fixed":
        bad = ~(np.isfinite(va) & np.isfinite(vb))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} NaN/Inf operands have no fixed-point product "
                             f"(first at index {tuple(int(i[0]) for i in np.nonzero(bad))})")
        # Each operand in units of min_subnormal (a power of two) is a small integer, and so is
        # their product (at most 2*(mbits+1) significant bits): exact in float64 for every bias,
        # where va*vb itself can leave float64's range (bias 1000 or -1000).
        unit = fixed_exponent(fmt) // 2
        units = np.ldexp(va, unit) * np.ldexp(vb, unit)
        if fixed_width(fmt) > 62:
            # E5M2 products span 2^64: exact Python integers instead of int64
            return np.vectorize(int, otypes=[object])(units)
        return units.astype(np.int64)
    # Inf * 0 = NaN is the IEEE answer; a product beyond float64's range (a custom bias near
    # its limits) is far beyond FP32's too, so its float64 Inf or 0 encodes as the exact one would
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        product = va * vb
    return ieee_format(out).encode(product, "rne", saturate=False)


def products_exact(fmt, out: str = "fp16") -> bool:
    """Whether every finite product of two ``fmt`` values is exactly an ``out`` value (FP16,
    BF16 or FP32): its significand fits, no product exceeds ``out``'s largest finite value and
    the smallest (``min_subnormal**2``) is on ``out``'s grid. True for every named FP4 format."""
    fmt, target = element_format(fmt), ieee_format(out)
    return (2 * (fmt.mbits + 1) <= target.mbits + 1
            and Fraction(fmt.min_subnormal) ** 2 >= Fraction(target.min_subnormal)
            and Fraction(fmt.max) ** 2 <= Fraction(target.max))


def mac_is_exact(fmt) -> bool:
    """Whether ``a*b + c`` (FP16 c) is exact in float64 for ``fmt``, as :func:`mac` requires."""
    fmt = element_format(fmt)
    # exact rationals: a custom bias near float64's limits squares out of its range
    smallest = min(Fraction(fmt.min_subnormal) ** 2, Fraction(FP16.min_subnormal))
    largest = max(Fraction(fmt.max) ** 2, Fraction(FP16.max))
    return largest / smallest <= 2 ** 51


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


__all__ = ["mul", "mac", "fixed_scale", "fixed_exponent", "fixed_width", "mac_is_exact", "products_exact", "PRODUCT_FORMS"]
