"""Custom element formats (issue 33): every MiniFloat of up to 4 bits that a unit accepts gives
golden-exact RTL, and the units refuse the rest with a ValueError that names ``fmt``.

What a unit takes (``hdl.decoder.check_product_format``):
- ``Multiplier(out="fixed")``: every format and bias. The fixed product is ``a*b /
  min_subnormal**2``, the product of the codes' integer significands shifted, so it does not
  depend on the bias: golden computes it from the codes (checked here for every bias MiniFloat
  accepts, against exact rationals), and the datapath is built from the format's shape at its
  default bias (``hdl.multiplier.canonical_bias``), so one exhaustive run per shape covers every
  bias.
- ``Multiplier(out=fp16/bf16/fp32)`` and ``MAC``: the named formats, and custom formats of at
  most 4 bits whose products are all exact in FP16 (``golden.arith.products_exact``, the range
  the FP4 units are specified for). There the bias changes the rounder's constants, so every
  such (shape, bias) is run exhaustively: 44 shapes, 731 formats, every operand pair, the MAC
  against a directed set of addends per format (its own products, their negations and
  neighbours, every FP16 exponent, the specials). The 2,193 multiplier and 1,462 MAC
  configurations run in ``make verify-full``; ``make test`` runs the issue's cases, the window
  edges of three shapes and every refusal.

The RTL is evaluated by :mod:`verification.tools.netlist_eval` (all vectors at once on Amaranth's
own netlist), which is itself checked against the Amaranth simulator and shown to catch a
planted fault below.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import golden
import hdl
from golden import arith
from hdl.multiplier import canonical_bias
from verification.benches.amaranth_sim import run_vectors
from verification.test_multiplier import all_pairs as pairs
from verification.tiers import full
from verification.tools.netlist_eval import evaluate
from verification.tools.reference import ieee_value, minifloat_value, round_to_ieee


def shapes(max_bits: int = 4):
    """Every (ebits, mbits, specials, signed) of at most ``max_bits`` bits MiniFloat accepts."""
    found = []
    for signed in (True, False):
        for ebits in range(1, max_bits + 1):
            for mbits in range(0, max_bits + 1 - ebits - int(signed)):
                for specials in ("none", "fn", "ieee"):
                    try:
                        golden.MiniFloat(ebits, mbits, specials=specials, signed=signed)
                    except ValueError:
                        continue
                    found.append((ebits, mbits, specials, signed))
    return found


SHAPES = shapes()
# make test's sample: a signed format without specials, one with Inf/NaN, an unsigned fn format
SAMPLE = [(2, 1, "none", True), (1, 1, "ieee", True), (3, 1, "fn", False)]


def shape_id(shape):
    ebits, mbits, specials, signed = shape
    return f"{'' if signed else 'u'}e{ebits}m{mbits}{'' if specials == 'none' else specials}"


def tiered(shape_list=None):
    """Each shape as a parameter: the SAMPLE in make test, the rest in make verify-full."""
    return [pytest.param(s, id=shape_id(s)) if s in SAMPLE else full(s, id=shape_id(s))
            for s in (shape_list or SHAPES)]


def every_bias(shape):
    """Every bias MiniFloat accepts for ``shape`` (its values normal and finite in float64)."""
    ebits, mbits, specials, signed = shape
    return range((1 << ebits) - 1 - 1023, 1023 - mbits + 1)


def make(shape, bias):
    ebits, mbits, specials, signed = shape
    return golden.MiniFloat(ebits, mbits, bias, specials=specials, signed=signed)


def product_biases(shape):
    """The biases at which the float-product units take ``shape``: every product exact in FP16."""
    return [bias for bias in range(-40, 41) if arith.products_exact(make(shape, bias), "fp16")]


def exact(fmt, code):
    return minifloat_value(int(code), fmt.ebits, fmt.mbits, fmt.bias, fmt.signed)


def test_shapes_and_windows_are_what_the_docstring_says():
    assert len(SHAPES) == 44
    assert sum(len(product_biases(shape)) for shape in SHAPES) == 731
    # the window is bounded by the products, not by the search range
    assert all(-40 < min(product_biases(s)) and max(product_biases(s)) < 40 for s in SHAPES)


# --- golden ---------------------------------------------------------------------------------

def test_issue_cases_in_golden():
    """The issue's cases: the fixed product of MiniFloat(2, 1, bias=-1)'s 24 × 24 is 576 / 4 = 144
    (F = 1 / min_subnormal**2 = 1/4, DESIGN §3.5), not 0; bias 5's 1 × 1 is 2^-10 = FP16 0x1400."""
    minus_one = golden.MiniFloat(2, 1, bias=-1)
    assert minus_one.min_subnormal == 2 and minus_one.max == 24
    assert arith.fixed_scale(minus_one) == Fraction(1, 4)
    assert int(arith.mul(7, 7, minus_one, "fixed")) == 144 == 24 * 24 * arith.fixed_scale(minus_one)
    assert arith.fixed_width(minus_one) == 9
    assert int(arith.mul(1, 1, golden.MiniFloat(2, 1, bias=5), "fp16")) == 0x1400


