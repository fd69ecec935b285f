"""The generated Verilog of hdl.Decoder, exhaustively, in cocotb on Verilator and Icarus."""

import numpy as np
import pytest

import golden
import hdl
from verification.benches.runner import run_vector_bench
from verification.tiers import full, icarus

pytestmark = pytest.mark.verilator

CONFIGS = [
    {"fmt": "e2m1", "out": "fp16", "lanes": 1},
    {"fmt": "e3m0", "out": "fp32", "lanes": 1},
    {"fmt": "e2m1", "out": "bf16", "lanes": 8, "stages": 2},
    {"fmt": "e4m3", "out": "fp16", "lanes": 4},
]


def run(params, tmp_path, planted_fault=None, sim="verilator"):
    fmt = golden.element_format(params["fmt"])
    codes = np.arange(1 << fmt.bits)
    expected = fmt.to_ieee(codes, params["out"]).astype(np.int64)
    if planted_fault is not None:
        expected[planted_fault] ^= 1
    return run_vector_bench(hdl.Decoder(**params), "decoder", tmp_path,
                            inputs={"code": (codes, fmt.bits)},
                            outputs={"value": (expected, golden.ieee_format(params["out"]).bits)},
                            lanes=params["lanes"], stages=params.get("stages", 0), sim=sim)


# make test: the default (E2M1 to FP16) and the 8-lane, 2-stage configuration (lanes and registers
# in one run; Icarus too); the other formats (exhaustive in the Amaranth simulator) in verify-full.
@pytest.mark.parametrize("params", [icarus(c) if c.get("stages") else c if c == CONFIGS[0] else full(c)
                                    for c in CONFIGS],
                         ids=lambda p: "-".join(str(v) for v in p.values()))
def test_decoder_verilog_exhaustive(params, tmp_path, simulator):
    assert run(params, tmp_path, sim=simulator) == (1, 0)


def test_bench_catches_planted_fault(tmp_path, simulator):
    """A golden value with one bit flipped must make the bench fail."""
    assert run(CONFIGS[0], tmp_path, planted_fault=5, sim=simulator) == (1, 1)


def test_pipelined_bench_catches_planted_fault(tmp_path):
    assert run(CONFIGS[2], tmp_path, planted_fault=11) == (1, 1)
