"""Shared combinational arithmetic: written once, reused by every unit.

- :func:`leading_zeros`: count of zero bits above the highest set bit (a log-depth tree).
- :func:`normalize`: shift a significand left until its top bit is set.
- :func:`max_tree`: the largest of several unsigned values (block amax).
- :func:`increment`, :func:`at_least`: ``value + bit`` and ``a >= b`` as log-depth prefix
  trees, for the segments of a pipelined unit (the rounder's carry mask before its increment
  cut, the FP32 adder's compare of registered operands). Yosys maps ``+`` and ``>=`` to chains;
  whether a tree survives ABC was measured per use (in the unpipelined rounder it did not pay,
  and it slows the Amaranth simulator), so the unpipelined units keep ``+`` and ``>=``.

- :func:`classify`: the one classifier of float codes (NaN / Inf / zero / subnormal), used by
  the decoder, the multipliers, the MAC and the FP32 adder;
- :func:`element_fields` / :func:`element_specials`: an element code as an exact integer
  (significand with hidden bit, shift) and its NaN/Inf flags.

All build plain Amaranth expressions (no state, no module), so a caller can use them inside any
``m.d.comb`` or ``m.d.sync`` assignment.
"""

from typing import NamedTuple

from amaranth.hdl import Cat, Const, Mux, Value


def leading_zeros(value: Value, width: int | None = None) -> Value:
    """Number of leading zeros of the low ``width`` bits of ``value`` (``width`` if all zero).

    A tree: the count of the upper half if it holds a one, else the upper half's width plus the
    count of the lower half; ``ceil(log2(width))`` levels of 2:1 multiplexers. A width that is
    not a power of two is first padded on the right with ones up to one (the count is the same,
    and an all-zero value meets the first padded one at ``width``), so every "plus the upper
    half's width" is a constant top bit, not an adder.
    """
    width = len(value) if width is None else width
    if width < 1:
        raise ValueError(f"width={width} must be >= 1")
    padded = 1 << (width - 1).bit_length()
    if padded != width:
        value = Cat(Const((1 << (padded - width)) - 1, padded - width), value[:width])
    count, zero = _leading_zeros(value, padded)
    return Cat(count, zero)


def _leading_zeros(value: Value, width: int):
    """``(count, zero)`` of a power-of-two ``width``: ``zero`` when all bits are 0 (then
    ``count`` is 0), else ``count`` (log2(width) bits) is the number of leading zeros."""
    if width == 1:
        return Cat(), ~value[0]
    upper = width // 2
    high_count, high_zero = _leading_zeros(value[upper:width], upper)
    low_count, low_zero = _leading_zeros(value[:upper], upper)
    return Mux(high_zero, Cat(low_count, ~low_zero), Cat(high_count, 0)), high_zero & low_zero


def _and_scan(bits: list) -> list:
    """Prefix ANDs of ``bits`` (element j: the AND of ``bits[:j + 1]``), a Kogge-Stone scan:
    log2 levels."""
    span = 1
    while span < len(bits):
        bits = [bits[i] if i < span else bits[i] & bits[i - span] for i in range(len(bits))]
        span *= 2
    return bits


def increment(value: Value, bit: Value) -> Value:
    """``value + bit`` (``len(value) + 1`` bits) for a 1-bit ``bit``: bit i flips when ``bit``
    and every bit below i are set; the carries are prefix ANDs (Kogge-Stone, log2 levels)."""
    value, bit = Value.cast(value), Value.cast(bit)[0]
    n = len(value)
    carry = _and_scan([bit] + [value[i] for i in range(n)])   # carry[i]: bit & value[:i]
    return Cat(*(value[i] ^ carry[i] for i in range(n)), carry[n])


def prefix_ands(value: Value) -> Value:
    """``n`` bits for an ``n``-bit ``value``: bit ``j`` is the AND of ``value[:j + 1]`` (the scan
    of :func:`increment`'s carries)."""
    value = Value.cast(value)
    return Cat(*_and_scan([value[i] for i in range(len(value))]))


