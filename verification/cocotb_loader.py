"""cocotb bench for hdl.PackedLoader: jobs, words (and scales) from ``traffic.npz`` (written by
verification/test_loader.py from ``golden.packing.load_job``), pushed under random and bursty
stalls on every side; the scoreboard compares every beat bit for bit, in order. A run with no
stalls records output beats per cycle."""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.cocotb_run import cocotb_params, resolved
from verification.cocotb_streams import Sink, Source, StreamTB, burst_pauses, compare, no_pauses, random_pauses


class LoaderTB(StreamTB):
    def __init__(self, dut, file="traffic"):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params[file]), allow_pickle=True)
        self.streams = {name: [int(v) for v in data[name]] for name in ("jobs", "words", "scales")}
        self.beats = [int(v) for v in data["beats"]]
        self.lanes = self.params["lanes"]

    def describe(self, got, want):
        L = self.lanes
        return (f"got {got:#x}", f"want {want:#x}", f"mask {got >> 4 * L & (1 << L) - 1:#x}/{want >> 4 * L & (1 << L) - 1:#x}",
                f"last/error {got >> 5 * L & 3}/{want >> 5 * L & 3}")

    async def check(self, pauses):
        await self.reset()
        sources = [Source("job", self.streams["jobs"], pauses()), Source("words", self.streams["words"], pauses())]
        if self.params.get("scales"):
            sources.append(Source("scale", self.streams["scales"], pauses()))
        sink = Sink("lanes", len(self.beats), pauses())
        await self.run(sources, [sink], timeout=20 * (len(self.streams["words"]) + len(self.beats)) + 200)
        errors = compare("beat", sink.received, self.beats, self.describe)
        status = resolved(self.dut.status_error, "status_error")
        return sink, errors, status


def seeds(base):
    counter = iter(range(base, base + 100))
    return counter


@cocotb.test()
async def beats_under_random_stalls(dut):
    tb = LoaderTB(dut)
    counter = seeds(tb.params.get("seed", 1))
    _, errors, status = await tb.check(lambda: random_pauses(next(counter), 0.3))
    assert not errors, f"{len(errors)} mismatching beats: {errors[:4]}"
    assert status == tb.params["expect_error"], "sticky error status"


@cocotb.test()
async def beats_under_burst_stalls(dut):
    tb = LoaderTB(dut)
    counter = seeds(tb.params.get("seed", 1) + 50)
    _, errors, _ = await tb.check(lambda: burst_pauses(next(counter), 12))
    assert not errors, f"{len(errors)} mismatching beats: {errors[:4]}"


@cocotb.test()
async def full_throughput_without_stalls(dut):
    tb = LoaderTB(dut, "throughput")
    sink, errors, _ = await tb.check(no_pauses)
    assert not errors, f"{len(errors)} mismatching beats: {errors[:4]}"
    span = sink.cycles[-1] - sink.cycles[0] + 1
    report = {"words": len(tb.streams["words"]), "beats": len(sink.received), "cycles": span,
              "beats_per_cycle": len(sink.received) / span}
    Path(tb.params["report"]).write_text(json.dumps(report))
    assert report["beats_per_cycle"] == 1.0, report
