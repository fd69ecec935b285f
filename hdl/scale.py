"""Scale unit: applies block scales by exponent arithmetic, so FP4 block sums and FP16/FP32
values meet one FP32 datapath without a multiplier (DESIGN §3.5).

Design choice: an E8M0 scale is a power of two, so scaling is an add to the exponent of the
operand's least significant bit; the exact magnitude then goes once through the shared
normalize-and-round (:func:`hdl.rounding.round_to_float`) with that *variable* LSB exponent.
One rounding, so the result is what golden computes in exact arithmetic: FP32 subnormals where
the scaled value is tiny, ±Inf where it overflows. The NVFP4 form multiplies the two UE4M3
significands (4 × 4 bits) into the sum first (an exact 8-bit factor) and adds their exponents;
the cost is a small multiplier of the sum's width by 8 bits. A NaN scale (E8M0 0xFF, UE4M3
0x7F) or an invalid block gives the canonical NaN 0x7FC00000.
"""

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.arith import fixed_width
from golden.mx import block_format

from .arith import element_fields
from .layouts import float_layout
from .pipeline import Cuts, UnitParameters, check_stages, delayed
from .rounding import round_to_float

MODES = ("block", "value", "mixed")
FP32_NAN = 0x7FC00000

# The cut points in datapath order: after the scaled magnitude and its LSB exponent, after the
# rounder's leading-zero count itself, after its shift distance, after its shift, after its
# rounding increment; the points each ``stages`` setting registers.
CUT_POINTS = ("magnitude", "count", "normalize", "shift", "increment", "round")
STAGE_CUTS = {0: (), 1: ("normalize",), 2: ("magnitude", "shift"), 3: ("magnitude", "normalize", "shift"),
              4: ("magnitude", "count", "normalize", "shift"), 5: ("magnitude", "count", "normalize", "shift", "round"),
              6: ("magnitude", "count", "normalize", "shift", "increment", "round")}


def block_sum_width(fmt) -> int:
    """Bits of a block's exact two's-complement sum of fixed products (MXFP4: 14)."""
    fmt = block_format(fmt)
    return fixed_width(fmt.element) + (fmt.block - 1).bit_length()


def mixed_sum_width(fmt, activation) -> int:
    """Bits of a mixed-mode block's exact sum of element × activation products on the grid of
    the smallest product (MXFP4 × FP16: 2**-25)."""
    fmt = block_format(fmt)
    largest = fmt.element.max * activation.max / (fmt.element.min_subnormal * activation.min_subnormal)
    return (int(largest) * fmt.block).bit_length() + 1


def mixed_lsb(fmt, activation) -> int:
    """log2 of the grid of :func:`mixed_sum_width`."""
    return int(math.log2(block_format(fmt).element.min_subnormal)) + activation.emin - activation.mbits


def scale_factor(m, fmt, code, name: str):
    """``(significand, exponent, is_nan)`` of one scale code: its value is ``significand *
    2**exponent``; E8M0 has significand 1 (a constant), UE4M3 its 4-bit significand."""
    if fmt.is_mx:
        exponent = Signal(signed(10), name=f"{name}_exponent")
        m.d.comb += exponent.eq(code - fmt.scale.bias)
        return None, exponent, code == fmt.scale.nan_code
    _, significand, shift = element_fields(code, fmt.scale)
    exponent = Signal(signed(8), name=f"{name}_exponent")
    m.d.comb += exponent.eq(shift + (fmt.scale.emin - fmt.scale.mbits))
    return significand, exponent, code == fmt.scale.nan_code


