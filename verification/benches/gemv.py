"""cocotb bench for hdl.GEMV: one job's vector and weight streams from ``gemv.npz`` (written by
verification/test_dot.py from ``golden.mx.matmul``), under random stalls, then with none: the
cycle count from the job to the last result and the weight beats per cycle."""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.benches.runner import cocotb_params
from verification.benches.streams import Sink, Source, StreamTB, compare, handshake_points, no_pauses, random_pauses
from verification.tools.coverage import Coverage

STREAMS = ("job", "x_words", "x_scales", "w_words", "w_scales")


class GemvTB(StreamTB):
    def __init__(self, dut, file):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params[file]), allow_pickle=True)
        self.streams = {name: [int(v) for v in data[name]] for name in STREAMS}
        self.results = [int(v) for v in data["results"]]

    def names(self):
        return [n for n in STREAMS if n != "x_scales" or not self.params.get("mixed")]

    def declare_coverage(self) -> Coverage:
        """Handshakes: the bench pauses every stream and the GEMV holds back each data stream
        (the weights while it loads the vector or a result waits). The traffic is one job, so
        the job stream has no second beat to hold back."""
        cov = Coverage("gemv")
        for name in self.names():
            cov.declare(*handshake_points(name, ["any"], dut_stalls=name != "job"))
        cov.declare(*handshake_points("result", ["any"], source=False))
        return cov

    async def check(self, pauses, coverage: Coverage | None = None):
        await self.reset()
        sources = [Source(name, self.streams[name], pauses()) for name in self.names()]
        sink = Sink("result", len(self.results), pauses())
        self.coverage = coverage
        cycles = await self.run(sources, [sink], timeout=20 * len(self.streams["w_words"]) + 2000)
        errors = compare("result", sink.received, self.results)
        if coverage is not None and not errors:
            coverage.check(self.dut._log.info)
        return {s.name: s for s in sources}, sink, cycles, errors


@cocotb.test()
async def gemv_under_random_stalls(dut):
    tb = GemvTB(dut, "stalled")
    seeds = iter(range(21, 1000))
    _, _, _, errors = await tb.check(lambda: random_pauses(next(seeds), 0.3), tb.declare_coverage())
    assert not errors, f"{len(errors)} mismatching rows: {errors[:4]}"


@cocotb.test()
async def gemv_cycle_count_without_stalls(dut):
    tb = GemvTB(dut, "full")
    sources, sink, cycles, errors = await tb.check(no_pauses)
    assert not errors, f"{len(errors)} mismatching rows: {errors[:4]}"
    weights = sources["w_words"]
    span = weights.last_cycle - weights.first_cycle + 1
    report = {"rows": len(tb.results), "weight_words": len(weights.beats), "weight_cycles": span,
              "beats_per_cycle": len(weights.beats) / span, "cycles_job_to_last_result": sink.cycles[-1] + 1,
              "vector_words": len(tb.streams["x_words"])}
    Path(tb.params["report"]).write_text(json.dumps(report))
    assert report["beats_per_cycle"] == 1.0, report
