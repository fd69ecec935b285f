"""hdl/arith.py on its own, in the Amaranth simulator: the shared arithmetic every unit reuses
(leading-zero count, normalize, max tree, element fields and specials) against plain Python and
the golden formats, over every input where the space is small, including the cases no unit
reaches today (odd operand counts of the max tree, unsigned formats' sign)."""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal

import golden
from hdl.arith import (at_least, classify, element_fields, element_specials, increment, leading_zeros, max_tree,
                       normalize, prefix_ands)
from verification.benches.amaranth_sim import run_vectors
from verification.tiers import full


class Comb(Elaboratable):
    """``outputs = build(inputs)`` combinationally: ``inputs`` widths in, ``outputs`` widths out."""

    def __init__(self, inputs: list[int], outputs: list[int], build):
        self.i = [Signal(w, name=f"i{k}") for k, w in enumerate(inputs)]
        self.o = [Signal(w, name=f"o{k}") for k, w in enumerate(outputs)]
        self._build = build

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [o.eq(v) for o, v in zip(self.o, self._build(*self.i))]
        return m


def check(dut, vectors, expected):
    def apply(ctx, v):
        for s, x in zip(dut.i, v):
            ctx.set(s, int(x))

    def read(ctx, v):
        return tuple(int(ctx.get(o)) for o in dut.o)
    return run_vectors(dut, vectors, apply=apply, read=read, expected=lambda v: tuple(expected(v)))


@pytest.mark.parametrize("width", range(1, 10))
def test_leading_zeros_and_normalize_every_value(width):
    dut = Comb([width], [5, width], lambda v: [leading_zeros(v), normalize(v)[0]])

    def expected(v):
        lz = width - int(v[0]).bit_length()
        return lz, (int(v[0]) << lz) & ((1 << width) - 1)
    assert check(dut, [(v,) for v in range(1 << width)], expected) == []


def test_leading_zeros_of_the_low_bits_only():
    dut = Comb([8], [4], lambda v: [leading_zeros(v, 5)])
    assert check(dut, [(v,) for v in range(256)], lambda v: [5 - (v[0] & 31).bit_length()]) == []


@pytest.mark.parametrize("count", range(1, 8))
def test_max_tree_of_any_number_of_values(count):
    rng = np.random.default_rng(count)
    vectors = [tuple(row) for row in rng.integers(0, 16, (200, count))]
    for position in range(count):                     # the largest value at every position, alone
        row = [1] * count
        row[position] = 15
        vectors.append(tuple(row))
    dut = Comb([4] * count, [4], lambda *values: [max_tree(list(values))])
    assert check(dut, vectors, lambda v: [max(v)]) == []


def test_shared_arithmetic_rejects_empty_inputs():
    with pytest.raises(ValueError, match="width"):
        leading_zeros(Signal(4), 0)
    with pytest.raises(ValueError, match="at least one"):
        max_tree([])


@pytest.mark.parametrize("fmt", [golden.E2M1, golden.E1M2, golden.E3M0, golden.E4M3, golden.E5M2, golden.UE4M3],
                         ids=lambda f: f.name)
def test_element_fields_and_specials_every_code(fmt):
    """``|value| = significand << shift`` in units of ``min_subnormal`` for every finite code,
    the sign bit (0 for unsigned formats), and NaN/Inf flags as golden decodes them."""
    def build(code):
        sign, significand, shift = element_fields(code, fmt)
        nan, inf = element_specials(code, fmt)
        return [sign, significand, shift, nan, inf]
    dut = Comb([fmt.bits], [1, fmt.mbits + 1, fmt.ebits, 1, 1], build)

    def expected(v):
        value = float(fmt.values[v[0]])
        nan, inf = np.isnan(value), np.isinf(value)
        sign = (v[0] >> (fmt.bits - 1)) & 1 if fmt.signed else 0
        if nan or inf:                                   # fields of a special code are not defined
            return None
        return sign, abs(value) / fmt.min_subnormal, nan, inf

    def apply(ctx, v):
        ctx.set(dut.i[0], v[0])

    def read(ctx, v):
        sign, significand, shift, nan, inf = (int(ctx.get(o)) for o in dut.o)
        value = float(fmt.values[v[0]])
        if np.isnan(value) or np.isinf(value):
            return None if (nan, inf) == (int(np.isnan(value)), int(np.isinf(value))) else ("flags", nan, inf)
        return sign, significand << shift, nan, inf
    codes = [(c,) for c in range(1 << fmt.bits)]
    assert run_vectors(dut, codes, apply=apply, read=read, expected=expected) == []