class ScaleApply(UnitParameters, wiring.Component):
    """Scale an exact block sum (``mode="block"``) or one float (``mode="value"``) to FP32.

    Parameters: ``fmt`` (block format: ``"mxfp4"``, ``"nvfp4"``, ``"mxfp8_e4m3"``, ...; a
    ``golden.mx.BlockFormat``), ``mode``, ``input`` (``mode="value"`` only: fp16, bf16, fp32),
    ``stages`` (register stages, see below).

    Ports, ``mode="block"``:
      - ``total``: In, signed ``block_sum_width(fmt)`` bits (MXFP4: 14): the block's exact sum of
        ``out="fixed"`` products, in units of ``min_subnormal**2``.
      - ``scale_a``, ``scale_b``: In, ``fmt.scale.bits`` bits (E8M0: 8, UE4M3: 7).
      - ``invalid``: In, 1 bit, only for elements with NaN/Inf (FP8): forces NaN.
      - ``result``: Out, FP32 (``float_layout(FP32)``).

    Ports, ``mode="value"`` (dequantize; MX formats only):
      - ``value``: In, ``float_layout(input)``; ``scale``: In, 8-bit E8M0; ``result``: Out, FP32.

    Ports, ``mode="mixed"`` (MX weights × ``input`` activations, the dot engine's mixed mode):
      - ``total``: In, signed ``mixed_sum_width`` bits: the block's exact sum of products on the
        ``2**mixed_lsb`` grid; ``scale``: In, E8M0; ``special``: In, 2 bits (1: +Inf, 2: −Inf,
        3: NaN: the block's non-finite products as IEEE sums them); ``result``: Out, FP32.

    Pipelining: ``stages`` register stages at the cut points ``STAGE_CUTS[stages]`` (1: after
    the rounder's shift distance; 2: after the scaled magnitude and after the rounder's shift;
    3: those three; 4: and after the leading-zero count itself; 5: and after the rounding
    increment; 6: and before it); a setting past 6 adds output registers. Latency ``stages`` cycles
    (combinational at 0), one result per cycle. Golden function:
    ``golden.mx.block_value(total, scale_a, scale_b, fmt, invalid)`` or
    ``golden.mx.scale_value(value, scale, input)``.
    """

    def __init__(self, fmt="mxfp4", mode: str = "block", input: str = "fp32", stages: int = 0):
        self._fmt = block_format(fmt)
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        self._mode = mode
        self._stages = check_stages(stages)
        fp32 = float_layout(golden.FP32)
        if mode == "block":
            members = {
                "total": In(signed(block_sum_width(self._fmt))),
                "scale_a": In(unsigned(self._fmt.scale.bits)),
                "scale_b": In(unsigned(self._fmt.scale.bits)),
            }
            self._has_invalid = self._fmt.element.specials != "none"
            if self._has_invalid:
                members["invalid"] = In(unsigned(1))
        else:
            if not self._fmt.is_mx:
                raise ValueError(f"mode={mode!r} scales by an E8M0 code; fmt={self._fmt.name} has "
                                 f"{self._fmt.scale.name} scales")
            self._input = golden.ieee_format(input)
            if mode == "value":
                members = {"value": In(float_layout(self._input)), "scale": In(unsigned(8))}
            else:
                members = {"total": In(signed(mixed_sum_width(self._fmt, self._input))), "scale": In(unsigned(8)),
                           "special": In(unsigned(2))}
        members["result"] = Out(fp32)
        super().__init__(members)

    @property
    def latency(self) -> int:
        return self._stages

    def _block(self, m):
        fmt = self._fmt
        sig_a, exp_a, nan_a = scale_factor(m, fmt, self.scale_a, "scale_a")
        sig_b, exp_b, nan_b = scale_factor(m, fmt, self.scale_b, "scale_b")
        total = self.total
        negative = total < 0
        magnitude = Signal(unsigned(len(total)), name="magnitude")
        m.d.comb += magnitude.eq(Mux(negative, -total, total))
        if sig_a is not None:
            product = Signal(unsigned(len(total) + 8), name="scaled_magnitude")
            m.d.comb += product.eq(magnitude * sig_a * sig_b)
            magnitude = product
            negative = negative & (product != 0)     # an exact zero (a zero scale) is +0
        unit = 2 * round(math.log2(fmt.element.min_subnormal))      # E2M1: -2
        lsb = Signal(signed(12), name="lsb_exponent")
        m.d.comb += lsb.eq(exp_a + exp_b + unit)
        is_nan = nan_a | nan_b
        if self._has_invalid:
            is_nan = is_nan | self.invalid
        return negative, magnitude, lsb, is_nan, Const(0, 1)

    def _value(self, m):
        source, x = self._input, self.value
        top = (1 << source.ebits) - 1
        special = x.exponent == top
        significand = Cat(x.mantissa, x.exponent != 0)
        lsb = Signal(signed(12), name="lsb_exponent")
        m.d.comb += lsb.eq(Mux(x.exponent == 0, 1, x.exponent) - source.bias - source.mbits +
                           self.scale - golden.E8M0.bias)
        magnitude = Signal(unsigned(len(significand)), name="magnitude")
        m.d.comb += magnitude.eq(Mux(special, 0, significand))
        is_nan = (self.scale == golden.E8M0.nan_code) | (special & (x.mantissa != 0))
        is_inf = special & (x.mantissa == 0)
        return x.sign, magnitude, lsb, is_nan, is_inf

    def _mixed(self, m):
        total = self.total
        negative = Signal(name="negative")
        m.d.comb += negative.eq(Mux(self.special[:2] == 2, 1, Mux(self.special == 1, 0, total < 0)))
        magnitude = Signal(unsigned(len(total)), name="magnitude")
        m.d.comb += magnitude.eq(Mux(total < 0, -total, total))
        lsb = Signal(signed(12), name="lsb_exponent")
        m.d.comb += lsb.eq(self.scale - golden.E8M0.bias + mixed_lsb(self._fmt, self._input))
        is_nan = (self.scale == golden.E8M0.nan_code) | (self.special == 3)
        return negative, magnitude, lsb, is_nan, (self.special == 1) | (self.special == 2)

    @property
    def mode(self):
        return self._mode

    @property
    def input(self):
        """Value format of value/mixed mode (None in block mode)."""
        return getattr(self, '_input', None)

    def elaborate(self, platform):
        m = Module()
        fp32 = golden.FP32
        unit = {"block": self._block, "value": self._value, "mixed": self._mixed}[self._mode]
        negative, magnitude, lsb, is_nan, is_inf = unit(m)
        chosen = STAGE_CUTS[min(self._stages, max(STAGE_CUTS))]
        cuts = Cuts(m, CUT_POINTS, chosen, name="cut")
        carried = [cuts.carry(v) for v in (negative, is_nan, is_inf)]
        magnitude, lsb = cuts.cut("magnitude", magnitude, lsb)
        code = round_to_float(m, magnitude, lsb, fp32, "rne", "result", cuts=cuts)
        negative, is_nan, is_inf = (cuts.get(h) for h in carried)
        result = Signal(32)
        with m.If(is_nan):
            m.d.comb += result.eq(FP32_NAN)
        with m.Elif(is_inf):
            m.d.comb += result.eq(Cat(Const(fp32.inf_code, 31), negative))
        with m.Else():
            m.d.comb += result.eq(Cat(code, negative))
        m.d.comb += self.result.eq(delayed(m, result, self._stages - cuts.latency, "result_stage"))
        return m