@pytest.mark.parametrize("shape", tiered())
def test_golden_fixed_products_ignore_the_bias(shape):
    """For every bias MiniFloat accepts: the same fixed products and width as the shape's default
    bias, and those equal exact-rational ``a*b / min_subnormal**2`` at the default bias and at
    the two extreme biases."""
    canonical = make(shape, None)
    a, b = pairs(canonical, finite_only=True)
    table = arith.mul(a, b, canonical, "fixed")
    width = arith.fixed_width(canonical)
    biases = every_bias(shape)
    for bias in (None, biases[0], biases[-1]):
        fmt = make(shape, bias)
        scale = 1 / exact(fmt, 1) ** 2
        want = [exact(fmt, x) * exact(fmt, y) * scale for x, y in zip(a, b)]
        assert all(w.denominator == 1 for w in want)
        assert table.tolist() == [int(w) for w in want], bias
        assert max(abs(int(w)) for w in want) < 1 << (width - 1)
    for bias in biases:
        fmt = make(shape, bias)
        assert arith.fixed_width(fmt) == width, bias
        assert np.array_equal(arith.mul(a, b, fmt, "fixed"), table), bias


def check_golden_float_products(shape, biases):
    for bias in biases:
        fmt = make(shape, bias)
        a, b = pairs(fmt)
        finite = np.isfinite(fmt.values[a]) & np.isfinite(fmt.values[b])
        for out in ("fp16", "bf16", "fp32"):
            got = arith.mul(a, b, fmt, out)
            for x, y, bits, ok in zip(a, b, got.tolist(), finite):
                if not ok:
                    continue
                product = exact(fmt, x) * exact(fmt, y)
                negative = fmt.signed and (x >> (fmt.bits - 1)) != (y >> (fmt.bits - 1))
                assert bits == round_to_ieee(product, out, negative_zero=negative), (bias, out, x, y)


@pytest.mark.parametrize("shape", tiered())
def test_golden_float_products_against_exact_rationals(shape):
    """Every product-exact bias, the first bias outside the window on each side and the two
    extreme biases (products that leave float64's range: 0 and Inf)."""
    window = product_biases(shape)
    edges = [window[0] - 1, window[-1] + 1, every_bias(shape)[0], every_bias(shape)[-1]]
    check_golden_float_products(shape, window + edges)


def test_mac_and_product_range_predicates_at_extreme_biases():
    """They compare exact rationals: no OverflowError where the squares leave float64."""
    for bias in (-1020, 1020):
        fmt = golden.MiniFloat(2, 1, bias)
        assert not arith.mac_is_exact(fmt) and not arith.products_exact(fmt)
        with pytest.raises(ValueError, match="fmt="):
            hdl.MAC(fmt)
    assert arith.products_exact(golden.E2M1) and arith.products_exact(golden.E3M0, "bf16")


