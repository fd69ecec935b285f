"""cocotb bench for hdl.PackedLoader: jobs, words (and scales) from ``traffic.npz`` (written by
verification/test_loader.py from ``golden.packing.load_job``), pushed under random and bursty
stalls on every side; the scoreboard compares every beat bit for bit, in order. A run with no
stalls records output beats per cycle."""

import json
from pathlib import Path

import cocotb
import numpy as np

from verification.benches.runner import cocotb_params, resolved
from verification.benches.streams import (Sink, Source, StreamTB, burst_pauses, compare, handshake_points, no_pauses,
                                         random_pauses)
from verification.tools.coverage import Coverage
from verification.traffic.loader import SPECIAL_SCALE_CODES


class LoaderTB(StreamTB):
    def __init__(self, dut, file="traffic"):
        super().__init__(dut)
        self.params = cocotb_params()
        data = np.load(Path(self.params[file]), allow_pickle=True)
        self.streams = {name: [int(v) for v in data[name]] for name in ("jobs", "words", "scales")}
        self.beats = [int(v) for v in data["beats"]]
        self.lanes = self.params["lanes"]
        self.word_states = [str(v) for v in data["word_states"]]
        self.data_points = json.loads(str(data["data_points"]))

    def is_last(self, beat: int) -> bool:
        return bool(beat >> 5 * self.lanes & 1)

    def declare_coverage(self) -> Coverage:
        """What a run under random stalls must show (verification/tools/coverage.py)."""
        p, L = self.params, self.lanes
        cov = Coverage(f"loader W={4 * L} {p['layout']}{' compressed' if p['compressed'] else ''}"
                       f"{' scales ' + p['scales'] if p['scales'] else ''}")
        cov.declare(*handshake_points("job", ["any"]), *handshake_points("words", ["first word of a job", "later word"]),
                    *handshake_points("lanes", ["last beat", "other beat"], source=False))
        if p["scales"]:
            cov.declare(*handshake_points("scale", ["any"]),
                        *(f"scale code {c:#04x}" for c in SPECIAL_SCALE_CODES[p["scales"]]))
        if p["layout"] == "linear":
            cov.declare("last: empty job", *(f"last on lane {lane}" for lane in range(L)))
        else:
            cov.declare("last: whole tile")
        if p["compressed"]:
            cov.declare("chunk: all zero", "chunk: none zero", "chunk: mixed", "damaged stream: truncate",
                        "damaged stream: overlong", "damaged stream: zero",
                        *(["damaged stream: bitmap"] if p["layout"] == "linear" else []))
        return cov

    def cover_beats(self, cov: Coverage, received: list) -> None:
        L = self.lanes
        for beat in received:
            if self.is_last(beat) and not beat >> (5 * L + 1) & 1:          # a job's last beat, no error
                mask = beat >> 4 * L & ((1 << L) - 1)
                if self.params["layout"] == "linear":
                    cov.hit("last: empty job" if mask == 0 else f"last on lane {mask.bit_length() - 1}")
                else:
                    cov.hit("last: whole tile")
        for point, n in self.data_points.items():                              # carried by the traffic
            cov.hit(point, n)

    def describe(self, got, want):
        L = self.lanes
        return (f"got {got:#x}", f"want {want:#x}", f"mask {got >> 4 * L & (1 << L) - 1:#x}/{want >> 4 * L & (1 << L) - 1:#x}",
                f"last/error {got >> 5 * L & 3}/{want >> 5 * L & 3}")

    async def check(self, pauses, coverage: bool = False):
        await self.reset()
        words_state = self.word_states.__getitem__ if len(self.word_states) == len(self.streams["words"]) else None
        sources = [Source("job", self.streams["jobs"], pauses()),
                   Source("words", self.streams["words"], pauses(), **({"state": words_state} if words_state else {}))]
        if self.params.get("scales"):
            sources.append(Source("scale", self.streams["scales"], pauses()))
        sink = Sink("lanes", len(self.beats), pauses(),
                    state=lambda i: "last beat" if self.is_last(self.beats[i]) else "other beat")
        self.coverage = self.declare_coverage() if coverage else None
        await self.run(sources, [sink], timeout=20 * (len(self.streams["words"]) + len(self.beats)) + 200)
        errors = compare("beat", sink.received, self.beats, self.describe)
        status = resolved(self.dut.status_error, "status_error")
        if coverage and not errors:
            self.cover_beats(self.coverage, sink.received)
            self.coverage.check(self.dut._log.info)
        return sink, errors, status


def seeds(base):
    counter = iter(range(base, base + 100))
    return counter


@cocotb.test()
async def beats_under_random_stalls(dut):
    tb = LoaderTB(dut)
    counter = seeds(tb.params.get("seed", 1))
    _, errors, status = await tb.check(lambda: random_pauses(next(counter), 0.3), coverage=True)
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
