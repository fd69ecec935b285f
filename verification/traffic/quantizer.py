"""Quantizer traffic: stimulus blocks (directed corner cases and random draws), their golden
output beats, and the coverage points the bench declares. Shared by the Amaranth-simulator tests
and the cocotb bench."""

from __future__ import annotations

import numpy as np

from golden import mx
from golden.lfsr import DEFAULT_SEED, lfsr_rbits


def stimulus_blocks(fmt, count: int, seed: int = 0) -> np.ndarray:
    """float32 blocks (one per row): the directed cases first, then ``count`` random draws from
    several distributions and magnitudes. Directed: all zero, NaN, ±Inf, amax exactly at and just
    below powers of two, a rounding tie in every element position, huge and tiny magnitudes,
    FP32 subnormals."""
    fmt = mx.block_format(fmt)
    n, rng = fmt.block, np.random.default_rng(seed)
    kinds = [lambda s: rng.standard_normal(s), lambda s: rng.laplace(size=s),
             lambda s: rng.standard_t(2, size=s), lambda s: rng.uniform(-1, 1, s),
             lambda s: np.maximum(rng.standard_normal(s), 0) * (rng.random(s) < 0.4)]
    rows = [kinds[i % len(kinds)](n) * np.exp2(rng.integers(-30, 30)) for i in range(count)]
    x = np.array(rows, dtype=np.float64)
    directed = [np.zeros(n), -np.zeros(n)]
    for special in (np.nan, np.inf, -np.inf):
        row = rng.standard_normal(n)
        row[rng.integers(n)] = special
        directed.append(row)
    element = fmt.element
    for power in (-140, -127, -60, -1, 0, 1, 2, 3, 60, 120, 127):
        for top in (2.0 ** power, np.nextafter(np.float32(2.0 ** power), np.float32(0))):
            row = rng.uniform(-1, 1, n) * top
            row[rng.integers(n)] = -top if rng.random() < 0.5 else top
            directed.append(row)
    # ties: amax = 2**emax (scale 2**0 under every mode but rceil) and one exact midpoint
    # between neighbouring element values in each position
    values = np.unique(np.abs(element.values[np.isfinite(element.values)]))
    midpoints = (values[:-1] + values[1:]) / 2
    for j in range(n):
        row = rng.choice(values, n) * rng.choice([-1, 1], n)
        row[(j + 1) % n] = element.max
        row[j] = rng.choice(midpoints) * rng.choice([-1, 1])
        directed.append(row)
    for magnitude in (2.0 ** 127, 3.0e38, 2.0 ** -126, 1e-45, 2.0 ** -149 * 3):
        directed.append(rng.uniform(-1, 1, n) * magnitude)
    directed.append(np.full(n, 3.4028234663852886e38))
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(directed), x]).astype(np.float32)


def as_input(x: np.ndarray, source: str):
    """``(bits, values)``: the input's bit patterns in ``source`` and the values golden sees."""
    if source == "fp32":
        return x.view(np.uint32).astype(np.uint64), x
    if source == "bf16":
        bits = (x.view(np.uint32) >> 16).astype(np.uint32)          # truncated to BF16
        return bits.astype(np.uint64), (bits << 16).view(np.float32)
    with np.errstate(over="ignore"):
        half = x.astype(np.float16)
    return half.view(np.uint16).astype(np.uint64), half


def golden_blocks(x, fmt, source, scale_mode, rounding, sr_bits=8, seed=DEFAULT_SEED):
    """Input beats' bits and the golden output payloads (codes | scale << codes_bits)."""
    fmt = mx.block_format(fmt)
    bits, values = as_input(x, source)
    rbits = lfsr_rbits(x.size, sr_bits, seed).reshape(x.shape) if rounding == "stochastic" else None
    q = mx.quantize(values, fmt, scale_mode=scale_mode or "floor", rounding=rounding, rbits=rbits)
    element_bits = fmt.element.bits
    payloads = []
    for codes, scale in zip(q.codes, q.scales.reshape(-1)):
        word = sum(int(c) << (j * element_bits) for j, c in enumerate(codes))
        payloads.append(word | int(scale) << (fmt.block * element_bits))
    return bits, payloads


def coverage_points(x, fmt, source, scale_mode):
    """Data coverage points the traffic carries (hits per point): rounding ties, saturated
    elements, special scale codes, NaN / Inf inputs, all-zero blocks."""
    from golden import analysis
    block = mx.block_format(fmt)
    _, values = as_input(x, source)
    mode = scale_mode or "floor"
    points = {}

    def count(point, n):
        points[point] = points.get(point, 0) + int(n)
    nearest = mx.quantize(values, block, scale_mode=mode, rounding="rne")
    away = mx.quantize(values, block, scale_mode=mode, rounding="rna")
    count("rounding tie", (nearest.codes != away.codes).sum())
    finite = np.isfinite(values.astype(np.float32)).all(axis=1)
    scheme = "nvfp4" if not block.is_mx else f"mxfp4@{mode}"
    clipped = analysis.quantize_dequantize(values[finite].astype(np.float32), scheme)[1]
    count("saturated element", clipped.sum())
    for code in quantizer_scale_codes(fmt):
        count(f"scale code {code:#04x}", (nearest.scales == code).sum())
    count("NaN input", np.isnan(values.astype(np.float32)).any(axis=1).sum())
    count("Inf input", np.isinf(values.astype(np.float32)).any(axis=1).sum())
    count("all-zero block", (values == 0).all(axis=1).sum())
    return points


def quantizer_scale_codes(fmt) -> tuple:
    """The special scale codes a quantizer can produce: MX 0x00 (a block below 2^-127·max) and
    0xFF (NaN / Inf); 0xFE needs an amax of 2^129, beyond FP32. NVFP4: 0x08 (the 2^-6 clamp
    floor), 0x7E (448, the largest) and 0x7F (NaN); 0x00 is below the clamp."""
    return (0x00, 0xFF) if mx.block_format(fmt).is_mx else (0x08, 0x7E, 0x7F)


def quantizer_coverage_declared(fmt, scale_mode) -> list:
    """Data points a configuration must hit: saturation only where its scale can clip."""
    points = ["rounding tie", "NaN input", "Inf input", "all-zero block"]
    points += [f"scale code {c:#04x}" for c in quantizer_scale_codes(fmt)]
    if not mx.block_format(fmt).is_mx or scale_mode in ("floor", "even"):
        points.append("saturated element")
    return points


def beats_of(bits, lanes, width):
    flat = bits.reshape(-1, lanes)
    return [sum(int(v) << (k * width) for k, v in enumerate(row)) for row in flat]


