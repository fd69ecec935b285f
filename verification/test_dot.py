"""hdl.DotEngine against golden.mx.dot: cocotb on Verilator and Icarus under random and bursty
stalls (directed jobs: empty, all-zero blocks, 2**±127 scales and FP32 overflow/underflow, NaN
scales, FP8 NaN/Inf elements, one block, rejected jobs whose k is not a block multiple; random
rows from normal, heavy-tailed, ReLU-sparse and uniform draws, K up to 4096), a GEMV-shaped job
stream with no stalls for the initiation interval, and the Amaranth simulator for the fast inner
loop. The GEMV wrapper is tested in test_gemv.py, the FP32 adder in test_fpadd.py."""

import json

import numpy as np
import pytest

import hdl
from golden import mx
from verification.benches.amaranth_sim import run_streams
from verification.benches.runner import run_cocotb
from verification.traffic.dot import DotTraffic, add_dot, dot_traffic
from amaranth.hdl import Value  # noqa: F401  (payload views in first_result_cycle)
from verification.tiers import full, icarus, in_verify_full


def save(t: DotTraffic, path):
    np.savez(path, job=np.array(t.jobs, dtype=object), a_words=np.array(t.a_words, dtype=object),
             b_words=np.array(t.b_words, dtype=object), scale_a=np.array(t.scale_a, dtype=object),
             scale_b=np.array(t.scale_b, dtype=object), results=np.array(t.results, dtype=object),
             blocks=t.blocks)


def gemv_traffic(fmt, word_bits, rows, k, seed=5, partials=1) -> DotTraffic:
    """``rows`` weight rows against one activation vector of ``k`` elements."""
    fmt = mx.block_format(fmt)
    rng = np.random.default_rng(seed)
    weights = mx.quantize(rng.standard_normal((rows, k)), fmt)
    activation = mx.quantize(np.tile(np.maximum(rng.standard_normal((1, k)), 0), (rows, 1)), fmt)
    t = DotTraffic(word_bits, partials=partials)
    add_dot(t, weights, activation, fmt.element.bits, "gemv")
    return t


CONFIGS = [  # fmt, lanes, gemv rows, gemv k
    ("mxfp4", 32, 64, 4096),
    ("mxfp4", 8, 16, 1024),
    ("nvfp4", 16, 32, 1024),
    ("mxfp8_e4m3", 32, 16, 2048),
    ("mxfp8_e5m2", 8, 8, 512),
]


def engine(fmt, lanes, depth=None, **kwargs):
    """``DotEngine(fmt, lanes)`` with its defaults (the fast preset) when ``depth`` is None, else
    the unpipelined engine with the depths of ``depth`` ({}: the unpipelined engine itself)."""
    return hdl.DotEngine(fmt, lanes, **({} if depth is None else {"preset": "unpipelined", **depth}), **kwargs)


def run_bench(config, tmp_path, planted_fault=None, testcase=None, sim="verilator", depth=None, golden_partials=None,
              random_jobs=60):
    """The dot bench on :func:`engine` (``depth``: None the defaults, {} unpipelined); golden
    results with the engine's partials (``golden.mx.dot(…, partials=P)``), or with
    ``golden_partials`` (a planted fault). ``random_jobs`` follow the directed ones (make test:
    :data:`QUICK_JOBS`)."""
    fmt, lanes, rows, k = config
    dut = engine(fmt, lanes, depth)
    t = dot_traffic(fmt, dut.word_bits, random_jobs=random_jobs, max_blocks=16,
                    partials=golden_partials or dut.partials)
    rng = np.random.default_rng(8)
    for blocks in (64, 128):                                   # K = 2048 and 4096 for block 32
        n = blocks * mx.block_format(fmt).block
        add_dot(t, mx.quantize(rng.standard_normal((1, n)), fmt), mx.quantize(rng.laplace(size=(1, n)), fmt),
                mx.block_format(fmt).element.bits, f"K={n}")
    if planted_fault is not None:
        t.results[planted_fault] ^= 1
    save(t, tmp_path / "traffic.npz")
    save(gemv_traffic(fmt, dut.word_bits, rows, k, partials=dut.partials), tmp_path / "gemv.npz")
    params = {"traffic": str(tmp_path / "traffic.npz"), "gemv": str(tmp_path / "gemv.npz"),
              "report": str(tmp_path / "gemv.json"), "seed": 11, "scale_bits": 8 if mx.block_format(fmt).is_mx else 7}
    return run_cocotb(dut, "dot", "verification.benches.dot", tmp_path, params=params, testcase=testcase, sim=sim), t


