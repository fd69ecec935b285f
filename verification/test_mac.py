"""hdl.MAC: fused FP4 x FP4 + FP16 -> FP16 against golden.arith.mac.

In ``make test``: every (a, b) pair x >= 400 c values (every FP16 exponent, subnormals, ±0, ±Inf,
NaN, the overflow boundary, c = -a*b, rounding ties) for both rounding modes on Verilator, and
a sample in the Amaranth simulator. ``make verify-full`` runs all 2^24 inputs per rounding mode.
"""

import time

import numpy as np
import pytest

import golden
import hdl
from golden import arith
from verification.benches.amaranth_sim import run_vectors
from verification.benches.runner import run_vector_bench
from verification.test_golden_arith import c_values
from verification.tiers import full, icarus, in_verify_full


def directed_c_values(n_random: int = 200) -> np.ndarray:
    """>= 400 FP16 addends that hit every exponent, the specials and the cancellation/tie cases."""
    c = c_values(n_random, seed=3)
    assert c.size >= 400
    return c


def pairs_times(c):
    codes = np.arange(16)
    a = np.repeat(np.repeat(codes, 16), c.size)
    b = np.repeat(np.tile(codes, 16), c.size)
    return a, b, np.tile(c, 256)


def verilator_mac(fmt, rounding, a, b, c, tmp_path, lanes=8, planted_fault=None, sim="verilator"):
    want = arith.mac(a, b, c, fmt, rounding=rounding).astype(np.int64)
    if planted_fault is not None:
        want[planted_fault] ^= 1
    return run_vector_bench(hdl.MAC(fmt, rounding=rounding, lanes=lanes), "mac", tmp_path, lanes=lanes,
                            inputs={"a": (a, 4), "b": (b, 4), "c": (c, 16)},
                            outputs={"result": (want, 16)}, sim=sim)


@pytest.mark.verilator
@pytest.mark.parametrize("rounding", [icarus("rne"), full("rtz")])   # RTZ in the Amaranth sim and proofs
def test_mac_every_pair_times_directed_c_on_verilator(rounding, tmp_path, simulator, request):
    """Every pair times >= 400 directed addends; in make test on Icarus, whose own contribution
    there is the 4-state check, every pair times every eighth of them and the specials (all of
    them on Icarus too in make verify-full)."""
    c = directed_c_values()
    if simulator == "icarus" and not in_verify_full(request.config):
        c = np.union1d(c[::8], np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF, 0x7BFF, 0xFBFF],
                                        dtype=c.dtype))
    a, b, c = pairs_times(c)
    assert verilator_mac(golden.E2M1, rounding, a, b, c, tmp_path, sim=simulator) == (1, 0)


@pytest.mark.verilator
@pytest.mark.parametrize("fmt", [full(golden.E1M2), full(golden.E3M0)], ids=lambda f: f.name)   # Amaranth sim: both
def test_mac_other_fp4_formats_on_verilator(fmt, tmp_path, simulator):
    a, b, c = pairs_times(c_values(100, seed=4)[::3])
    assert verilator_mac(fmt, "rne", a, b, c, tmp_path, lanes=2, sim=simulator) == (1, 0)


@pytest.mark.verilator
def test_verilator_mac_bench_catches_planted_fault(tmp_path, simulator):
    a, b, c = pairs_times(directed_c_values()[:50])
    assert verilator_mac(golden.E2M1, "rne", a, b, c, tmp_path, planted_fault=1234, sim=simulator) == (1, 1)


def sim_mismatches(fmt, rounding, a, b, c, want=None, stages=0):
    dut = hdl.MAC(fmt, rounding=rounding, stages=stages)
    want = arith.mac(a, b, c, fmt, rounding=rounding) if want is None else want

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i])), ctx.set(dut.b[0], int(b[i])), ctx.set(dut.c[0].as_value(), int(c[i]))

    def read(ctx, i):
        return int(ctx.get(dut.result[0].as_value()))

    return run_vectors(dut, range(len(a)), apply=apply, read=read, expected=lambda i: int(want[i]),
                       clocked=stages)


# make test: E2M1 both ways, E1M2 at RNE and E3M0 at RTZ; the other two in verify-full
@pytest.mark.parametrize("fmt, rounding", [(golden.E2M1, "rne"), (golden.E2M1, "rtz"), (golden.E1M2, "rne"),
                                           full(golden.E1M2, "rtz"), full(golden.E3M0, "rne"), (golden.E3M0, "rtz")],
                         ids=lambda v: getattr(v, "name", v))
def test_mac_sample_in_amaranth_sim(fmt, rounding):
    a, b, c = pairs_times(c_values(100, seed=6)[::40])
    assert sim_mismatches(fmt, rounding, a, b, c) == []


def test_mac_e4m3_and_pipeline_in_amaranth_sim():
    rng = np.random.default_rng(2)
    finite = np.flatnonzero(np.isfinite(golden.E4M3.values))
    a, b = rng.choice(finite, 800), rng.choice(finite, 800)
    a[:3], b[:3] = [0x7F, 0x38, 0xFF], [0x38, 0xFF, 0x7F]          # NaN operands
    c = rng.choice(c_values(100), 800)
    assert sim_mismatches(golden.E4M3, "rne", a, b, c) == []
    a, b, c = pairs_times(c_values(50)[::20])
    assert sim_mismatches(golden.E2M1, "rtz", a, b, c, stages=2) == []


def test_sim_bench_catches_planted_fault():
    a, b, c = pairs_times(c_values(50)[::30])
    want = arith.mac(a, b, c).copy()
    want[99] ^= 0x8000
    assert [v for v, _, _ in sim_mismatches(golden.E2M1, "rne", a, b, c, want=want)] == [99]


@pytest.mark.parametrize("kwargs, word", [
    ({"fmt": "e5m2"}, "not exact"), ({"acc": "fp32"}, "acc="), ({"rounding": "rna"}, "rounding="),
    ({"lanes": -1}, "lanes="),
])
def test_mac_rejects_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        hdl.MAC(**kwargs)


@pytest.mark.full
@pytest.mark.verilator
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_exhaustive_2_to_24(rounding, tmp_path):
    """Every (a, b, c): 2^24 inputs per rounding mode (make verify-full)."""
    start = time.monotonic()
    c = np.arange(1 << 16)
    a, b, c = pairs_times(c)
    assert a.size == 1 << 24
    assert verilator_mac(golden.E2M1, rounding, a, b, c, tmp_path, lanes=16) == (1, 0)
    print(f"\nMAC {rounding}: 2^24 inputs checked on Verilator in {time.monotonic() - start:.0f} s")