# --- RTL ------------------------------------------------------------------------------------

def mac_addends(fmt, n_random=24, seed=0):
    """FP16 addends aimed at ``fmt``'s MAC: its products, their negations (exact cancellation)
    and neighbours (ties and carries), every exponent (±, mantissa 0 and all ones), the
    specials and a few random patterns."""
    a, b = pairs(fmt, finite_only=True)
    products = np.unique(arith.mul(a, b, fmt, "fp16").astype(np.int64))
    near = np.concatenate([products + d for d in (-1, 1)]) & 0xFFFF
    exponents = np.array([(s << 15) | (e << 10) | m for s in (0, 1) for e in range(31) for m in (0, 0x3FF)])
    specials = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x0001, 0x8001, 0x03FF, 0x0400])
    randoms = np.random.default_rng(seed).integers(0, 1 << 16, n_random)
    return np.unique(np.concatenate([products, products ^ 0x8000, near, exponents, specials, randoms])).astype(np.uint16)


def multiplier_mismatches(fmt, out, golden_fmt=None):
    """Operand pairs where ``Multiplier(fmt, out)`` differs from golden (for ``golden_fmt``, a
    planted fault, if given). ``fixed``: finite pairs (NaN/Inf have no fixed product)."""
    a, b = pairs(fmt, finite_only=out == "fixed")
    width = arith.fixed_width(fmt) if out == "fixed" else golden.ieee_format(out).bits
    got = evaluate(hdl.Multiplier(fmt, out), {"a": a, "b": b})["product"]
    want = arith.mul(a, b, golden_fmt or fmt, out)
    if width > 62:                      # wider than int64 (E5M2-like fixed products): Python ints
        got, want = (np.array([int(v) & ((1 << width) - 1) for v in x], dtype=object) for x in (got, want))
    else:
        got, want = got.astype(np.int64), want.astype(np.int64) & ((1 << width) - 1)
    differ = got != want
    return [(int(x), int(y)) for x, y in zip(a[differ], b[differ])]


def mac_mismatches(fmt, rounding):
    a, b = pairs(fmt)
    c = mac_addends(fmt)
    a, b, c = np.repeat(a, c.size), np.repeat(b, c.size), np.tile(c, a.size)
    got = evaluate(hdl.MAC(fmt, rounding=rounding), {"a": a, "b": b, "c": c})["result"].astype(np.int64)
    want = arith.mac(a, b, c, fmt, "fp16", rounding).astype(np.int64)
    return int((got != want).sum())


def check_shape_rtl(shape, biases):
    canonical = make(shape, None)
    assert multiplier_mismatches(canonical, "fixed") == []
    for bias in biases:
        fmt = make(shape, bias)
        for out in ("fp16", "bf16", "fp32"):
            assert multiplier_mismatches(fmt, out) == [], (bias, out)
        for rounding in ("rne", "rtz"):
            assert mac_mismatches(fmt, rounding) == 0, (bias, rounding)


def test_issue_cases_in_rtl():
    """MiniFloat(2, 1, bias=5) gave 196 wrong FP16 products (1 × 1 → 0x0000); bias -1's fixed
    products were 0 bits wide; a 4-bit format with Inf broke the MAC (an infinite product was
    added as a finite one): all exhaustive now, with the fixed product at the extreme biases."""
    assert multiplier_mismatches(golden.MiniFloat(2, 1, bias=5), "fp16") == []
    assert multiplier_mismatches(golden.MiniFloat(2, 1, bias=-1), "fixed") == []
    for bias in (every_bias((2, 1, "none", True))[0], every_bias((2, 1, "none", True))[-1]):
        assert multiplier_mismatches(golden.MiniFloat(2, 1, bias=bias), "fixed") == []
    for rounding in ("rne", "rtz"):
        assert mac_mismatches(golden.MiniFloat(1, 1, specials="ieee"), rounding) == 0


