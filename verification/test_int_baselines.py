"""The INT4 / INT8 baselines of the synthesis report: golden.integer against plain Python
integers, IntMultiplier exhaustively and IntDotEngine on random jobs under stalls (Amaranth
simulator), each against golden."""

import numpy as np
import pytest

import hdl
from golden import integer
from verification.benches.amaranth_sim import run_streams, run_vectors
from verification.traffic.dot import memory_words
from verification.benches.vectors import pack_lanes


def test_golden_integer_against_python():
    for bits in (4, 8):
        codes = np.arange(1 << bits)
        want = [c - (1 << bits) if c >= 1 << (bits - 1) else c for c in codes.tolist()]
        assert integer.values(codes, bits).tolist() == want
        assert integer.codes(want, bits).tolist() == codes.tolist()
    a, b = np.full(4096, 0x80), np.full(4096, 0x80)                 # (-128)^2 * 4096 = 2^26
    assert int(integer.dot(a, b, 8)) == 1 << 26
    assert int(integer.wrap32(1 << 31)) == -(1 << 31) and int(integer.wrap32(-(1 << 31) - 1)) == (1 << 31) - 1
    with pytest.raises(ValueError, match="codes"):
        integer.values([16], 4)
    with pytest.raises(ValueError, match="fmt"):
        integer.check_bits("int3")


@pytest.mark.parametrize("fmt, lanes", [("int4", 16), ("int8", 256)])
def test_int_multiplier_exhaustive(fmt, lanes):
    bits = integer.check_bits(fmt)
    dut = hdl.IntMultiplier(fmt, lanes=lanes)
    pairs = np.arange(1 << (2 * bits)).reshape(-1, lanes)            # every (a, b) once

    a_words = pack_lanes(pairs.reshape(-1) >> bits, bits, lanes)    # whole ports: two sets per row
    b_words = pack_lanes(pairs.reshape(-1) & ((1 << bits) - 1), bits, lanes)

    def apply(ctx, row):
        ctx.set(dut.a.as_value(), a_words[row])
        ctx.set(dut.b.as_value(), b_words[row])

    def read(ctx, row):
        raw = ctx.get(dut.product.as_value())
        width = 2 * bits
        return [((raw >> (i * width)) & ((1 << width) - 1)) - (((raw >> (i * width + width - 1)) & 1) << width)
                for i in range(lanes)]

    def expected(row):
        return integer.mul(pairs[row] >> bits, pairs[row] & ((1 << bits) - 1), bits).tolist()

    assert run_vectors(dut, range(len(pairs)), apply=apply, read=read, expected=expected) == []


def int_traffic(bits, word_bits, seed=0, jobs=30):
    """Jobs of random lengths (0, 1, every lane count ±1, several words) and extreme codes."""
    rng = np.random.default_rng(seed)
    lanes = word_bits // bits
    lengths = [0, 1, lanes - 1, lanes, lanes + 1, 5 * lanes] + rng.integers(1, 8 * lanes, jobs).tolist()
    t = {"jobs": [], "a": [], "b": [], "results": []}
    for n in lengths:
        a = rng.integers(0, 1 << bits, n)
        b = rng.integers(0, 1 << bits, n)
        if n == 5 * lanes:                                         # the most negative code everywhere
            a[:] = b[:] = 1 << (bits - 1)
        t["jobs"].append(int(n))
        padded = (-n) % lanes                                      # whole words, zero codes after the job
        t["a"] += memory_words(np.pad(a, (0, padded)), bits, word_bits) if n else []
        t["b"] += memory_words(np.pad(b, (0, padded)), bits, word_bits) if n else []
        t["results"].append(int(integer.dot(a, b, bits)))
    return t


@pytest.mark.parametrize("fmt, lanes", [("int4", 8), ("int4", 32), ("int8", 16)])
def test_int_dot_engine_in_amaranth_simulator(fmt, lanes):
    dut = hdl.IntDotEngine(fmt, lanes)
    t = int_traffic(integer.check_bits(fmt), dut.word_bits)
    got = run_streams(dut, {dut.job: t["jobs"], dut.a_words: t["a"], dut.b_words: t["b"]}, dut.result,
                      len(t["results"]), stall=0.25, cycles=8 * len(t["a"]) + 400)
    assert got == t["results"]


def test_int_dot_engine_takes_a_beat_every_cycle():
    """No stalls: the result of a job leaves while the next job's beats flow (one beat per
    cycle), so 20 jobs of 4 beats take 80 cycles plus the pipeline's few."""
    from amaranth.sim import Simulator
    from verification.benches.amaranth_sim import stream_put
    dut = hdl.IntDotEngine("int4", 8)
    rng = np.random.default_rng(5)
    jobs = [32] * 20
    words = [[int(w) for w in rng.integers(0, 1 << 32, 4)] for _ in jobs]
    cycles = []

    def feeder(port, items):
        async def put(ctx):
            for item in items:
                await stream_put(ctx, port, item)
        return put

    async def drain(ctx):
        ctx.set(dut.result.ready, 1)
        count = 0
        async for _clk, _rst, valid in ctx.tick().sample(dut.result.valid):
            cycles.append(valid)
            count += valid
            if count == len(jobs):
                return
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(feeder(dut.job, jobs))
    sim.add_testbench(feeder(dut.a_words, [w for ws in words for w in ws]))
    sim.add_testbench(feeder(dut.b_words, [w for ws in words for w in ws]))
    sim.add_testbench(drain)
    sim.run_until(1e-8 * 1000)
    assert sum(cycles) == len(jobs) and len(cycles) <= 4 * len(jobs) + 8, len(cycles)


def test_int_dot_check_catches_planted_fault():
    dut = hdl.IntDotEngine("int4", 8)
    t = int_traffic(4, dut.word_bits, jobs=4)
    t["results"][3] += 1
    got = run_streams(dut, {dut.job: t["jobs"], dut.a_words: t["a"], dut.b_words: t["b"]}, dut.result,
                      len(t["results"]), cycles=8 * len(t["a"]) + 400)
    assert got != t["results"] and sum(g != w for g, w in zip(got, t["results"])) == 1


def test_int_units_check_parameters():
    for cls, kwargs, word in [(hdl.IntMultiplier, {"fmt": "int2"}, "fmt"), (hdl.IntMultiplier, {"lanes": 0}, "lanes"),
                              (hdl.IntDotEngine, {"lanes": 12}, "lanes"), (hdl.IntDotEngine, {"fmt": 5}, "^fmt=5")]:   # names the parameter (issue 33)
        with pytest.raises(ValueError, match=word):
            cls(**kwargs)
