"""hdl.PackedLoader against golden.packing.load_job: cocotb on Verilator under random and
bursty stalls on every stream (directed cases and random jobs), a no-stall run over >= 10,000
words for the throughput, and the Amaranth simulator for the fast inner loop."""

import json
import numpy as np
import pytest

import hdl
from verification.benches.amaranth_sim import run_streams
from verification.benches.runs import LOADER_CONFIGS as CONFIGS
from verification.benches.runs import run_loader_bench as run_bench
from verification.traffic.loader import Traffic, traffic
from verification.tiers import full, icarus

# make test: compressed linear (Icarus too); diagonal tiles and block scales run in the Amaranth
# simulator there (every word width, layout and scale format), and here in verify-full.
TIERED = [full(CONFIGS[0]), icarus(CONFIGS[1]), full(CONFIGS[2]), full(CONFIGS[3]), full(CONFIGS[4]), full(CONFIGS[5])]


@pytest.mark.verilator
@pytest.mark.parametrize("config", TIERED, ids=lambda c: "-".join(str(v) for v in c))
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
# make test: every word width once, both layouts and both stream kinds (8 of the 20); all in verify-full
SIM_QUICK = {(16, "diagonal", True), (32, "linear", False), (32, "diagonal", False), (64, "linear", True),
             (128, "linear", False), (128, "diagonal", True), (256, "linear", True), (512, "linear", False)}
assert SIM_QUICK <= set(SIM_CONFIGS)
SIM_TIERED = [c if c in SIM_QUICK else full(c) for c in SIM_CONFIGS]


@pytest.mark.parametrize("config", SIM_TIERED, ids=lambda c: "-".join(str(v) for v in c))
def test_loader_in_amaranth_simulator(config):
    word_bits, layout, compressed = config
    t = traffic(word_bits, layout, compressed, n_random=6 if word_bits <= 64 else 2)
    got = simulate(hdl.PackedLoader(word_bits, layout, compressed=compressed), t, stall=0.25)
    bad = [(i, t.kinds) for i, (g, w) in enumerate(zip(got, t.beats)) if g != w]
    assert len(got) == len(t.beats) and not bad, f"{len(bad)} beats differ, first {bad[:1]}"


@pytest.mark.parametrize("word_bits, layout, compressed, scales", [
    (32, "linear", True, None), (32, "diagonal", True, None), (16, "diagonal", False, None),
    (128, "linear", False, "ue4m3")])
@pytest.mark.parametrize("stages", [1, 2, 3])
def test_loader_token_register_in_amaranth_simulator(word_bits, layout, compressed, scales, stages):
    """``stages=1`` (the register between front end and aligner), 2 (and the beat register
    after the aligner) and 3 (the first one a skid buffer): the same beats under stalls."""
    t = traffic(word_bits, layout, compressed, scales, 16 if scales == "ue4m3" else 32, n_random=6)
    dut = hdl.PackedLoader(word_bits, layout, compressed=compressed, scales=scales,
                           block=16 if scales == "ue4m3" else 32, stages=stages)
    assert dut.stages == stages
    got = simulate(dut, t, stall=0.25)
    assert len(got) == len(t.beats) and got == t.beats


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
                         ({"block": 64}, "block"), ({"decode": "fp8"}, "decode="), ({"fmt": "e4m3"}, "fmt"),
                         ({"count_bits": 4}, "count_bits"), ({"stages": 4}, "stages")]:
        with pytest.raises(ValueError, match=word):
            hdl.PackedLoader(**kwargs)