@pytest.mark.full
@pytest.mark.parametrize("shape", SAMPLE, ids=shape_id)
def test_window_edges_in_rtl(shape):
    """The first and last bias of the product window: products at FP16's largest and smallest."""
    window = product_biases(shape)
    check_shape_rtl(shape, [window[0], window[-1]])


@pytest.mark.full
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_every_custom_format_in_rtl(shape):
    """Every bias of the product window: the three float products and the MAC under both
    roundings, exhaustively over the operand pairs; the fixed product at the shape's default
    bias (the datapath every bias builds)."""
    check_shape_rtl(shape, product_biases(shape))


def decoder_mismatches(shape, biases):
    """(bias, out, codes that differ) for every Decoder the shape builds at ``biases``; the
    decoder refuses a format whose values are not all exact in ``out``, or are subnormal there
    without sharing its exponent range."""
    bad, built = [], 0
    for bias in biases:
        fmt = make(shape, bias)
        codes = np.arange(1 << fmt.bits)
        for out in ("fp16", "bf16", "fp32"):
            try:
                decoder = hdl.Decoder(fmt, out)
            except ValueError as error:     # refused: not exact in out, or subnormal there
                assert "cannot hold" in str(error) if not fmt.exact_in(out) else "subnormal" in str(error)
                continue
            got = evaluate(decoder, {"code": codes})["value"].astype(np.int64)
            wrong = codes[got != fmt.to_ieee(codes, out).astype(np.int64)]
            built += 1
            if wrong.size:
                bad.append((bias, out, wrong.tolist()))
    return bad, built


@pytest.mark.parametrize("shape", tiered())
def test_decoder_for_every_bias(shape):
    """The decoder re-biases with one constant add: every bias MiniFloat accepts (make test:
    every 25th for the sample shapes), every code, every output it accepts."""
    biases = every_bias(shape)
    bad, built = decoder_mismatches(shape, biases if shape not in SAMPLE else biases[::25])
    assert bad == [] and built > 0


@pytest.mark.full
@pytest.mark.parametrize("bits", [5, 6, 7, 8])
def test_fixed_multiplier_every_wider_shape(bits):
    """The fixed product of every shape of 5 to 8 bits, every finite operand pair, at the default
    bias: the datapath every bias of the shape builds."""
    wider = [s for s in shapes(bits) if s[0] + s[1] + int(s[3]) == bits]
    assert wider
    for shape in wider:
        assert multiplier_mismatches(make(shape, None), "fixed") == [], shape


def test_fixed_datapath_is_the_same_for_every_bias():
    """By construction (canonical_bias): the same netlist, so one exhaustive run covers all."""
    from amaranth.back import rtlil
    for shape in [(2, 1, "none", True), (2, 0, "ieee", True), (1, 3, "fn", False)]:
        texts = {rtlil.convert(hdl.Multiplier(make(shape, bias), "fixed"), emit_src=False)
                 for bias in (every_bias(shape)[0], -3, None, 7, every_bias(shape)[-1])}
        assert len(texts) == 1, shape
        assert canonical_bias(make(shape, 9)).bias == make(shape, None).bias


@pytest.mark.parametrize("make_unit", [
    lambda: hdl.Multiplier(golden.MiniFloat(2, 1, bias=13), "fp16"),     # products below 2^-24
    lambda: hdl.Multiplier(golden.MiniFloat(2, 1, bias=-6), "fp32"),     # 6*2^6 squared > 65504
    lambda: hdl.Multiplier(golden.MiniFloat(2, 3), "bf16"),              # a 6-bit custom format
    lambda: hdl.MAC(golden.MiniFloat(2, 1, bias=13)),
    lambda: hdl.MAC(golden.MiniFloat(3, 2)),
])
def test_unproved_custom_formats_are_refused(make_unit):
    with pytest.raises(ValueError, match=r"fmt=E\dM\d"):
        make_unit()


