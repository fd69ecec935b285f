"""hdl.ScaleApply against golden.mx.block_value / golden.mx.scale_value.

On Verilator: every E8M0 scale pair, each with S values drawn from a per-exponent-sum list
(zero, ±1, the largest |S|, FP32 rounding ties at the subnormal boundary, the overflow
boundary, random), and every listed S for every exponent sum; every UE4M3 × UE4M3 pair for
NVFP4; every FP16 and BF16 value (and FP32 samples) times E8M0 scales in value mode. A planted
fault shows the bench fails. A sample of each in the Amaranth simulator.
"""

import numpy as np
import pytest

import golden
import hdl
from golden import mx
from hdl.scale import STAGE_CUTS, block_sum_width
from verification.benches.amaranth_sim import run_vectors
from verification.benches.runner import run_vector_bench
from verification.tiers import full, icarus


def s_candidates(lsb: int, largest: int, rng) -> list[int]:
    """S values worth trying when S's LSB weighs 2**lsb: the ends, FP32 ties and boundaries."""
    values = [0, 1, -1, largest, -largest, int(rng.integers(0, 1 << 62)) % (2 * largest + 1) - largest]
    below = -149 - lsb                    # bits of S below the FP32 subnormal quantum
    if 1 <= below < largest.bit_length():
        half = 1 << (below - 1)
        odd = int(rng.integers(0, 1 << 62)) % max(1, largest // (2 * half)) * 2 + 1
        tie = odd * half if odd * half <= largest else half
        values += [tie, -tie, tie + 1, tie - 1, half, -half, half - 1]
    below_normal = -126 - lsb            # S = 2**below_normal is the smallest FP32 normal
    if 0 <= below_normal < largest.bit_length():
        values += [1 << below_normal, (1 << below_normal) - 1]
    headroom = 128 - lsb                  # S >= 2**headroom overflows FP32
    if 0 <= headroom < largest.bit_length():
        values += [1 << headroom, -(1 << headroom), (1 << headroom) - 1, -((1 << headroom) - 1)]
    return [v for v in values if -largest <= v <= largest]


def block_vectors(fmt, seed: int = 0):
    """(S, scale_a, scale_b) covering every scale pair and every candidate S per exponent sum."""
    fmt = mx.block_format(fmt)
    rng = np.random.default_rng(seed)
    largest = int(round(fmt.element.max ** 2 / fmt.element.min_subnormal ** 2)) * fmt.block
    codes = np.arange(1 << fmt.scale.bits)
    sa, sb = np.repeat(codes, codes.size), np.tile(codes, codes.size)
    value = fmt.scale.decode64(sa) * fmt.scale.decode64(sb)
    unit = 2 * int(np.log2(fmt.element.min_subnormal))
    exponent = np.where(np.isfinite(value) & (value > 0), np.frexp(np.where(value > 0, value, 1))[1] - 8, 0) + unit
    table, totals = {}, []
    for i, e in enumerate(exponent.tolist()):
        cands = table.setdefault(e, s_candidates(e, largest, rng))
        totals.append([cands[i % len(cands)], cands[(i * 7 + 3) % len(cands)]])
    S = np.array(totals, dtype=object).reshape(-1)
    A, B = np.repeat(sa, 2), np.repeat(sb, 2)
    first = {e: i for i, e in reversed(list(enumerate(exponent.tolist())))}
    for e, i in first.items():                   # every candidate for every exponent sum
        S = np.concatenate([S, table[e]])
        A = np.concatenate([A, np.full(len(table[e]), sa[i])])
        B = np.concatenate([B, np.full(len(table[e]), sb[i])])
    wide = largest >= 1 << 62
    return (np.array(S.tolist(), dtype=object) if wide else S.astype(np.int64)), A, B


def verilator_block(fmt, tmp_path, planted_fault=None, sim="verilator", stages=0):
    fmt = mx.block_format(fmt)
    S, A, B = block_vectors(fmt)
    invalid = np.zeros_like(S)
    if fmt.element.specials != "none":
        invalid = (np.arange(S.size) % 97 == 0).astype(np.int64)
    want = mx.block_value(S, A, B, fmt, invalid=invalid.astype(bool)).astype(np.int64)
    if planted_fault is not None:
        want[planted_fault] ^= 1
    inputs = {"total": (S, block_sum_width(fmt)), "scale_a": (A, fmt.scale.bits), "scale_b": (B, fmt.scale.bits)}
    if fmt.element.specials != "none":
        inputs["invalid"] = (invalid, 1)
    return run_vector_bench(hdl.ScaleApply(fmt, stages=stages), "scale_apply", tmp_path, lanes=1, inputs=inputs,
                            outputs={"result": (want, 32)}, sim=sim, stages=stages), S.size


@pytest.mark.verilator
# make test: NVFP4 (UE4M3 scales; Icarus too); MXFP4 and MXFP8 E4M3 (E8M0, invalid products) in verify-full
@pytest.mark.parametrize("fmt", [full("mxfp4"), icarus("nvfp4"), full("mxfp8_e4m3")])
def test_scale_apply_every_scale_pair_on_verilator(fmt, tmp_path, simulator):
    result, count = verilator_block(fmt, tmp_path, sim=simulator)
    assert result == (1, 0)
    assert count >= 2 * (1 << mx.block_format(fmt).scale.bits) ** 2


@pytest.mark.verilator     # make test: the deepest ScaleApply runs on Verilator inside the default dot engine
@pytest.mark.parametrize("fmt", [full("mxfp4"), full("nvfp4")])
def test_pipelined_scale_apply_every_scale_pair_on_verilator(fmt, tmp_path):
    """The deepest cut setting (3 stages: a new block every cycle, results 3 cycles later)."""
    assert verilator_block(fmt, tmp_path, stages=max(STAGE_CUTS))[0] == (1, 0)


@pytest.mark.verilator
def test_scale_apply_bench_catches_planted_fault(tmp_path, simulator):
    assert verilator_block("nvfp4", tmp_path, planted_fault=12345, sim=simulator)[0] == (1, 1)


def value_vectors(source: str, seed: int = 1):
    """(bits, scale): every FP16/BF16 pattern (FP32: directed and random patterns) with scales
    taken round-robin over all 256 codes, plus every scale against directed values."""
    fmt = golden.ieee_format(source)
    rng = np.random.default_rng(seed)
    if fmt.bits == 16:
        bits = np.arange(1 << 16)
    else:
        bits = np.concatenate([rng.integers(0, 1 << 32, 60000),
                               np.arange(0, 1 << 12), 0x7F800000 - np.arange(1 << 10), [0x7F800000, 0xFF800000,
                                                                                        0x7FC00000, 0x80000000]])
    scale = (np.arange(bits.size) * 37 + 11) % 256
    top = (1 << (fmt.bits - 1)) - 1
    directed = np.array([0, 1, 2, 3, (1 << fmt.mbits) - 1, 1 << fmt.mbits, fmt.inf_code - 1, fmt.inf_code,
                         fmt.nan_code, top, int(fmt.encode(1.0)), int(fmt.encode(1.5))])
    directed = np.concatenate([directed, directed | (1 << (fmt.bits - 1))])
    bits = np.concatenate([bits, np.tile(directed, 256)])
    scale = np.concatenate([scale, np.repeat(np.arange(256), directed.size)])
    return bits.astype(np.int64), scale


@pytest.mark.verilator
@pytest.mark.parametrize("source", [full("fp16"), full("bf16"), "fp32"])
def test_scale_apply_value_mode_on_verilator(source, tmp_path, simulator):
    bits, scale = value_vectors(source)
    want = mx.scale_value(bits, scale, source).astype(np.int64)
    width = golden.ieee_format(source).bits
    result = run_vector_bench(hdl.ScaleApply(mode="value", input=source), "scale_apply", tmp_path, lanes=1,
                              inputs={"value": (bits, width), "scale": (scale, 8)}, outputs={"result": (want, 32)},
                              sim=simulator)
    assert result == (1, 0)


# --- Amaranth simulator: quick samples ---------------------------------------------------------

# make test: the shallowest setting, the dot engine's (6) and the deepest; the others in verify-full
@pytest.mark.parametrize("stages", [s if s in (0, 6, max(STAGE_CUTS) + 1) else full(s)
                                    for s in range(max(STAGE_CUTS) + 2)])
@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4", "mxfp8_e5m2"])
def test_scale_apply_block_sample_in_amaranth_simulator(fmt, stages):
    fmt = mx.block_format(fmt)
    S, A, B = block_vectors(fmt)
    pick = np.random.default_rng(2).choice(S.size, 300, replace=False)
    S, A, B = S[pick], A[pick], B[pick]
    want = mx.block_value(S, A, B, fmt)
    dut = hdl.ScaleApply(fmt, stages=stages)
    assert dut.latency == stages

    def apply(ctx, i):
        ctx.set(dut.total, int(S[i]))
        ctx.set(dut.scale_a, int(A[i]))
        ctx.set(dut.scale_b, int(B[i]))
    mismatches = run_vectors(dut, range(S.size), apply=apply, read=lambda ctx, i: ctx.get(dut.result.as_value()),
                             expected=lambda i: int(want[i]), clocked=stages)
    assert not mismatches


@pytest.mark.parametrize("stages", [0, 2, max(STAGE_CUTS)])
def test_scale_apply_value_sample_in_amaranth_simulator(stages):
    bits, scale = value_vectors("fp16")
    pick = np.random.default_rng(3).choice(bits.size, 600, replace=False)
    want = mx.scale_value(bits[pick], scale[pick], "fp16")
    dut = hdl.ScaleApply(mode="value", input="fp16", stages=stages)

    def apply(ctx, i):
        ctx.set(dut.value.as_value(), int(bits[pick[i]]))
        ctx.set(dut.scale, int(scale[pick[i]]))
    mismatches = run_vectors(dut, range(pick.size), apply=apply, read=lambda ctx, i: ctx.get(dut.result.as_value()),
                             expected=lambda i: int(want[i]), clocked=stages)
    assert not mismatches


def test_scale_apply_parameters_are_checked():
    for kwargs, word in [({"fmt": "mxfp5"}, "fmt"), ({"mode": "tensor"}, "mode"),
                         ({"mode": "value", "input": "fp64"}, "out"), ({"mode": "value", "fmt": "nvfp4"}, "mode"),
                         ({"stages": -1}, "stages")]:
        with pytest.raises(ValueError, match=word):
            hdl.ScaleApply(**kwargs)


def test_golden_block_value_agrees_with_dot():
    """block_value is the per-block step of golden.mx.dot: one block's dot equals it."""
    rng = np.random.default_rng(4)
    for fmt in (mx.MXFP4, mx.NVFP4):
        x = rng.standard_normal((50, fmt.block)) * np.exp2(rng.integers(-40, 40, (50, 1)))
        y = rng.standard_normal((50, fmt.block))
        qa, qb = mx.quantize(x, fmt), mx.quantize(y, fmt)
        fixed = golden.arith.mul(qa.codes, qb.codes, fmt.element, out="fixed").astype(np.int64).sum(axis=1)
        want = mx.dot(qa, qb).view(np.uint32)
        assert (mx.block_value(fixed, qa.scales[:, 0], qb.scales[:, 0], fmt) == want).all()


@pytest.mark.parametrize("source", ["fp16", "bf16"])
def test_golden_scale_value_against_numpy_casts(source):
    """An independent oracle: numpy's float64 -> float32 cast (RNE, subnormals, overflow to Inf)
    of the exact float64 product."""
    import ml_dtypes

    bits = np.arange(1 << 16)
    scale = np.random.default_rng(5).integers(0, 256, bits.size)
    dtype = np.float16 if source == "fp16" else ml_dtypes.bfloat16
    with np.errstate(over="ignore", invalid="ignore"):            # NaN patterns cast to NaN
        x = bits.astype(np.uint16).view(dtype).astype(np.float64)
        oracle = np.ldexp(x, scale - 127).astype(np.float32)
    oracle = np.where(np.isnan(oracle) | (scale == 255), np.float32(np.nan), oracle)
    want = np.where(np.isnan(oracle), np.uint32(0x7FC00000), oracle.view(np.uint32))
    assert (mx.scale_value(bits, scale, source) == want).all()


def test_scale_apply_mixed_mode_exact_zero_in_amaranth_simulator():
    """An exact zero block sum in mixed mode is +0 (golden.mx.dot's block value), never -0:
    mutation testing found the dot engine hides a -0 block (+0 + -0 = +0) and nothing tested
    the unit's own port."""
    dut = hdl.ScaleApply("mxfp4", mode="mixed", input="fp16")
    seen = []

    async def bench(ctx):
        for total in (0, 1, -1):
            ctx.set(dut.total, total)
            ctx.set(dut.scale, 127)
            ctx.set(dut.special, 0)
            await ctx.delay(1e-9)
            seen.append(ctx.get(dut.result.as_value()))
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert seen[0] == 0x00000000
    assert seen[1] >> 31 == 0 and seen[2] >> 31 == 1 and seen[1] & 0x7FFFFFFF == seen[2] & 0x7FFFFFFF != 0
