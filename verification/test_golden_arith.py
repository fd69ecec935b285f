"""golden.arith: exact products (exhaustive against Fractions) and the fused FP16 MAC (every
(a, b) pair × >= 10k c values against an exact integer reference, spot-checked by Fractions)."""

from fractions import Fraction

import numpy as np
import pytest

import golden
from golden import arith
from verification.tools.reference import ieee_value, minifloat_value, round_to_ieee

FP4 = [golden.E2M1, golden.E1M2, golden.E3M0]
PAIRS = np.array([(a, b) for a in range(16) for b in range(16)])


def exact(fmt, code):
    return minifloat_value(int(code), fmt.ebits, fmt.mbits, fmt.bias)


@pytest.mark.parametrize("fmt", FP4, ids=lambda f: f.name)
def test_fixed_products_exhaustive(fmt):
    got = arith.mul(PAIRS[:, 0], PAIRS[:, 1], fmt, "fixed")
    scale = 1 / (exact(fmt, 1) ** 2)
    assert scale == arith.fixed_scale(fmt)
    want = [exact(fmt, a) * exact(fmt, b) * scale for a, b in PAIRS]
    assert all(w.denominator == 1 for w in want)
    assert got.tolist() == [int(w) for w in want]
    width = arith.fixed_width(fmt)
    assert max(abs(int(w)) for w in want) < 1 << (width - 1) <= 2 * max(abs(int(w)) for w in want)


def test_e2m1_fixed_is_4ab_in_9_bits():
    got = arith.mul(PAIRS[:, 0], PAIRS[:, 1])
    assert (got.min(), got.max(), arith.fixed_width(golden.E2M1)) == (-144, 144, 9)
    assert got.tolist() == [int(4 * golden.E2M1.values[a] * golden.E2M1.values[b]) for a, b in PAIRS]


@pytest.mark.parametrize("out", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("fmt", FP4, ids=lambda f: f.name)
def test_float_products_exhaustive(fmt, out):
    got = arith.mul(PAIRS[:, 0], PAIRS[:, 1], fmt, out)
    for (a, b), bits in zip(PAIRS, got.tolist()):
        product = exact(fmt, a) * exact(fmt, b)
        negative = (a >> 3) != (b >> 3)
        assert bits == round_to_ieee(product, out, negative_zero=negative), (a, b)
        assert ieee_value(bits, out) == product


def test_fp8_products_and_specials():
    e4 = golden.E4M3
    got = arith.mul(np.array([0x7E, 0x7F, 0x01]), np.array([0x7E, 0x00, 0x81]), e4, "fp32")
    assert ieee_value(int(got[0]), "fp32") == 448 * 448
    assert got[1] == 0x7FC00000                                      # NaN * 0
    assert ieee_value(int(got[2]), "fp32") == -Fraction(1, 2 ** 18)
    inf_times_zero = arith.mul(np.array([0x7C]), np.array([0x00]), golden.E5M2, "fp16")
    assert inf_times_zero.tolist() == [0x7E00]
    with pytest.raises(ValueError, match="NaN/Inf operands"):
        arith.mul(np.array([0x7F]), np.array([1]), e4, "fixed")
    wide = arith.mul(np.array([0x7B]), np.array([0x7B]), golden.E5M2, "fixed")
    assert wide[0] == 57344 ** 2 * 2 ** 32


# --- MAC ---------------------------------------------------------------------------------------
def c_values(n_random: int = 12000, seed: int = 5) -> np.ndarray:
    """FP16 addends: every exponent (both signs), subnormals, ±0, ±Inf, NaNs, the overflow
    boundary, random bit patterns, and for every product p: -p (exact cancellation) and values a
    half-ulp away from sums that tie."""
    rng = np.random.default_rng(seed)
    every_exponent = np.array([(s << 15) | (e << 10) | m for s in (0, 1) for e in range(31)
                               for m in (0, 1, 0x200, 0x3FF)])
    specials = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF, 0x7BFF, 0xFBFF,
                         0x7BFE, 0x0001, 0x8001, 0x03FF, 0x0400, 0x8400])
    products = np.unique(golden.FP16.encode(np.outer(golden.E2M1.values, golden.E2M1.values).ravel())).astype(np.int64)
    negated = products ^ 0x8000
    near = np.concatenate([products + d for d in (-2, -1, 1, 2)]) & 0xFFFF
    randoms = rng.integers(0, 1 << 16, size=n_random)
    return np.unique(np.concatenate([every_exponent, specials, products, negated, near, randoms])).astype(np.uint16)


