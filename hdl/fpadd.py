"""FP32 addition with one RNE rounding: the dot engine's block-order accumulator
(``acc = fp32(acc + block)``, DESIGN §3.5), as numpy's float32 add computes it.

Classic structure, written once: order the operands by magnitude (an integer compare of the
bit patterns), shift the smaller significand right by the exponent difference keeping a
guard, a round and a sticky bit, add or subtract, and hand the result to the shared
normalize-and-round (:func:`hdl.rounding.round_to_float`) with the larger operand's LSB
exponent. Three extra bits are enough for a correctly rounded sum or difference (the
textbook guard/round/sticky argument), so no wide exact grid is needed. With its operands
registered (6 stages and more) the adder orders them by exponent field alone (the sign of the
exponent difference, whose carry chain the shift shares) instead of the 31-bit magnitude
compare; only a subtraction of aligned operands (no shift) can then go negative, so beside the
shifter it decides from the significands whether to subtract the other way round, and the
result takes the other operand's sign. Specials: NaN in, or
Inf − Inf, gives the canonical NaN 0x7FC00000; an exact zero sum is +0 unless both addends are
−0; overflow rounds to ±Inf.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden

from .arith import at_least, classify
from .layouts import lanes_of
from .pipeline import Cuts, check_stages
from .rounding import round_to_float

FP32_NAN = 0x7FC00000
EXTRA = 3                                   # guard, round, sticky


# The adder's cut points in datapath order, and the ones each ``stages`` setting registers
# (chosen from the measured SG13G2 path of each segment, see FloatAdder).
CUT_POINTS = ("operands", "swap", "align", "carry", "add", "count", "normalize", "shift", "increment", "round")
STAGE_CUTS = {0: (), 1: ("normalize",), 2: ("add", "shift"), 3: ("swap", "normalize", "shift"),
              4: ("swap", "add", "normalize", "shift"), 5: ("swap", "align", "add", "normalize", "shift"),
              6: ("operands", "swap", "align", "add", "normalize", "shift"),
              7: ("operands", "swap", "align", "add", "count", "normalize", "shift"),
              8: ("operands", "swap", "align", "add", "count", "normalize", "shift", "round"),
              9: ("operands", "swap", "align", "add", "count", "normalize", "shift", "increment", "round"),
              10: ("operands", "swap", "align", "carry", "add", "count", "normalize", "shift", "increment", "round")}
MAX_STAGES = max(STAGE_CUTS)


def adder_cuts(m, stages: int, enable=None, name: str = "add"):
    """A :class:`hdl.pipeline.Cuts` for :func:`fp32_add` with ``stages`` register stages."""
    return Cuts(m, CUT_POINTS, STAGE_CUTS[stages], enable, name)


def fp32_add(m, a, b, name: str = "add", cuts: Cuts | None = None):
    """A Signal(32): the FP32 bit pattern of ``a + b`` (both 32-bit FP32 patterns), after
    ``cuts.latency`` cycles when ``cuts`` (from :func:`adder_cuts`) pipelines it."""
    fp32 = golden.FP32
    cuts = cuts if cuts is not None else Cuts(m, CUT_POINTS, (), name=name)
    a, b = cuts.cut("operands", a, b)                         # operands registered as read (6 stages)
    mag_a, mag_b = a[:31], b[:31]
    # Registered operands (a pipelined adder) swap by the exponent fields alone, an 8-bit
    # compare beside the exponent differences (the 31-bit magnitude compare before the swap was
    # the iCE40's longest path); when the exponents align (no shift) and the smaller significand
    # came first, the subtraction runs the other way round (``flip``, decided beside the align
    # shifter) and the result takes the other operand's sign.
    fast = cuts.chosen("operands")
    if fast:
        # e_a >= e_b: the sign of e_a - e_b, whose carry chain the shift below shares
        exponent_difference = Signal(signed(9), name=f"{name}_exponent_difference")
        a_bigger = Signal(name=f"{name}_a_first")
        m.d.comb += [exponent_difference.eq(a[23:31] - b[23:31]), a_bigger.eq(~exponent_difference[8])]
    else:
        a_bigger = mag_a >= mag_b
    big = Signal(32, name=f"{name}_big")
    small = Signal(32, name=f"{name}_small")
    m.d.comb += [big.eq(Mux(a_bigger, a, b)), small.eq(Mux(a_bigger, b, a))]

    def fields(x):
        exponent = x[23:31]
        significand = Cat(x[:23], exponent != 0)
        effective = Mux(exponent == 0, 1, exponent)          # value = significand * 2**(e - 150)
        return significand, effective

    sig_big, e_big = fields(big)
    sig_small, e_small = fields(small)
    shift = Signal(range(24 + EXTRA + 1), name=f"{name}_shift")
    if fast:
        # the exponent difference both ways, each clamped, beside the compare; the compare then
        # only selects (the iCE40's path was compare, select, then the clamp's carry chain)
        # The exponent fields are subtracted as they are (the carry chain starts at the
        # registers, not after a zero test): the effective exponent of a field 0 is 1, which
        # only matters when the smaller operand alone is subnormal (x - 1; both subnormal: 0).
        e_a, e_b = a[23:31], b[23:31]
        clamped = []
        for which, (x, y) in enumerate(((e_a, e_b), (e_b, e_a))):
            difference = Signal(8, name=f"{name}_distance{which}")
            m.d.comb += difference.eq(Mux((y == 0) & (x != 0), x - 1, exponent_difference[:8] if which == 0 else x - y))
            # the clamp's test as gates (at_least), not a second carry chain after the first
            clamped.append(Mux(at_least(difference, Const(24 + EXTRA + 1, 8)), 24 + EXTRA, difference))
        m.d.comb += shift.eq(Mux(a_bigger, clamped[0], clamped[1]))
    else:
        distance = Signal(8, name=f"{name}_distance")
        m.d.comb += distance.eq(e_big - e_small)
        m.d.comb += shift.eq(Mux(distance > 24 + EXTRA, 24 + EXTRA, distance))
    # the larger operand's exponent crosses the swap cut, and its LSB exponent is computed after
    # it (beside the align shifter): a carry chain after the compare's select was the iCE40's path
    exponent_big = Signal(8, name=f"{name}_exponent_big")
    m.d.comb += exponent_big.eq(Mux(a_bigger, fields(a)[1], fields(b)[1]) if fast else e_big)
    subtract = a[31] ^ b[31] if fast else big[31] ^ small[31]

    # Specials are decided from the operands and carried to the end: NaN in, or Inf - Inf, is
    # the canonical NaN; an Inf otherwise is the result with its sign (the larger operand's).
    # The classes are carried across the swap cut and combined after it: the classifier's wide
    # ANDs (exponent all ones, mantissa zero) and the NaN/Inf decision in one segment with the
    # registered operands were the iCE40's longest path (eight LUTs).
    class_a, class_b = classify(a, fp32), classify(b, fp32)
    classes = cuts.carry(Cat(class_a.nan, class_a.inf, class_b.nan, class_b.inf, a[31] ^ b[31]))
    carried = [cuts.carry(v) for v in (big[31], a[31] & b[31])]

    sig_big, sig_small, shift, exponent_big, subtract = cuts.cut("swap", sig_big, sig_small, shift, exponent_big,
                                                                 subtract)
    lsb = Signal(signed(10), name=f"{name}_lsb")
    m.d.comb += lsb.eq(exponent_big - 150 - EXTRA)
    nan_a, inf_a, nan_b, inf_b, signs_differ = cuts.release(classes)
    special = Signal(2, name=f"{name}_special")               # 0 finite, 1 NaN, 2 Inf
    m.d.comb += special.eq(Mux(nan_a | nan_b | (inf_a & inf_b & signs_differ), 1, Mux(inf_a | inf_b, 2, 0)))
    carried.insert(0, cuts.carry(special))
    if fast:
        flip = Signal(name=f"{name}_flip")
        m.d.comb += flip.eq(subtract & (shift == 0) & ~at_least(sig_big, sig_small))
        flipped = cuts.carry(flip)
    extended = Cat(Const(0, EXTRA), sig_small)                # 27 bits
    aligned = Signal(24 + EXTRA, name=f"{name}_aligned")
    m.d.comb += aligned.eq(extended >> shift)
    lost = Signal(name=f"{name}_lost")
    m.d.comb += lost.eq(Cat(*(extended[i] & (shift > i) for i in range(24 + EXTRA))).any())
    addend = Signal(24 + EXTRA, name=f"{name}_addend")
    m.d.comb += addend.eq(aligned | lost)                     # sticky into the lowest bit
    sig_big, addend, lsb, subtract = cuts.cut("align", sig_big, addend, lsb, subtract)
    total = Signal(25 + EXTRA, name=f"{name}_total")
    x, addend = Cat(Const(0, EXTRA), sig_big), Value.cast(addend)
    if fast:                                                  # the flipped subtraction: addend - big
        first = Signal(24 + EXTRA, name=f"{name}_first")
        second = Signal(24 + EXTRA, name=f"{name}_second")
        m.d.comb += [first.eq(Mux(cuts.get(flipped), addend, x)), second.eq(Mux(cuts.get(flipped), x, addend))]
        x, addend = first, second
    if cuts.chosen("carry"):
        # the add in two halves around a register: x - addend = x + ~addend + 1 (its carry
        # out dropped, the difference being non-negative)
        y = Signal(24 + EXTRA, name=f"{name}_operand")         # one wire: both halves read it
        m.d.comb += y.eq(Mux(subtract, ~addend, addend))
        half = (24 + EXTRA) // 2
        low = Signal(half + 1, name=f"{name}_sum_low")
        m.d.comb += low.eq(x[:half] + y[:half] + subtract)
        low, x_high, y_high, lsb, subtract = cuts.cut("carry", low, x[half:], y[half:], lsb, subtract)
        high = Signal(24 + EXTRA - half + 1, name=f"{name}_sum_high")
        m.d.comb += [high.eq(x_high + y_high + low[half]),
                     total.eq(Cat(low[:half], high[:-1], high[-1] & ~subtract))]
    else:
        cuts.cut("carry")
        m.d.comb += total.eq(Mux(subtract, x - addend, x + addend))
    total, lsb = cuts.cut("add", total, lsb)
    carried.append(cuts.carry(total == 0))
    code = round_to_float(m, total, lsb, fp32, "rne", name, cuts=cuts)

    special, sign, both_negative, zero = (cuts.get(h) for h in carried)
    if fast:
        sign = sign ^ cuts.get(flipped)
    result = Signal(32, name=f"{name}_result")
    with m.If(special == 1):
        m.d.comb += result.eq(FP32_NAN)
    with m.Elif(special == 2):
        m.d.comb += result.eq(Cat(Const(0, 23), Const(0xFF, 8), sign))
    with m.Elif(zero):
        m.d.comb += result.eq(Cat(Const(0, 31), both_negative))
    with m.Else():
        m.d.comb += result.eq(Cat(code, sign))
    return result


class FloatAdder(wiring.Component):
    """``lanes`` FP32 adders: ports ``a``, ``b`` In, ``result`` Out (lanes × 32 bits each).
    ``stages`` (0..10) selects the register stages inside the adder (``STAGE_CUTS``, from the
    cut points after the operands as read, the operand swap, the alignment shift, the aligned
    add's lower half, the aligned add, the leading-zero count, the shift distance, the rounding
    shift, before and after the rounding increment); ``latency`` is ``stages`` cycles, one addition per cycle. Golden function: numpy float32 ``a + b`` with
    NaN as 0x7FC00000. Exposed for its own tests and the timing of each setting; the dot
    engine uses :func:`fp32_add` with the same cuts."""

    def __init__(self, lanes: int = 1, stages: int = 0):
        self._lanes = lanes
        self._stages = check_stages(stages)
        if stages > MAX_STAGES:
            raise ValueError(f"stages={stages}: the FP32 adder has {MAX_STAGES} cut points")
        super().__init__({"a": In(lanes_of(unsigned(32), lanes)), "b": In(lanes_of(unsigned(32), lanes)),
                          "result": Out(lanes_of(unsigned(32), lanes))})

    @property
    def stages(self) -> int:
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        for lane in range(self._lanes):
            name = f"lane{lane}"
            result = fp32_add(m, self.a[lane], self.b[lane], name, adder_cuts(m, self._stages, name=name))
            m.d.comb += self.result[lane].eq(result)
        return m
