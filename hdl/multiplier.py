"""Exact element multiplier: two element codes in, their exact product out.

The product is formed the way the golden model defines it: each operand is split by
:func:`hdl.arith.element_fields` into a significand with its hidden bit and a shift, so
``|a*b| / min_subnormal**2 = (sig_a * sig_b) << (shift_a + shift_b)``. For E2M1 that is a 2x2-bit
multiplier, a 2-bit adder and a 4-position shifter, then a conditional negation: no lookup
table, and the synthesis report compares it against the ROM of the same function.

``out="fixed"`` gives that integer in two's complement (E2M1: ``4ab`` in 9 bits), the form the
dot engine sums exactly. ``out`` in {fp16, bf16, fp32} passes the same exact magnitude through
the shared rounder (:mod:`hdl.rounding`): exact for every FP4 pair, rounded to nearest even for
FP8 products that do not fit.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.arith import PRODUCT_FORMS, fixed_width

from .arith import element_fields, element_specials
from .decoder import check_format, check_lanes, check_product_format
from .layouts import float_layout, lanes_of
from .pipeline import Cuts, UnitParameters, check_stages, delayed
from .rounding import round_to_float


# The fixed-point product's cut points in datapath order: after the operands' fields (sign,
# significand, shift), after the significand product and the shift sum; the points each
# ``stages`` setting registers (its first stage is always the output register).
CUT_POINTS = ("fields", "significand")
STAGE_CUTS = {0: (), 1: (), 2: ("significand",), 3: ("fields", "significand")}


def _product_parts(m: Module, a, b, fmt, name: str, cuts=None):
    sign_a, sig_a, shift_a = element_fields(a, fmt)
    sign_b, sig_b, shift_b = element_fields(b, fmt)
    if cuts is not None:
        sign_a, sig_a, shift_a, sign_b, sig_b, shift_b = cuts.cut("fields", sign_a, sig_a, shift_a,
                                                                  sign_b, sig_b, shift_b)
    significand = Signal(2 * (fmt.mbits + 1), name=f"{name}_significand")
    shift = Signal(fmt.ebits + 1, name=f"{name}_shift")
    m.d.comb += [significand.eq(sig_a * sig_b), shift.eq(shift_a + shift_b)]
    sign = sign_a ^ sign_b
    if cuts is not None:
        sign, significand, shift = cuts.cut("significand", sign, significand, shift)
    return sign, significand, shift


def exact_product(m: Module, a, b, fmt, name: str = "product"):
    """``(sign, magnitude)`` of ``a*b`` with the magnitude in units of ``min_subnormal**2``."""
    sign, significand, shift = _product_parts(m, a, b, fmt, name)
    magnitude = Signal(unsigned(fixed_width(fmt) - 1), name=f"{name}_magnitude")
    m.d.comb += magnitude.eq(significand << shift)
    return sign, magnitude


def mixed_product(m: Module, a, fmt_a, b, fmt_b, name: str = "product"):
    """An element of ``fmt_a`` times an FP16/BF16 value: ``(signed fixed product, nan, inf)``.

    The fixed product is exact in units of ``fmt_a.min_subnormal * fmt_b.min_subnormal`` (as
    the mixed-mode block sum needs it) and 0 for non-finite products; ``nan`` is a NaN operand or
    Inf × 0, ``inf`` an infinite product (its sign is the product's sign)."""
    sign_a, sig_a, shift_a = element_fields(a, fmt_a)
    sign_b, sig_b, shift_b = element_fields(b, fmt_b)
    nan_a, inf_a = element_specials(a, fmt_a)
    nan_b, inf_b = element_specials(b, fmt_b)
    zero_a = sig_a == 0
    zero_b = (sig_b == 0) & ~inf_b & ~nan_b
    magnitude = Signal(unsigned(len(sig_a) + len(sig_b) + (1 << len(shift_a)) + (1 << len(shift_b))),
                       name=f"{name}_magnitude")
    m.d.comb += magnitude.eq((sig_a * sig_b) << (shift_a + shift_b))
    sign = sign_a ^ sign_b
    finite = ~(nan_a | nan_b | inf_a | inf_b)
    value = Signal(signed(len(magnitude) + 1), name=f"{name}_fixed")
    m.d.comb += value.eq(Mux(finite, Mux(sign, -magnitude, magnitude), 0))
    nan = nan_a | nan_b | (inf_b & zero_a) | (inf_a & zero_b)
    inf = (inf_a | inf_b) & ~nan
    return value, nan, inf, sign


def fixed_product(m: Module, a, b, fmt, name: str = "product", cuts=None):
    """``a*b / min_subnormal**2`` in two's complement (``fixed_width(fmt)`` bits), after
    ``cuts.latency`` cycles when ``cuts`` (a :class:`hdl.pipeline.Cuts` over ``CUT_POINTS``)
    registers some of its cut points.

    The sign is applied to the small significand product before the shift, as ones' complement
    plus the sign (``(p ^ s) + s``), so the negation costs a few gates on ``2*(mbits+1)`` bits
    instead of an incrementer across the whole shifted word (E2M1: 82 unit gates against 87
    for negating the shifted magnitude, in the issue's abc flow).
    """
    sign, significand, shift = _product_parts(m, a, b, fmt, name, cuts)
    ones = Cat(significand ^ sign.replicate(len(significand)), sign).as_signed()
    signed_significand = Signal(signed(len(significand) + 1), name=f"{name}_signed")
    m.d.comb += signed_significand.eq(ones + sign)
    value = Signal(signed(fixed_width(fmt)), name=f"{name}_fixed")
    m.d.comb += value.eq(signed_significand << shift)
    return value


def canonical_bias(fmt):
    """``fmt`` with the default bias ``2**(ebits-1) - 1``: the same codes, fields and fixed
    products (which are in units of ``min_subnormal**2`` and so ignore the bias)."""
    return golden.MiniFloat(fmt.ebits, fmt.mbits, specials=fmt.specials, signed=fmt.signed)


class Multiplier(UnitParameters, wiring.Component):
    """Exact product of ``lanes`` pairs of element codes.

    Parameters: ``fmt`` (element format, e.g. ``"e2m1"``; FP8 ``e4m3``/``e5m2`` too), ``out`` in
    {fixed, fp16, bf16, fp32}, ``lanes``, ``stages`` (register stages, see below). ``fixed`` takes
    every MiniFloat (its datapath does not read the bias); the float outputs take the named
    formats and custom formats of at most 4 bits whose products are all exact in FP16
    (:func:`hdl.decoder.check_product_format`: the range proved exhaustively), else ValueError.

    Ports:
      - ``a``, ``b``: In, ``lanes`` × ``fmt.bits`` codes.
      - ``product``: Out, ``lanes`` × (``fixed``: signed ``golden.arith.fixed_width(fmt)`` bits,
        E2M1: 9; floats: a ``float_layout`` struct of 16/32 bits).
      - ``invalid``: Out, ``lanes`` × 1, only for ``out="fixed"`` with FP8 formats: an operand is
        NaN or Inf, which has no fixed-point product (the product then reads 0).

    Pipelining: the first of ``stages`` is an output register (after the products); with
    ``out="fixed"`` a second cuts after the significand product (``STAGE_CUTS``: worth it for
    the FP8 formats' 4×4-bit product and wide shift) and a third after the operands' fields;
    any further stage is another output register. Latency ``stages`` cycles, one product per
    cycle. Golden function: ``golden.arith.mul(a, b, fmt, out)`` per lane.
    """

    def __init__(self, fmt="e2m1", out: str = "fixed", lanes: int = 1, stages: int = 0):
        self._fmt = check_format(fmt)
        if out not in PRODUCT_FORMS:
            raise ValueError(f"out={out!r} is not one of {', '.join(PRODUCT_FORMS)}")
        self._out = out
        if out != "fixed":
            check_product_format(self._fmt, f"Multiplier(out={out!r})")
        self._lanes = check_lanes(lanes)
        self._stages = check_stages(stages)
        if out == "fixed":
            shape = signed(fixed_width(self._fmt))
        else:
            shape = float_layout(golden.ieee_format(out))
        members = {
            "a": In(lanes_of(unsigned(self._fmt.bits), lanes)),
            "b": In(lanes_of(unsigned(self._fmt.bits), lanes)),
            "product": Out(lanes_of(shape, lanes)),
        }
        self._flags_invalid = out == "fixed" and self._fmt.specials != "none"
        if self._flags_invalid:
            members["invalid"] = Out(lanes_of(unsigned(1), lanes))
        super().__init__(members)

    @property
    def latency(self) -> int:
        return self._stages

    def _cuts(self):
        """The cut points registered inside the datapath (fixed products only)."""
        return STAGE_CUTS[min(self._stages, max(STAGE_CUTS))] if self._out == "fixed" else ()

    def _lane(self, m, a, b, product, lane):
        fmt = self._fmt
        nan_a, inf_a = element_specials(a, fmt)
        nan_b, inf_b = element_specials(b, fmt)
        if self._out == "fixed":
            cuts = Cuts(m, CUT_POINTS, self._cuts(), name=f"lane{lane}_cut")
            invalid = cuts.carry(nan_a | nan_b | inf_a | inf_b)
            # built from the format's shape at its default bias: the fixed product does not
            # depend on the bias (golden.arith), so neither does this datapath, by construction
            value = fixed_product(m, a, b, canonical_bias(fmt), f"lane{lane}", cuts)
            invalid = cuts.get(invalid)
            if self._flags_invalid:
                value = Mux(invalid, 0, value)
            m.d.comb += product.eq(value)
            return invalid
        sign, magnitude = exact_product(m, a, b, fmt, f"lane{lane}")
        target = golden.ieee_format(self._out)
        lsb = 2 * (fmt.emin - fmt.mbits)                  # log2(min_subnormal**2)
        code = round_to_float(m, magnitude, lsb, target, "rne", f"lane{lane}")
        zero_a = a[:fmt.bits - 1] == 0 if fmt.signed else a == 0
        zero_b = b[:fmt.bits - 1] == 0 if fmt.signed else b == 0
        is_nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
        is_inf = inf_a | inf_b
        top = (1 << target.ebits) - 1
        with m.If(is_nan):
            m.d.comb += [product.sign.eq(0), product.exponent.eq(top),
                         product.mantissa.eq(1 << (target.mbits - 1))]
        with m.Elif(is_inf):
            m.d.comb += [product.sign.eq(sign), product.exponent.eq(top), product.mantissa.eq(0)]
        with m.Else():
            m.d.comb += [product.sign.eq(sign), product.as_value()[:target.bits - 1].eq(code)]
        return None

    @property
    def out(self):
        """Product form: fixed, fp16, bf16 or fp32."""
        return self._out

    def elaborate(self, platform):
        m = Module()
        result = Signal(self.product.shape())
        invalid = Signal(self._lanes)
        for lane in range(self._lanes):
            flag = self._lane(m, self.a[lane], self.b[lane], result[lane], lane)
            if self._flags_invalid:
                m.d.comb += invalid[lane].eq(flag)
        outputs = self._stages - len(self._cuts())
        m.d.comb += self.product.eq(delayed(m, result, outputs, "product_stage"))
        if self._flags_invalid:
            m.d.comb += self.invalid.eq(delayed(m, invalid, outputs, "invalid_stage"))
        return m
