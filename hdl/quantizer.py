"""Streaming block quantizer: FP32 / BF16 / FP16 values in, one block's element codes and its
scale out (DESIGN §3.4; golden: ``golden.mx.quantize``).

Design choice: a block's scale depends on all its elements, so the unit collects a block
before it encodes anything. Beats enter a shift register while a running maximum of their
magnitudes (a compare-and-select tree per beat, :func:`hdl.arith.max_tree`) tracks the block's
amax; the last beat moves the whole block and its amax into the encode stage in one cycle, so
the next block is collected while this one is encoded and the input takes one beat per cycle.
The encode stage derives the shared exponent from the registered amax (its exponent field and
a few mantissa bits, per ``scale_mode``) and encodes all ``block`` elements at once, each by
the shared rounder (:func:`hdl.rounding.round_to_float`) with the element's LSB exponent
lowered by the shared exponent: scaling is an exponent subtraction, never a multiplication.
The cost is one encoder per element of the block (32 for MXFP4) whatever ``lanes`` is, and two
block-sized registers (collect + encode); a narrower design would encode ``lanes`` elements per
cycle from the encode register at the price of a sequencer.

NVFP4 (one level, no per-tensor scale) follows torchao's float32 recipe bit for bit: the block
scale is ``fp32(amax / 6)`` (an exact division by 3 via a constant multiplication, then one
rounding), clamped to [2**-6, 448] and rounded to UE4M3; elements are ``fp32(x * fp32(1 /
scale))`` (a 128-entry reciprocal table computed from the scale codes, a 24 × 24-bit multiplier
and a rounding per element), then encoded saturating: two roundings, as in golden.

Stochastic rounding takes ``sr_bits`` bits per element from ``golden.lfsr``'s sequence in
stream order (:func:`hdl.lfsr.lfsr_block`), advanced once per emitted block.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.params import check_int
from golden.lfsr import DEFAULT_SEED, check_seed
from golden.mx import SCALE_MODES, UE4M3_EPS, block_format, nvfp4_reciprocal_table

from .arith import element_fields, max_tree, normalize
from .layouts import float_layout, lanes_of
from .lfsr import lfsr_block
from .rounding import ROUNDINGS, check_rounding, round_to_float
from .pipeline import UnitParameters

INPUTS = ("fp32", "bf16", "fp16")


def magnitude_format(fmt) -> golden.FloatFormat:
    """``fmt`` without its sign bit: the fields of a magnitude code, for element_fields."""
    return golden.FloatFormat(fmt.ebits, fmt.mbits, fmt.bias, specials=fmt.specials, signed=False,
                              name=f"|{fmt.name}|")


def output_layout(fmt) -> data.StructLayout:
    """One block: ``codes`` (``block`` element codes, element *i* at bits ``[i*b, (i+1)*b)``,
    the linear memory layout) and its ``scale`` code."""
    fmt = block_format(fmt)
    return data.StructLayout({"codes": lanes_of(unsigned(fmt.element.bits), fmt.block),
                              "scale": unsigned(fmt.scale.bits)})


class Quantizer(UnitParameters, wiring.Component):
    """Block-quantize a stream of floats: ``block / lanes`` input beats make one output beat.

    Parameters: ``fmt`` (``"mxfp4"`` default, ``"nvfp4"`` (one level), ``"mxfp8_e4m3"``, ...),
    ``input`` in {fp32, bf16, fp16}, ``lanes`` (values per input beat: a power of two dividing
    the block; default the block size), ``scale_mode`` (MX: floor, ceil, even, rceil),
    ``rounding`` in {rne, rtz, stochastic}, ``sr_bits`` (random bits per element, 1..16),
    ``seed`` (the LFSR's reset state).

    Ports:
      - ``i``: In, ``stream.Signature(lanes × float_layout(input))``: value *k* of a beat is the
        element ``beat * lanes + k`` of the current block; blocks follow each other with no
        framing (every ``block / lanes`` beats close a block).
      - ``o``: Out, ``stream.Signature(output_layout(fmt))``: the block's codes and scale.

    Throughput: one input beat per cycle while ``o`` is not stalled. Latency: a block's output
    is valid the cycle after its last beat is accepted. Golden function:
    ``golden.mx.quantize(x, fmt, scale_mode=..., rounding=..., rbits=golden.lfsr.lfsr_rbits(
    x.size, sr_bits, seed))`` on the blocks in stream order; a block holding NaN or ±Inf gets
    the NaN scale (0xFF, NVFP4 0x7F) and +0 codes.
    """

    def __init__(self, fmt="mxfp4", input: str = "fp32", lanes: int | None = None,
                 scale_mode: str | None = None, rounding: str = "rne", sr_bits: int = 8,
                 seed: int = DEFAULT_SEED):
        self._fmt = block_format(fmt)
        if input not in INPUTS:
            raise ValueError(f"input={input!r} is not one of {', '.join(INPUTS)}")
        self._input = golden.ieee_format(input)
        element = self._fmt.element
        if not element.signed or element.mbits >= self._input.mbits:
            raise ValueError(f"fmt={self._fmt.name}: elements must be signed and narrower than {input}")
        block = self._fmt.block
        lanes = block if lanes is None else lanes
        self._lanes = check_int("lanes", lanes, 1, block, power_of_two=True, divides=block)
        if self._fmt.is_mx:
            scale_mode = "floor" if scale_mode is None else scale_mode
            if scale_mode not in SCALE_MODES:
                raise ValueError(f"scale_mode={scale_mode!r} is not one of {', '.join(SCALE_MODES)}")
        else:
            if scale_mode is not None:
                raise ValueError(f"scale_mode applies to MX formats; {self._fmt.name} scales by amax / {element.max:g}")
            if element.max != 6.0:
                raise ValueError(f"fmt={self._fmt.name}: the NVFP4 recipe (amax / 6) needs E2M1 elements")
        self._scale_mode = scale_mode
        self._rounding = check_rounding(rounding, ROUNDINGS)
        self._sr_bits = check_int("sr_bits", sr_bits, 1, 16)
        self._seed = check_seed(seed)
        super().__init__({
            "i": In(stream.Signature(lanes_of(float_layout(self._input), lanes))),
            "o": Out(stream.Signature(output_layout(self._fmt))),
        })

    @property
    def beats(self) -> int:
        """Input beats per block."""
        return self._fmt.block // self._lanes

    # --- shared exponent and scale (from the registered block amax) ----------------------------
    def _amax_parts(self, m, amax):
        """``(log2_floor, fraction)`` of a non-zero magnitude in the input format: its leading
        one's exponent and the ``mbits`` bits below that one."""
        src = self._input
        exponent = amax[src.mbits:]
        significand = Cat(amax[:src.mbits], exponent != 0)
        normalized, lz = normalize(significand)
        log2_floor = Signal(signed(10), name="amax_log2")
        m.d.comb += log2_floor.eq(Mux(exponent == 0, 1, exponent) - src.bias - lz)
        return log2_floor, normalized[:src.mbits]

    def _mx_scale(self, m, amax, special):
        """``(shared exponent, scale code, NaN scale)`` per ``scale_mode`` (golden.mx.shared_exponent)."""
        src, element = self._input, self._fmt.element
        emax = self._fmt.emax_elem
        log2_floor, fraction = self._amax_parts(m, amax)
        exponent = Signal(signed(11), name="unclamped_exponent")
        mode = self._scale_mode
        if mode == "floor":
            step = Const(0, 1)
        elif mode == "ceil":
            step = fraction != 0
        elif mode == "even":
            drop = src.mbits - element.mbits
            kept = fraction[drop:]
            rest = fraction[:drop]
            half = 1 << (drop - 1)
            odd = kept[0] if element.mbits else Const(0, 1)      # golden: parity of the kept bits
            up = (rest > half) | ((rest == half) & odd)
            step = ((kept + up) >> element.mbits)[0] if element.mbits else up
        else:                                                     # rceil: amax / 2**floor > max
            max_fraction = round((element.max / 2.0 ** emax - 1) * (1 << src.mbits))
            step = fraction > max_fraction
        m.d.comb += exponent.eq(log2_floor - emax + step)
        shared = Signal(signed(9), name="shared_exponent")
        m.d.comb += shared.eq(Mux((amax == 0) | (exponent < -127), -127, exponent))
        nan_scale = special | ((amax != 0) & (exponent > 127))
        scale = Mux(nan_scale, golden.E8M0.nan_code, (shared + golden.E8M0.bias)[:8])
        return shared, scale, nan_scale

    def _nv_scale(self, m, amax, special):
        """``(scale code, reciprocal magnitude code)``: UE4M3 of clamp(fp32(amax / 6)) and
        fp32(1 / scale) from a table (torchao's nvfp4_quantize, one level)."""
        src, fp32, ue4m3 = self._input, golden.FP32, golden.UE4M3
        _, significand, shift = element_fields(amax, magnitude_format(src))
        lsb = shift + (src.emin - src.mbits)                 # amax = significand * 2**lsb
        # fp32(amax / max) with max = 6 = 3 * 2: floor(N / 3) by a constant multiplication
        # (exact for N < 2**n with n + 2 fraction bits, Granlund-Montgomery), whether the
        # remainder is non-zero as a sticky bit below the quotient, then the shared rounder.
        extra = 26
        dividend = Signal(len(significand) + extra, name="amax_dividend")
        m.d.comb += dividend.eq(significand << extra)
        s = len(dividend) + 2
        reciprocal = -(-(1 << s) // 3)
        product = Signal(len(dividend) + s, name="amax_third_product")
        m.d.comb += product.eq(dividend * reciprocal)
        quotient = product[s:]
        # N = 3q + r gives N * M = q * 2**s + (q * (3M - 2**s) + r * M): the fraction is below
        # M exactly when r = 0, so the low bits of the same product are the sticky bit
        sticky = product[:s] >= reciprocal
        third = Cat(sticky, quotient)
        block_scale = round_to_float(m, third, lsb - extra - 1 - 1, fp32, "rne", "block_scale")
        lo, hi = (int(fp32.encode(v, "rne")) for v in (UE4M3_EPS, ue4m3.max))
        clamped = Signal(31, name="block_scale_clamped")
        m.d.comb += clamped.eq(Mux(block_scale < lo, lo, Mux(block_scale > hi, hi, block_scale)))
        _, c_significand, c_shift = element_fields(clamped, magnitude_format(fp32))
        code = round_to_float(m, c_significand, c_shift + (fp32.emin - fp32.mbits), ue4m3, "rne",
                              "scale_code", saturate=True)
        scale = Mux(special, ue4m3.nan_code, code)
        # fp32(1 / scale) per code, in golden's float32 order; codes below the clamp never occur.
        # An indexed constant array, not a switch: Yosys writes a switch as a case function that
        # Icarus Verilog 11 cannot elaborate.
        table = nvfp4_reciprocal_table()
        reciprocal_code = Signal(31, name="reciprocal")
        m.d.comb += reciprocal_code.eq(Array(Const(v, 31) for v in table)[code])
        return scale, reciprocal_code

    # --- the unit ------------------------------------------------------------------------------
    def _encode(self, m, significand, lsb, sign, random, name):
        element = self._fmt.element
        code = round_to_float(m, significand, lsb, element, self._rounding, name, saturate=True,
                              random=random, sr_bits=self._sr_bits)
        return Cat(code, sign)

    @property
    def input(self):
        """Input IEEE format."""
        return getattr(self, '_input', None)

    @property
    def scale_mode(self):
        return self._scale_mode

    @property
    def rounding(self):
        return self._rounding

    @property
    def sr_bits(self):
        return self._sr_bits

    @property
    def seed(self):
        """LFSR seed."""
        return self._seed

    def elaborate(self, platform):
        m = Module()
        src, fmt = self._input, self._fmt
        lanes, beats, block = self._lanes, self.beats, fmt.block
        magnitude_bits = src.bits - 1
        top = (1 << src.ebits) - 1

        # collect: one beat per cycle into a shift register, with the running amax
        beat = self.i.payload
        beat_amax = max_tree([beat[k].as_value()[:magnitude_bits] for k in range(lanes)])
        beat_special = Cat(*(beat[k].exponent == top for k in range(lanes))).any()
        count = Signal(range(beats), name="beat_count")
        running_amax = Signal(magnitude_bits, name="running_amax")
        running_special = Signal(name="running_special")
        first = count == 0
        block_amax = Mux(first, beat_amax, max_tree([running_amax, beat_amax]))
        block_special = beat_special | (running_special & ~first)
        last = count == beats - 1
        collected = Signal(lanes * (beats - 1) * src.bits, name="collected") if beats > 1 else None

        # encode stage registers
        held = Signal(lanes_of(float_layout(src), block), name="held")
        held_amax = Signal(magnitude_bits, name="held_amax")
        held_special = Signal(name="held_special")
        held_valid = Signal(name="held_valid")

        m.d.comb += [self.i.ready.eq(~last | ~held_valid | self.o.ready), self.o.valid.eq(held_valid)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += held_valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.If(last):
                whole = beat.as_value() if collected is None else Cat(collected, beat.as_value())
                m.d.sync += [held.eq(whole), held_amax.eq(block_amax), held_special.eq(block_special),
                             held_valid.eq(1), count.eq(0)]
            if collected is not None:
                with m.Else():
                    shifted = beat.as_value() if beats == 2 else Cat(collected[lanes * src.bits:], beat.as_value())
                    m.d.sync += [collected.eq(shifted), running_amax.eq(block_amax),
                                 running_special.eq(block_special), count.eq(count + 1)]

        random = None
        if self._rounding == "stochastic":
            random = lfsr_block(m, block * self._sr_bits, self._seed, self.o.valid & self.o.ready)

        codes = self.o.payload.codes
        if fmt.is_mx:
            shared, scale, nan_scale = self._mx_scale(m, held_amax, held_special)
        else:
            scale, reciprocal = self._nv_scale(m, held_amax, held_special)
            nan_scale = held_special
            _, r_significand, r_shift = element_fields(reciprocal, magnitude_format(golden.FP32))
            r_lsb = r_shift + (golden.FP32.emin - golden.FP32.mbits)
        m.d.comb += self.o.payload.scale.eq(scale)
        for j in range(block):
            x = held[j].as_value()
            sign, significand, shift = element_fields(x, src)
            lsb = shift + (src.emin - src.mbits)
            bits = None if random is None else random[j * self._sr_bits:(j + 1) * self._sr_bits]
            if fmt.is_mx:
                code = self._encode(m, significand, lsb - shared, sign, bits, f"element{j}")
            else:
                product = Signal(len(significand) + len(r_significand), name=f"element{j}_product")
                m.d.comb += product.eq(significand * r_significand)
                scaled = round_to_float(m, product, lsb + r_lsb, golden.FP32, "rne", f"element{j}_scaled")
                _, p_significand, p_shift = element_fields(scaled, magnitude_format(golden.FP32))
                code = self._encode(m, p_significand, p_shift + (golden.FP32.emin - golden.FP32.mbits),
                                    sign, bits, f"element{j}")
            m.d.comb += codes[j].eq(Mux(nan_scale, 0, code))
        return m

