"""hdl.PackedLoader against golden.packing.load_job: cocotb on Verilator under random and
bursty stalls on every stream (directed cases and random jobs), a no-stall run over >= 10,000
words for the throughput, and the Amaranth simulator for the fast inner loop."""

import json
import numpy as np
import pytest

import hdl
from verification.amaranth_sim import run_streams
from verification.cocotb_run import run_cocotb
from verification.loader_traffic import Traffic, add_job, directed_traffic, random_traffic


def traffic(word_bits, layout, compressed, scales=None, block=32, n_random=30, seed=1):
    t = directed_traffic(word_bits, layout, compressed, scales, block, seed=seed)
    r = random_traffic(word_bits, n_random, layout, compressed, scales, block, seed=seed + 1)
    for k in ("jobs", "words", "scales", "beats", "kinds", "word_states"):
        getattr(t, k).extend(getattr(r, k))
    for point, n in r.data_points.items():
        t.data_points[point] = t.data_points.get(point, 0) + n
    return t


def throughput_traffic(word_bits, layout, compressed, scales=None, block=32, words=10240) -> Traffic:
    """Aligned jobs, back to back, >= ``words`` words; compressed words half zero, so every chunk
    has a zero word to hide its bitmap behind. Diagonal: row jobs, then column jobs (a row job
    right after a column job first fills a tile: L cycles without output, documented)."""
    rng = np.random.default_rng(9)
    t = Traffic(word_bits)
    L = word_bits // 4
    while len(t.words) < words:                       # jobs of 1024 words (whole tiles when diagonal)
        count = 1024 * L if layout == "linear" else max(1, 1024 // L) * L * L
        add_job(t, rng, count, layout=layout, rows=layout == "diagonal" and len(t.words) < words // 2,
                compressed=compressed, scales=scales, block=block, zero_share=0.5 if compressed else 0.1)
    return t


def save(t: Traffic, path):
    np.savez(path, jobs=np.array(t.jobs, dtype=object), words=np.array(t.words, dtype=object),
             scales=np.array(t.scales, dtype=object), beats=np.array(t.beats, dtype=object),
             word_states=np.array(t.word_states), data_points=np.array(json.dumps(t.data_points)))


CONFIGS = [  # word_bits, layout, compressed, scales, block
    (16, "linear", False, "e8m0", 32),
    (32, "linear", True, None, 32),
    (32, "diagonal", True, None, 32),
    (64, "diagonal", False, None, 32),
    (128, "linear", True, "ue4m3", 16),
    (512, "linear", False, "e8m0", 32),
]


def run_bench(config, tmp_path, planted_fault=None, testcase=None, n_random=30, sim="verilator"):
    word_bits, layout, compressed, scales, block = config
    t = traffic(word_bits, layout, compressed, scales, block, n_random=n_random)
    if planted_fault is not None:
        t.beats[planted_fault] ^= 1 << (word_bits // 4 * 5)          # flip one beat's `last`
    save(t, tmp_path / "traffic.npz")
    save(throughput_traffic(word_bits, layout, compressed, scales, block), tmp_path / "throughput.npz")
    expect_error = int(any(b >> (word_bits // 4 * 5 + 1) & 1 for b in t.beats))
    params = {"traffic": str(tmp_path / "traffic.npz"), "throughput": str(tmp_path / "throughput.npz"),
              "report": str(tmp_path / "throughput.json"), "lanes": word_bits // 4, "scales": scales,
              "expect_error": expect_error, "seed": 3, "layout": layout, "compressed": compressed}
    dut = hdl.PackedLoader(word_bits, layout, compressed=compressed, scales=scales, block=block)
    return run_cocotb(dut, "loader", "verification.cocotb_loader", tmp_path, params=params, testcase=testcase,
                      sim=sim)


@pytest.mark.verilator
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c))
def test_loader_streams_on_verilator(config, tmp_path, simulator):
    assert run_bench(config, tmp_path, sim=simulator) == (3, 0)
    report = json.loads((tmp_path / "throughput.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["words"] >= 10000


@pytest.mark.verilator
def test_loader_bench_catches_planted_fault(tmp_path, simulator):
    assert run_bench(CONFIGS[1], tmp_path, planted_fault=40, n_random=5, sim=simulator) == (3, 2)


# --- Amaranth simulator: the fast inner loop ---------------------------------------------------

def simulate(dut, t: Traffic, stall: float, seed: int = 1) -> list:
    sources = {dut.job: t.jobs, dut.words: t.words}
    if t.scales:
        sources[dut.scale] = t.scales
    return run_streams(dut, sources, dut.lanes, len(t.beats), stall=stall, seed=seed,
                       cycles=8 * (len(t.words) + len(t.beats)) + 500)


SIM_CONFIGS = [(w, layout, compressed) for w in (16, 32, 64, 128, 256, 512)
               for layout in ("linear", "diagonal") for compressed in (False, True)
               if not (w >= 256 and layout == "diagonal")]


@pytest.mark.parametrize("config", SIM_CONFIGS, ids=lambda c: "-".join(str(v) for v in c))
def test_loader_in_amaranth_simulator(config):
    word_bits, layout, compressed = config
    t = traffic(word_bits, layout, compressed, n_random=6 if word_bits <= 64 else 2)
    got = simulate(hdl.PackedLoader(word_bits, layout, compressed=compressed), t, stall=0.25)
    bad = [(i, t.kinds) for i, (g, w) in enumerate(zip(got, t.beats)) if g != w]
    assert len(got) == len(t.beats) and not bad, f"{len(bad)} beats differ, first {bad[:1]}"


@pytest.mark.parametrize("scales, block, word_bits", [("e8m0", 32, 32), ("ue4m3", 16, 16), ("e8m0", 16, 256)])
def test_loader_scales_in_amaranth_simulator(scales, block, word_bits):
    t = traffic(word_bits, "linear", False, scales, block, n_random=6)
    got = simulate(hdl.PackedLoader(word_bits, scales=scales, block=block), t, stall=0.3)
    assert got == t.beats


def test_loader_decodes_lanes():
    """decode="fp16" puts hdl.Decoder on the lanes: the values are golden's to_ieee of the codes."""
    import golden
    t = traffic(32, "linear", False, n_random=4)
    got = simulate(hdl.PackedLoader(32, decode="fp16"), t, stall=0.0)
    for g, w in zip(got, t.beats):
        codes = [w >> (4 * i) & 0xF for i in range(8)]
        values = golden.E2M1.to_ieee(np.array(codes), "fp16")
        assert g & (1 << 128) - 1 == sum(int(v) << (16 * i) for i, v in enumerate(values))
        assert g >> 128 == w >> 32


def test_loader_parameters_are_checked():
    for kwargs, word in [({"word_bits": 24}, "word_bits"), ({"layout": "zigzag"}, "layout"),
                         ({"scales": "e5m2"}, "scales"), ({"layout": "diagonal", "scales": "e8m0"}, "diagonal"),
                         ({"block": 64}, "block"), ({"decode": "fp8"}, "out"), ({"fmt": "e4m3"}, "fmt"),
                         ({"count_bits": 4}, "count_bits")]:
        with pytest.raises(ValueError, match=word):
            hdl.PackedLoader(**kwargs)
