"""cocotb bench for hdl.DotEngine: jobs, operand words and scale streams from ``traffic.npz``
(written by verification/test_dot.py from ``golden.mx.dot``), pushed under random stalls on
every stream; every FP32 result is compared bit for bit. Without stalls the bench records
blocks per cycle and the cycle count of a GEMV."""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.cocotb_run import cocotb_params
from verification.cocotb_streams import Sink, Source, StreamTB, burst_pauses, compare, no_pauses, random_pauses

STREAMS = ("job", "a_words", "b_words", "scale_a", "scale_b")


class DotTB(StreamTB):
    def __init__(self, dut, file="traffic"):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params[file]), allow_pickle=True)
        self.streams = {name: [int(v) for v in data[name]] for name in STREAMS}
        self.results = [int(v) for v in data["results"]]
        self.blocks = int(data["blocks"])

    async def check(self, pauses):
        await self.reset()
        names = [n for n in STREAMS if n != "scale_b" or not self.params.get("mixed")]
        sources = [Source(name, self.streams[name], pauses()) for name in names]
        sink = Sink("result", len(self.results), pauses())
        cycles = await self.run(sources, [sink], timeout=20 * (len(self.streams["a_words"]) + self.blocks) + 500)
        return sources, sink, cycles, compare("result", sink.received, self.results)


@cocotb.test()
async def results_under_random_stalls(dut):
    tb = DotTB(dut)
    seeds = iter(range(tb.params.get("seed", 1), 1000))
    _, _, _, errors = await tb.check(lambda: random_pauses(next(seeds), 0.3))
    assert not errors, f"{len(errors)} mismatching results: {errors[:4]}"


@cocotb.test()
async def results_under_burst_stalls(dut):
    tb = DotTB(dut)
    seeds = iter(range(tb.params.get("seed", 1) + 100, 1000))
    _, _, _, errors = await tb.check(lambda: burst_pauses(next(seeds), 10))
    assert not errors, f"{len(errors)} mismatching results: {errors[:4]}"


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
