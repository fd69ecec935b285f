"""INT4 / INT8 dot-product engine: the integer baseline the MX dot engine is compared against.

The same front end as :class:`hdl.DotEngine` (:func:`hdl.dot.operand_loaders`: two packed
loaders fed from one job stream; INT8 elements travel as nibble pairs), the same exact
:func:`hdl.dot.adder_tree`, and :class:`hdl.IntMultiplier` for the products. What an integer
engine does not have is what the comparison measures: no block scales, no scale unit, and a
32-bit integer accumulator (wrapping) instead of the FP32 adder. Scales of a quantized integer
tensor (per tensor or per channel) multiply the integer result outside the engine.

Pipeline: lanes → [multiply + adder tree] → s1 → [acc += sum] → result. One beat of ``lanes``
element pairs per cycle; a job's result is valid two cycles after its last beat.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.integer import check_bits

from golden.params import check_int
from .dot import COUNT_BITS, adder_tree, lane_element, operand_loaders, result_register
from .int_multiplier import IntMultiplier
from .pipeline import UnitParameters


class IntDotEngine(UnitParameters, wiring.Component):
    """Integer dot products with a wrapping 32-bit accumulator.

    Parameters: ``fmt`` (``"int4"`` or ``"int8"``), ``lanes`` (element pairs per cycle: a power
    of two from 8 to 512).

    Ports:
      - ``job``: In stream, ``k``: elements of this dot product (any count; 0 gives 0).
      - ``a_words``, ``b_words``: In streams of ``data`` (``lanes × bits`` wide): the operands'
        linear memory images (``golden.packing.pack`` of the codes; INT8 as two nibbles each,
        low nibble first).
      - ``result``: Out stream, signed 32 bits, one per job.

    Golden function: ``golden.integer.dot(a, b, bits)``.
    """

    def __init__(self, fmt="int4", lanes: int = 32):
        self._bits = check_bits(fmt, "fmt")
        self._lanes = check_int("lanes", lanes, 8, 512, power_of_two=True)
        self._word_bits = lanes * self._bits
        words = stream.Signature(data.StructLayout({"data": unsigned(self._word_bits)}))
        super().__init__({
            "job": In(stream.Signature(data.StructLayout({"k": unsigned(COUNT_BITS)}))),
            "a_words": In(words),
            "b_words": In(words),
            "result": Out(stream.Signature(signed(32))),
        })

    @property
    def word_bits(self) -> int:
        return self._word_bits

    @property
    def bits(self):
        """Element width (4 or 8)."""
        return self._bits

    def elaborate(self, platform):
        m = Module()
        nibbles = self._bits // 4
        la, lb = operand_loaders(m, self.job, self.a_words, self.b_words, (self._word_bits,) * 2, (nibbles,) * 2)

        advance, publish = result_register(m, self.result)

        # stage 0: a beat from both loaders, its products and their exact sum
        beat_a, beat_b = la.lanes.payload, lb.lanes.payload
        take = Signal(name="take_beat")
        m.d.comb += [take.eq(la.lanes.valid & lb.lanes.valid & advance), la.lanes.ready.eq(take),
                     lb.lanes.ready.eq(take)]
        m.submodules.multiplier = mul = IntMultiplier(f"int{self._bits}", lanes=self._lanes)
        for lane in range(self._lanes):
            m.d.comb += [mul.a[lane].eq(lane_element(beat_a, lane, nibbles, self._bits)),
                         mul.b[lane].eq(lane_element(beat_b, lane, nibbles, self._bits))]
        beat_sum = adder_tree([mul.product[lane] for lane in range(self._lanes)])

        # stage 1: registered beat (padding lanes hold code 0, so their products are 0)
        s1_valid = Signal(name="s1_valid")
        s1_sum = Signal(signed(len(beat_sum)), name="s1_sum")
        s1_last = Signal(name="s1_last")
        with m.If(advance):
            m.d.sync += [s1_valid.eq(take), s1_sum.eq(Mux(beat_a.mask == 0, 0, beat_sum)),
                         s1_last.eq(beat_a.last)]

        # stage 2: acc += sum (32-bit, wrapping), from 0 per job
        acc = Signal(signed(32), name="accumulator")
        total = (acc + s1_sum)[:32].as_signed()
        with m.If(advance & s1_valid):
            with m.If(s1_last):
                publish(total)
                m.d.sync += acc.eq(0)
            with m.Else():
                m.d.sync += acc.eq(total)
        return m