def at_least(a: Value, b: Value) -> Value:
    """``a >= b`` for unsigned values, as a log-depth tree of (greater, equal) pairs from the
    top bits down instead of a subtraction's borrow chain."""
    a, b = Value.cast(a), Value.cast(b)
    n = max(len(a), len(b))
    a, b = a.as_unsigned(), b.as_unsigned()
    pairs = [((a[i] if i < len(a) else Const(0, 1)) & ~(b[i] if i < len(b) else Const(0, 1)),
              ~((a[i] if i < len(a) else Const(0, 1)) ^ (b[i] if i < len(b) else Const(0, 1))))
             for i in range(n)]                            # (greater, equal) of bit i, LSB first
    while len(pairs) > 1:
        merged = []
        for j in range(0, len(pairs) - 1, 2):
            (g_lo, e_lo), (g_hi, e_hi) = pairs[j], pairs[j + 1]
            merged.append((g_hi | (e_hi & g_lo), e_hi & e_lo))
        if len(pairs) % 2:
            merged.append(pairs[-1])
        pairs = merged
    greater, equal = pairs[0]
    return greater | equal


def normalize(value: Value, width: int | None = None) -> tuple[Value, Value]:
    """``(value << lz)[:width], lz`` with ``lz = leading_zeros(value, width)``.

    The result's top bit is set unless ``value`` is zero.
    """
    width = len(value) if width is None else width
    lz = leading_zeros(value, width)
    return (value[:width] << lz)[:width], lz


def element_fields(code: Value, fmt):
    """Split an element code of golden format ``fmt`` into exact integer form.

    Returns ``(sign, significand, shift)`` with ``|value| = significand << shift`` in units of
    ``fmt.min_subnormal``: the significand is the mantissa with its hidden bit (``exponent !=
    0``), the shift is ``max(exponent, 1) - 1``. ``sign`` is a 0 constant for unsigned formats.
    Specials (NaN/Inf codes) are not decoded here; see :func:`element_specials`.
    """
    mantissa = code[:fmt.mbits]
    exponent = code[fmt.mbits:fmt.mbits + fmt.ebits]
    nonzero_exponent = exponent != 0
    significand = Cat(mantissa, nonzero_exponent)
    shift = Mux(nonzero_exponent, exponent - 1, 0)[:fmt.ebits]
    sign = code[fmt.bits - 1] if fmt.signed else Const(0, 1)
    return sign, significand, shift


class Classes(NamedTuple):
    """What a float code is: one bit each (a 0 constant where the format cannot have it)."""
    nan: Value
    inf: Value
    zero: Value
    subnormal: Value


def classify(code: Value, fmt) -> Classes:
    """The one classifier of float codes (every element format, FP16/BF16/FP32 alike, by the
    format's ``specials``): ``fn`` formats (E4M3) have NaN only at S.1..1.1..1, ``ieee`` formats
    NaN (all-ones exponent, mantissa != 0) and ±Inf (mantissa 0), ``none`` formats neither. Zero
    and subnormal are the exponent-0 codes with mantissa 0 / non-zero (a format without mantissa
    bits has no subnormals)."""
    mantissa = code[:fmt.mbits]
    exponent = code[fmt.mbits:fmt.mbits + fmt.ebits]
    top = exponent == (1 << fmt.ebits) - 1
    no_mantissa = (mantissa == 0) if fmt.mbits else Const(1, 1)
    zero = (exponent == 0) & no_mantissa
    subnormal = (exponent == 0) & ~no_mantissa if fmt.mbits else Const(0, 1)
    if fmt.specials == "fn":
        return Classes(top & (mantissa == (1 << fmt.mbits) - 1), Const(0, 1), zero, subnormal)
    if fmt.specials == "ieee":
        return Classes(top & ~no_mantissa, top & no_mantissa, zero, subnormal)
    return Classes(Const(0, 1), Const(0, 1), zero, subnormal)


def element_specials(code: Value, fmt):
    """``(is_nan, is_inf)`` of an element code (:func:`classify`)."""
    classes = classify(code, fmt)
    return classes.nan, classes.inf


def max_tree(values: list) -> Value:
    """The largest of unsigned ``values``: a balanced tree of compare-and-select,
    ``ceil(log2(len(values)))`` levels."""
    if not values:
        raise ValueError("max_tree needs at least one value")
    while len(values) > 1:
        pairs = [Mux(a >= b, a, b) for a, b in zip(values[0::2], values[1::2])]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return Value.cast(values[0])
