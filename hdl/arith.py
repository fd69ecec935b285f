"""Shared combinational arithmetic: written once, reused by every unit.

- :func:`leading_zeros`: count of zero bits above the highest set bit (a priority encoder).
- :func:`normalize`: shift a significand left until its top bit is set.

Both build plain Amaranth expressions (no state, no module), so a caller can use them inside any
``m.d.comb`` or ``m.d.sync`` assignment; Yosys sees a Mux chain, which it maps to a priority
encoder of ``ceil(log2(width))`` levels.
"""

from amaranth.hdl import Const, Mux, Value


def leading_zeros(value: Value, width: int | None = None) -> Value:
    """Number of leading zeros of the low ``width`` bits of ``value`` (``width`` if all zero)."""
    width = len(value) if width is None else width
    if width < 1:
        raise ValueError(f"width={width} must be >= 1")
    count = Const(width, range(width + 1))
    for i in range(width):                      # later (higher) bits take priority
        count = Mux(value[i], width - 1 - i, count)
    return count


def normalize(value: Value, width: int | None = None) -> tuple[Value, Value]:
    """``(value << lz)[:width], lz`` with ``lz = leading_zeros(value, width)``.

    The result's top bit is set unless ``value`` is zero.
    """
    width = len(value) if width is None else width
    lz = leading_zeros(value, width)
    return (value[:width] << lz)[:width], lz
