"""Fused multiply-add: element × element + FP16 → FP16 with one rounding.

Design choice: an exact wide sum instead of a classic aligned FMA datapath. An FP4 product has
a 4-bit significand and a tiny exponent range, so both addends are placed on one fixed-point
grid whose LSB is FP16's smallest subnormal (2**-24): the product by a constant shift, ``c`` by
a barrel shift of its 11-bit significand over its 30 possible exponents. Their signed sum (42
bits for E2M1) is exact, so the result needs exactly one normalize-and-round, done by the shared
:func:`hdl.rounding.round_to_float`, and every IEEE corner (cancellation to +0, the sign of a
zero sum, subnormals, overflow to Inf or to 65504 under rtz) falls out of integer arithmetic.
The cost is a 42-bit adder, a 42-bit negation and the rounder's two 42-bit shifters, larger than
an aligned FMA, in exchange for a datapath with no alignment cases to get wrong.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.arith import fixed_width, mac_is_exact

from .arith import classify, element_specials
from .decoder import check_format, check_lanes, check_product_format
from .layouts import float_layout, lanes_of
from .multiplier import exact_product
from .pipeline import UnitParameters, check_stages, delayed
from .rounding import check_rounding, round_to_float


class MAC(UnitParameters, wiring.Component):
    """``result = round_fp16(a*b + c)`` on ``lanes`` lanes (fused, one rounding).

    Parameters: ``fmt`` (element format whose products are exact with FP16: every FP4 format
    and E4M3; a custom format needs at most 4 bits and every product exact in FP16,
    :func:`hdl.decoder.check_product_format`), ``acc="fp16"``, ``rounding`` in {rne, rtz}, ``lanes``, ``stages``.

    Ports:
      - ``a``, ``b``: In, ``lanes`` × ``fmt.bits`` element codes.
      - ``c``: In, ``lanes`` × 16-bit FP16 (``float_layout(FP16)``).
      - ``result``: Out, ``lanes`` × 16-bit FP16.

    Latency ``stages`` cycles. Golden function: ``golden.arith.mac(a, b, c, fmt, "fp16",
    rounding)``: NaN results are 0x7E00, an exact zero sum is +0 unless both addends are -0.
    """

    def __init__(self, fmt="e2m1", acc: str = "fp16", rounding: str = "rne", lanes: int = 1,
                 stages: int = 0):
        self._fmt = check_format(fmt)
        if acc != "fp16":
            raise ValueError(f"acc={acc!r}: only 'fp16' accumulation is defined")
        check_product_format(self._fmt, "MAC")
        if not mac_is_exact(self._fmt):
            raise ValueError(f"fmt={self._fmt.name}: its products are not exact together with FP16 "
                             "(MAC supports every FP4 format and E4M3)")
        self._rounding = check_rounding(rounding)
        self._lanes = check_lanes(lanes)
        self._stages = check_stages(stages)
        fp16 = float_layout(golden.FP16)
        super().__init__({
            "a": In(lanes_of(unsigned(self._fmt.bits), lanes)),
            "b": In(lanes_of(unsigned(self._fmt.bits), lanes)),
            "c": In(lanes_of(fp16, lanes)),
            "result": Out(lanes_of(fp16, lanes)),
        })

    @property
    def latency(self) -> int:
        return self._stages

    def _lane(self, m, a, b, c, result, lane):
        fmt, fp16 = self._fmt, golden.FP16
        name = f"lane{lane}"
        product_sign, product = exact_product(m, a, b, fmt, name)
        product_lsb = 2 * (fmt.emin - fmt.mbits)
        c_lsb = fp16.emin - fp16.mbits                              # -24
        lsb = min(product_lsb, c_lsb)

        c_nonzero_exponent = c.exponent != 0
        c_significand = Cat(c.mantissa, c_nonzero_exponent)
        c_shift = Mux(c_nonzero_exponent, c.exponent - 1, 0)[:5]
        c_magnitude = Signal(unsigned(11 + 30 + c_lsb - lsb), name=f"{name}_c_fixed")
        m.d.comb += c_magnitude.eq((c_significand << c_shift) << (c_lsb - lsb))
        p_magnitude = Signal(unsigned(fixed_width(fmt) - 1 + product_lsb - lsb), name=f"{name}_p_fixed")
        m.d.comb += p_magnitude.eq(product << (product_lsb - lsb))

        width = max(len(c_magnitude), len(p_magnitude)) + 2
        total = Signal(signed(width), name=f"{name}_sum")
        m.d.comb += total.eq(Mux(product_sign, -p_magnitude, p_magnitude) +
                             Mux(c.sign, -c_magnitude, c_magnitude))
        negative = total < 0
        magnitude = Signal(unsigned(width - 1), name=f"{name}_magnitude")
        m.d.comb += magnitude.eq(Mux(negative, -total, total))
        code = round_to_float(m, magnitude, lsb, fp16, self._rounding, name)
        zero_sign = product_sign & c.sign                            # (-0) + (-0) = -0

        nan_a, inf_a = element_specials(a, fmt)
        nan_b, inf_b = element_specials(b, fmt)
        c_special = c.exponent == 0x1F
        is_nan = nan_a | nan_b | (c_special & (c.mantissa != 0))
        if fmt.has_inf:
            # a custom format with IEEE specials (the named ones have no Inf): Inf × 0 and
            # Inf - Inf are invalid, an infinite product wins over a finite c
            zero_a, zero_b = classify(a, fmt).zero, classify(b, fmt).zero
            product_inf = (inf_a | inf_b) & ~nan_a & ~nan_b
            is_nan = is_nan | (inf_a & zero_b) | (inf_b & zero_a) | \
                (product_inf & c_special & (c.mantissa == 0) & (c.sign != product_sign))
        with m.If(is_nan):
            m.d.comb += result.as_value().eq(0x7E00)
        if fmt.has_inf:
            with m.Elif(product_inf):
                m.d.comb += [result.sign.eq(product_sign), result.exponent.eq(0x1F), result.mantissa.eq(0)]
        with m.Elif(c_special):
            m.d.comb += result.eq(c)                                 # ±Inf
        with m.Else():
            m.d.comb += [result.sign.eq(Mux(magnitude == 0, zero_sign, negative)),
                         result.as_value()[:15].eq(code)]

    @property
    def rounding(self):
        return self._rounding

    def elaborate(self, platform):
        m = Module()
        result = Signal(self.result.shape())
        for lane in range(self._lanes):
            self._lane(m, self.a[lane], self.b[lane], self.c[lane], result[lane], lane)
        m.d.comb += self.result.eq(delayed(m, result, self._stages, "result_stage"))
        return m
