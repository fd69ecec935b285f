"""Dot-engine traffic: quantized operand pairs as memory words and scale streams, and the FP32
results ``golden.mx.dot`` gives. Shared by the Amaranth-simulator tests and the cocotb bench."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden import mx, packing


@dataclass
class DotTraffic:
    word_bits: int
    jobs: list = field(default_factory=list)
    a_words: list = field(default_factory=list)
    b_words: list = field(default_factory=list)
    scale_a: list = field(default_factory=list)
    scale_b: list = field(default_factory=list)
    results: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    blocks: int = 0
    b_word_bits: int = 0
    partials: int = 1          # the engine's interleaved partial sums: golden.mx.dot(..., partials=)


def memory_words(codes: np.ndarray, element_bits: int, word_bits: int) -> list[int]:
    """The linear memory image of a row of element codes as W-bit words."""
    if element_bits == 4:
        image = packing.pack(codes, word_bits)
    else:
        image = codes.astype(np.uint8)
    return packing.to_words(image, word_bits)


def add_dot(t: DotTraffic, qa: mx.Quantized, qb: mx.Quantized, element_bits: int, kind: str = ""):
    """One job per row of ``qa``/``qb`` (both [rows, K], quantized along K)."""
    want = mx.dot(qa, qb, partials=t.partials).reshape(-1).view(np.uint32)
    for row in range(qa.codes.shape[0]):
        k = qa.codes.shape[1]
        t.jobs.append(k)
        t.a_words += memory_words(qa.codes[row], element_bits, t.word_bits) if k else []
        t.b_words += memory_words(qb.codes[row], element_bits, t.word_bits) if k else []
        t.scale_a += [int(s) for s in qa.scales[row]]
        t.scale_b += [int(s) for s in qb.scales[row]]
        t.results.append(int(want[row]))
        t.kinds.append(kind)
        t.blocks += len(qa.scales[row])


REJECTED = (1 << 32) | 0x7FC00000       # a rejected job's result: error bit over the canonical NaN


def add_rejected(t: DotTraffic, k: int, kind: str = "rejected k"):
    """A job whose ``k`` is not a multiple of the block: the engine reads no words and no scales
    for it and answers, in order, with the error bit and the canonical NaN (golden raises)."""
    t.jobs.append(k)
    t.results.append(REJECTED)
    t.kinds.append(kind)


def add_order_sensitive(t: DotTraffic, fmt, kind: str = "order-sensitive"):
    """Jobs whose FP32 result depends on the accumulation order: blocks of a huge magnitude
    (±, all lanes at the element maximum, a large scale) among blocks so small that adding one
    to a huge partial loses it. ``[+B, s, -B, s] × 2`` gives s in block order, 4s with two
    partials, 0 with four or eight; ``[+B, s, s, s, -B, s, s, s]`` gives 3s, 5s, 6s and 0 with
    1, 2, 4 and 8 partials. A planted fault in the partials order or the combine tree changes
    these results."""
    fmt = mx.block_format(fmt)
    el, n = fmt.element, fmt.block
    big_scale, small_scale, unit_scale = (157, 97, 127) if fmt.is_mx else (0x7E, 0x01, 0x38)
    one, top, sign = int(el.encode(np.float32([1.0]))[0]), el.max_code, 1 << (el.bits - 1)

    def job(kinds):
        qa = mx.quantize(np.ones((1, len(kinds) * n)), fmt)
        qb = mx.quantize(np.ones((1, len(kinds) * n)), fmt)
        qa.codes[:], qb.codes[:] = 0, one
        for i, kind in enumerate(kinds):
            lanes = slice(i * n, (i + 1) * n)
            if kind == "s":
                qa.codes[0, i * n] = one
                qa.scales[0, i], qb.scales[0, i] = small_scale, small_scale
            else:
                qa.codes[0, lanes] = top | (sign if kind == "-B" else 0)
                qa.scales[0, i], qb.scales[0, i] = big_scale, unit_scale
        add_dot(t, qa, qb, el.bits, kind)

    job(["+B", "s", "-B", "s"] * 2)
    job(["+B", "s", "s", "s", "-B", "s", "s", "s"])


def distribution(rng, name, shape):
    if name == "normal":
        return rng.standard_normal(shape)
    if name == "heavy":
        return rng.standard_t(2, shape) * np.exp2(rng.integers(-8, 8, shape))
    if name == "relu":
        return np.maximum(rng.standard_normal(shape), 0) * (rng.random(shape) < 0.3)
    return rng.uniform(-1, 1, shape)


def dot_traffic(fmt, word_bits: int, seed: int = 0, random_jobs: int = 40, max_blocks: int = 8,
                partials: int = 1) -> DotTraffic:
    """Directed jobs (an empty job, all-zero blocks, scale extremes 2**±127 and products that
    overflow or underflow FP32, NaN scales, NaN/Inf elements for FP8, K of one block) and random
    matrices from normal, heavy-tailed, ReLU-sparse and uniform draws with random block scales;
    results as ``golden.mx.dot(…, partials=partials)``."""
    fmt = mx.block_format(fmt)
    rng = np.random.default_rng(seed)
    t = DotTraffic(word_bits, partials=partials)
    n, bits = fmt.block, fmt.element.bits
    scale_codes = 256 if fmt.is_mx else 128

    def quantized(x, scales=None):
        q = mx.quantize(x, fmt)
        if scales is not None:
            q.scales = np.asarray(scales, dtype=np.uint8).reshape(q.scales.shape)
        return q

    empty = mx.Quantized(np.zeros((1, 0), np.uint8), np.zeros((1, 0), np.uint8), None, fmt)
    add_dot(t, empty, empty, bits, "empty")
    zero = np.zeros((2, 2 * n))
    add_dot(t, quantized(zero), quantized(rng.standard_normal((2, 2 * n))), bits, "zero blocks")
    x, y = rng.standard_normal((6, 3 * n)), rng.standard_normal((6, 3 * n))
    if fmt.is_mx:     # 2**127 * 2**127 overflows FP32; 2**-127 * 2**-17 leaves FP32 subnormals
        rows_a = [[254] * 3, [0] * 3, [254, 0, 254], [0, 120, 0], [200, 127, 60], [1, 2, 3]]
        rows_b = [[254] * 3, [110] * 3, [0, 254, 0], [120, 0, 127], [127, 127, 127], [0, 0, 0]]
    else:             # UE4M3: the largest and smallest scales (their products stay in FP32 range)
        rows_a = [[0x7E] * 3, [0x01] * 3, [0x7E, 0x01, 0x7E], [0x01, 0x40, 0x01], [0x30, 0x38, 0x10], [0] * 3]
        rows_b = [[0x7E] * 3, [0x01] * 3, [0x01, 0x7E, 0x01], [0x40, 0x01, 0x38], [0x38] * 3, [0x7E] * 3]
    if fmt.is_mx:     # the B scale that makes row 1 land among FP32 subnormals for this element
        for code in range(256):
            rows_b[1] = [code] * 3
            value = mx.dot(quantized(x[1:2], rows_a[1:2]), quantized(y[1:2], rows_b[1:2]))[0]
            if value != 0 and abs(value) < 2.0 ** -126:
                break
    add_dot(t, quantized(x, rows_a), quantized(y, rows_b), bits, "scale extremes")
    nan = 0xFF if fmt.is_mx else 0x7F
    add_dot(t, quantized(x[:2], [[nan, 127, 127], [127, 127, nan]]), quantized(y[:2]), bits, "NaN scales")
    for side in (0, 1):     # an empty job passes while the next job's NaN scale is offered: not its scale
        add_dot(t, empty, empty, bits, "empty job, NaN scale offered")
        qa, qb = quantized(x[:1]), quantized(y[:1])
        (qa if side == 0 else qb).scales[0, 0] = nan
        add_dot(t, qa, qb, bits, "NaN scales")
    add_dot(t, quantized(x[:3, :n]), quantized(y[:3, :n]), bits, "one block")
    add_order_sensitive(t, fmt)
    for k in (1, n - 1, n + n // 2, (1 << 24) - 1):            # k not a multiple of the block: rejected
        add_rejected(t, k)
    add_dot(t, quantized(x[:1, :n]), quantized(y[:1, :n]), bits, "after a rejected job")
    if fmt.element.has_nan or fmt.element.has_inf:
        qa = quantized(x[:2])
        qa.codes[0, 5] = fmt.element.nan_code
        if fmt.element.has_inf:
            qa.codes[1, 7] = fmt.element.inf_code
        add_dot(t, qa, quantized(y[:2]), bits, "special elements")
    for j in range(random_jobs):
        blocks = int(rng.integers(1, max_blocks + 1))
        name = ["normal", "heavy", "relu", "uniform"][j % 4]
        xa = distribution(rng, name, (1, blocks * n))
        xb = distribution(rng, name, (1, blocks * n))
        qa, qb = quantized(xa), quantized(xb)
        if j % 3 == 0:                                        # random scales, including extremes
            qa.scales = rng.integers(0, scale_codes - 1, qa.scales.shape).astype(np.uint8)
            qb.scales = rng.integers(0, scale_codes - 1, qb.scales.shape).astype(np.uint8)
        add_dot(t, qa, qb, bits, name)
        if j % 7 == 3:                                        # rejected jobs among the others
            add_rejected(t, blocks * n + int(rng.integers(1, n)))
    return t


def add_mixed(t: DotTraffic, q: mx.Quantized, b: np.ndarray, kind: str = ""):
    """Mixed-mode jobs: one per row of MX weights ``q`` against FP16/BF16 activations ``b``."""
    want = mx.dot(q, b, partials=t.partials).reshape(-1).view(np.uint32)
    bits = b.view(np.uint16)
    for row in range(q.codes.shape[0]):
        k = q.codes.shape[1]
        t.jobs.append(k)
        if k:
            t.a_words += memory_words(q.codes[row], q.format.element.bits, t.word_bits)
            t.b_words += packing.to_words(bits[row].astype("<u2").view(np.uint8), t.b_word_bits)
        t.scale_a += [int(s) for s in q.scales[row]]
        t.results.append(int(want[row]))
        t.kinds.append(kind)
        t.blocks += len(q.scales[row])


def mixed_traffic(fmt, activation: str, word_bits: int, b_word_bits: int, seed: int = 0,
                  random_jobs: int = 30, max_blocks: int = 8, partials: int = 1) -> DotTraffic:
    """MX weights × FP16/BF16 activations: directed (an empty job, NaN, Inf × 0, +Inf and -Inf in one block and
    in different blocks, activation subnormals and maxima, scale extremes, zero blocks) and
    random rows."""
    import ml_dtypes

    fmt = mx.block_format(fmt)
    dtype = np.float16 if activation == "fp16" else ml_dtypes.bfloat16
    rng = np.random.default_rng(seed)
    t = DotTraffic(word_bits, partials=partials)
    t.b_word_bits = b_word_bits
    n = fmt.block

    def weights(rows, blocks, scales=None):
        q = mx.quantize(rng.standard_normal((rows, blocks * n)), fmt)
        if scales is not None:
            q.scales = np.asarray(scales, dtype=np.uint8).reshape(q.scales.shape)
        return q

    def acts(x):
        with np.errstate(over="ignore"):
            return np.asarray(x).astype(dtype)

    empty = mx.Quantized(np.zeros((1, 0), np.uint8), np.zeros((1, 0), np.uint8), None, fmt)
    add_mixed(t, empty, acts(np.zeros((1, 0))), "empty")
    fmax = float(np.finfo(np.float16).max) if activation == "fp16" else float(ml_dtypes.finfo(dtype).max)
    tiny = float(np.finfo(np.float16).smallest_subnormal) if activation == "fp16" else \
        float(ml_dtypes.finfo(dtype).smallest_subnormal)
    q = weights(6, 2)
    b = rng.standard_normal((6, 2 * n))
    b[0, 3] = np.nan
    b[1, 4] = np.inf
    q.codes[1, 4] = 0                                       # Inf * 0
    b[2, 5], b[2, 9] = np.inf, -np.inf                      # +Inf and -Inf in one block
    b[3, 1], b[3, n + 2] = np.inf, -np.inf                  # in different blocks
    b[4, :] = tiny * rng.integers(-3, 4, 2 * n)             # subnormal activations
    b[5, :] = fmax * np.sign(rng.standard_normal(2 * n))    # the largest activations
    q.codes[2, 5] = q.codes[2, 9] = q.codes[3, 1] = q.codes[3, n + 2] = 2
    add_mixed(t, q, acts(b), "specials")
    add_mixed(t, weights(4, 3, [[254] * 3, [0] * 3, [0, 254, 127], [120, 20, 240]]),
              acts(rng.standard_normal((4, 3 * n)) * 1000), "scale extremes")
    add_mixed(t, weights(1, 2, [[127, 127]]), acts(np.zeros((1, 2 * n))), "zero activations")
    q = weights(2, 1, [[127], [127]])                       # the widest block sums: ±max × max in every lane
    q.codes[0, :] = fmt.element.max_code
    q.codes[1, :] = fmt.element.max_code | 1 << (fmt.element.bits - 1)
    add_mixed(t, q, acts(np.full((2, n), fmax)), "largest block sums")
    if fmt.element.has_inf:                                 # weights that are ±Inf (E5M2)
        q = weights(4, 1)
        b = rng.standard_normal((4, n))
        q.codes[:, 3] = fmt.element.inf_code                # +Inf weight
        b[0, 3] = 0.0                                       # Inf × +0: NaN
        b[1, 3] = -0.0                                      # Inf × -0: NaN
        b[2, 3] = tiny                                      # Inf × the smallest subnormal: +Inf
        b[3, 3] = -fmax                                     # Inf × -max: -Inf
        q.codes[3, 7] = fmt.element.inf_code | 1 << (fmt.element.bits - 1)
        b[3, 7] = -tiny                                     # -Inf × -tiny: +Inf, so +Inf and -Inf: NaN
        add_mixed(t, q, acts(b), "Inf weights")
        q = weights(2, 1)
        q.codes[:, 5] = fmt.element.inf_code | 1 << (fmt.element.bits - 1)
        b = rng.standard_normal((2, n))
        b[0, 5] = tiny                                      # -Inf × tiny: -Inf
        b[1, :] = 0.0                                       # -Inf × 0 (and finite × 0): NaN
        add_mixed(t, q, acts(b), "Inf weights")
    for j in range(random_jobs):
        blocks = int(rng.integers(1, max_blocks + 1))
        x = distribution(rng, ["normal", "heavy", "relu", "uniform"][j % 4], (1, blocks * n))
        q = mx.quantize(distribution(rng, "normal", (1, blocks * n)), fmt)
        if j % 3 == 0:
            q.scales = rng.integers(0, 255, q.scales.shape).astype(np.uint8)
        add_mixed(t, q, acts(x * np.exp2(rng.integers(-10, 10))), "random")
    return t


def mixed_gemv_traffic(fmt, activation: str, word_bits: int, b_word_bits: int, rows: int = 8, k: int = 1024,
                       seed: int = 3, partials: int = 1) -> DotTraffic:
    """Mixed mode shaped like a GEMV: ``rows`` weight rows against one FP16/BF16 activation
    vector of ``k`` elements, back to back. The bench's throughput check takes this (jobs
    longer than a pipelined engine's combine keep one beat per cycle; short random jobs do not)."""
    import ml_dtypes

    fmt = mx.block_format(fmt)
    dtype = np.float16 if activation == "fp16" else ml_dtypes.bfloat16
    rng = np.random.default_rng(seed)
    t = DotTraffic(word_bits, partials=partials)
    t.b_word_bits = b_word_bits
    weights = mx.quantize(rng.standard_normal((rows, k)), fmt)
    vector = np.tile(np.maximum(rng.standard_normal((1, k)), 0), (rows, 1)).astype(dtype)
    add_mixed(t, weights, vector, "gemv")
    return t
