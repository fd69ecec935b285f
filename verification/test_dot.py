"""hdl.DotEngine against golden.mx.dot: cocotb on Verilator under random and bursty stalls
(directed jobs: empty, all-zero blocks, 2**±127 scales and FP32 overflow/underflow, NaN scales,
FP8 NaN/Inf elements, one block; random rows from normal, heavy-tailed, ReLU-sparse and
uniform draws, K up to 4096), a GEMV with no stalls for the initiation interval and its cycle
count, and the Amaranth simulator for the fast inner loop; the FP32 accumulator's adder on
its own against numpy."""

import json

import numpy as np
import pytest

import hdl
from golden import mx
from hdl.fpadd import FloatAdder
from verification.amaranth_sim import run_streams, run_vectors
from verification.cocotb_run import run_cocotb, run_vector_bench
from verification.dot_traffic import DotTraffic, add_dot, dot_traffic


def save(t: DotTraffic, path):
    np.savez(path, job=np.array(t.jobs, dtype=object), a_words=np.array(t.a_words, dtype=object),
             b_words=np.array(t.b_words, dtype=object), scale_a=np.array(t.scale_a, dtype=object),
             scale_b=np.array(t.scale_b, dtype=object), results=np.array(t.results, dtype=object),
             blocks=t.blocks)


def gemv_traffic(fmt, word_bits, rows, k, seed=5) -> DotTraffic:
    """``rows`` weight rows against one activation vector of ``k`` elements."""
    fmt = mx.block_format(fmt)
    rng = np.random.default_rng(seed)
    weights = mx.quantize(rng.standard_normal((rows, k)), fmt)
    activation = mx.quantize(np.tile(np.maximum(rng.standard_normal((1, k)), 0), (rows, 1)), fmt)
    t = DotTraffic(word_bits)
    add_dot(t, weights, activation, fmt.element.bits, "gemv")
    return t


CONFIGS = [  # fmt, lanes, gemv rows, gemv k
    ("mxfp4", 32, 64, 4096),
    ("mxfp4", 8, 16, 1024),
    ("nvfp4", 16, 32, 1024),
    ("mxfp8_e4m3", 32, 16, 2048),
    ("mxfp8_e5m2", 8, 8, 512),
]


def run_bench(config, tmp_path, planted_fault=None, testcase=None, sim="verilator"):
    fmt, lanes, rows, k = config
    dut = hdl.DotEngine(fmt, lanes)
    t = dot_traffic(fmt, dut.word_bits, random_jobs=60, max_blocks=16)
    rng = np.random.default_rng(8)
    for blocks in (64, 128):                                   # K = 2048 and 4096 for block 32
        n = blocks * mx.block_format(fmt).block
        add_dot(t, mx.quantize(rng.standard_normal((1, n)), fmt), mx.quantize(rng.laplace(size=(1, n)), fmt),
                mx.block_format(fmt).element.bits, f"K={n}")
    if planted_fault is not None:
        t.results[planted_fault] ^= 1
    save(t, tmp_path / "traffic.npz")
    save(gemv_traffic(fmt, dut.word_bits, rows, k), tmp_path / "gemv.npz")
    params = {"traffic": str(tmp_path / "traffic.npz"), "gemv": str(tmp_path / "gemv.npz"),
              "report": str(tmp_path / "gemv.json"), "seed": 11, "scale_bits": 8 if mx.block_format(fmt).is_mx else 7}
    return run_cocotb(dut, "dot", "verification.cocotb_dot", tmp_path, params=params, testcase=testcase, sim=sim), t


