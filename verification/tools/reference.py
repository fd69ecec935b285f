"""Exact references for the golden model, written independently of it: values decoded with
``fractions.Fraction`` from the bit fields, and correctly rounded conversion of a Fraction to an
IEEE bit pattern by exact rational arithmetic. Slow and obviously right, for tests only."""

from __future__ import annotations

from fractions import Fraction

IEEE = {"fp16": (5, 10, 15), "bf16": (8, 7, 127), "fp32": (8, 23, 127)}


def minifloat_value(code: int, ebits: int, mbits: int, bias: int, signed: bool = True) -> Fraction:
    """Exact value of a finite code (no special handling: callers skip NaN/Inf codes)."""
    mag_bits = ebits + mbits
    sign = -1 if signed and code >> mag_bits & 1 else 1
    exponent = code >> mbits & ((1 << ebits) - 1)
    mantissa = code & ((1 << mbits) - 1)
    if exponent == 0:
        return sign * Fraction(mantissa, 1 << mbits) * Fraction(2) ** (1 - bias)
    return sign * (1 + Fraction(mantissa, 1 << mbits)) * Fraction(2) ** (exponent - bias)


def ieee_value(bits: int, out: str):
    """Exact value of IEEE bits: a Fraction, or the strings 'inf', '-inf', 'nan'."""
    ebits, mbits, bias = IEEE[out]
    exponent = bits >> mbits & ((1 << ebits) - 1)
    if exponent == (1 << ebits) - 1:
        if bits & ((1 << mbits) - 1):
            return "nan"
        return "-inf" if bits >> (ebits + mbits) else "inf"
    return minifloat_value(bits, ebits, mbits, bias)


def round_to_ieee(value: Fraction, out: str, rounding: str = "rne", negative_zero: bool = False) -> int:
    """Correctly rounded IEEE bits of an exact value (overflow: Inf under rne, max under rtz)."""
    ebits, mbits, bias = IEEE[out]
    sign_bit = 1 << (ebits + mbits)
    sign = sign_bit if value < 0 or (value == 0 and negative_zero) else 0
    a = abs(value)
    if a == 0:
        return sign
    exponent = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** exponent > a:
        exponent -= 1
    exponent = max(exponent, 1 - bias)
    quantum = Fraction(2) ** (exponent - mbits)
    n, rest = divmod(a, quantum)
    n = int(n)
    if rounding == "rne":
        if rest * 2 > quantum or (rest * 2 == quantum and n % 2 == 1):
            n += 1
    elif rounding != "rtz":
        raise ValueError(rounding)
    code = ((exponent - (1 - bias)) << mbits) + n
    max_code = ((1 << ebits) - 2 << mbits) | ((1 << mbits) - 1)
    if code > max_code:
        code = max_code if rounding == "rtz" else (1 << ebits) - 1 << mbits
    return sign | code