# Random jobs after the directed ones (every special, rejected and empty job, stalls from the
# first beat) in make test; 60 in verify-full, where every configuration runs.
QUICK_JOBS = 12
# make test: MXFP4 at 8 lanes with the defaults (the fast preset, P = 4: several beats per block;
# Icarus too). MXFP8 E4M3 at 32 unpipelined (one block per beat, 8-bit elements as nibble pairs,
# NaN/Inf elements), NVFP4 (UE4M3 scales) and the 32-lane default run in the Amaranth simulator
# there, and here with the other defaults and the other unpipelined engines in verify-full.
TIERED = [full(CONFIGS[0], None), icarus(CONFIGS[1], None), full(CONFIGS[2], None), full(CONFIGS[3], None),
          full(CONFIGS[4], None), full(CONFIGS[0], {}), full(CONFIGS[1], {}), full(CONFIGS[3], {}),
          full(CONFIGS[2], {})]


@pytest.mark.verilator
@pytest.mark.parametrize("config, depth", TIERED,
                         ids=lambda v: f"{v[0]}-lanes{v[1]}" if isinstance(v, tuple) else ("default" if v is None
                                                                                          else "unpipelined"))
def test_dot_engine_on_verilator(config, depth, tmp_path, simulator, request):
    counts, t = run_bench(config, tmp_path, sim=simulator, depth=depth,
                          random_jobs=60 if in_verify_full(request.config) else QUICK_JOBS)
    assert counts == (2, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == config[2]
    assert sum(r >> 32 for r in t.results) >= 4                  # rejected jobs (error bit) in the traffic
    results = np.array([r for r in t.results if r >> 32 == 0], dtype=np.uint32).view(np.float32)
    assert np.isnan(results).any() and (results == 0).any()
    if mx.block_format(config[0]).is_mx:           # UE4M3 scale products cannot leave FP32's range
        assert np.isinf(results).any() and ((np.abs(results) < 2.0 ** -126) & (results != 0)).any()


# The pipelined engine on both simulators at P = 1, 2 and 4 partial sums (the planted fault in
# the partials order: test_pipelined_dot_bench_catches_a_wrong_partials_order). make test has the
# default (the fast preset: at 8 lanes the deepest setting, P = 4) in test_dot_engine_on_verilator,
# on Verilator and Icarus; these explicit settings are in verify-full.
FAST_8 = dict(partials=4, add_stages=10, mul_stages=1, tree_every=2, scale_stages=6, load_stages=3)
PIPELINED = [
    full(CONFIGS[1], FAST_8, id="mxfp4-lanes8-P4-deepest"),
    full(CONFIGS[1], dict(partials=2, add_stages=7, mul_stages=1, tree_every=2, scale_stages=3, load_stages=1),
         id="mxfp4-lanes8-P2"),
    full(CONFIGS[1], dict(partials=1, add_stages=3, mul_stages=1, tree_every=2, scale_stages=3), id="mxfp4-lanes8-P1"),
    full(CONFIGS[0], dict(partials=4, add_stages=3, mul_stages=1, tree_every=2, scale_stages=2, load_stages=1),
         id="mxfp4-lanes32-P4"),
    full(CONFIGS[3], dict(partials=4, add_stages=3, mul_stages=3, tree_every=1, scale_stages=3), id="mxfp8_e4m3-lanes32-P4"),
]


@pytest.mark.verilator
@pytest.mark.parametrize("config, depth", PIPELINED)
def test_pipelined_dot_engine_on_verilator(config, depth, tmp_path, simulator):
    counts, t = run_bench(config, tmp_path, sim=simulator, depth=depth)
    assert t.partials == depth["partials"] and counts == (2, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == config[2]


@pytest.mark.verilator
def test_pipelined_dot_bench_catches_a_wrong_partials_order(tmp_path):
    """The P = 4 engine against golden results in block order (partials=1): the bench fails."""
    counts, _ = run_bench(CONFIGS[1], tmp_path, golden_partials=1, random_jobs=QUICK_JOBS)   # the default: P = 4
    assert counts[1] >= 1


@pytest.mark.verilator
# verify-full: make test runs mixed mode (FP16 and BF16) in the Amaranth simulator
@pytest.mark.parametrize("activation, lanes", [full("fp16", 32), full("bf16", 8)])
def test_mixed_mode_on_verilator(activation, lanes, tmp_path, simulator):
    from verification.traffic.dot import mixed_gemv_traffic, mixed_traffic
    dut = hdl.DotEngine("mxfp4", lanes, activations=activation)
    t = mixed_traffic("mxfp4", activation, dut.word_bits, dut.b_word_bits, random_jobs=60, max_blocks=16,
                      partials=dut.partials)
    save(t, tmp_path / "traffic.npz")
    gemv = mixed_gemv_traffic("mxfp4", activation, dut.word_bits, dut.b_word_bits, partials=dut.partials)
    save(gemv, tmp_path / "gemv.npz")
    params = {"traffic": str(tmp_path / "traffic.npz"), "gemv": str(tmp_path / "gemv.npz"),
              "report": str(tmp_path / "gemv.json"), "seed": 12, "mixed": True}
    assert run_cocotb(dut, "dot", "verification.benches.dot", tmp_path, params=params, sim=simulator) == (2, 0)
    results = np.array(t.results, dtype=np.uint32).view(np.float32)
    assert np.isnan(results).any() and np.isinf(results).any() and (results == 0).any()


@pytest.mark.full                 # make test: the planted partials-order fault on the same bench
@pytest.mark.verilator
def test_dot_bench_catches_planted_fault(tmp_path, simulator):
    counts, _ = run_bench(CONFIGS[1], tmp_path, planted_fault=30, sim=simulator)
    assert counts == (2, 1)


# --- Amaranth simulator ------------------------------------------------------------------------

def simulate(dut, t: DotTraffic, stall: float, seed: int = 2) -> list:
    sources = {dut.job: t.jobs, dut.a_words: t.a_words, dut.b_words: t.b_words, dut.scale_a: t.scale_a}
    if hasattr(dut, "scale_b"):
        sources[dut.scale_b] = t.scale_b
    return run_streams(dut, sources, dut.result, len(t.results), stall=stall, seed=seed,
                       cycles=12 * (len(t.a_words) + t.blocks) + 500)


# make test: the defaults of MXFP4 (8 and 32 lanes), NVFP4 and MXFP8 E5M2 (the unpipelined engine
# runs inside GEMV, and with MXFP8 E5M2 weights in mixed mode); the rest in verify-full.
@pytest.mark.parametrize("fmt, lanes, depth", [("mxfp4", 32, None), ("mxfp4", 8, None), ("nvfp4", 16, None),
                                                full("mxfp8_e4m3", 8, None), ("mxfp8_e5m2", 32, None),
                                                full("mxfp4", 32, {}), full("nvfp4", 8, {}), full("mxfp8_e5m2", 8, {})],
                         ids=lambda v: ("default" if v is None else "unpipelined") if not isinstance(v, (str, int))
                         else str(v))
def test_dot_engine_in_amaranth_simulator(fmt, lanes, depth):
    """The defaults (the fast preset) and the unpipelined engine, bit-exact under stalls."""
    dut = engine(fmt, lanes, depth)
    t = dot_traffic(fmt, dut.word_bits, random_jobs=12, partials=dut.partials)
    got = simulate(dut, t, stall=0.25)
    bad = [(t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


# Depth settings of the pipelined engine: per format and lane count, the multiplier stages, the
# adder tree's register interval, ScaleApply's stages, the FP32 adder's stages and the partial
# sums. make test: P = 4, 1, 16 and 2 (and the defaults, P = 4 and 16, in
# test_dot_engine_in_amaranth_simulator); FP8 and the other depths in verify-full.
DEPTHS = [
    ("mxfp4", 32, dict(partials=4, add_stages=3, mul_stages=1, tree_every=2, scale_stages=2)),
    ("mxfp4", 8, dict(partials=1, add_stages=3, mul_stages=1, tree_every=2, scale_stages=3)),
    # 16 partials behind a 1-stage adder: four combine levels, sums landing the next cycle
    ("mxfp4", 32, dict(partials=16, add_stages=1)),
    ("nvfp4", 8, dict(partials=2, add_stages=2, scale_stages=1)),
    full("mxfp8_e4m3", 8, dict(partials=4, add_stages=5, mul_stages=3, tree_every=1, scale_stages=3)),
    full("mxfp4", 8, dict(partials=2, add_stages=7, mul_stages=1, tree_every=2, scale_stages=3)),
    full("mxfp4", 8, dict(partials=2, add_stages=7, mul_stages=1, tree_every=2, scale_stages=3, load_stages=1)),
    full("mxfp4", 8, FAST_8),          # the 8-lane default: test_dot_engine_in_amaranth_simulator
]


@pytest.mark.parametrize("fmt, lanes, depth", DEPTHS, ids=lambda v: "-".join(f"{k}{x}" for k, x in v.items())
                         if isinstance(v, dict) else str(v))
def test_pipelined_dot_engine_in_amaranth_simulator(fmt, lanes, depth):
    """Bit-exact with golden.mx.dot(…, partials=P) under stalls on every stream, rejected jobs
    included; ``latency`` is what the engine takes from a job's last beat to its result."""
    dut = engine(fmt, lanes, depth)
    assert dut.partials == depth["partials"]
    t = dot_traffic(fmt, dut.word_bits, random_jobs=10, partials=dut.partials)
    got = simulate(dut, t, stall=0.25)
    bad = [(t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


# make test: FP16 and BF16 activations, MXFP4 and MXFP8 E5M2 weights, the default (fast preset) and
# the unpipelined engine; the rest in verify-full.
@pytest.mark.parametrize("fmt, activation, lanes, depth", [full("mxfp4", "fp16", 32, None), ("mxfp4", "fp16", 8, None),
                                                            full("mxfp4", "bf16", 16, None),
                                                            full("mxfp8_e5m2", "fp16", 8, None),
                                                            ("mxfp8_e5m2", "bf16", 8, {}), full("mxfp8_e5m2", "bf16", 8, None)])
def test_mixed_mode_in_amaranth_simulator(fmt, activation, lanes, depth):
    """MXFP8 E5M2 weights bring ±Inf elements: Inf × ±0 is NaN, Inf × the smallest subnormal
    activation is Inf. The defaults (fast preset) and the unpipelined engine ({})."""
    from verification.traffic.dot import mixed_traffic
    dut = engine(fmt, lanes, depth, activations=activation)
    t = mixed_traffic(fmt, activation, dut.word_bits, dut.b_word_bits, random_jobs=10, partials=dut.partials)
    got = simulate(dut, t, stall=0.25)
    bad = [(i, t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


def test_dot_engine_parameters_are_checked():
    for kwargs, word in [({"fmt": "mxint8"}, "fmt"), ({"lanes": 4}, "lanes"), ({"lanes": 64}, "lanes"),
                         ({"lanes": 12}, "lanes"), ({"fmt": "nvfp4", "lanes": 32}, "lanes")]:
        with pytest.raises(ValueError, match=word):
            hdl.DotEngine(**kwargs)


def first_result_cycle(dut, t: DotTraffic) -> int:
    """The clock cycle at which the first result is valid when every source offers its next item
    at once and nothing stalls."""
    return result_cycles(dut, t, 1)[0]


def result_cycles(dut, t: DotTraffic, count: int, watch=None, stall_until: int = 0, values: bool = False) -> list:
    """The clock cycles at which the first ``count`` results (or items of the input stream
    ``watch``) are taken when every source offers its next item at once and nothing stalls but
    the result stream before cycle ``stall_until``; with ``values``, the results themselves."""
    from amaranth.sim import Simulator
    sources = {dut.job: list(t.jobs), dut.a_words: list(t.a_words), dut.b_words: list(t.b_words),
               dut.scale_a: list(t.scale_a)}
    if hasattr(dut, "scale_b"):
        sources[dut.scale_b] = list(t.scale_b)
    seen = []

    async def bench(ctx):
        for cycle in range(100_000):
            ctx.set(dut.result.ready, 1 if cycle >= stall_until else 0)
            for port, items in sources.items():
                ctx.set(port.valid, 1 if items else 0)
                if items:
                    raw = port.payload.as_value() if hasattr(port.payload, "as_value") else port.payload
                    ctx.set(raw, int(items[0]))
            watched = dut.result if watch is None else watch
            if ctx.get(watched.valid) and ctx.get(watched.ready):
                seen.append(ctx.get(dut.result.payload.as_value()) if values else cycle)
                if len(seen) == count:
                    return
            taken = [items for port, items in sources.items() if items and ctx.get(port.ready)]
            await ctx.tick()
            for items in taken:
                items.pop(0)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("fmt, lanes, depth", [full(*DEPTHS[0])] + DEPTHS[1:3] + [("mxfp4", 8, FAST_8)],
                         ids=lambda v: "-".join(f"{k}{x}" for k, x in v.items()) if isinstance(v, dict) else str(v))
def test_pipelined_dot_engine_latency_is_what_it_says(fmt, lanes, depth):
    """One job of four blocks, nothing stalling: the pipelined engine's first result comes
    ``latency - 4`` cycles after today's engine's (whose latency is 4: the loaders in front of
    both are the same), plus the cycles its job queue adds in front (``job_delay``)."""
    rng = np.random.default_rng(1)
    n = 4 * mx.block_format(fmt).block
    pipelined = engine(fmt, lanes, depth)
    t = DotTraffic(pipelined.word_bits, partials=pipelined.partials)
    add_dot(t, mx.quantize(rng.standard_normal((1, n)), fmt), mx.quantize(rng.standard_normal((1, n)), fmt),
            mx.block_format(fmt).element.bits)
    today = engine(fmt, lanes, {})
    assert today.latency == 4
    assert today.job_delay == 0 and pipelined.job_delay > 0
    assert first_result_cycle(pipelined, t) - first_result_cycle(today, t) == \
        pipelined.latency - 4 + pipelined.job_delay


def test_the_bench_tells_partial_sum_orders_apart():
    """A planted fault in the partials order: the 4-partial engine against golden's block-order
    results (partials=1) must mismatch on some job, or the pipelined tests could not see one."""
    dut = hdl.DotEngine("mxfp4", 32, partials=4, add_stages=3)
    t = dot_traffic("mxfp4", dut.word_bits, random_jobs=10, partials=1)
    got = simulate(dut, t, stall=0.0)
    assert len(got) == len(t.results) and got != t.results


def test_pipelined_dot_engine_parameters_are_checked():
    with pytest.raises(ValueError, match="partials must be >= 4"):
        hdl.DotEngine("mxfp4", 32, partials=2, add_stages=3)
    assert hdl.DotEngine("mxfp4", 32, add_stages=3).partials == 4       # default: the fewest that work
    with pytest.raises(ValueError, match="preset"):
        hdl.DotEngine("mxfp4", 8, preset="fastest")
    with pytest.raises(TypeError, match="preset"):
        hdl.DotEngine("mxfp4", 8, preset=1)
    with pytest.raises(ValueError, match="partials"):
        hdl.DotEngine("mxfp4", 32, partials=3)
    for name in ("mul_stages", "tree_every", "scale_stages", "add_stages", "load_stages"):
        with pytest.raises(ValueError, match=name):
            hdl.DotEngine("mxfp4", 8, **{name: 99})
    assert hdl.DotEngine("mxfp4", 8, add_stages=3).partials == 1        # a block every 4 beats


# make test: 32 lanes at P = 4; the 8-lane default in test_fast_preset_keeps_one_beat_per_cycle_back_to_back
@pytest.mark.parametrize("lanes, depth", [(32, dict(partials=4, add_stages=3)), full(8, FAST_8)])
def test_pipelined_dot_engine_keeps_one_beat_per_cycle_back_to_back(lanes, depth):
    """Jobs of k = 1024 back to back, nothing stalling: one result every k / lanes cycles, i.e.
    a beat on every cycle (the partials are combined in the other bank while the next job
    accumulates: no bubble between jobs)."""
    rng = np.random.default_rng(3)
    dut = engine("mxfp4", lanes, depth)
    t = DotTraffic(dut.word_bits, partials=dut.partials)
    jobs, k = 6, 1024
    add_dot(t, mx.quantize(rng.standard_normal((jobs, k)), "mxfp4"), mx.quantize(rng.standard_normal((jobs, k)), "mxfp4"), 4)
    cycles = result_cycles(dut, t, jobs)
    intervals = np.diff(cycles)
    assert (intervals == k // lanes).all(), intervals


def test_depth_presets():
    """preset="unpipelined" is the four-stage engine; "fast" is the 250 MHz setting at 8 lanes
    (the README's measured one), with the accumulator adder as deep as keeps jobs of k = 1024
    back to back: 10 stages at every lane count (at 32 lanes a bank is held 25 cycles against
    32 beats). An explicit depth overrides the preset's."""
    from hdl.dot import combine_cycles, fewest_partials
    today = hdl.DotEngine("mxfp4", 8, preset="unpipelined")
    assert (today.latency, today.partials, today.pipelined, today.job_delay) == (4, 1, False, 0)
    fast = hdl.DotEngine("mxfp4", 8)
    assert {k: getattr(fast, f"_{k}") for k in FAST_8} == FAST_8 and fast.preset == "fast"
    for fmt, lanes, add, partials in (("mxfp4", 16, 10, 8), ("mxfp4", 32, 10, 16), ("nvfp4", 16, 10, 16),
                                      ("nvfp4", 8, 10, 8), ("mxfp8_e4m3", 32, 10, 16)):
        e = hdl.DotEngine(fmt, lanes, preset="fast")
        assert (e._add_stages, e.partials) == (add, partials), (fmt, lanes)
        beats = mx.block_format(fmt).block // lanes
        deeper = combine_cycles(add + 1, fewest_partials(add + 1, beats))
        assert combine_cycles(add, partials) < 1024 // lanes and (add == 10 or deeper >= 1024 // lanes)
    assert hdl.DotEngine("mxfp4", 8, preset="fast", add_stages=3, mul_stages=0).partials == 1
    assert hdl.DotEngine("mxfp4", 8, preset="unpipelined", scale_stages=2).pipelined


@pytest.mark.parametrize("lanes", [8, 32])
def test_fast_preset_keeps_one_beat_per_cycle_back_to_back(lanes):
    """Jobs of k = 1024 back to back on the fast preset: the engine takes a block's scales every
    32 / lanes cycles from the first block to the last (a beat on every cycle: no bubble between
    jobs), and the results follow at the same rate once the combine's schedule has settled (at
    32 lanes the second job's combine shares its adder with the first job's deeper levels)."""
    rng = np.random.default_rng(4)
    dut = hdl.DotEngine("mxfp4", lanes, preset="fast")
    t = DotTraffic(dut.word_bits, partials=dut.partials)
    jobs, k = 5, 1024
    add_dot(t, mx.quantize(rng.standard_normal((jobs, k)), "mxfp4"), mx.quantize(rng.standard_normal((jobs, k)), "mxfp4"), 4)
    blocks = np.diff(result_cycles(dut, t, jobs * k // 32, watch=dut.scale_a))
    assert (blocks == 32 // lanes).all(), blocks
    intervals = np.diff(result_cycles(dut, t, jobs))
    assert (intervals[1:] == k // lanes).all() and intervals[0] <= k // lanes + dut.partials // 2, intervals


# verify-full: make test has mixed mode at the defaults (the fast preset) in test_mixed_mode_in_amaranth_simulator.
@pytest.mark.parametrize("activation, lanes, depth", [full("fp16", 32, dict(partials=4, add_stages=3, mul_stages=2,
                                                                              tree_every=2, scale_stages=3)),
                                                       full("bf16", 8, dict(partials=2, add_stages=5, mul_stages=1))])
def test_pipelined_mixed_mode_in_amaranth_simulator(activation, lanes, depth):
    """Mixed mode at depth: the FP16/BF16 products registered, ScaleApply's mixed form cut,
    partial sums; bit-exact with golden.mx.dot(q, b, partials=P) under stalls."""
    from verification.traffic.dot import mixed_traffic
    dut = engine("mxfp4", lanes, depth, activations=activation)
    t = mixed_traffic("mxfp4", activation, dut.word_bits, dut.b_word_bits, random_jobs=8, partials=dut.partials)
    got = simulate(dut, t, stall=0.25)
    bad = [(i, t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


def test_default_lanes_is_the_block_size():
    """issue 33: `fp4hw verilog dot --fmt nvfp4` blamed a `--lanes 32` the user never gave; the
    default is now one block per beat (MX formats 32, as before; NVFP4 16)."""
    assert hdl.DotEngine("mxfp4").lanes == 32 and hdl.DotEngine("nvfp4").lanes == 16
    assert hdl.GEMV("nvfp4").lanes == 16 and hdl.GEMV("mxfp8_e4m3").lanes == 32
    with pytest.raises(ValueError, match="lanes=32"):
        hdl.DotEngine("nvfp4", 32)


def test_short_jobs_back_to_back_through_four_combine_levels():
    """16 partials behind a 1-stage adder, jobs of 1 to 4 blocks back to back with nothing
    stalling: the combine's levels hold several jobs at once and share the adder (a shallower
    level issues only while no deeper one does); bit-exact with golden."""
    rng = np.random.default_rng(7)
    dut = engine("mxfp4", 32, dict(partials=16, add_stages=1))
    t = DotTraffic(dut.word_bits, partials=dut.partials)
    for blocks in (3, 1, 2, 4, 1, 3, 2, 2, 1, 4, 3, 1):
        n = 32 * blocks
        add_dot(t, mx.quantize(rng.standard_normal((1, n)), "mxfp4"), mx.quantize(rng.standard_normal((1, n)), "mxfp4"), 4)
    got = simulate(dut, t, stall=0.0)
    assert len(got) == len(t.results) and got == t.results


def test_a_long_result_stall_holds_the_combine_without_losing_a_sum():
    """The result stream stalls for 300 cycles while short jobs keep coming: the combine's levels
    and the publishing stage fill up and hold (the last level takes no job while a sum waits to
    be published), and every result is golden's once the stream moves (16 partials, 1-stage
    adder, the case where a sum would land soonest)."""
    rng = np.random.default_rng(9)
    dut = engine("mxfp4", 32, dict(partials=16, add_stages=1))
    t = DotTraffic(dut.word_bits, partials=dut.partials)
    for blocks in (1, 2, 1, 3, 1, 1, 2, 1):
        n = 32 * blocks
        add_dot(t, mx.quantize(rng.standard_normal((1, n)), "mxfp4"), mx.quantize(rng.standard_normal((1, n)), "mxfp4"), 4)
    got = result_cycles(dut, t, len(t.results), stall_until=300, values=True)
    assert got == t.results
