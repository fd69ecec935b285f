"""FP32 addition with one RNE rounding: the dot engine's block-order accumulator
(``acc = fp32(acc + block)``, DESIGN §3.5), as numpy's float32 add computes it.

Classic structure, written once: order the operands by magnitude (an integer compare of the
bit patterns), shift the smaller significand right by the exponent difference keeping a
guard, a round and a sticky bit, add or subtract, and hand the result to the shared
normalize-and-round (:func:`hdl.rounding.round_to_float`) with the larger operand's LSB
exponent. Three extra bits are enough for a correctly rounded sum or difference (the
textbook guard/round/sticky argument), so no wide exact grid is needed. Specials: NaN in, or
Inf − Inf, gives the canonical NaN 0x7FC00000; an exact zero sum is +0 unless both addends are
−0; overflow rounds to ±Inf.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden

from .arith import classify
from .layouts import lanes_of
from .rounding import round_to_float

FP32_NAN = 0x7FC00000
EXTRA = 3                                   # guard, round, sticky


def fp32_add(m, a, b, name: str = "add"):
    """A Signal(32): the FP32 bit pattern of ``a + b`` (both 32-bit FP32 patterns)."""
    fp32 = golden.FP32
    mag_a, mag_b = a[:31], b[:31]
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
    distance = Signal(8, name=f"{name}_distance")
    m.d.comb += distance.eq(e_big - e_small)
    shift = Signal(range(24 + EXTRA + 1), name=f"{name}_shift")
    m.d.comb += shift.eq(Mux(distance > 24 + EXTRA, 24 + EXTRA, distance))
    extended = Cat(Const(0, EXTRA), sig_small)                # 27 bits
    aligned = Signal(24 + EXTRA, name=f"{name}_aligned")
    m.d.comb += aligned.eq(extended >> shift)
    lost = Signal(name=f"{name}_lost")
    m.d.comb += lost.eq((aligned << shift)[:24 + EXTRA] != extended)
    addend = Signal(24 + EXTRA, name=f"{name}_addend")
    m.d.comb += addend.eq(aligned | lost)                     # sticky into the lowest bit
    subtract = big[31] ^ small[31]
    total = Signal(25 + EXTRA, name=f"{name}_total")
    m.d.comb += total.eq(Mux(subtract, Cat(Const(0, EXTRA), sig_big) - addend,
                             Cat(Const(0, EXTRA), sig_big) + addend))
    lsb = Signal(signed(10), name=f"{name}_lsb")
    m.d.comb += lsb.eq(e_big - 150 - EXTRA)
    code = round_to_float(m, total, lsb, fp32, "rne", name)

    class_a, class_b = classify(a, fp32), classify(b, fp32)
    nan_a, inf_a, nan_b, inf_b = class_a.nan, class_a.inf, class_b.nan, class_b.inf
    result = Signal(32, name=f"{name}_result")
    with m.If(nan_a | nan_b | (inf_a & inf_b & (a[31] != b[31]))):
        m.d.comb += result.eq(FP32_NAN)
    with m.Elif(inf_a | inf_b):
        m.d.comb += result.eq(big)                            # the infinity (largest magnitude)
    with m.Elif(total == 0):
        m.d.comb += result.eq(Cat(Const(0, 31), a[31] & b[31]))
    with m.Else():
        m.d.comb += result.eq(Cat(code, big[31]))
    return result


class FloatAdder(wiring.Component):
    """``lanes`` FP32 adders: ports ``a``, ``b`` In, ``result`` Out (lanes × 32 bits each);
    combinational. Golden function: numpy float32 ``a + b`` with NaN as 0x7FC00000. Exposed
    for its own exhaustive-sample test; the dot engine uses :func:`fp32_add`."""

    def __init__(self, lanes: int = 1):
        self._lanes = lanes
        super().__init__({"a": In(lanes_of(unsigned(32), lanes)), "b": In(lanes_of(unsigned(32), lanes)),
                          "result": Out(lanes_of(unsigned(32), lanes))})

    def elaborate(self, platform):
        m = Module()
        for lane in range(self._lanes):
            m.d.comb += self.result[lane].eq(fp32_add(m, self.a[lane], self.b[lane], f"lane{lane}"))
        return m
