"""FP4 (and any MiniFloat) decoder: element codes to exact FP16 / BF16 / FP32 bit patterns.

The decoder is field arithmetic, not a lookup table: the sign passes through, a normal input
re-biases its exponent (one constant add) and left-aligns its mantissa (wiring), and a subnormal
input is normalized by the shared :func:`hdl.arith.normalize` (a priority encoder and a shifter
of ``mbits`` bits). For E2M1 that is three levels of logic per output bit; the cost of being
generic over formats is nothing but the constant add. A ROM of the same function is the
baseline the synthesis report compares against.

Inputs whose values are subnormal in the output format (E5M2 → FP16) are supported when both
formats share exponent width and bias, in which case the fields map one to one. NaN codes give
the canonical quiet NaN of the output, infinities the output's infinity.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.params import ParameterTypeError, check_int
from golden.formats import FloatFormat

from .arith import classify, normalize
from .layouts import float_layout, lanes_of
from .pipeline import UnitParameters, check_stages, delayed


def check_lanes(lanes, maximum: int = 512) -> int:
    return check_int("lanes", lanes, 1, maximum)


def check_format(fmt) -> FloatFormat:
    if isinstance(fmt, str):
        return golden.element_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ParameterTypeError(f"fmt={fmt!r} must be a golden MiniFloat or a format name")
    if fmt.bits > 8:
        raise ValueError(f"fmt={fmt.name} has {fmt.bits} bits; an element has at most 8")
    return fmt


def is_named_format(fmt) -> bool:
    """Whether ``fmt`` is one of golden's named element formats (E2M1, E1M2, E3M0, E4M3, E5M2),
    by its parameters: each has its own exhaustive proofs and benches."""
    key = (fmt.ebits, fmt.mbits, fmt.bias, fmt.specials, fmt.signed)
    return any(key == (g.ebits, g.mbits, g.bias, g.specials, g.signed)
               for g in golden.formats.ELEMENT_FORMATS.values())


def check_product_format(fmt, unit: str) -> None:
    """Refuse a custom element format in a unit that rounds its products to a float (the
    multiplier's float outputs, the MAC) unless it is in the range proved for custom formats
    (issue 33): at most 4 bits and every product exact in FP16. Exhaustively checked in
    ``verification/test_custom_formats.py`` for every such format and bias; named formats have
    their own proofs. A ``fixed`` product takes every format (its datapath ignores the bias)."""
    if is_named_format(fmt):
        return
    if fmt.bits > 4:
        raise ValueError(f"fmt={fmt.name} (bias {fmt.bias}, {fmt.bits} bits): {unit} takes the named "
                         "formats and custom formats of at most 4 bits (the range proved exhaustively); "
                         "use out='fixed'")
    if not golden.arith.products_exact(fmt, "fp16"):
        raise ValueError(f"fmt={fmt.name} with bias {fmt.bias}: its products ({fmt.min_subnormal:g}**2 to "
                         f"{fmt.max:g}**2) are not all exact in FP16, the range {unit} is proved for "
                         "custom formats; choose a bias that puts them there or use out='fixed'")


class Decoder(UnitParameters, wiring.Component):
    """Decode ``lanes`` element codes of ``fmt`` to ``out`` bit patterns.

    Parameters: ``fmt`` (golden MiniFloat or name such as ``"e2m1"``), ``out`` in {fp16, bf16,
    fp32}, ``lanes`` (1..512), ``stages`` (output register stages, default 0).

    Ports:
      - ``code``: In, ``lanes`` × ``fmt.bits``; lane *i* at bits ``[i*fmt.bits, (i+1)*fmt.bits)``.
      - ``value``: Out, ``lanes`` × {16, 16, 32} bits, each a ``float_layout(out)`` struct.

    Latency: ``stages`` cycles (combinational when 0). Golden function:
    ``fmt.to_ieee(code, out)`` per lane.
    """

    def __init__(self, fmt="e2m1", out: str = "fp16", lanes: int = 1, stages: int = 0):
        self._fmt = check_format(fmt)
        self._out = golden.ieee_format(out)
        self._lanes = check_lanes(lanes)
        self._stages = check_stages(stages)
        if not self._fmt.exact_in(out):
            raise ValueError(f"out={out!r} cannot hold every {self._fmt.name} value exactly")
        same_range = (self._fmt.ebits == self._out.ebits and self._fmt.bias == self._out.bias)
        smallest_exponent = self._fmt.emin - self._fmt.mbits
        if not same_range and smallest_exponent < self._out.emin:
            raise ValueError(f"fmt={self._fmt.name} has values that are subnormal in out={out!r}; "
                             "only formats sharing out's exponent range may do that")
        self._same_range = same_range
        super().__init__({
            "code": In(lanes_of(unsigned(self._fmt.bits), lanes)),
            "value": Out(lanes_of(float_layout(self._out), lanes)),
        })

    @property
    def latency(self) -> int:
        return self._stages

    def _decode_lane(self, m: Module, code, value):
        fmt, out = self._fmt, self._out
        exponent = code[fmt.mbits:fmt.mbits + fmt.ebits]
        mantissa = code[:fmt.mbits]
        widen = out.mbits - fmt.mbits

        if fmt.signed:
            m.d.comb += value.sign.eq(code[fmt.bits - 1])
        with m.If(exponent != 0):
            m.d.comb += [
                value.exponent.eq(exponent + (out.bias - fmt.bias)),
                value.mantissa.eq(mantissa << widen),
            ]
        if fmt.mbits:                   # with no mantissa bits, exponent field 0 is just zero
            with m.Elif(mantissa != 0):
                if self._same_range:
                    m.d.comb += [value.exponent.eq(0), value.mantissa.eq(mantissa << widen)]
                else:
                    shifted, lz = normalize(mantissa, fmt.mbits)
                    # value = 1.f * 2^(emin - 1 - lz), the hidden one being the top bit of `shifted`
                    m.d.comb += [
                        value.exponent.eq(out.bias + fmt.emin - 1 - lz),
                        value.mantissa.eq((shifted << 1)[:fmt.mbits] << widen),
                    ]
        with m.Else():
            m.d.comb += [value.exponent.eq(0), value.mantissa.eq(0)]

        out_top = (1 << out.ebits) - 1
        canonical_nan = 1 << (out.mbits - 1)
        if fmt.specials != "none":
            classes = classify(code, fmt)
            with m.If(classes.nan):
                m.d.comb += [value.sign.eq(0), value.exponent.eq(out_top), value.mantissa.eq(canonical_nan)]
            with m.Elif(classes.inf):
                m.d.comb += [value.exponent.eq(out_top), value.mantissa.eq(0)]

    @property
    def out(self):
        """Output IEEE format."""
        return self._out

    def elaborate(self, platform):
        m = Module()
        decoded = Signal(self.value.shape())
        for lane in range(self._lanes):
            self._decode_lane(m, self.code[lane], decoded[lane])
        m.d.comb += self.value.eq(delayed(m, decoded, self._stages, "value_stage"))
        return m