def integer_mac_reference(fmt, a, b, c, rounding):
    """FP16 bits of round(a*b + c), by exact integer arithmetic in units of 2**-24 (an FP4 product
    and every finite FP16 value are integers in those units)."""
    unit = 24
    va = np.array([exact(fmt, x) for x in range(16)])
    prod_units = np.array([int(v * w * 2 ** unit) for v in va for w in va], dtype=np.int64).reshape(16, 16)
    prod_neg = np.array([(x >> 3) != (y >> 3) for x in range(16) for y in range(16)]).reshape(16, 16)
    c = c.astype(np.int64)
    c_exp, c_man, c_neg = (c >> 10) & 0x1F, c & 0x3FF, (c >> 15) == 1
    c_special = c_exp == 31
    c_units = np.where(c_exp == 0, c_man, (c_man | 0x400) << np.maximum(c_exp - 1, 0))
    c_units = np.where(c_neg, -c_units, c_units)
    p = prod_units[a, b]
    total = p + np.where(c_special, 0, c_units)
    mag = np.abs(total)
    length = np.zeros_like(mag)                              # bit length of |total|
    for bit in range(64):
        length = np.where(mag >> bit > 0, bit + 1, length)
    shift = np.maximum(length - 11, 0)                      # quantum 2**shift units
    n = mag >> shift
    rest = mag - (n << shift)
    half = np.where(shift > 0, 1 << np.maximum(shift - 1, 0), 0)
    if rounding == "rne":
        n = n + ((shift > 0) & ((rest > half) | ((rest == half) & (n & 1 == 1))))
    code = (shift << 10) + n                   # exponent field shift+1 with the hidden bit in n
    code = np.where(code >= 0x7C00, 0x7BFF if rounding == "rtz" else 0x7C00, code)
    zero_sign = prod_neg[a, b] & c_neg                       # -0 only for (-0) + (-0)
    sign = np.where(total == 0, zero_sign, total < 0)
    result = np.where(sign, code | 0x8000, code)
    nan = (c_special & (c_man != 0))
    result = np.where(c_special & ~nan, c, result)          # FP4 products are finite
    return np.where(nan, 0x7E00, result).astype(np.uint16)


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
@pytest.mark.parametrize("fmt", FP4, ids=lambda f: f.name)
def test_mac_every_pair_against_integer_reference(fmt, rounding):
    c = c_values()
    assert c.size >= 10000
    a = np.repeat(PAIRS[:, 0], c.size)
    b = np.repeat(PAIRS[:, 1], c.size)
    cc = np.tile(c, len(PAIRS))
    got = arith.mac(a, b, cc, fmt, rounding=rounding)
    want = integer_mac_reference(fmt, a, b, cc, rounding)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, f"{bad.size} mismatches, first a={a[bad[0]]} b={b[bad[0]]} c={cc[bad[0]]:#06x}: " \
                          f"{got[bad[0]]:#06x} vs {want[bad[0]]:#06x}"


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_fraction_spot_check(rounding):
    """The integer reference above agrees with plain Fraction arithmetic (on a sample)."""
    rng = np.random.default_rng(9)
    c = c_values(2000, seed=1)
    c = c[(c & 0x7C00) != 0x7C00]
    idx = rng.integers(0, len(PAIRS), 3000)
    cs = rng.choice(c, 3000)
    got = arith.mac(PAIRS[idx, 0], PAIRS[idx, 1], cs, rounding=rounding)
    for (a, b), cv, bits in zip(PAIRS[idx], cs.tolist(), got.tolist()):
        total = exact(golden.E2M1, a) * exact(golden.E2M1, b) + ieee_value(cv, "fp16")
        negative_zero = (a >> 3 != b >> 3) and cv == 0x8000
        assert bits == round_to_ieee(total, "fp16", rounding, negative_zero), (a, b, hex(cv))


def test_mac_ieee_corner_cases():
    mac = arith.mac
    assert mac([8], [8], [0x8000])[0] == 0x0000          # (-0)(-0) + (-0) = +0 + -0 = +0
    assert mac([2], [2], [0x8000])[0] == 0x3C00          # 1 * 1 + (-0) = 1
    assert mac([0], [9], [0x8000])[0] == 0x8000          # (+0)(-0.5) + (-0) = -0
    assert mac([2], [10], [0x3C00])[0] == 0x0000         # 1 * -1 + 1 = +0 (exact cancellation)
    assert mac([2], [10], [0x3C00], rounding="rtz")[0] == 0x0000
    assert mac([7], [7], [0x7BFF])[0] == 0x7C00          # 36 + 65504 overflows under rne
    assert mac([7], [7], [0x7BFF], rounding="rtz")[0] == 0x7BFF
    assert mac([1], [1], [0xFC00])[0] == 0xFC00          # -Inf propagates
    assert mac([1], [1], [0x7D55])[0] == 0x7E00          # NaN → canonical
    assert mac([1], [1], [0x0001])[0] == 0x3400          # 0.25 + 2^-24 rounds to 0.25
    assert mac([0], [0], [0x0001])[0] == 0x0001          # 0 + smallest subnormal stays subnormal


def test_mac_parameter_errors():
    with pytest.raises(ValueError, match="rounding='rna'"):
        arith.mac([1], [1], [0], rounding="rna")
    with pytest.raises(ValueError, match="acc='fp32'"):
        arith.mac([1], [1], [0], acc="fp32")
    with pytest.raises(ValueError, match="E5M2"):
        arith.mac([1], [1], [0], fmt=golden.E5M2)
    with pytest.raises(ValueError, match="FP16 bit patterns"):
        arith.mac([1], [1], [70000])
    with pytest.raises(ValueError, match="a: .*outside"):
        arith.mul([16], [1])
    with pytest.raises(ValueError, match="out='int'"):
        arith.mul([1], [1], out="int")


def test_mac_reference_catches_a_planted_fault():
    c = c_values(100)
    a = np.repeat(PAIRS[:, 0], c.size)
    b = np.repeat(PAIRS[:, 1], c.size)
    cc = np.tile(c, len(PAIRS))
    wrong = arith.mac(a, b, cc, rounding="rtz")        # the wrong rounding mode
    assert (wrong != integer_mac_reference(golden.E2M1, a, b, cc, "rne")).sum() > 100
