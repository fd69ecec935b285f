"""hdl.Multiplier: every pair of every FP4 format × output form in the Amaranth simulator and in
cocotb on Verilator (FP8: all 65536 pairs in cocotb), the unit-gate count of the E2M1 fixed
multiplier and a SAT proof that its gate netlist equals the golden ROM."""

import numpy as np
import pytest
from amaranth.hdl import Value

import golden
import hdl
import synth
from golden import arith
from hdl.multiplier import STAGE_CUTS
from synth.unit_gates import prove_equivalent, rom_verilog, unit_gates
from verification.benches.amaranth_sim import run_vectors
from verification.benches.runner import run_vector_bench
from verification.tiers import full, icarus

FP4 = [golden.E2M1, golden.E1M2, golden.E3M0]
OUTS = ["fixed", "fp16", "bf16", "fp32"]


def all_pairs(fmt, finite_only=False):
    codes = np.arange(1 << fmt.bits)
    a, b = np.repeat(codes, codes.size), np.tile(codes, codes.size)
    if finite_only:
        keep = np.isfinite(fmt.values[a]) & np.isfinite(fmt.values[b])
        a, b = a[keep], b[keep]
    return a, b


def product_width(fmt, out):
    return arith.fixed_width(fmt) if out == "fixed" else golden.ieee_format(out).bits


def sim_mismatches(fmt, out, expected=None, lanes=1):
    dut = hdl.Multiplier(fmt, out, lanes)
    a, b = all_pairs(fmt, finite_only=out == "fixed")
    want = arith.mul(a, b, fmt, out) if expected is None else expected
    mask = (1 << product_width(fmt, out)) - 1
    vectors = list(range(0, len(a), lanes))

    def apply(ctx, i):
        for lane in range(lanes):
            ctx.set(dut.a[lane], int(a[(i + lane) % len(a)]))
            ctx.set(dut.b[lane], int(b[(i + lane) % len(a)]))

    def read(ctx, i):
        return tuple(int(ctx.get(Value.cast(dut.product[lane]))) & mask for lane in range(lanes))

    def expect(i):
        return tuple(int(want[(i + lane) % len(a)]) & mask for lane in range(lanes))

    return run_vectors(dut, vectors, apply=apply, read=read, expected=expect)


@pytest.mark.parametrize("out", OUTS)
@pytest.mark.parametrize("fmt", FP4, ids=lambda f: f.name)
def test_multiplier_exhaustive_in_amaranth_sim(fmt, out):
    assert sim_mismatches(fmt, out) == []


def test_multiplier_lanes_and_pipeline_in_amaranth_sim():
    assert sim_mismatches(golden.E2M1, "fixed", lanes=4) == []
    dut = hdl.Multiplier("e2m1", "fp16", lanes=2, stages=2)
    a, b = all_pairs(golden.E2M1)
    want = arith.mul(a, b, golden.E2M1, "fp16")

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i])), ctx.set(dut.b[0], int(b[i]))
        ctx.set(dut.a[1], int(b[i])), ctx.set(dut.b[1], int(a[i]))

    def read(ctx, i):
        return int(ctx.get(dut.product[0].as_value())), int(ctx.get(dut.product[1].as_value()))

    assert run_vectors(dut, range(0, 256, 5), apply=apply, read=read, clocked=2,
                       expected=lambda i: (int(want[i]), int(want[i]))) == []


def test_sim_bench_catches_planted_fault():
    a, b = all_pairs(golden.E2M1)
    wrong = arith.mul(a, b).copy()
    wrong[77] += 1
    assert [v for v, _, _ in sim_mismatches(golden.E2M1, "fixed", expected=wrong)] == [77]


def verilator_run(fmt, out, tmp_path, lanes=16, planted_fault=None, sim="verilator", stages=0):
    a, b = all_pairs(fmt, finite_only=out == "fixed")
    want = arith.mul(a, b, fmt, out)
    want = want if want.dtype == object else want.astype(np.int64)
    if planted_fault is not None:
        want[planted_fault] ^= 1
    dut = hdl.Multiplier(fmt, out, lanes, stages=stages)
    return run_vector_bench(dut, "multiplier", tmp_path, lanes=lanes, stages=stages,
                            inputs={"a": (a, fmt.bits), "b": (b, fmt.bits)},
                            outputs={"product": (want, product_width(fmt, out))}, sim=sim)


def _tier(fmt, out):
    """make test: E2M1's fixed form (the dot engine's; Icarus too) and its FP16 form (a rounded
    product) on Verilator; the rest (each exhaustive in the Amaranth simulator) in verify-full."""
    if fmt is golden.E2M1 and out == "fixed":
        return icarus(fmt, out, id=f"{fmt.name}-{out}")
    if fmt is golden.E2M1 and out == "fp16":
        return pytest.param(fmt, out, id=f"{fmt.name}-{out}")
    return full(fmt, out, id=f"{fmt.name}-{out}")


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, out", [_tier(f, o) for f in FP4 for o in OUTS])
def test_multiplier_exhaustive_on_verilator(fmt, out, tmp_path, simulator):
    assert verilator_run(fmt, out, tmp_path, sim=simulator) == (1, 0)


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, out", [pytest.param(golden.E4M3, "fixed", id="e4m3-fixed"),
                                      full(golden.E4M3, "fp16", id="e4m3-fp16"),
                                      full(golden.E5M2, "fixed", id="e5m2-fixed"),
                                      full(golden.E5M2, "fp32", id="e5m2-fp32")])   # make test: E4M3 fixed
