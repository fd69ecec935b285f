"""cocotb bench for hdl.Quantizer: input beats and golden blocks come from ``vectors.npz``
(written by verification/test_quantizer.py from ``golden.mx.quantize``); the bench pushes the
beats under random valid/ready stalls, collects the output blocks and compares them bit for bit.
A second test runs with no stalls and records the input beats accepted per cycle.
"""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.benches.runner import cocotb_params
from verification.benches.streams import (Sink, Source, StreamTB, burst_pauses, compare, handshake_points, no_pauses,
                                         random_pauses)
from verification.tools.coverage import Coverage


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

    def beat_state(self, index: int) -> str:
        per_block = self.params["block"] // self.params["lanes"]
        position = index % per_block
        if per_block == 1:
            return "only beat of a block"
        return "first beat of a block" if position == 0 else "last beat of a block" if position == per_block - 1 \
            else "middle beat"

    def declare_coverage(self) -> Coverage:
        """The points the two stalled runs together must hit. The quantizer takes every beat of
        a block into its collector and can refuse only the beat that completes a block (while
        the previous block still waits in the encode stage), so DUT stalls are declared there."""
        states = sorted({self.beat_state(i) for i in range(self.params["block"] // self.params["lanes"])})
        closing = [s for s in states if s in ("last beat of a block", "only beat of a block")]
        cov = Coverage(f"quantizer lanes={self.params['lanes']}")
        cov.declare(*handshake_points("i", states, dut_stalls=closing), *handshake_points("o", ["any"], source=False),
                    *self.params["declared"])
        return cov

    async def check(self, source_pauses, sink_pauses, coverage: Coverage | None = None, final: bool = False):
        await self.reset()
        source = Source("i", self.beats, source_pauses, state=self.beat_state)
        sink = Sink("o", len(self.blocks), sink_pauses)
        self.coverage = coverage
        cycles = await self.run([source], [sink], timeout=20 * len(self.beats) + 100)
        errors = compare("block", sink.received, self.blocks, self.describe)
        if coverage is not None and final and not errors:
            for point, n in self.params["data_points"].items():      # carried by the traffic
                coverage.sample(point, n > 0, n)
            coverage.check(self.dut._log.info)
        return source, sink, cycles, errors


@cocotb.test()
async def blocks_under_random_then_burst_stalls(dut):
    """The blocks under random stalls, then again under bursty ones; one coverage collector
    (this test's own) counts both runs and must reach 100% at the end."""
    tb = QuantizerTB(dut)
    seed = tb.params.get("seed", 1)
    coverage = tb.declare_coverage()
    _, _, _, errors = await tb.check(random_pauses(seed, 0.3), random_pauses(seed + 1, 0.3), coverage)
    assert not errors, f"random stalls: {len(errors)} mismatching blocks: {errors[:4]}"
    _, _, _, errors = await tb.check(burst_pauses(seed + 2), burst_pauses(seed + 3, 16), coverage, final=True)
    assert not errors, f"burst stalls: {len(errors)} mismatching blocks: {errors[:4]}"


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
