"""cocotb bench for hdl.DotEngine: jobs, operand words and scale streams from ``traffic.npz``
(written by verification/test_dot.py from ``golden.mx.dot``), pushed under random stalls on
every stream; every FP32 result is compared bit for bit. Without stalls the bench records
blocks per cycle and the cycle count of a GEMV."""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.benches.runner import cocotb_params
from verification.benches.streams import (Sink, Source, StreamTB, burst_pauses, compare, handshake_points, no_pauses,
                                         random_pauses)
from verification.tools.coverage import Coverage

STREAMS = ("job", "a_words", "b_words", "scale_a", "scale_b")


class DotTB(StreamTB):
    def __init__(self, dut, file="traffic"):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params[file]), allow_pickle=True)
        self.streams = {name: [int(v) for v in data[name]] for name in STREAMS}
        self.results = [int(v) for v in data["results"]]
        self.blocks = int(data["blocks"])

    def names(self):
        return [n for n in STREAMS if n != "scale_b" or not self.params.get("mixed")]

    def declare_coverage(self) -> Coverage:
        """Handshakes on every stream, the special scale codes, and the special results."""
        mixed = self.params.get("mixed")
        cov = Coverage("dot engine" + (" (mixed)" if mixed else ""))
        for name in self.names():
            cov.declare(*handshake_points(name, ["any"]))
        cov.declare(*handshake_points("result", ["any"], source=False), "result: NaN", "result: zero", "job: empty")
        if mixed or self.params["scale_bits"] == 8:       # NVFP4: E2M1 × UE4M3 products stay finite in FP32
            cov.declare("result: ±Inf")
        if not mixed:
            special = (0x00, 0xFE, 0xFF) if self.params["scale_bits"] == 8 else (0x00, 0x7E, 0x7F)
            cov.declare(*(f"scale code {c:#04x}" for c in special), "job: rejected (k not a multiple of the block)")
            if self.params["scale_bits"] == 8:
                cov.declare("result: subnormal")
        return cov

    def cover_data(self, cov: Coverage) -> None:
        for code in self.streams["scale_a"] + self.streams.get("scale_b", []):
            cov.sample(f"scale code {code:#04x}", True)
        for bits in self.results:
            exponent, mantissa = bits >> 23 & 0xFF, bits & 0x7FFFFF
            cov.sample("result: NaN", exponent == 0xFF and mantissa)
            cov.sample("result: ±Inf", exponent == 0xFF and not mantissa)
            cov.sample("result: zero", exponent == 0 and not mantissa)
            cov.sample("result: subnormal", exponent == 0 and mantissa)
            cov.sample("job: rejected (k not a multiple of the block)", bits >> 32 == 1)
        cov.sample("job: empty", 0 in self.streams["job"])

    async def check(self, pauses, coverage: Coverage | None = None, final: bool = False):
        await self.reset()
        sources = [Source(name, self.streams[name], pauses()) for name in self.names()]
        sink = Sink("result", len(self.results), pauses())
        self.coverage = coverage
        cycles = await self.run(sources, [sink], timeout=20 * (len(self.streams["a_words"]) + self.blocks) + 500)
        errors = compare("result", sink.received, self.results)
        if coverage is not None and final and not errors:
            self.cover_data(coverage)
            coverage.check(self.dut._log.info)
        return sources, sink, cycles, errors


@cocotb.test()
async def results_under_random_then_burst_stalls(dut):
    """The traffic under random stalls, then again under bursty ones; one coverage collector
    (this test's own) counts both runs and must reach 100% at the end."""
    tb = DotTB(dut)
    seeds = iter(range(tb.params.get("seed", 1), 1000))
    coverage = tb.declare_coverage()
    _, _, _, errors = await tb.check(lambda: random_pauses(next(seeds), 0.3), coverage)
    assert not errors, f"random stalls: {len(errors)} mismatching results: {errors[:4]}"
    seeds = iter(range(tb.params.get("seed", 1) + 100, 1000))
    _, _, _, errors = await tb.check(lambda: burst_pauses(next(seeds), 10), coverage, final=True)
    assert not errors, f"burst stalls: {len(errors)} mismatching results: {errors[:4]}"


@cocotb.test()
async def throughput_without_stalls(dut):
    """A GEMV: every row of the weight matrix against the activation vector, back to back."""
    tb = DotTB(dut, "gemv")
    sources, sink, cycles, errors = await tb.check(no_pauses)
    assert not errors, f"{len(errors)} mismatching results: {errors[:4]}"
    words = sources[1]
    span = words.last_cycle - words.first_cycle + 1
    report = {"rows": len(tb.results), "blocks": tb.blocks, "beat_cycles": span,
              "blocks_per_cycle": tb.blocks / span, "beats_per_cycle": len(words.beats) / span,
              "total_cycles": cycles,
              "first_result_cycle": sink.cycles[0], "last_result_cycle": sink.cycles[-1]}
    Path(tb.params["report"]).write_text(json.dumps(report))
    assert report["beats_per_cycle"] == 1.0, report