def test_named_formats_and_their_equals_are_accepted():
    hdl.Multiplier(golden.MiniFloat(4, 3, 7, specials="fn"), "fp16")       # E4M3 by its parameters
    hdl.MAC(golden.MiniFloat(3, 0, 3))                                      # E3M0
    hdl.Multiplier(golden.MiniFloat(3, 2), "fixed")                        # fixed takes any format


# --- the evaluator --------------------------------------------------------------------------

def test_evaluator_agrees_with_the_amaranth_simulator():
    fmt = golden.MiniFloat(1, 2, bias=4, specials="fn")
    dut = hdl.Multiplier(fmt, "fp16")
    a, b = pairs(fmt)
    got = evaluate(dut, {"a": a, "b": b})["product"]

    def apply(ctx, i):
        ctx.set(dut.a[0], int(a[i])), ctx.set(dut.b[0], int(b[i]))

    def read(ctx, i):
        return int(ctx.get(dut.product[0].as_value()))

    assert run_vectors(dut, range(a.size), apply=apply, read=read, expected=lambda i: int(got[i])) == []
    mac = hdl.MAC(golden.E2M1, rounding="rtz")
    a, b = pairs(golden.E2M1)
    a, b = a[::4], b[::4]                        # 64 vectors: the simulator steps one at a time
    c = np.tile(np.array([0x3C00, 0x8001, 0x7BFF, 0xFC00], np.uint16), 16)
    got = evaluate(mac, {"a": a, "b": b, "c": c})["result"]

    def apply_mac(ctx, i):
        ctx.set(mac.a[0], int(a[i])), ctx.set(mac.b[0], int(b[i])), ctx.set(mac.c[0].as_value(), int(c[i]))

    def read_mac(ctx, i):
        return int(ctx.get(mac.result[0].as_value()))

    assert run_vectors(mac, range(a.size), apply=apply_mac, read=read_mac, expected=lambda i: int(got[i])) == []


def test_sweep_catches_a_planted_fault():
    """RTL of bias 5 against golden of bias 6: every non-zero finite product differs."""
    fmt = golden.MiniFloat(2, 1, bias=5)
    assert len(multiplier_mismatches(fmt, "fp16", golden_fmt=golden.MiniFloat(2, 1, bias=6))) == 196


def test_evaluator_refuses_state():
    with pytest.raises(ValueError, match="not combinational"):
        evaluate(hdl.Multiplier("e2m1", "fixed", stages=1), {"a": np.arange(4), "b": np.arange(4)})


class _Rounder:
    """A bare ``round_to_float`` on a fixed grid (``magnitude * 2**lsb`` to FP16, rne)."""

    def __new__(cls, width, lsb):
        from amaranth.hdl import Module, unsigned
        from amaranth.lib import wiring
        from amaranth.lib.wiring import In, Out
        from hdl.rounding import round_to_float

        class Rounder(wiring.Component):
            def __init__(self):
                super().__init__({"magnitude": In(unsigned(width)), "code": Out(15)})

            def elaborate(self, platform):
                m = Module()
                m.d.comb += self.code.eq(round_to_float(m, self.magnitude, lsb, golden.FP16, "rne"))
                return m
        return Rounder()


@pytest.mark.parametrize("width, lsb", [(8, -40), (12, -60), (8, -33), (3, -26), (3, -24), (12, 4), (8, 20)])
def test_rounder_on_grids_far_from_the_target(width, lsb):
    """Grids the custom formats reach at their window's edge and beyond: a magnitude narrower than
    the significand (3 bits at 2^-24), every value below half the smallest subnormal (the shift
    clamp), and above the largest finite (Inf)."""
    magnitude = np.arange(1 << width)
    got = evaluate(_Rounder(width, lsb), {"magnitude": magnitude})["code"].astype(np.int64)
    want = golden.FP16.encode(np.ldexp(magnitude.astype(np.float64), lsb), "rne", saturate=False).astype(np.int64)
    assert np.array_equal(got, want)
