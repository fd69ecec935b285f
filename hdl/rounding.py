"""Normalize and round an exact fixed-point magnitude to a binary float: written once, used by
the multiplier's float outputs, the MAC and the scale unit.

The caller hands over an unsigned integer ``magnitude`` whose LSB weighs ``2**lsb_exponent``
(an exact product, an exact sum). :func:`round_to_float` returns the target's magnitude code
(exponent and mantissa fields, no sign) under ``rne`` or ``rtz``, with subnormal results,
overflow to Inf (rne) or to the largest finite value (rtz), exactly as ``golden`` encodes.

How: the magnitude is first widened on the right by a constant so its LSB sits at or below the
target's smallest quantum (free wiring), which makes every later shift a right shift. A leading-
zero count gives the exponent of the leading one; the quantum is ``max(e_top, emin) - mbits``;
one barrel shift by ``quantum - lsb`` yields the kept bits and the guard bit, a second shift back
detects whether anything below the guard was lost (the sticky bit); ``rtz`` needs neither and
keeps only the first shift. The code is then
``(e_eff - emin) << mbits`` plus the rounded significand, so a carry out of the mantissa steps
the exponent for free (the same identity golden uses). Cost: one LZC and two shifters of the
input width; the rounding increment is an adder of the code width.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned

from .arith import leading_zeros

ROUNDINGS = ("rne", "rtz")


def check_rounding(rounding) -> str:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is not one of {', '.join(ROUNDINGS)}")
    return rounding


def round_to_float(m, magnitude, lsb_exponent: int, fmt, rounding: str, name: str = "round"):
    """Magnitude code (``fmt.ebits + fmt.mbits`` bits) of ``magnitude * 2**lsb_exponent``.

    ``fmt`` is a golden FloatFormat with IEEE specials (FP16, BF16, FP32); ``m`` the Module that
    receives the combinational logic. Returns a Signal.
    """
    check_rounding(rounding)
    emin, mbits = fmt.emin, fmt.mbits
    # Widen on the right until the LSB is at or below the smallest quantum any non-zero input can
    # meet: mbits below the LSB's own binade, or the target's subnormal quantum if that is higher.
    pad = max(0, mbits - max(0, emin - lsb_exponent))
    wide = Cat(Const(0, pad), magnitude) if pad else magnitude
    lsb = lsb_exponent - pad
    width = len(wide)

    lz = leading_zeros(wide, width)
    bound = max(abs(lsb) + width + 2, abs(emin) + mbits + 2)
    e_top = Signal(signed(bound.bit_length() + 1), name=f"{name}_e_top")
    m.d.comb += e_top.eq(lsb + width - 1 - lz)
    e_eff = Signal.like(e_top, name=f"{name}_e_eff")
    m.d.comb += e_eff.eq(Mux(e_top < emin, emin, e_top))
    shift = Signal(range(width + 1), name=f"{name}_shift")
    m.d.comb += shift.eq(e_eff - mbits - lsb)             # >= 0 thanks to the padding

    if rounding == "rne":
        extended = Cat(Const(0, 1), wide)                 # one zero below: the guard at shift 0
        kept_and_guard = Signal(width + 1, name=f"{name}_kept")
        m.d.comb += kept_and_guard.eq(extended >> shift)
        sticky = Signal(name=f"{name}_sticky")
        m.d.comb += sticky.eq((kept_and_guard << shift)[:width + 1] != extended)
        kept = kept_and_guard[1:]
        guard = kept_and_guard[0]
        up = guard & (sticky | kept[0])
    else:                                                 # rtz: truncate, no guard or sticky
        kept = Signal(width, name=f"{name}_kept")
        m.d.comb += kept.eq(wide >> shift)
        up = Const(0, 1)

    code_width = fmt.ebits + mbits
    code = Signal(unsigned(max(len(e_eff), width) + mbits + 2), name=f"{name}_code")
    m.d.comb += code.eq(((e_eff - emin).as_unsigned() << mbits) + kept + up)
    max_code = ((1 << fmt.ebits) - 2 << mbits) | ((1 << mbits) - 1)
    inf_code = ((1 << fmt.ebits) - 1) << mbits
    result = Signal(code_width, name=f"{name}_result")
    overflow_code = inf_code if rounding == "rne" else max_code
    m.d.comb += result.eq(Mux(wide == 0, 0, Mux(code > max_code, overflow_code, code[:code_width])))
    return result