@pytest.mark.verilator
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}-lanes{c[1]}")
def test_dot_engine_on_verilator(config, tmp_path, simulator):
    counts, t = run_bench(config, tmp_path, sim=simulator)
    assert counts == (3, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == config[2]
    assert sum(r >> 32 for r in t.results) >= 4                  # rejected jobs (error bit) in the traffic
    results = np.array([r for r in t.results if r >> 32 == 0], dtype=np.uint32).view(np.float32)
    assert np.isnan(results).any() and (results == 0).any()
    if mx.block_format(config[0]).is_mx:           # UE4M3 scale products cannot leave FP32's range
        assert np.isinf(results).any() and ((np.abs(results) < 2.0 ** -126) & (results != 0)).any()


@pytest.mark.verilator
@pytest.mark.parametrize("activation, lanes", [("fp16", 32), ("bf16", 8)])
def test_mixed_mode_on_verilator(activation, lanes, tmp_path, simulator):
    from verification.dot_traffic import mixed_traffic
    dut = hdl.DotEngine("mxfp4", lanes, activations=activation)
    t = mixed_traffic("mxfp4", activation, dut.word_bits, dut.b_word_bits, random_jobs=60, max_blocks=16)
    save(t, tmp_path / "traffic.npz")
    gemv = mixed_traffic("mxfp4", activation, dut.word_bits, dut.b_word_bits, seed=3, random_jobs=40)
    save(gemv, tmp_path / "gemv.npz")
    params = {"traffic": str(tmp_path / "traffic.npz"), "gemv": str(tmp_path / "gemv.npz"),
              "report": str(tmp_path / "gemv.json"), "seed": 12, "mixed": True}
    assert run_cocotb(dut, "dot", "verification.cocotb_dot", tmp_path, params=params, sim=simulator) == (3, 0)
    results = np.array(t.results, dtype=np.uint32).view(np.float32)
    assert np.isnan(results).any() and np.isinf(results).any() and (results == 0).any()


@pytest.mark.verilator
def test_dot_bench_catches_planted_fault(tmp_path, simulator):
    counts, _ = run_bench(CONFIGS[1], tmp_path, planted_fault=30, sim=simulator)
    assert counts == (3, 2)


# --- Amaranth simulator ------------------------------------------------------------------------

def simulate(dut, t: DotTraffic, stall: float, seed: int = 2) -> list:
    sources = {dut.job: t.jobs, dut.a_words: t.a_words, dut.b_words: t.b_words, dut.scale_a: t.scale_a}
    if hasattr(dut, "scale_b"):
        sources[dut.scale_b] = t.scale_b
    return run_streams(dut, sources, dut.result, len(t.results), stall=stall, seed=seed,
                       cycles=12 * (len(t.a_words) + t.blocks) + 500)


@pytest.mark.parametrize("fmt, lanes", [("mxfp4", 32), ("mxfp4", 8), ("nvfp4", 16), ("mxfp8_e4m3", 8),
                                         ("mxfp8_e5m2", 32)])
def test_dot_engine_in_amaranth_simulator(fmt, lanes):
    dut = hdl.DotEngine(fmt, lanes)
    t = dot_traffic(fmt, dut.word_bits, random_jobs=12)
    got = simulate(dut, t, stall=0.25)
    bad = [(t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


@pytest.mark.parametrize("fmt, activation, lanes", [("mxfp4", "fp16", 32), ("mxfp4", "fp16", 8),
                                                     ("mxfp4", "bf16", 16), ("mxfp8_e5m2", "fp16", 8),
                                                     ("mxfp8_e5m2", "bf16", 8)])
def test_mixed_mode_in_amaranth_simulator(fmt, activation, lanes):
    """MXFP8 E5M2 weights bring ±Inf elements: Inf × ±0 is NaN, Inf × the smallest subnormal
    activation is Inf."""
    from verification.dot_traffic import mixed_traffic
    dut = hdl.DotEngine(fmt, lanes, activations=activation)
    t = mixed_traffic(fmt, activation, dut.word_bits, dut.b_word_bits, random_jobs=10)
    got = simulate(dut, t, stall=0.25)
    bad = [(i, t.kinds[i], hex(g), hex(w)) for i, (g, w) in enumerate(zip(got, t.results)) if g != w]
    assert len(got) == len(t.results) and not bad, bad[:4]


def test_dot_engine_parameters_are_checked():
    for kwargs, word in [({"fmt": "mxint8"}, "fmt"), ({"lanes": 4}, "lanes"), ({"lanes": 64}, "lanes"),
                         ({"lanes": 12}, "lanes"), ({"fmt": "nvfp4", "lanes": 32}, "lanes")]:
        with pytest.raises(ValueError, match=word):
            hdl.DotEngine(**kwargs)


def adder_vectors(n=400_000, seed=0):
    """Random FP32 pairs, pairs that cancel, pairs a few exponents apart, and every pair of the
    special values (±0, ±Inf, NaN, ±min/max normal and subnormal)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    q = n // 4
    b[:q] = (a[:q] ^ 0x80000000) + rng.integers(-8, 9, q).astype(np.uint32)
    b[q:2 * q] = a[q:2 * q] + rng.integers(-(1 << 26), 1 << 26, q).astype(np.int64).astype(np.uint32)
    b[2 * q:3 * q] = (a[2 * q:3 * q] & 0x807FFFFF) | (rng.integers(0, 3, q).astype(np.uint32) << 23)
    special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 1, 0x80000001,
                        0x007FFFFF, 0x807FFFFF, 0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000,
                        0xBF800000], dtype=np.uint32)
    a = np.concatenate([a, np.repeat(special, special.size)])
    b = np.concatenate([b, np.tile(special, special.size)])
    with np.errstate(all="ignore"):
        s = (a.view(np.float32) + b.view(np.float32)).astype(np.float32)
    want = np.where(np.isnan(s), np.uint32(0x7FC00000), s.view(np.uint32))
    return a, b, want


@pytest.mark.verilator
def test_fp32_adder_against_numpy_on_verilator(tmp_path, simulator):
    a, b, want = adder_vectors()
    result = run_vector_bench(FloatAdder(lanes=8), "float_adder", tmp_path, lanes=8,
                              inputs={"a": (a, 32), "b": (b, 32)}, outputs={"result": (want.astype(np.int64), 32)},
                              sim=simulator)
    assert result == (1, 0)


def test_fp32_adder_sample_in_amaranth_simulator():
    a, b, want = adder_vectors(2000, seed=1)
    dut = FloatAdder()

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i]))
        ctx.set(dut.b[0], int(b[i]))
    assert not run_vectors(dut, range(a.size), apply=apply, read=lambda ctx, i: ctx.get(dut.result[0]),
                           expected=lambda i: int(want[i]))


# --- GEMV -------------------------------------------------------------------------------------

def gemv_streams(fmt, lanes, rows, k, activations=None, seed=6, max_k=None):
    """Job, vector words/scales, weight words/scales and golden results of one GEMV."""
    import ml_dtypes
    from golden import packing
    from verification.dot_traffic import memory_words
    fmt = mx.block_format(fmt)
    dut = hdl.GEMV(fmt, lanes, max_k=max_k or max(k, fmt.block), activations=activations)
    rng = np.random.default_rng(seed)
    w = mx.quantize(rng.standard_normal((rows, k)) * np.exp2(rng.integers(-4, 4, (rows, 1))), fmt)
    if activations is None:
        x = mx.quantize(np.maximum(rng.standard_normal((1, k)), 0), fmt)
        want = mx.matmul(w, x).reshape(-1) if k else np.zeros(rows, np.float32)
        x_words = memory_words(x.codes[0], fmt.element.bits, dut._engine.b_word_bits) if k else []
        x_scales = [int(s) for s in x.scales[0]]
    else:
        dtype = np.float16 if activations == "fp16" else ml_dtypes.bfloat16
        xv = rng.standard_normal(k).astype(dtype)
        want = mx.dot(w, np.tile(xv, (rows, 1))) if k else np.zeros(rows, np.float32)
        x_words = packing.to_words(xv.view(np.uint16).astype("<u2").view(np.uint8), dut._engine.b_word_bits) if k else []
        x_scales = []
    w_words = [wd for r in range(rows) for wd in (memory_words(w.codes[r], fmt.element.bits, dut._engine.word_bits)
                                                 if k else [])]
    w_scales = [int(s) for r in range(rows) for s in w.scales[r]]
    results = [int(v) | (int(i == rows - 1) << 32) for i, v in enumerate(np.asarray(want, np.float32).view(np.uint32))]
    return dut, {"job": [rows | k << 16], "x_words": x_words, "x_scales": x_scales, "w_words": w_words,
                 "w_scales": w_scales}, results


def simulate_gemv(dut, streams, expected, stall, seed=3):
    sources = {getattr(dut, name): items for name, items in streams.items() if items or name == "job"}
    return run_streams(dut, sources, dut.result, len(expected), stall=stall, seed=seed,
                       cycles=12 * (len(streams["w_words"]) + len(streams["x_words"])) + 2000)


@pytest.mark.parametrize("fmt, lanes, rows, k, activations", [
    ("mxfp4", 32, 6, 256, None), ("mxfp4", 8, 3, 96, None), ("nvfp4", 16, 4, 64, None),
    ("mxfp4", 16, 4, 128, "fp16"), ("mxfp4", 32, 2, 0, None), ("mxfp8_e4m3", 8, 2, 64, None),
    ("mxfp4", 32, 3, 32, None)])                       # a one-word vector
def test_gemv_in_amaranth_simulator(fmt, lanes, rows, k, activations):
    dut, streams, expected = gemv_streams(fmt, lanes, rows, k, activations)
    got = simulate_gemv(dut, streams, expected, stall=0.2)
    assert got == expected


def test_gemv_in_amaranth_simulator_jobs_back_to_back():
    """Two GEMV jobs in a row (different shapes): the replay of the first vector must stop at
    its last row, and the second job must start clean (mutation testing found no test for it)."""
    dut, first, want_first = gemv_streams("mxfp4", 8, 3, 96, seed=6, max_k=128)
    _, second, want_second = gemv_streams("mxfp4", 8, 2, 64, seed=7, max_k=128)
    streams = {name: first[name] + second[name] for name in first}
    got = simulate_gemv(dut, streams, want_first + want_second, stall=0.2)
    assert got == want_first + want_second


@pytest.mark.parametrize("bad_k", [31, 48, 160, (1 << 24) - 32])
def test_gemv_rejects_a_job_whose_k_is_not_a_block_multiple_or_exceeds_max_k(bad_k):
    """Between two good jobs, a job with a bad ``k`` (not a multiple of the block, or over
    max_k = 128) reads nothing and gives one result: error and last set, the canonical NaN."""
    dut, first, want_first = gemv_streams("mxfp4", 8, 3, 96, seed=6, max_k=128)
    _, second, want_second = gemv_streams("mxfp4", 8, 2, 64, seed=7, max_k=128)
    rejected = 0x7FC00000 | 1 << 32 | 1 << 33                # value NaN, last, error
    streams = {name: first[name] + second[name] for name in first}
    streams["job"] = first["job"] + [5 | bad_k << 16] + second["job"]
    want = want_first + [rejected] + want_second
    assert simulate_gemv(dut, streams, want, stall=0.2) == want
    with pytest.raises(ValueError):                         # golden refuses such a length too
        mx.dot(mx.quantize(np.ones((1, 31)), "mxfp4"), mx.quantize(np.ones((1, 31)), "mxfp4"))


def save_gemv(path, streams, expected):
    np.savez(path, **{name: np.array(items, dtype=object) for name, items in streams.items()},
             results=np.array(expected, dtype=object))


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, lanes, rows, k, activations", [
    ("mxfp4", 32, 64, 4096, None), ("nvfp4", 16, 16, 1024, None), ("mxfp4", 16, 16, 1024, "fp16")])
def test_gemv_on_verilator(fmt, lanes, rows, k, activations, tmp_path, simulator):
    """The issue's 64 x 4096 MXFP4 GEMV without stalls (cycle count recorded), and a smaller one
    under random stalls, both bit-exact."""
    assert run_gemv(fmt, lanes, rows, k, activations, tmp_path, sim=simulator) == (2, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == rows


@pytest.mark.verilator
def test_gemv_bench_catches_planted_fault(tmp_path, simulator):
    assert run_gemv("nvfp4", 16, 16, 1024, None, tmp_path, planted_fault=3, sim=simulator) == (2, 2)


def run_gemv(fmt, lanes, rows, k, activations, tmp_path, testcase=None, planted_fault=None, sim="verilator"):
    dut, streams, expected = gemv_streams(fmt, lanes, rows, k, activations)
    if planted_fault is not None:
        expected[planted_fault] ^= 1
    save_gemv(tmp_path / "full.npz", streams, expected)
    _, small, small_expected = gemv_streams(fmt, lanes, 12, min(k, 512), activations, seed=9, max_k=k)
    if planted_fault is not None:
        small_expected[planted_fault] ^= 1
    save_gemv(tmp_path / "stalled.npz", small, small_expected)
    params = {"full": str(tmp_path / "full.npz"), "stalled": str(tmp_path / "stalled.npz"),
              "report": str(tmp_path / "gemv.json"), "mixed": activations is not None}
    return run_cocotb(dut, "gemv", "verification.cocotb_gemv", tmp_path, params=params, testcase=testcase, sim=sim)