def test_fp8_multiplier_all_pairs_on_verilator(fmt, out, tmp_path, simulator):
    assert verilator_run(fmt, out, tmp_path, lanes=4, sim=simulator) == (1, 0)


@pytest.mark.verilator
@pytest.mark.parametrize("fmt", [full(golden.E4M3), full(golden.E5M2)], ids=lambda f: f.name)   # Amaranth sim: make test
def test_pipelined_fp8_fixed_multiplier_all_pairs_on_verilator(fmt, tmp_path):
    """The deepest setting (cuts after the fields and the significand product, then the output
    register): a new pair per cycle per lane, every finite pair checked 3 cycles later."""
    assert verilator_run(fmt, "fixed", tmp_path, lanes=4, stages=max(STAGE_CUTS)) == (1, 0)


# make test: the shallowest setting, the dot engine's (1) and the deepest; the others in verify-full
@pytest.mark.parametrize("stages", [s if s in (0, 1, max(STAGE_CUTS) + 1) else full(s)
                                    for s in range(max(STAGE_CUTS) + 2)])
@pytest.mark.parametrize("fmt", [golden.E4M3, golden.E2M1], ids=lambda f: f.name)
def test_pipelined_fixed_multiplier_in_amaranth_sim(fmt, stages):
    """Every setting, with the invalid flag carried beside the product (FP8): a sample of
    pairs, NaN and Inf operands included, each read ``stages`` cycles after it was applied."""
    dut = hdl.Multiplier(fmt, "fixed", stages=stages)
    assert dut.latency == stages
    a, b = all_pairs(fmt)
    pick = np.random.default_rng(stages).choice(a.size, min(a.size, 1500), replace=False)
    special = [i for i in range(a.size) if not (np.isfinite(fmt.values[a[i]]) and np.isfinite(fmt.values[b[i]]))]
    pick = np.concatenate([pick, np.array(special[:50], dtype=int)])
    finite = np.isfinite(fmt.values[a]) & np.isfinite(fmt.values[b])
    with np.errstate(all="ignore"):
        want = np.where(finite, arith.mul(np.where(finite, a, 0), np.where(finite, b, 0), fmt, "fixed"), 0)
    flags = "invalid" in dut.signature.members

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i])), ctx.set(dut.b[0], int(b[i]))

    def read(ctx, i):
        return int(ctx.get(dut.product[0])), int(ctx.get(dut.invalid[0])) if flags else 0

    assert run_vectors(dut, pick.tolist(), apply=apply, read=read, clocked=stages,
                       expected=lambda i: (int(want[i]), int(flags and not finite[i]))) == []


@pytest.mark.verilator
def test_verilator_bench_catches_planted_fault(tmp_path, simulator):
    assert verilator_run(golden.E2M1, "fixed", tmp_path, planted_fault=200, sim=simulator) == (1, 1)


@pytest.mark.yosys
def test_e2m1_fixed_multiplier_unit_gates_and_equivalence_to_golden_rom():
    verilog = synth.to_verilog(hdl.Multiplier("e2m1", "fixed"), "fp4_mul")
    result = unit_gates(verilog, "fp4_mul")
    assert set(result["unit_cells"]) <= {"AND2", "OR2", "XOR2", "NOT1"}
    assert result["unit_gates"] == sum(result["unit_cells"].values())
    a, b = all_pairs(golden.E2M1)
    rom = rom_verilog("fp4_mul_rom", [("a", 4), ("b", 4)], ("product", 9), arith.mul(a, b))
    assert prove_equivalent(rom, "fp4_mul_rom", result["netlist"], "fp4_mul")
    wrong = arith.mul(a, b).copy()
    wrong[123] ^= 4
    bad_rom = rom_verilog("fp4_mul_rom", [("a", 4), ("b", 4)], ("product", 9), wrong)
    assert not prove_equivalent(bad_rom, "fp4_mul_rom", result["netlist"], "fp4_mul")


@pytest.mark.parametrize("kwargs, word", [
    ({"fmt": "e9m9"}, "fmt="), ({"out": "int8"}, "out="), ({"lanes": 0}, "lanes="),
    ({"stages": 99}, "stages="),
])
def test_multiplier_rejects_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        hdl.Multiplier(**kwargs)


def test_fp8_fixed_flags_invalid_operands():
    dut = hdl.Multiplier("e4m3", "fixed")
    assert "invalid" in dut.signature.members

    def apply(ctx, v):
        ctx.set(dut.a[0], v[0]), ctx.set(dut.b[0], v[1])

    def read(ctx, v):
        return int(ctx.get(dut.invalid[0])), int(ctx.get(dut.product[0]))

    one_times_one = 1 << 18            # 1.0 * 1.0 / min_subnormal**2, min_subnormal = 2**-9
    assert run_vectors(dut, [(0x7F, 1), (1, 0xFF), (0x38, 0x38)], apply=apply, read=read,
                       expected=lambda v: (0, one_times_one) if v == (0x38, 0x38) else (1, 0)) == []