@pytest.mark.parametrize("fmt", [golden.E2M1, golden.E1M2, golden.E3M0, golden.E4M3, golden.E5M2, golden.UE4M3,
                                 full(golden.ieee_format("bf16"))], ids=lambda f: f.name)   # BF16's 65,536: verify-full
def test_classify_every_code(fmt):
    """The one classifier (NaN, Inf, zero, subnormal) against golden's values, every code: a
    subnormal is finite, non-zero and below 2^emin (E3M0, without mantissa bits, has none). BF16
    stands for the IEEE formats (its 65,536 codes)."""
    dut = Comb([fmt.bits], [1, 1, 1, 1], lambda code: list(classify(code, fmt)))

    def expected(v):
        value = float(fmt.decode64(np.array([v[0]]))[0]) if hasattr(fmt, "decode64") else float(fmt.values[v[0]])
        finite = np.isfinite(value)
        return (int(np.isnan(value)), int(np.isinf(value)), int(value == 0),
                int(finite and value != 0 and abs(value) < 2.0 ** fmt.emin))
    assert check(dut, [(c,) for c in range(1 << fmt.bits)], expected) == []


@pytest.mark.parametrize("count, every", [(8, 0), (8, 1), (8, 2), (5, 1), (32, 2), (32, 3), (2, 1)])
def test_pipelined_adder_tree_sums_exactly_after_its_latency(count, every):
    """hdl.dot.adder_tree with a register every ``every`` levels: a new set of operands each
    cycle, each exact sum read ``adder_tree_latency`` cycles later (random signed 9-bit values,
    extremes included)."""
    import random
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    from hdl.dot import adder_tree, adder_tree_latency

    m = Module()
    inputs = [Signal(signed(9), name=f"x{i}") for i in range(count)]
    out = Signal(signed(9 + count.bit_length()))
    m.d.comb += out.eq(adder_tree(inputs, m, every, name="t"))
    m.d.sync += Signal().eq(0)                       # a sync domain even without registers
    latency = adder_tree_latency(count, every)
    levels = (count - 1).bit_length()
    assert latency == ((levels - 1) // every if every else 0)
    rng = random.Random(count * 10 + every)
    vectors = [[-256] * count, [255] * count] + [[rng.randint(-256, 255) for _ in range(count)] for _ in range(60)]
    seen = []

    async def bench(ctx):
        for t in range(len(vectors) + latency):
            if t < len(vectors):
                for s, v in zip(inputs, vectors[t]):
                    ctx.set(s, v)
            if t >= latency:
                seen.append(ctx.get(out))
            await ctx.tick()
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [sum(v) for v in vectors]


@pytest.mark.parametrize("a_bits, b_bits", [full(9, 7), (5, 5), (1, 4)])     # 9 x 7 bits (2^16 pairs): verify-full
def test_prefix_increment_and_comparison_every_value(a_bits, b_bits):
    """increment(a, bit) == a + bit, at_least(a, b) == (a >= b) and prefix_ands(a)'s bit j ==
    (a's low j + 1 bits all ones) for every a, b and bit (the log-depth forms the pipelined
    rounder and adder use instead of ``+``, ``>=`` and a carry chain)."""
    from amaranth.sim import Simulator
    m = Module()
    a, b, bit = Signal(a_bits), Signal(b_bits), Signal()
    total, ge, ands = Signal(a_bits + 1), Signal(), Signal(a_bits)
    m.d.comb += [total.eq(increment(a, bit)), ge.eq(at_least(a, b)), ands.eq(prefix_ands(a))]
    bad = []

    async def bench(ctx):
        for x in range(1 << a_bits):
            for y in range(1 << b_bits):
                for c in (0, 1):
                    ctx.set(a, x)
                    ctx.set(b, y)
                    ctx.set(bit, c)
                    want_ands = sum(1 << j for j in range(a_bits) if x & ((2 << j) - 1) == (2 << j) - 1)
                    if ctx.get(total) != x + c or ctx.get(ge) != (x >= y) or ctx.get(ands) != want_ands:
                        bad.append((x, y, c))
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:4]
