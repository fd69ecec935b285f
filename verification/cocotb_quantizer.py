"""cocotb bench for hdl.Quantizer: input beats and golden blocks come from ``vectors.npz``
(written by verification/test_quantizer.py from ``golden.mx.quantize``); the bench pushes the
beats under random valid/ready stalls, collects the output blocks and compares them bit for bit.
A second test runs with no stalls and records the input beats accepted per cycle.
"""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.cocotb_run import cocotb_params
from verification.cocotb_streams import Sink, Source, StreamTB, burst_pauses, compare, no_pauses, random_pauses


class QuantizerTB(StreamTB):
    def __init__(self, dut):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params["vectors"]), allow_pickle=True)
        self.beats = [int(v) for v in data["beats"]]
        self.blocks = [int(v) for v in data["blocks"]]
        self.block_bits = self.params["block_bits"]

    def describe(self, got, want):
        """Which elements differ (and the scales) for a failing block."""
        bits, n = self.params["element_bits"], self.params["block"]
        mask = (1 << bits) - 1
        elements = [(j, got >> (j * bits) & mask, want >> (j * bits) & mask) for j in range(n)
                    if (got ^ want) >> (j * bits) & mask]
        return (f"scale {got >> self.block_bits:#x} want {want >> self.block_bits:#x}", elements[:4])

    async def check(self, source_pauses, sink_pauses):
        await self.reset()
        source = Source("i", self.beats, source_pauses)
        sink = Sink("o", len(self.blocks), sink_pauses)
        cycles = await self.run([source], [sink], timeout=20 * len(self.beats) + 100)
        errors = compare("block", sink.received, self.blocks, self.describe)
        return source, sink, cycles, errors


@cocotb.test()
async def blocks_under_random_stalls(dut):
    tb = QuantizerTB(dut)
    seed = tb.params.get("seed", 1)
    _, _, _, errors = await tb.check(random_pauses(seed, 0.3), random_pauses(seed + 1, 0.3))
    assert not errors, f"{len(errors)} mismatching blocks: {errors[:4]}"


@cocotb.test()
async def blocks_under_burst_stalls(dut):
    tb = QuantizerTB(dut)
    seed = tb.params.get("seed", 1)
    _, _, _, errors = await tb.check(burst_pauses(seed + 2), burst_pauses(seed + 3, 16))
    assert not errors, f"{len(errors)} mismatching blocks: {errors[:4]}"


@cocotb.test()
async def full_throughput_without_stalls(dut):
    tb = QuantizerTB(dut)
    source, sink, _, errors = await tb.check(no_pauses(), no_pauses())
    assert not errors, f"{len(errors)} mismatching blocks: {errors[:4]}"
    span = source.last_cycle - source.first_cycle + 1
    throughput = len(tb.beats) / span
    Path(tb.params["report"]).write_text(json.dumps({"beats": len(tb.beats), "cycles": span,
                                                     "beats_per_cycle": throughput}))
    assert throughput == 1.0, f"{len(tb.beats)} input beats took {span} cycles"
