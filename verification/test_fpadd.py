"""hdl.fpadd.FloatAdder (the dot engine's FP32 accumulator adder) against numpy's float32
addition: 400,000 random, cancelling and near-exponent pairs plus every pair of the special
values on Verilator and Icarus, and a sample in the Amaranth simulator."""

import numpy as np
import pytest

from hdl.fpadd import MAX_STAGES, FloatAdder
from verification.benches.amaranth_sim import run_vectors
from verification.benches.runner import run_vector_bench
from verification.tiers import full, icarus


def adder_vectors(n=400_000, seed=0):
    """Random FP32 pairs, pairs that cancel, pairs a few exponents apart, every pair of the
    special values (±0, ±Inf, NaN, ±min/max normal and subnormal), and pairs whose rounding
    carries into each exponent (both operand orders)."""
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
    # rounding carries out of the significand into every exponent (an all-ones significand plus
    # a little over half its ULP): random pairs almost never reach them; a rounder that carried
    # into only the exponent's low bits passed every sample without these
    e = np.arange(25, 254, dtype=np.uint32)
    carry_a = (e << 23) | 0x7FFFFF
    carry_b = ((e - 24) << 23) | 1
    a = np.concatenate([a, np.repeat(special, special.size), carry_a, carry_b])
    b = np.concatenate([b, np.tile(special, special.size), carry_b, carry_a])
    with np.errstate(all="ignore"):
        s = (a.view(np.float32) + b.view(np.float32)).astype(np.float32)
    want = np.where(np.isnan(s), np.uint32(0x7FC00000), s.view(np.uint32))
    return a, b, want


def adder_bench(tmp_path, simulator, n, stages=0):
    a, b, want = adder_vectors(n)
    return run_vector_bench(FloatAdder(lanes=8, stages=stages), "float_adder", tmp_path, lanes=8, stages=stages,
                            inputs={"a": (a, 32), "b": (b, 32)}, outputs={"result": (want.astype(np.int64), 32)},
                            sim=simulator)


@pytest.mark.verilator
@pytest.mark.icarus
def test_fp32_adder_against_numpy_on_verilator(tmp_path, simulator):
    """30,000 pairs on Verilator (a quarter each random, cancelling, near and a few exponents
    apart: enough that every alignment distance and normalization shift occurs many times);
    on Icarus, whose own contribution is the 4-state check (an X or Z on the result fails), a
    20,000-pair sample of the same; all 400,000 on both in make verify-full. Every run includes
    all pairs of the special values."""
    assert adder_bench(tmp_path, simulator, 30_000 if simulator == "verilator" else 20_000) == (1, 0)


# verify-full: make test runs the deepest adder's Verilog inside the default dot engine's bench
# (its accumulator and combine adders) and its cuts in the Amaranth simulator below.
@pytest.mark.verilator
@pytest.mark.parametrize("stages", [full(2), full(MAX_STAGES)])
def test_pipelined_fp32_adder_on_verilator(tmp_path, stages):
    """The pipelined adder (a new addition every cycle, results checked ``stages`` cycles
    later) at a middle and the deepest cut setting: 20,000 pairs each on Verilator."""
    assert adder_bench(tmp_path, "verilator", 20_000, stages) == (1, 0)


@pytest.mark.full
@pytest.mark.verilator
@pytest.mark.parametrize("stages", range(MAX_STAGES + 1))
def test_fp32_adder_all_vectors(tmp_path, simulator, stages):
    assert adder_bench(tmp_path, simulator, 400_000, stages) == (1, 0)


# make test: the shallowest, a middle and the deepest cut setting; every setting in verify-full.
@pytest.mark.parametrize("stages", [s if s in (0, 3, MAX_STAGES) else full(s) for s in range(MAX_STAGES + 1)])
def test_fp32_adder_sample_in_amaranth_simulator(stages):
    a, b, want = adder_vectors(1000, seed=1)
    dut = FloatAdder(stages=stages)
    assert dut.latency == stages

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i]))
        ctx.set(dut.b[0], int(b[i]))
    assert not run_vectors(dut, range(a.size), apply=apply, read=lambda ctx, i: ctx.get(dut.result[0]),
                           expected=lambda i: int(want[i]), clocked=stages)


def test_fp32_adder_stages_refused():
    with pytest.raises(ValueError, match="stages"):
        FloatAdder(stages=MAX_STAGES + 1)
    with pytest.raises(ValueError):
        FloatAdder(stages=-1)
