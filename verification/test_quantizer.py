"""hdl.Quantizer against golden.mx.quantize: a streaming bench on Verilator under random and
bursty valid/ready stalls (>= 2,000 blocks per configuration), the same traffic with no stalls
for the throughput, and quick runs of every scale mode and input in the Amaranth simulator.
"""

import json

import numpy as np
import pytest
from amaranth.sim import Simulator

import golden
import hdl
from golden import mx
from verification.benches.amaranth_sim import stream_get, stream_put
from verification.benches.runs import QUANTIZER_CONFIGS as CONFIGS
from verification.benches.runs import run_quantizer_bench as run_bench
from verification.traffic.quantizer import (as_input, beats_of, golden_blocks, stimulus_blocks)
from verification.tiers import full, icarus


# Random blocks per run in make test: Verilator 30 and Icarus, whose own contribution is the 4-state
# check (an X or Z on an output, valid or ready fails the bench), 20. The directed corner
# blocks (NaN/Inf, E8M0 0x00 and 0xFF scales, FP32 subnormals, values near the FP32 maximum)
# come first in every run and the stalls are random from the first beat, so the random blocks
# after them add samples, not cases; the bench's time is the Python driving each cycle. Every
# configuration runs 2,000 blocks on both simulators in make verify-full
# (test_quantizer_stream_all_blocks).
BLOCKS = {"verilator": 30, "icarus": 20}
# make test: the 16-lane BF16 MXFP4 configuration on Verilator and Icarus (its model builds in a
# third of the 8-lane FP32 one's time); NVFP4 (UE4M3 scales), FP16 inputs and stochastic rounding
# run in the Amaranth simulator below (every input format, scale mode and rounding there). The
# others, NVFP4 with stochastic rounding among them, in verify-full.
TIERED = [full(CONFIGS[0]), full(CONFIGS[1]), icarus(CONFIGS[2]), full(CONFIGS[3]), full(CONFIGS[4]),
          full(CONFIGS[5])]


@pytest.mark.verilator
@pytest.mark.parametrize("config", TIERED, ids=lambda c: "-".join(str(v) for v in c))
def test_quantizer_stream_on_verilator(config, tmp_path, simulator):
    blocks = BLOCKS[simulator]
    assert run_bench(config, tmp_path, blocks=blocks, sim=simulator) == (2, 0)
    report = json.loads((tmp_path / "throughput.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["beats"] >= blocks * 32 // config[2] // 2


@pytest.mark.full
@pytest.mark.verilator
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c))
def test_quantizer_stream_all_blocks(config, tmp_path, simulator):
    assert run_bench(config, tmp_path, blocks=2000, sim=simulator) == (2, 0)


@pytest.mark.verilator
def test_quantizer_bench_catches_planted_fault(tmp_path, simulator):
    assert run_bench(CONFIGS[2], tmp_path, blocks=200, planted_fault=150, sim=simulator) == (2, 2)


def test_directed_blocks_cover_the_corner_cases():
    x = stimulus_blocks("mxfp4", 200)
    q = mx.quantize(x, "mxfp4")
    scales = q.scales.reshape(-1)
    assert {0x00, 0xFF} <= set(scales.tolist())
    assert (np.isnan(x).any(axis=1)).any() and (np.isinf(x).any(axis=1)).any()
    assert (x.view(np.uint32) & 0x7F800000 == 0).any()            # FP32 subnormals
    assert (x.view(np.uint32) & 0x7FFFFFFF > 0x7E000000).any()    # near the FP32 maximum


# --- Amaranth simulator: the fast inner loop ---------------------------------------------------

def simulate(dut, fmt, source, lanes, x):
    """Push the blocks of ``x`` through ``dut`` in the Amaranth simulator; output payloads."""
    bits, _ = as_input(x, source)
    beats = beats_of(bits, lanes, golden.ieee_format(source).bits)
    got = []

    async def put(ctx):
        for beat in beats:
            await stream_put(ctx, dut.i, beat)

    async def get(ctx):
        for _ in range(len(x)):
            payload = await stream_get(ctx, dut.o)
            got.append(payload.as_value().value)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(put)
    sim.add_testbench(get)
    sim.run()
    return got


SIM_CONFIGS = [(fmt, source, min(lanes, mx.block_format(fmt).block), mode, rounding)
               for fmt, mode in [("mxfp4", m) for m in mx.SCALE_MODES] + [("nvfp4", None)]
               for source, lanes in (("fp32", 32), ("bf16", 8), ("fp16", 4))
               for rounding in ("rne", "rtz", "stochastic")
               if (source, rounding) != ("fp32", "rtz") or mode == "floor"]
# make test: every scale mode, input format and rounding at least once, both block formats
# (a covering subset: 5 of the 49); the whole cross product in verify-full.
SIM_QUICK = {("mxfp4", "fp32", 32, "floor", "rtz"), ("mxfp4", "bf16", 8, "ceil", "stochastic"),
             ("mxfp4", "fp16", 4, "even", "rtz"), ("mxfp4", "bf16", 8, "rceil", "rne"),
             ("nvfp4", "bf16", 8, None, "stochastic")}
assert SIM_QUICK <= set(SIM_CONFIGS)
SIM_TIERED = [c if c in SIM_QUICK else full(c) for c in SIM_CONFIGS]


@pytest.mark.parametrize("config", SIM_TIERED, ids=lambda c: "-".join(str(v) for v in c))
def test_quantizer_in_amaranth_simulator(config):
    fmt, source, lanes, scale_mode, rounding = config
    x = stimulus_blocks(fmt, 20, seed=5)                       # directed rows and 20 random
    _, want = golden_blocks(x, fmt, source, scale_mode, rounding)
    dut = hdl.Quantizer(fmt, input=source, lanes=lanes, scale_mode=scale_mode, rounding=rounding)
    got = simulate(dut, fmt, source, lanes, x)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad and len(got) == len(want), f"blocks {bad[:8]} differ"


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", full("mxfp8_e5m2")])    # make test: E4M3 (E5M2's Inf in verify-full)
def test_quantizer_mxfp8_elements_in_amaranth_simulator(fmt):
    x = stimulus_blocks(fmt, 40, seed=6)
    _, want = golden_blocks(x, fmt, "bf16", "floor", "rne")
    got = simulate(hdl.Quantizer(fmt, input="bf16", lanes=16), fmt, "bf16", 16, x)
    assert got == want


def test_quantizer_parameters_are_checked():
    for kwargs, word in [({"fmt": "mxfp9"}, "fmt"), ({"input": "fp64"}, "input"), ({"lanes": 3}, "lanes"),
                         ({"lanes": 64}, "lanes"), ({"scale_mode": "up"}, "scale_mode"),
                         ({"fmt": "nvfp4", "scale_mode": "floor"}, "scale_mode"),
                         ({"rounding": "rna"}, "rounding"), ({"sr_bits": 0}, "sr_bits"), ({"seed": 0}, "seed"),
                         ({"fmt": mx.BlockFormat(golden.E1M2, 16, golden.UE4M3)}, "E2M1")]:
        with pytest.raises(ValueError, match=word):
            hdl.Quantizer(**kwargs)
