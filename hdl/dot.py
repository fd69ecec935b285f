"""MX dot-product engine: packed A and B words and their block scales in, one FP32 dot product
per job out, bit-exact with ``golden.mx.dot`` (DESIGN §3.5).

Composed of the earlier units, no arithmetic written twice: two :class:`hdl.PackedLoader`
(memory words → element lanes; FP8 elements travel as nibble pairs), :class:`hdl.Multiplier`
with ``out="fixed"`` (exact products), an exact adder tree (a block's sum fits
``block_sum_width`` bits: 14 for MXFP4), :class:`hdl.ScaleApply` (exponent add and one RNE
rounding to FP32) and :func:`hdl.fpadd.fp32_add` for the block-order accumulation.

Pipeline (one register stage each, all advancing together; the whole pipeline holds while a
finished result waits on a stalled ``result`` stream)::

    lanes → [multiply + adder tree] → s1 → [block sum over block/lanes beats] → s2
          → [ScaleApply] → s3 → [acc = fp32(acc + block)] → result

Initiation interval 1: one beat of ``lanes`` element pairs per cycle, so one block per cycle
when ``lanes`` equals the block size (and one per ``block/lanes`` cycles otherwise). Latency:
a job's result is valid four cycles after its last beat leaves the loaders. The accumulation is
a loop (block order is the contract), so the FP32 adder is the one stage that cannot be cut;
its depth is what the synthesis report's ``depth`` shows.
"""

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.mx import block_format

from .fpadd import fp32_add
from .layouts import float_layout
from .loader import PackedLoader
from .multiplier import Multiplier
from .scale import ScaleApply, block_sum_width

COUNT_BITS = 24


def adder_tree(values: list):
    """The exact sum of signed values: a balanced tree, each level one bit wider."""
    while len(values) > 1:
        pairs = [a + b for a, b in zip(values[0::2], values[1::2])]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return values[0]


