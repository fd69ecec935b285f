"""Golden element and scale formats: spec tables, an independent table-search reference for
every rounding mode, ml_dtypes as an oracle, hypothesis properties and parameter validation."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import golden
from golden import E1M2, E2M1, E3M0, E4M3, E5M2, E8M0, UE4M3, MiniFloat

FP4 = [E2M1, E1M2, E3M0]
CUSTOM = [MiniFloat(2, 1, 0, name="E2M1b0"), MiniFloat(3, 2, 2, name="E3M2b2"),
          MiniFloat(1, 0, 0, name="E1M0"), MiniFloat(2, 1, specials="ieee", name="E2M1ieee"),
          MiniFloat(5, 2, 15, specials="ieee", signed=False, name="UE5M2")]
ALL = FP4 + [E4M3, E5M2, UE4M3] + CUSTOM


# --- spec tables (DESIGN §3.1, §3.3) ----------------------------------------------------------
@pytest.mark.parametrize("fmt, positives, vmax, vmin", [
    (E2M1, [0, 0.5, 1, 1.5, 2, 3, 4, 6], 6, 0.5),
    (E1M2, [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75], 1.75, 0.25),
    (E3M0, [0, 0.25, 0.5, 1, 2, 4, 8, 16], 16, 0.25),
])
def test_fp4_value_tables(fmt, positives, vmax, vmin):
    assert fmt.bits == 4
    assert list(fmt.values[:8]) == positives
    assert list(fmt.values[8:]) == [-v for v in positives]
    assert np.signbit(fmt.values[8]) and not np.signbit(fmt.values[0])
    assert (fmt.max, fmt.min_subnormal) == (vmax, vmin)
    assert not np.isnan(fmt.values).any()


def test_fp8_and_scale_tables():
    assert (E4M3.max, E4M3.min_subnormal) == (448, 2.0 ** -9)
    assert np.isnan(E4M3.values).nonzero()[0].tolist() == [0x7F, 0xFF]
    assert (E5M2.max, E5M2.min_subnormal) == (57344, 2.0 ** -16)
    assert E5M2.values[0x7C] == np.inf and E5M2.values[0xFC] == -np.inf
    assert np.isnan(E5M2.values).nonzero()[0].tolist() == [0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF]
    assert E8M0.values[127] == 1 and E8M0.values[0] == 2.0 ** -127 and E8M0.values[254] == 2.0 ** 127
    assert np.isnan(E8M0.values[255]) and E8M0.max == 2.0 ** 127
    assert UE4M3.bits == 7 and UE4M3.max == 448 and np.isnan(UE4M3.values[0x7F])
    assert E4M3.values[0x7E] == 448 and E4M3.values[0x08] == 2.0 ** -6


def test_decode_is_float32_of_values():
    for fmt in ALL:
        codes = np.arange(1 << fmt.bits)
        np.testing.assert_array_equal(fmt.decode(codes), fmt.values.astype(np.float32))
        assert fmt.decode(codes).dtype == np.float32


# --- an independent reference: search the sorted value table -----------------------------------
def table_reference(fmt, x, rounding):
    """Round |x| to the table of positive finite values by search, not by bit manipulation."""
    positives = fmt.values[: 1 << (fmt.ebits + fmt.mbits)]
    finite = np.isfinite(positives)
    table = positives[finite]                         # increasing, starts at 0
    codes = np.nonzero(finite)[0]
    mag = np.abs(x.astype(np.float64))
    hi = np.clip(np.searchsorted(table, mag, side="left"), 0, len(table) - 1)
    lo = np.clip(np.searchsorted(table, mag, side="right") - 1, 0, len(table) - 1)
    low, high = table[lo], table[hi]
    if rounding == "rtz":
        pick = lo
    else:
        up = mag - low > high - mag
        tie = mag - low == high - mag
        if rounding == "rne":
            up |= tie & (codes[lo] % 2 == 1)
        else:                                          # rna
            up |= tie
        pick = np.where(up, hi, lo)
    pick = np.where(mag >= table[-1], len(table) - 1, pick)   # saturate
    sign = (np.signbit(x) & fmt.signed).astype(np.int64) << (fmt.ebits + fmt.mbits)
    return (codes[pick] | sign).astype(np.uint8)


def probe_points(fmt):
    """Every value, every midpoint, their float32 neighbours, the overflow region, ±0."""
    positives = fmt.values[: 1 << (fmt.ebits + fmt.mbits)]
    table = positives[np.isfinite(positives)]
    mids = (table[:-1] + table[1:]) / 2
    pts = np.concatenate([table, mids, [table[-1] * 1.5, table[-1] * 2, table[-1] * 1e6, 1e-30]])
    pts = pts.astype(np.float32)
    pts = np.concatenate([pts, np.nextafter(pts, np.float32(np.inf)), np.nextafter(pts, np.float32(0))])
    return np.concatenate([pts, -pts]) if fmt.signed else pts


@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
@pytest.mark.parametrize("fmt", ALL, ids=lambda f: f.name)
def test_encode_matches_table_search(fmt, rounding):
    rng = np.random.default_rng(7)
    x = np.concatenate([probe_points(fmt),
                        (rng.standard_normal(20000) * fmt.max / 3).astype(np.float32)])
    if not fmt.signed:
        x = np.abs(x)
    np.testing.assert_array_equal(fmt.encode(x, rounding), table_reference(fmt, x, rounding))


# --- ml_dtypes as an oracle ------------------------------------------------------------------
ORACLES = [(E2M1, ml_dtypes.float4_e2m1fn, True), (E4M3, ml_dtypes.float8_e4m3fn, False),
           (E5M2, ml_dtypes.float8_e5m2, False)]


def random_float32(n, seed):
    """n float32 values with uniformly random bit patterns (every exponent), NaN replaced."""
    bits = np.random.default_rng(seed).integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    return np.where(np.isfinite(x), x, np.float32(1.0))


@pytest.mark.parametrize("fmt, dtype, saturate", ORACLES, ids=lambda v: getattr(v, "name", ""))
def test_encode_matches_ml_dtypes(fmt, dtype, saturate):
    """ml_dtypes casts are RNE; saturating for E2M1, overflowing to NaN/Inf for FP8."""
    rng = np.random.default_rng(11)
    x = np.concatenate([
        random_float32(1 << 20, 1),                                          # every binade
        (rng.standard_normal(1 << 20) * fmt.max / 4).astype(np.float32),    # the format's range
        (rng.uniform(-1, 1, 1 << 18) * fmt.min_subnormal * 4).astype(np.float32),  # subnormals
        probe_points(fmt), np.float32([0.0, -0.0, np.inf, -np.inf]),
    ])
    ours = fmt.encode(x, saturate=saturate)
    theirs = x.astype(dtype).view(np.uint8)
    finite = np.isfinite(x)
    mismatch = np.nonzero((ours != theirs) & finite)[0]
    assert mismatch.size == 0, f"{mismatch.size} mismatches, first x={x[mismatch[0]]!r}: " \
                               f"{ours[mismatch[0]]:#x} vs {theirs[mismatch[0]]:#x}"
    inf = np.isinf(x)
    if saturate:       # DESIGN §3.2: ±Inf saturates to ±max
        assert list(ours[inf]) == [fmt.max_code, fmt.max_code | (1 << (fmt.bits - 1))]
    else:
        assert (ours[inf] == theirs[inf]).all()


def test_to_ieee_matches_ml_dtypes():
    for fmt, dtype, _ in ORACLES:
        codes = np.arange(1 << fmt.bits, dtype=np.uint8)
        finite = np.isfinite(fmt.values)
        for out, np_type, view in (("fp16", np.float16, np.uint16), ("fp32", np.float32, np.uint32),
                                   ("bf16", ml_dtypes.bfloat16, np.uint16)):
            ours = fmt.to_ieee(codes, out)
            theirs = codes.view(dtype).astype(np_type).view(view)
            np.testing.assert_array_equal(ours[finite], theirs[finite])
    assert E5M2.to_ieee(np.array([0x7E, 0xFF]), "fp16").tolist() == [0x7E00, 0x7E00]
    assert E4M3.to_ieee(np.array([0xFF]), "fp32").tolist() == [0x7FC00000]
    with pytest.raises(ValueError, match="not exactly representable in fp16"):
        MiniFloat(5, 2, 1).to_ieee([0x7F], "fp16")       # 1.75 * 2^30 overflows FP16


# --- properties --------------------------------------------------------------------------------
formats = st.sampled_from(ALL)
roundings = st.sampled_from(["rne", "rtz", "rna"])


@settings(max_examples=300, deadline=None)
@given(formats, roundings, st.data())
def test_decode_encode_identity_on_representable(fmt, rounding, data):
    code = data.draw(st.integers(0, (1 << fmt.bits) - 1))
    value = fmt.values[code]
    if not np.isfinite(value):
        return
    assert fmt.encode(np.float64([value]), rounding)[0] == code


@settings(max_examples=300, deadline=None)
@given(formats, roundings, st.floats(-1e6, 1e6, width=32), st.floats(-1e6, 1e6, width=32))
def test_encode_is_monotonic(fmt, rounding, x, y):
    if not fmt.signed:
        x, y = abs(x), abs(y)
    lo, hi = sorted([x, y])
    a, b = fmt.decode(fmt.encode(np.float32([lo, hi]), rounding))
    assert a <= b


@settings(max_examples=300, deadline=None)
@given(formats, st.floats(-1e6, 1e6, width=32))
def test_rtz_never_grows_magnitude(fmt, x):
    if not fmt.signed:
        x = abs(x)
    assert abs(fmt.decode(fmt.encode(np.float32([x]), "rtz"))[0]) <= abs(np.float32(x))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FP4 + [E4M3]), st.floats(-5, 5, width=32), st.integers(1, 8))
def test_stochastic_is_unbiased_in_the_mean(fmt, x, sr_bits):
    """Averaged over every value of the random bits, stochastic rounding returns x truncated to
    sr_bits fraction bits of the quantum: exactly, not just statistically."""
    if abs(x) >= fmt.max:
        return
    r = np.arange(1 << sr_bits)
    xs = np.full(r.shape, x, dtype=np.float32)
    mean = fmt.decode(fmt.encode(xs, "stochastic", rbits=r, sr_bits=sr_bits)).astype(np.float64).mean()
    mag = abs(float(x))
    exponent = max(int(np.floor(np.log2(mag))) if mag else fmt.emin, fmt.emin)
    quantum = 2.0 ** (exponent - fmt.mbits)
    truncated = np.floor(mag / quantum * 2 ** sr_bits) / 2 ** sr_bits * quantum
    assert mean == pytest.approx(np.copysign(truncated, x), abs=0, rel=1e-12)


def test_stochastic_statistics_with_fresh_draws():
    x = np.full(200000, 0.7, dtype=np.float32)           # between 0.5 and 1.0 in E2M1
    values = E2M1.decode(E2M1.encode(x, "stochastic", rbits=np.random.default_rng(3), sr_bits=16))
    assert set(np.unique(values)) == {0.5, 1.0}
    assert abs(values.mean() - 0.7) < 0.005


# --- semantics details and validation ------------------------------------------------------------
def test_signed_zero_nan_and_overflow():
    assert E2M1.encode(np.float32([-0.1, -0.0, 0.0]), "rne").tolist() == [0x8, 0x8, 0x0]
    assert E2M1.encode(np.float32([7.0, -1e30, np.inf])).tolist() == [0x7, 0xF, 0x7]
    with pytest.raises(ValueError, match="2 NaN inputs, first at index \\(1,\\)"):
        E2M1.encode(np.float32([1, np.nan, np.nan]))
    assert E2M1.encode(np.float32([np.nan, -np.nan]), nan="zero").tolist() == [0, 0]
    assert E4M3.encode(np.float32([np.nan, 500, 1e9]), saturate=False).tolist() == [0x7F, 0x7F, 0x7F]
    assert E4M3.encode(np.float32([464, 465])).tolist() == [0x7E, 0x7E]
    assert E5M2.encode(np.float32([-np.inf, 1e9]), saturate=False).tolist() == [0xFC, 0x7C]
    with pytest.raises(ValueError, match="overflow E2M1"):
        E2M1.encode(np.float32([1, 100]), saturate=False)
    with pytest.raises(ValueError, match="UE4M3 is unsigned"):
        UE4M3.encode(np.float32([-1]))


@pytest.mark.parametrize("args, kwargs, word", [
    ((0, 3), {}, "ebits"), ((2, -1), {}, "mbits"), ((4, 4), {}, "at most 8"),
    ((2, 1), {"bias": 1.5}, "bias"), ((2, 1), {"specials": "x"}, "specials"),
    ((1, 0), {"specials": "ieee"}, "no positive finite"), ((2.0, 1), {}, "ebits"),
])
def test_minifloat_validation(args, kwargs, word):
    with pytest.raises(ValueError, match=word):
        MiniFloat(*args, **kwargs)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="rounding='up'"):
        E2M1.encode([1.0], "up")
    with pytest.raises(ValueError, match="nan='keep'"):
        E2M1.encode([1.0], nan="keep")
    with pytest.raises(ValueError, match="outside \\[0, 16\\)"):
        E2M1.decode([3, 16])
    with pytest.raises(ValueError, match="rbits holds 1 values outside"):
        E2M1.encode([1.0, 2.0], "stochastic", rbits=[0, 256])
    with pytest.raises(ValueError, match="out='fp8'"):
        E2M1.to_ieee([1], "fp8")
    with pytest.raises(ValueError, match="fmt='e9m9'"):
        golden.element_format("e9m9")


def test_reference_comparison_catches_a_planted_fault():
    """The comparisons above can fail: an encoder rounding the wrong way is caught."""
    for fmt, dtype, saturate in ORACLES:
        x = probe_points(fmt)
        wrong = fmt.encode(x, "rtz", saturate=saturate)
        assert (wrong != table_reference(fmt, x, "rne")).any()
        assert (wrong != x.astype(dtype).view(np.uint8)).any()


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
@pytest.mark.parametrize("fmt", [E2M1, E1M2, E3M0, E4M3, E5M2, UE4M3, CUSTOM[3]], ids=lambda f: f.name)
def test_float32_table_path_equals_generic_path(fmt, rounding, saturate):
    """encode() of float32 looks codes up by the top 16 bits plus a sticky bit; it must equal the
    float64 bit-manipulation path on every top-16-bit pattern (with and without low bits) and on
    random bit patterns."""
    hi = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    rng = np.random.default_rng(12)
    bits = np.concatenate([hi, hi | 1, hi | 0x8000, rng.integers(0, 1 << 32, 1 << 18, dtype=np.uint64).astype(np.uint32)])
    x = bits.view(np.float32)
    keep = np.ones(x.shape, dtype=bool)
    if not fmt.has_nan:
        keep &= ~np.isnan(x)
    if not saturate and not (fmt.has_inf or fmt.has_nan):
        keep &= np.abs(x) <= fmt.max
    if not fmt.signed:
        keep &= ~np.signbit(x) | np.isnan(x)
    x = x[keep]
    with np.errstate(invalid="ignore"):
        slow = fmt.encode(x.astype(np.float64), rounding, saturate=saturate)
    np.testing.assert_array_equal(fmt.encode(x, rounding, saturate=saturate), slow)


def test_float32_path_raises_like_the_generic_path():
    with pytest.raises(ValueError, match="1 NaN inputs, first at index \\(2,\\)"):
        E2M1.encode(np.float32([1, 2, np.nan]))
    with pytest.raises(ValueError, match="overflow E2M1"):
        E2M1.encode(np.float32([1, 7]), saturate=False)
    with pytest.raises(ValueError, match="unsigned"):
        UE4M3.encode(np.float32([1, -2]))
    assert E2M1.encode(np.float32([np.nan]), nan="zero").tolist() == [0]
    assert E2M1.encode(np.zeros((0,), np.float32)).shape == (0,)


@pytest.mark.parametrize("bias, words", [(1100, "underflows float64"), (1021, "underflows float64"),
                                         (-1010, "overflow float64"), (-2000, "overflow float64")])
def test_minifloat_refuses_a_bias_whose_values_leave_float64(bias, words):
    """Issue 16: a bias that puts the smallest value below 2**-1022 or the largest past float64
    is refused, saying which, instead of values silently rounding to 0 or Inf."""
    with pytest.raises(ValueError, match=words):
        MiniFloat(4, 3, bias)


def test_minifloat_accepts_the_extreme_biases_that_fit():
    assert MiniFloat(4, 3, 1020).min_subnormal == 2.0 ** -1022
    assert np.isfinite(MiniFloat(4, 3, -1008).max)


def test_scalar_calls_give_our_errors_not_numpys():
    """Issue 33: golden.E2M1.decode(16) leaked numpy's "Calling nonzero on 0d arrays" error."""
    import golden
    for call, words in [(lambda: golden.E2M1.decode(16), ("E2M1 code 16", "[0, 16)")),
                        (lambda: golden.E4M3.decode64(-1), ("E4M3 code -1",)),
                        (lambda: golden.E2M1.encode(float("nan")), ("NaN", "E2M1 has no NaN"))]:
        with pytest.raises(ValueError) as error:
            call()
        assert all(w in str(error.value) for w in words) and "0d" not in str(error.value), str(error.value)
