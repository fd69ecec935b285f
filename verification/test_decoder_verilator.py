"""The generated Verilog of hdl.Decoder, exhaustively, in cocotb on Verilator."""

import pytest

import hdl
from verification.cocotb_run import run_cocotb

pytestmark = pytest.mark.verilator

CONFIGS = [
    {"fmt": "e2m1", "out": "fp16", "lanes": 1},
    {"fmt": "e3m0", "out": "fp32", "lanes": 1},
    {"fmt": "e2m1", "out": "bf16", "lanes": 8, "stages": 2},
]


def _run(params, tmp_path, **kw):
    dut = hdl.Decoder(**params)
    return run_cocotb(dut, "decoder", "verification.cocotb_decoder", tmp_path, params=params, **kw)


@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "-".join(str(v) for v in p.values()))
def test_decoder_verilog_exhaustive(params, tmp_path):
    tests, failed = _run(params, tmp_path)
    assert tests == 1 and failed == 0


def test_bench_catches_planted_fault(tmp_path):
    """A golden value with one bit flipped must make the bench fail."""
    tests, failed = _run(CONFIGS[0], tmp_path, extra_env={"FP4HW_PLANT_FAULT": "5"})
    assert (tests, failed) == (1, 1)
