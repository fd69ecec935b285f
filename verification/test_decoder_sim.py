"""hdl.Decoder in the Amaranth simulator: every code on every lane, every format and output."""

import numpy as np
import pytest

import golden
import hdl
from golden import MiniFloat
from verification.benches.amaranth_sim import run_vectors

FORMATS = [golden.E2M1, golden.E1M2, golden.E3M0, golden.E4M3, golden.E5M2,
           MiniFloat(2, 1, 0, name="E2M1b0"), MiniFloat(1, 2, 0, name="E1M2b0"),
           MiniFloat(3, 0, 1, name="E3M0b1"), MiniFloat(2, 1, specials="ieee", name="E2M1ieee"),
           MiniFloat(2, 1, specials="fn", name="E2M1fn"), MiniFloat(1, 1, 0, name="E1M1")]


def decoder_mismatches(fmt, out, lanes, stages=0, expected_table=None):
    dut = hdl.Decoder(fmt, out, lanes, stages)
    table = fmt.to_ieee(np.arange(1 << fmt.bits), out) if expected_table is None else expected_table
    n = 1 << fmt.bits
    vectors = [tuple((first + lane) % n for lane in range(lanes)) for first in range(n)]

    def apply(ctx, codes):
        for lane, code in enumerate(codes):
            ctx.set(dut.code[lane], code)

    def read(ctx, codes):
        return tuple(ctx.get(dut.value[lane].as_value()) for lane in range(lanes))

    def expected(codes):
        return tuple(int(table[c]) for c in codes)

    return run_vectors(dut, vectors, apply=apply, read=read, expected=expected, clocked=stages)


@pytest.mark.parametrize("lanes", [1, 8])
@pytest.mark.parametrize("out", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_decoder_exhaustive(fmt, out, lanes):
    assert decoder_mismatches(fmt, out, lanes) == []


@pytest.mark.parametrize("stages", [1, 3])
def test_decoder_pipelined(stages):
    assert decoder_mismatches(golden.E2M1, "fp16", 8, stages) == []


def test_bench_catches_planted_fault():
    table = golden.E2M1.to_ieee(np.arange(16), "fp16").copy()
    table[6] ^= 1 << 9                         # 4.0 becomes 5.0 in the golden table
    mismatches = decoder_mismatches(golden.E2M1, "fp16", 1, expected_table=table)
    assert [v for v, _, _ in mismatches] == [(6,)]


@pytest.mark.parametrize("kwargs, word", [
    ({"fmt": "e7m7"}, "fmt="), ({"out": "fp8"}, "out="), ({"lanes": 0}, "lanes="),
    ({"stages": -1}, "stages="), ({"fmt": golden.FP16}, "fmt="),
    ({"fmt": MiniFloat(5, 2, 1), "out": "fp16"}, "cannot hold"),
])
def test_decoder_rejects_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        hdl.Decoder(**kwargs)


def test_decoder_signature():
    dut = hdl.Decoder("e2m1", "fp32", lanes=8)
    assert set(dut.signature.members) == {"code", "value"}
    assert len(dut.code.as_value()) == 32 and len(dut.value.as_value()) == 256
