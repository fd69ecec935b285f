"""Normalize and round an exact fixed-point magnitude to a binary float: written once, used by
the multiplier's float outputs, the MAC, the scale unit and the quantizer's element encoders.

The caller hands over an unsigned integer ``magnitude`` whose LSB weighs ``2**lsb_exponent``
(an exact product, an exact sum, a float's significand). ``lsb_exponent`` is a Python integer
(a fixed grid) or a signed Amaranth value (a float input, a scaled block sum).
:func:`round_to_float` returns the target's magnitude code (exponent and mantissa fields, no
sign) under ``rne``, ``rtz`` or ``stochastic`` rounding, with subnormal results, overflow to
Inf (rne, IEEE targets), to the largest finite value (rtz, or ``saturate=True``), exactly as
``golden`` encodes.

How: the magnitude is first widened on the right by up to ``mbits`` zero bits, so the quantum
of a non-zero result is never below the LSB and every later shift is a right shift. A leading-zero
count gives the exponent of the leading one ``e_top``; the quantum is ``max(e_top, emin) -
mbits``; one barrel shift by ``quantum - lsb`` yields the kept bits and the guard bit (rne) or
the ``sr_bits`` fraction bits (stochastic); a second shift back detects whether anything below
the guard was lost (the sticky bit); ``rtz`` keeps only the first shift. The code is then
``(e_eff - emin) << mbits`` plus the rounded significand, so a carry out of the mantissa steps
the exponent for free (the same identity golden uses), and a tie goes to the even *code* (for a
format without mantissa bits, E3M0, the code's last bit is an exponent bit, as in golden).
Cost: one LZC and two shifters of the input width; the rounding increment is an adder of the
code width.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed, unsigned

from golden.params import check_choice
from .arith import at_least, leading_zeros, prefix_ands

ROUNDINGS = ("rne", "rtz", "stochastic")


def check_rounding(rounding, allowed=("rne", "rtz")) -> str:
    return check_choice("rounding", rounding, allowed)


def _exponent_bound(lsb_exponent) -> int:
    """An upper bound of ``|lsb_exponent|``."""
    if isinstance(lsb_exponent, int):
        return abs(lsb_exponent)
    shape = Value.cast(lsb_exponent).shape()
    return 1 << shape.width if not shape.signed else 1 << (shape.width - 1)


def round_to_float(m, magnitude, lsb_exponent, fmt, rounding: str, name: str = "round", *,
                   saturate: bool = False, random=None, sr_bits: int = 0, cuts=None):
    """Magnitude code (``fmt.ebits + fmt.mbits`` bits) of ``magnitude * 2**lsb_exponent``.

    ``fmt`` is a golden FloatFormat (IEEE FP16/BF16/FP32 or an element MiniFloat); ``m`` the
    Module that receives the combinational logic. Overflow gives Inf for IEEE targets under
    ``rne`` and the largest finite code under ``rtz`` or with ``saturate=True`` (required for
    formats without Inf). ``rounding="stochastic"`` adds ``random`` (an ``sr_bits``-wide value)
    to the ``sr_bits`` fraction bits below the quantum, as ``golden.rounding.round_quanta``.
    ``cuts`` (an :class:`hdl.pipeline.Cuts` whose points include ``"normalize"`` and
    ``"shift"``, rne only) pipelines the rounder: ``count`` (if among its points) after the
    leading-zero count, ``normalize`` after the shift distance, ``shift`` after the barrel
    shift and the sticky bit, ``increment`` and ``round`` (if among its points) before and
    after the rounding increment and the overflow test. Returns a Signal.
    """
    if cuts is not None and rounding != "rne":
        raise ValueError("a pipelined rounder (cuts) rounds to nearest even only")
    check_rounding(rounding, ROUNDINGS)
    if not saturate and not fmt.has_inf:
        raise ValueError(f"{fmt.name} has no Inf: rounding to it must saturate")
    if rounding == "stochastic" and (random is None or sr_bits < 1):
        raise ValueError("stochastic rounding needs random bits and sr_bits >= 1")
    emin, mbits = fmt.emin, fmt.mbits
    if isinstance(lsb_exponent, int):
        # Only as much padding as a non-zero result can need: none where the target's
        # subnormal quantum is already above the LSB (the MAC's 2**-24 grid into FP16).
        pad = max(0, mbits - max(0, emin - lsb_exponent))
    else:
        pad = mbits
    wide = Cat(Const(0, pad), magnitude) if pad else Value.cast(magnitude)
    width = len(wide)
    lz = leading_zeros(wide, width)
    bound = _exponent_bound(lsb_exponent) + pad + width + abs(emin) + mbits + 4
    exponent = signed(bound.bit_length() + 1)
    # With top = width - 1 - lz (the leading one's bit) and floor = emin - lsb (the bit of the
    # smallest normal exponent), the leading one's exponent is lsb + top, so
    #   e_eff - emin = max(top - floor, 0)   and   shift = max(top, floor) - mbits:
    # floor comes from the LSB exponent alone, in parallel with the leading-zero count.
    if isinstance(lsb_exponent, int):
        floor = Const(emin - (lsb_exponent - pad), exponent)
    else:
        floor = Signal(exponent, name=f"{name}_floor")
        m.d.comb += floor.eq(emin + pad - Value.cast(lsb_exponent))
    limit = width + (sr_bits if rounding == "stochastic" else 1)
    floor_shift = None
    # With a register after the count (a pipelined rounder), the subnormal branch's shift is
    # computed beside the count; otherwise the one clamp after the Mux below (fewer gates).
    early_clamp = cuts is not None and cuts.chosen("count") and not isinstance(lsb_exponent, int)
    if early_clamp:
        # the subnormal branch's shift, clamped, from the LSB exponent alone (beside the count)
        floor_shift = Signal(range(limit + 1), name=f"{name}_floor_shift")
        below_mbits = Signal(exponent, name=f"{name}_floor_less_m")
        # floor - mbits from the LSB exponent in one subtraction beside floor's (not after it),
        # and the upper clamp's test as gates, not a third carry chain (an iCE40 path)
        too_far = ~below_mbits[-1] & at_least(below_mbits.as_unsigned()[:-1], Const(limit + 1))
        m.d.comb += [below_mbits.eq(emin + pad - mbits - Value.cast(lsb_exponent)),
                     floor_shift.eq(Mux(too_far, limit, Mux(below_mbits < 0, 0, below_mbits)))]
    if cuts is not None and cuts.has("count"):            # a register after the count itself
        if isinstance(floor, Const):
            magnitude, lz = cuts.cut("count", magnitude, lz)
        else:
            magnitude, lz, floor, floor_shift = cuts.cut("count", magnitude, lz, floor, floor_shift)
        wide = Cat(Const(0, pad), magnitude) if pad else Value.cast(magnitude)
    top = Signal(signed(len(lz) + 1), name=f"{name}_top")
    m.d.comb += top.eq(width - 1 - lz)                    # -1 for a zero magnitude
    above = Signal(exponent, name=f"{name}_above")
    m.d.comb += above.eq(top - floor)
    subnormal = above[-1]
    # The right shift that puts the quantum at bit 0; >= 0 for a non-zero magnitude (the
    # padding), and anything past the whole word shifts everything out, so it is clamped.
    shift = Signal(range(limit + 1), name=f"{name}_shift")
    if not early_clamp:
        distance = Signal(signed(len(above) + 2), name=f"{name}_distance")
        m.d.comb += distance.eq(Mux(subnormal, floor, top) - mbits)
        if isinstance(lsb_exponent, int) and floor.value - mbits > limit:
            # a grid so far below the target's smallest subnormal that every result is subnormal
            # and shifts out whole (a custom format's products into FP16): the clamp is a constant
            m.d.comb += shift.eq(Mux(subnormal, limit, distance))
        elif isinstance(lsb_exponent, int):
            m.d.comb += shift.eq(distance)              # 0 <= distance < width on a fixed grid
        else:
            m.d.comb += shift.eq(Mux(distance > limit, limit, Mux(distance < 0, 0, distance)))
    else:
        # clamp(Mux(subnormal, floor, top) - mbits) as a Mux of the two clamped branches: the
        # floor branch is ready before the count; top - mbits <= width - 1 - mbits < limit, so
        # only its lower clamp remains (lz > width - 1 - mbits), a comparison of lz alone.
        top_span = width - 1 - mbits
        top_shift = Mux(lz > top_span, 0, Const(top_span, range(width + 1)) - lz)
        m.d.comb += shift.eq(Mux(subnormal, floor_shift, top_shift))

    exponent_code = Signal(unsigned(len(above) + mbits), name=f"{name}_exponent_code")
    m.d.comb += exponent_code.eq(Mux(subnormal, 0, above.as_unsigned()) << mbits)
    if cuts is not None:                                   # the exponent field only: its low bits are 0
        wide, shift, field = cuts.cut("normalize", wide, shift, exponent_code[mbits:])
        exponent_code = Cat(Const(0, mbits), field)
    zero = wide == 0

    if rounding == "rtz":
        kept = Signal(width, name=f"{name}_kept")
        m.d.comb += kept.eq(wide >> shift)
    else:
        below = 1 if rounding == "rne" else sr_bits         # guard bit / fraction bits
        extended = Cat(Const(0, below), wide)
        kept_and_below = Signal(width + below, name=f"{name}_kept")
        m.d.comb += kept_and_below.eq(extended >> shift)
        kept = kept_and_below[below:]
    # A normalized significand has at most mbits + 1 bits (the shift puts the leading one at bit
    # mbits or below, and a clamped shift leaves nothing): the rest is known zero, said so here
    # so the adders below are code-wide, not magnitude-wide.
    kept = kept[:mbits + 1]
    if len(kept) < mbits + 1:                             # a magnitude narrower than the significand
        kept = Cat(kept, Const(0, mbits + 1 - len(kept)))
    if rounding == "rne":
        sticky = Signal(name=f"{name}_sticky")
        # the bits the shift drops: those of ``extended`` below bit ``shift`` (a thermometer
        # mask, decoded from ``shift`` beside the shifter rather than after it)
        dropped = Cat(*(extended[i] & (shift > i) for i in range(width + 1)))
        m.d.comb += sticky.eq(dropped.any())
        guard = kept_and_below[0]
        if cuts is not None:
            kept, guard, sticky, field, zero = cuts.cut("shift", kept, guard, sticky, exponent_code[mbits:], zero)
            exponent_code = Cat(Const(0, mbits), field)
    if rounding == "rne":
        up = guard & (sticky | exponent_code[0] ^ kept[0])   # a tie goes to the even code
    elif rounding == "stochastic":
        fraction = kept_and_below[:sr_bits]
        # the carry out of fraction + random, as a comparison: fraction + r >= 2**sr_bits
        # exactly when fraction > (2**sr_bits - 1) - r = ~r
        up = fraction > ~random[:sr_bits]
    else:
        up = Const(0, 1)

    code_width = fmt.ebits + mbits
    # exponent_code has no bits below mbits, so the code before rounding is the mantissa bits
    # beside a small exponent add (the hidden bit steps a subnormal's exponent to the first
    # normal); the rounding increment and the overflow test then run side by side.
    base = Signal(unsigned(len(exponent_code) + 1), name=f"{name}_base")
    m.d.comb += base.eq(Cat(kept[:mbits], exponent_code[mbits:] + kept[mbits]))
    max_code = fmt.max_code
    code = Signal(unsigned(len(base) + 1), name=f"{name}_code")
    if cuts is not None and cuts.chosen("increment"):
        # A register before the increment, with what it needs precomputed, so that the last
        # segment is a few gates per bit: the carry into bit i when up is AND(base[:i]); for the
        # mantissa bits that is the AND of the whole 4-bit groups below i (registered: a prefix
        # over the groups) and of the bits of i's own group below it (after the register). The
        # exponent bits' carries need no exponent add (base's upper part is field + h, the iCE40's
        # path was that add, then the prefix ANDs): the low bits of field + h are all ones
        # exactly when those of field are (h = 0), or when field's bit 0 is clear and the rest
        # above it are ones (h = 1); the comparisons with the largest code split the same way
        # into comparisons of field with constants.
        low, field, h = kept[:mbits], exponent_code[mbits:], kept[mbits]
        groups = (mbits + 3) // 4
        group_ones = Signal(max(groups, 1), name=f"{name}_group_ones")   # bit g - 1: AND(low[:4g])
        high_ones = Signal(len(field), name=f"{name}_high_ones")        # bit j - 1: AND((field + h)[:j])
        odd = ~field[0]
        odd_ands = Cat(odd, odd.replicate(len(field) - 1) & prefix_ands(field[1:])) if len(field) > 1 else odd
        m.d.comb += [group_ones.eq(prefix_ands(Cat(*(low[4 * g:4 * g + 4].all() for g in range(groups))))
                                   if groups else 1),
                     high_ones.eq(Mux(h, odd_ands, prefix_ands(field)))]
        max_low, max_high = max_code & ((1 << mbits) - 1), max_code >> mbits
        high_above = Mux(h, at_least(field, Const(max_high)), at_least(field, Const(max_high + 1)))
        high_equal = Mux(h, field == max_high - 1 if max_high else Const(0, 1), field == max_high)
        low_above = at_least(low, Const(max_low + 1)) if max_low + 1 < 1 << mbits else Const(0, 1)
        above_max = Signal(name=f"{name}_above_max")
        at_max = Signal(name=f"{name}_at_max")
        m.d.comb += [above_max.eq(high_above | (high_equal & low_above)),
                     at_max.eq(high_equal & (low == max_low))]
        base, up, zero, group_ones, high_ones, above_max, at_max = cuts.cut(
            "increment", base, up, zero, group_ones, high_ones, above_max, at_max)
        ones = Signal(len(base) + 1, name=f"{name}_ones_below")   # bit i set: a carry into bit i
        low_ones = [(group_ones[i // 4 - 1] if i >= 4 else Const(1, 1)) & base[i // 4 * 4:i].all()
                    for i in range(mbits + 1)]                    # AND(base[:i]), i <= mbits
        all_low = group_ones[-1] if mbits else Const(1, 1)                   # AND(low)
        # the top bit (field + h all ones) cannot be set
        m.d.comb += ones.eq(Cat(*low_ones, all_low.replicate(len(field)) & high_ones, Const(0, 1)))
        m.d.comb += code.eq(Cat(base, 0) ^ (ones & up.replicate(len(ones))))
        overflow = above_max | (at_max & up)
    else:
        if cuts is not None and cuts.has("increment"):
            cuts.cut("increment")
        m.d.comb += code.eq(base + up)
        overflow = (base > max_code) | ((base == max_code) & up)
    overflow_code = fmt.inf_code if (rounding == "rne" and not saturate) else max_code
    code = code[:code_width]
    if cuts is not None and cuts.has("round"):            # a register after the rounding increment
        code, overflow, zero = cuts.cut("round", code, overflow, zero)
    result = Signal(code_width, name=f"{name}_result")
    m.d.comb += result.eq(Mux(zero, 0, Mux(overflow, overflow_code, code)))
    return result