class DotEngine(wiring.Component):
    """Bit-exact block-scaled dot products (see the module docstring for the pipeline).

    Parameters: ``fmt`` (``"mxfp4"``, ``"nvfp4"``, ``"mxfp8_e4m3"``, ``"mxfp8_e5m2"`` or a
    ``golden.mx.BlockFormat``), ``lanes`` (element pairs per cycle: a power of two from 8 to the
    block size).

    Ports:
      - ``job``: In stream, ``k``: elements of this dot product (a multiple of the block size; 0
        gives +0).
      - ``a_words``, ``b_words``: In streams of ``data`` (``lanes × element bits`` wide: MXFP4
        lanes 32 → 128-bit words): the operands' linear memory images.
      - ``scale_a``, ``scale_b``: In streams, one scale code per block, in block order.
      - ``result``: Out stream, FP32 (``float_layout(FP32)``), one per job.

    Golden function: ``golden.mx.dot(qa, qb)`` (without NVFP4 per-tensor scales, which multiply
    the FP32 result afterwards); NaN results are 0x7FC00000.
    """

    def __init__(self, fmt="mxfp4", lanes: int = 32):
        self._fmt = block_format(fmt)
        block = self._fmt.block
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 8 or lanes & (lanes - 1) or lanes > block:
            raise ValueError(f"lanes={lanes!r} must be a power of two from 8 to the block size {block}")
        self._lanes = lanes
        self._element_bits = self._fmt.element.bits
        if self._element_bits not in (4, 8):
            raise ValueError(f"fmt={self._fmt.name}: elements must be 4 or 8 bits")
        self._word_bits = lanes * self._element_bits
        self._nibbles = self._element_bits // 4
        scale = unsigned(self._fmt.scale.bits)
        word = data.StructLayout({"data": unsigned(self._word_bits)})
        super().__init__({
            "job": In(stream.Signature(data.StructLayout({"k": unsigned(COUNT_BITS)}))),
            "a_words": In(stream.Signature(word)),
            "b_words": In(stream.Signature(word)),
            "scale_a": In(stream.Signature(scale)),
            "scale_b": In(stream.Signature(scale)),
            "result": Out(stream.Signature(float_layout(golden.FP32))),
        })

    @property
    def word_bits(self) -> int:
        return self._word_bits

    def elaborate(self, platform):
        m = Module()
        fmt, lanes = self._fmt, self._lanes
        loaders = []
        for name, words in (("a", self.a_words), ("b", self.b_words)):
            loader = PackedLoader(self._word_bits, count_bits=COUNT_BITS + 1)
            m.submodules[f"loader_{name}"] = loader
            wiring.connect(m, wiring.flipped(words), loader.words)
            loaders.append(loader)
        la, lb = loaders

        # jobs: latched once, handed to each loader when it takes it
        pending = Signal(2, name="job_pending")
        k = Signal(COUNT_BITS, name="job_k")
        m.d.comb += self.job.ready.eq(pending == 0)
        for i, loader in enumerate(loaders):
            m.d.comb += [loader.job.valid.eq(pending[i]), loader.job.payload.count.eq(k * self._nibbles)]
            with m.If(loader.job.valid & loader.job.ready):
                m.d.sync += pending[i].eq(0)
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [k.eq(self.job.payload.k), pending.eq(0b11)]

        # the pipeline advances unless a finished result waits
        result_valid = Signal(name="result_valid")
        result_data = Signal(32, name="result_data")
        advance = Signal(name="advance")
        m.d.comb += [advance.eq(~result_valid | self.result.ready), self.result.valid.eq(result_valid),
                     self.result.payload.as_value().eq(result_data)]
        with m.If(self.result.valid & self.result.ready):
            m.d.sync += result_valid.eq(0)

        # stage 0: a beat from both loaders, its products and their exact sum
        beats_per_block = fmt.block // lanes
        position = Signal(range(beats_per_block), name="beat_in_block")
        beat_a, beat_b = la.lanes.payload, lb.lanes.payload
        both = la.lanes.valid & lb.lanes.valid
        empty = beat_a.mask == 0
        block_end = ~empty & (position == beats_per_block - 1)
        scales_ok = ~block_end | (self.scale_a.valid & self.scale_b.valid)
        take = Signal(name="take_beat")
        m.d.comb += [take.eq(both & scales_ok & advance), la.lanes.ready.eq(take), lb.lanes.ready.eq(take),
                     self.scale_a.ready.eq(take & block_end), self.scale_b.ready.eq(take & block_end)]
        m.submodules.multiplier = mul = Multiplier(fmt.element, out="fixed", lanes=lanes)
        n = self._nibbles
        for lane in range(lanes):
            m.d.comb += [mul.a[lane].eq(Cat(*(beat_a.codes[lane * n + j] for j in range(n)))),
                         mul.b[lane].eq(Cat(*(beat_b.codes[lane * n + j] for j in range(n))))]
        width = block_sum_width(fmt)
        beat_sum = Signal(signed(width), name="beat_sum")
        m.d.comb += beat_sum.eq(adder_tree([mul.product[lane] for lane in range(lanes)]))
        beat_invalid = mul.invalid.as_value().any() if hasattr(mul, "invalid") else Const(0, 1)
        with m.If(take & ~empty):
            m.d.sync += position.eq(Mux(block_end, 0, position + 1))

        # stage 1: registered beat
        s1 = {name: Signal(shape, name=f"s1_{name}") for name, shape in (
            ("valid", 1), ("sum", signed(width)), ("invalid", 1), ("block_end", 1), ("job_end", 1),
            ("empty", 1), ("scale_a", fmt.scale.bits), ("scale_b", fmt.scale.bits))}
        with m.If(advance):
            m.d.sync += [s1["valid"].eq(take), s1["sum"].eq(Mux(empty, 0, beat_sum)),
                         s1["invalid"].eq(beat_invalid & ~empty), s1["block_end"].eq(block_end),
                         s1["job_end"].eq(beat_a.last), s1["empty"].eq(empty),
                         s1["scale_a"].eq(self.scale_a.payload), s1["scale_b"].eq(self.scale_b.payload)]

        # stage 2: a whole block's sum (over block/lanes beats)
        partial = Signal(signed(width), name="block_partial")
        partial_invalid = Signal(name="block_partial_invalid")
        s2 = {name: Signal(shape, name=f"s2_{name}") for name, shape in (
            ("valid", 1), ("total", signed(width)), ("invalid", 1), ("job_end", 1), ("empty", 1),
            ("scale_a", fmt.scale.bits), ("scale_b", fmt.scale.bits))}
        with m.If(advance):
            m.d.sync += s2["valid"].eq(s1["valid"] & (s1["block_end"] | s1["empty"]))
            m.d.sync += [s2["total"].eq(partial + s1["sum"]), s2["invalid"].eq(partial_invalid | s1["invalid"]),
                         s2["job_end"].eq(s1["job_end"]), s2["empty"].eq(s1["empty"]),
                         s2["scale_a"].eq(s1["scale_a"]), s2["scale_b"].eq(s1["scale_b"])]
            with m.If(s1["valid"]):
                with m.If(s1["block_end"] | s1["empty"]):
                    m.d.sync += [partial.eq(0), partial_invalid.eq(0)]
                with m.Else():
                    m.d.sync += [partial.eq(partial + s1["sum"]), partial_invalid.eq(partial_invalid | s1["invalid"])]

        # stage 3: the block's FP32 value
        m.submodules.scale = scale = ScaleApply(fmt)
        m.d.comb += [scale.total.eq(s2["total"]), scale.scale_a.eq(s2["scale_a"]), scale.scale_b.eq(s2["scale_b"])]
        if hasattr(scale, "invalid"):
            m.d.comb += scale.invalid.eq(s2["invalid"])
        s3 = {name: Signal(shape, name=f"s3_{name}") for name, shape in (
            ("valid", 1), ("value", 32), ("job_end", 1), ("empty", 1))}
        with m.If(advance):
            m.d.sync += [s3["valid"].eq(s2["valid"]), s3["value"].eq(scale.result.as_value()),
                         s3["job_end"].eq(s2["job_end"]), s3["empty"].eq(s2["empty"])]

        # stage 4: acc = fp32(acc + block), from +0 per job
        acc = Signal(32, name="accumulator")
        total = fp32_add(m, acc, s3["value"], "accumulate")
        new_acc = Mux(s3["empty"], acc, total)
        with m.If(advance & s3["valid"]):
            with m.If(s3["job_end"]):
                m.d.sync += [result_data.eq(new_acc), result_valid.eq(1), acc.eq(0)]
            with m.Else():
                m.d.sync += acc.eq(new_acc)
        return m
