"""Block-scaled formats: MXFP4, NVFP4, MXFP8, and the bit-exact dot product (DESIGN §3.4–3.5).

**MX** (E8M0 scale): the shared exponent ``e`` of a block comes from its largest magnitude
``amax`` by ``scale_mode``

- ``floor`` (OCP): ``floor(log2(amax)) - emax_elem`` (``emax_elem = floor(log2(max))``, 2 for E2M1);
- ``ceil``: one more when amax's mantissa is not zero;
- ``even``: amax's mantissa rounded to the element's ``mbits`` (RNE) first, then ``floor``;
- ``rceil``: ``ceil(log2(amax / max))``, computed exactly, so no element ever clips.

``e`` is clamped below at -127 and a block needing more than 127 gets 0xFF, as does a block
holding NaN or ±Inf; an all-zero block gets 0x00. Elements are ``encode(x / 2**e)`` (saturating)
with the chosen rounding; the elements of a NaN-scale block are +0.

**NVFP4** (UE4M3 scale) follows torchao ``nvfp4_quantize`` in float32: block scale
``amax / 6`` (divided by the per-tensor scale when there is one), clamped to [2**-6, 448] and
rounded to UE4M3 (RNE); elements ``encode(x * (1 / scale))`` with torchao's reciprocal order.
Deliberate differences from torchao (tested): a block with NaN or ±Inf gets the NaN scale 0x7F
and +0 elements; for MX, the tiny-block scale 2**-127 is applied exactly (torchao divides by
2**-126, or 1.0 under rceil), ±Inf gives 0xFF (torchao: 0xFD under floor, 0xFE under rceil),
and rceil is exact. That last difference is not torchao's float32 division (``fl(amax / 6)`` is
still above the power of two) but ``torch.log2`` rounding in float32: for ``amax =
nextafter(6144, inf)``, ``fl(amax / 6) = 1024.0001 > 2**10``, yet its float32 log2 is exactly
10.0, so torchao's ceil gives 10 where the exact rule gives 11 (and torchao's element 6 x 2**10
= 6144 then clips the block's amax). A per-tensor scale whose float32 reciprocal overflows
(``tensor_scale="amax"`` on a tensor with amax below about 2**-116.6, or a given scale below
about 2**-128) is refused with that reason: torchao's reciprocal is then Inf, and zeros become
NaN (0 x Inf).

**dot** (DESIGN §3.5): per block the exact integer ``S = sum(a_i * b_i * F)``; its value
``S * scale_a * scale_b / F`` is rounded once to FP32 (RNE, subnormals kept, overflow to Inf);
blocks are accumulated in order, ``acc = fp32(acc + block)`` from +0. Any NaN scale gives NaN,
and every NaN result is the canonical 0x7FC00000.
NVFP4 per-tensor scales multiply the FP32 result: ``fp32(acc * fp32(ta * tb))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import E2M1, E4M3, E5M2, E8M0, FP32, UE4M3, E8M0Format, FloatFormat, ieee_format
from .rounding import check_rounding, random_bits

SCALE_MODES = ("floor", "ceil", "even", "rceil")


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format: ``element`` MiniFloat, ``block`` size (a power of two >= 2) and
    ``scale`` format (E8M0 or UE4M3)."""

    element: FloatFormat
    block: int
    scale: object
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.element, FloatFormat) or self.element.bits > 8:
            raise ValueError(f"element={self.element!r} must be a golden MiniFloat of at most 8 bits")
        if not isinstance(self.block, int) or self.block < 2 or self.block & (self.block - 1):
            raise ValueError(f"block={self.block!r} must be a power of two >= 2")
        if not (isinstance(self.scale, E8M0Format) or self.scale is UE4M3):
            raise ValueError(f"scale={self.scale!r} must be golden.E8M0 or golden.UE4M3")
        if not self.name:
            kind = "MX" if self.is_mx else "NV"
            object.__setattr__(self, "name", f"{kind}-{self.element.name}-{self.block}")

    @property
    def is_mx(self) -> bool:
        return isinstance(self.scale, E8M0Format)

    @property
    def emax_elem(self) -> int:
        return int(np.floor(np.log2(self.element.max)))

    def __repr__(self):
        return f"BlockFormat({self.name})"


MXFP4 = BlockFormat(E2M1, 32, E8M0, "MXFP4")
NVFP4 = BlockFormat(E2M1, 16, UE4M3, "NVFP4")
MXFP8_E4M3 = BlockFormat(E4M3, 32, E8M0, "MXFP8_E4M3")
MXFP8_E5M2 = BlockFormat(E5M2, 32, E8M0, "MXFP8_E5M2")
BLOCK_FORMATS = {f.name.lower(): f for f in (MXFP4, NVFP4, MXFP8_E4M3, MXFP8_E5M2)}
UE4M3_EPS = 2.0 ** -6                 # torch.finfo(float8_e4m3fn).tiny, torchao's lower clamp


def block_format(fmt) -> BlockFormat:
    if isinstance(fmt, BlockFormat):
        return fmt
    try:
        return BLOCK_FORMATS[str(fmt).lower()]
    except KeyError:
        raise ValueError(f"fmt={fmt!r} is not a BlockFormat or one of {', '.join(BLOCK_FORMATS)}") from None


@dataclass
class Quantized:
    """A block-quantized tensor: ``codes`` (uint8, the input's shape), ``scales`` (uint8, the
    blocked axis divided by the block size), ``tensor_scale`` (float32 or None), ``format``,
    ``axis`` (the blocked axis)."""

    codes: np.ndarray
    scales: np.ndarray
    tensor_scale: np.float32 | None
    format: BlockFormat
    axis: int = -1


def _blocked(x: np.ndarray, axis: int, block: int, name: str = "x") -> np.ndarray:
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis")
    moved = np.moveaxis(x, axis, -1)
    if moved.shape[-1] % block:
        raise ValueError(f"{name} has {moved.shape[-1]} elements along axis {axis}, not a multiple "
                         f"of the block size {block}; pad with golden.packing.pad")
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // block, block)


def _unblocked(blocks: np.ndarray, axis: int) -> np.ndarray:
    flat = blocks.reshape(*blocks.shape[:-2], blocks.shape[-2] * blocks.shape[-1])
    return np.moveaxis(flat, -1, axis)


def shared_exponent(amax: np.ndarray, element: FloatFormat, scale_mode: str) -> np.ndarray:
    """Unbiased shared exponent per block for finite, positive ``amax`` (float64), unclamped."""
    bits = amax.view(np.uint64)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    mantissa = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
    emax = int(np.floor(np.log2(element.max)))
    if scale_mode == "floor":
        return exponent - emax
    if scale_mode == "ceil":
        return exponent + (mantissa != 0) - emax
    if scale_mode == "even":
        drop = 52 - element.mbits
        kept = mantissa >> drop
        rest = mantissa & ((1 << drop) - 1)
        half = 1 << (drop - 1)
        up = (rest > half) | ((rest == half) & ((kept & 1) == 1))
        return exponent + ((kept + up) >> element.mbits) - emax
    if scale_mode == "rceil":
        floor_e = exponent - emax
        return floor_e + (np.ldexp(amax, -floor_e) > element.max)
    raise ValueError(f"scale_mode={scale_mode!r} is not one of {', '.join(SCALE_MODES)}")


def _as_float(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a
    try:
        return a.astype(np.float32) if a.dtype.kind == "V" else a.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"x must hold real numbers, got dtype {a.dtype}") from None


def quantize(x, fmt=MXFP4, *, axis: int = -1, scale_mode: str = "floor", rounding: str = "rne",
             rbits=None, sr_bits: int = 8, tensor_scale=None) -> Quantized:
    """Block-quantize ``x`` along ``axis`` (see the module docstring for the semantics).

    ``rounding`` in {rne, rtz, rna, stochastic} (``rbits``/``sr_bits`` as in ``encode``, shaped
    like ``x``); ``scale_mode`` for MX formats; ``tensor_scale`` for NVFP4 only: None (one
    level), a positive float (the per-tensor scale), or ``"amax"`` (``amax(x) / (448 * 6)``).
    """
    fmt = block_format(fmt)
    check_rounding(rounding)
    if scale_mode not in SCALE_MODES:
        raise ValueError(f"scale_mode={scale_mode!r} is not one of {', '.join(SCALE_MODES)}")
    x = _as_float(x)
    from .params import check_int
    axis = check_int("axis", axis)
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"axis={axis} is out of range for an array of {x.ndim} dimensions")
    blocks = _blocked(x, axis, fmt.block)
    r = None
    if rounding == "stochastic":
        r = _blocked(random_bits(rbits, x.shape, sr_bits), axis, fmt.block, "rbits")
    if fmt.is_mx:
        if tensor_scale is not None:
            raise ValueError(f"tensor_scale applies to NVFP4-style formats, not {fmt.name}")
        codes, scales = _quantize_mx(blocks, fmt, scale_mode, rounding, r, sr_bits)
        ts = None
    else:
        finite = np.isfinite(blocks).all(axis=-1)
        codes, scales, ts = _quantize_nv(blocks.astype(np.float32), finite, fmt, rounding, r, sr_bits,
                                         tensor_scale, x)
    return Quantized(_unblocked(codes, axis), np.moveaxis(scales, -1, axis), ts, fmt, axis)


def _quantize_mx(blocks, fmt, scale_mode, rounding, r, sr_bits):
    """MX scales and element codes. float32 (and narrower) inputs stay in float32: scaling by a
    power of two is exact there too (a result below 2**-126 encodes to 0 either way), and the
    element encoder then takes its table path."""
    work = np.float32 if blocks.dtype.itemsize <= 4 else np.float64
    blocks = blocks.astype(work, copy=False)
    with np.errstate(invalid="ignore"):
        amax = np.maximum(blocks.max(axis=-1), -blocks.min(axis=-1)).astype(np.float64)  # NaN-propagating
    finite = np.isfinite(amax)
    positive = finite & (amax > 0)
    exponent = np.where(positive, shared_exponent(np.where(positive, amax, 1.0), fmt.element, scale_mode), -127)
    exponent = np.maximum(exponent, -127)
    nan_scale = ~finite | (exponent > 127)
    exponent = np.where(nan_scale, 0, exponent)
    scales = np.where(nan_scale, E8M0.nan_code, exponent + 127).astype(np.uint8)
    factor = np.ldexp(np.ones((), work), -exponent).astype(work)
    if nan_scale.any():
        blocks = np.where(nan_scale[..., None], work(0), blocks)
    scaled = blocks * factor[..., None]
    codes = fmt.element.encode(scaled, rounding, saturate=True, rbits=r, sr_bits=sr_bits)
    return codes, scales


def _tensor_scale(tensor_scale, x) -> np.float32:
    if isinstance(tensor_scale, str):
        if tensor_scale != "amax":
            raise ValueError(f"tensor_scale={tensor_scale!r} must be None, a positive float or 'amax'")
        amax = np.float32(np.abs(x.astype(np.float32)).max())
        value = np.float32(amax / np.float32(448.0 * 6.0))
    else:
        try:
            value = np.float32(tensor_scale)
        except (TypeError, ValueError):
            raise ValueError(f"tensor_scale={tensor_scale!r} must be None, a positive float or 'amax'") from None
    if not (np.isfinite(value) and value > 0):
        if isinstance(tensor_scale, str):
            raise ValueError(f"tensor_scale='amax': the tensor's amax is {float(amax):g}, so the per-tensor scale "
                             f"amax / 2688 is {float(value):g}; NVFP4 needs a positive, finite per-tensor scale "
                             "(an all-zero or non-finite tensor has none): quantize without a tensor scale")
        raise ValueError(f"tensor_scale={tensor_scale!r} must be positive and finite (got {value})")
    with np.errstate(over="ignore"):
        reciprocal = np.float32(1.0) / value
    if not np.isfinite(reciprocal):
        what = (f"the tensor's amax {float(amax):.6g} (below about 2**-116.6) gives the per-tensor scale amax / 2688 = "
                if isinstance(tensor_scale, str) else "the per-tensor scale ")
        raise ValueError(f"tensor_scale={tensor_scale!r}: {what}{float(value):.6g}, whose float32 reciprocal "
                         "overflows to Inf (elements would be 0 x Inf = NaN); quantize this tensor without a "
                         "per-tensor scale")
    return value


def nvfp4_reciprocal_table() -> list[int]:
    """FP32 bit patterns of ``fp32(1 / scale)`` for every UE4M3 scale code in the NVFP4 recipe's
    float32 order (0 for codes below the clamp ``2**-6``, which never occur): the table the
    hardware quantizer indexes."""
    first = int(UE4M3.encode(np.float32(UE4M3_EPS)))
    values = UE4M3.decode(np.arange(UE4M3.max_code + 1))
    with np.errstate(divide="ignore"):                  # code 0 (below the clamp) is never used
        reciprocal = (np.float32(1.0) / values.astype(np.float32)).astype(np.float32).view(np.uint32)
    return [int(r) if c >= first else 0 for c, r in enumerate(reciprocal)]


def _quantize_nv(blocks, finite, fmt, rounding, r, sr_bits, tensor_scale, x):
    one = np.float32(1.0)
    elem_max = np.float32(fmt.element.max)
    amax = np.abs(np.where(finite[..., None], blocks, 0)).max(axis=-1)
    block_scale = (amax / elem_max).astype(np.float32)
    ts = None if tensor_scale is None else _tensor_scale(tensor_scale, x)
    if ts is not None:
        block_scale = (block_scale / ts).astype(np.float32)
    clamped = np.clip(block_scale, np.float32(UE4M3_EPS), np.float32(UE4M3.max))
    scales = UE4M3.encode(clamped, "rne")
    scale_value = UE4M3.decode(scales)
    if ts is None:
        reciprocal = (one / scale_value).astype(np.float32)
    else:
        reciprocal = ((one / ts).astype(np.float32) / scale_value).astype(np.float32)
    data = (np.where(finite[..., None], blocks, 0) * reciprocal[..., None]).astype(np.float32)
    data = np.clip(data, -elem_max, elem_max)
    codes = fmt.element.encode(data, rounding, saturate=True, rbits=r, sr_bits=sr_bits)
    scales = np.where(finite, scales, UE4M3.nan_code).astype(np.uint8)
    return codes, scales, ts


def _check_quantized(q, name: str) -> Quantized:
    if not isinstance(q, Quantized):
        raise ValueError(f"{name} must be a golden.mx.Quantized (from golden.mx.quantize)")
    return q


def dequantize(q: Quantized) -> np.ndarray:
    """float32 values of a Quantized tensor (NaN-scale blocks are NaN)."""
    q = _check_quantized(q, "q")
    fmt = q.format
    codes = _blocked(q.codes, q.axis, fmt.block, "codes")
    scales = np.moveaxis(np.asarray(q.scales), q.axis, -1)
    if scales.shape != codes.shape[:-1]:
        raise ValueError(f"scales of shape {q.scales.shape} do not match codes of shape {q.codes.shape}")
    values = fmt.element.decode64(codes)
    scale = fmt.scale.decode64(scales)
    if fmt.is_mx:
        out = (values * scale[..., None]).astype(np.float32)
    else:
        scale32 = scale.astype(np.float32)
        if q.tensor_scale is not None:
            scale32 = (np.float32(q.tensor_scale) * scale32).astype(np.float32)
        out = (values.astype(np.float32) * scale32[..., None]).astype(np.float32)
    return _unblocked(out, q.axis)


def _element_integers(codes: np.ndarray, element: FloatFormat, block: int):
    """Each element value in units of min_subnormal (exact integers), and a mask of NaN/Inf.
    Python integers where a block sum times an 8-bit scale significand could pass 2**52."""
    values = element.decode64(codes)
    special = ~np.isfinite(values)
    units = np.rint(np.where(special, 0.0, values) / element.min_subnormal)
    wide = (element.max / element.min_subnormal) ** 2 * block * 256 >= 2.0 ** 52
    return (units.astype(object) if wide else units.astype(np.int64)), special


def _round_to_fp32(total, exponent: np.ndarray) -> np.ndarray:
    """FP32 (RNE) of ``total * 2**exponent`` for exact integers ``total`` (int64 or Python int),
    rounded once: wide integers are first cut to 40 bits plus a sticky bit."""
    if total.dtype == object:
        def cut(s):
            s = int(s)
            extra = max(abs(s).bit_length() - 40, 0)
            if not extra:
                return s, 0
            kept = abs(s) >> extra
            sticky = 1 if abs(s) & ((1 << extra) - 1) else 0
            return (kept << 1 | sticky) * (1 if s > 0 else -1), extra - 1
        pairs = np.frompyfunc(cut, 1, 2)(total)
        mantissa = pairs[0].astype(np.float64)
        exponent = exponent + pairs[1].astype(np.int64)
    else:
        mantissa = total.astype(np.float64)            # |S| < 2**53: exact
    value = np.ldexp(mantissa, exponent)
    return FP32.encode(value, "rne", saturate=False).view(np.float32)


def _scaled_sums(total, scale_a, scale_b, bad, element):
    """float32 of ``total * scale_a * scale_b * min_subnormal**2`` (one RNE rounding) for exact
    integer block sums ``total`` and float64 scale values; NaN where ``bad`` or a scale is NaN."""
    exact = scale_a * scale_b                       # powers of two or 8-bit significands: exact
    bad = np.isnan(exact) | bad
    exact = np.where(bad, 1.0, exact)
    mant, exp2 = np.frexp(exact)                    # exact = mant * 2**exp2, mant has <= 8 bits
    mant_int = np.rint(np.ldexp(mant, 8)).astype(np.int64)
    unit = int(np.log2(element.min_subnormal)) * 2
    if total.dtype == object:
        total = total * mant_int.astype(object)
    else:
        total = total * mant_int
    values = _round_to_fp32(total, exp2 - 8 + unit)
    return np.where(bad, np.float32(np.nan), values)


def _dot_blocks(ia, sa_special, ib, sb_special, scale_a, scale_b, element, block_sum):
    """Block values (float32) from element integers; ``block_sum(ia, ib)`` sums per block."""
    return _scaled_sums(block_sum(ia, ib), scale_a, scale_b, sa_special | sb_special, element)


def block_value(total, scale_a, scale_b, fmt=MXFP4, invalid=None) -> np.ndarray:
    """FP32 bit patterns (uint32) of a block's exact sum scaled by its two scales: what the scale
    unit (``hdl.ScaleApply``) computes and the dot engine accumulates.

    ``total``: the exact block sum S of fixed products (integers in units of
    ``min_subnormal**2``, as ``golden.arith.mul(..., out="fixed")`` gives); ``scale_a``,
    ``scale_b``: scale codes of ``fmt.scale`` (E8M0 or UE4M3); ``invalid``: an element was NaN
    or Inf (FP8 elements). The value ``S * sa * sb * min_subnormal**2`` is rounded once (RNE,
    subnormals kept, overflow to ±Inf); an exact zero (S = 0, or a UE4M3 zero scale) is +0, a
    non-zero value that rounds to zero keeps its sign; a NaN scale or ``invalid`` gives the
    canonical NaN.
    """
    fmt = block_format(fmt)
    total = np.asarray(total)
    if total.dtype.kind not in "iuO":
        raise ValueError(f"total must hold integers, got dtype {total.dtype}")
    bad = np.zeros(np.broadcast_shapes(total.shape, np.shape(scale_a), np.shape(scale_b)), dtype=bool)
    if invalid is not None:
        bad = bad | np.asarray(invalid, dtype=bool)
    values = _scaled_sums(total.astype(np.int64) if total.dtype != object else total,
                          fmt.scale.decode64(scale_a), fmt.scale.decode64(scale_b), bad, fmt.element)
    return _fp32_bits(values)


def _fp32_bits(values) -> np.ndarray:
    """uint32 bit patterns of float32 values, every NaN as the canonical 0x7FC00000."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    return np.where(np.isnan(values), np.uint32(0x7FC00000), bits).astype(np.uint32)


def scale_value(bits, scale, fmt="fp32") -> np.ndarray:
    """FP32 bit patterns (uint32) of one value times an E8M0 scale: ``x * 2**(scale - 127)``
    rounded once to FP32 (RNE, subnormals kept, overflow to ±Inf) - the dequantize step of the
    scale unit for an FP16, BF16 or FP32 ``x`` given by its bit patterns. NaN in ``x`` or the
    0xFF scale gives the canonical NaN; ±Inf times a finite scale stays ±Inf."""
    source = ieee_format(fmt)
    codes = np.asarray(bits)
    if codes.dtype.kind not in "iu" or ((codes < 0) | (codes >= 1 << source.bits)).any():
        raise ValueError(f"bits must be {source.bits}-bit {source.name} patterns")
    x = source.decode64(codes.astype(np.int64))
    factor = E8M0.decode64(scale)
    with np.errstate(invalid="ignore"):
        value = x * factor                          # exact in float64: |exponent| <= 127 + 149
    return FP32.encode(value, "rne", saturate=False).astype(np.uint32)   # NaN: 0x7FC00000


MAX_PARTIALS = 64


def check_partials(partials) -> int:
    """``partials``: interleaved FP32 partial sums, a power of two from 1 to 64 (DESIGN §3.5)."""
    from .params import check_int
    return check_int("partials", partials, 1, MAX_PARTIALS, power_of_two=True)


def _accumulate(blocks: np.ndarray, partials: int = 1) -> np.ndarray:
    """acc = fp32(acc + block) in block order (last axis), from +0; with ``partials`` = P, block
    j goes to partial sum j mod P (each accumulated in order from +0) and the P partials are
    combined pairwise (p0+p1, p2+p3, …, then the sums of those, left to right), every addition
    rounded to FP32 RNE."""
    sums = []
    with np.errstate(invalid="ignore", over="ignore"):      # Inf - Inf = NaN, overflow = Inf
        for p in range(partials):
            acc = np.zeros(blocks.shape[:-1], dtype=np.float32)
            for k in range(p, blocks.shape[-1], partials):
                acc = (acc + blocks[..., k]).astype(np.float32)
            sums.append(acc)
        while len(sums) > 1:
            sums = [(x + y).astype(np.float32) for x, y in zip(sums[0::2], sums[1::2])]
    return sums[0]


def _canonical_nan(values: np.ndarray) -> np.ndarray:
    """Every NaN result as the canonical 0x7FC00000 (numpy's Inf - Inf is 0xFFC00000)."""
    return np.where(np.isnan(values), np.float32(np.nan), values).astype(np.float32)


def _apply_tensor_scales(acc, qa, qb):
    if qa.tensor_scale is None and qb.tensor_scale is None:
        return acc
    ta = np.float32(1.0 if qa.tensor_scale is None else qa.tensor_scale)
    tb = np.float32(1.0 if qb.tensor_scale is None else qb.tensor_scale)
    with np.errstate(invalid="ignore", over="ignore"):
        return (acc * np.float32(ta * tb)).astype(np.float32)


def _operands(qa, qb):
    qa, qb = _check_quantized(qa, "a"), _check_quantized(qb, "b")
    if qa.format != qb.format:
        raise ValueError(f"a is {qa.format.name} but b is {qb.format.name}")
    fmt = qa.format
    out = []
    for q, name in ((qa, "a"), (qb, "b")):
        if q.axis not in (-1, q.codes.ndim - 1):
            raise ValueError(f"{name} must be quantized along its last axis (axis=-1), not axis={q.axis}")
        codes = _blocked(q.codes, -1, fmt.block, f"{name}.codes")
        scales = np.asarray(q.scales)
        if scales.shape != codes.shape[:-1]:
            raise ValueError(f"{name}.scales has shape {scales.shape}, expected {codes.shape[:-1]}")
        ints, special = _element_integers(codes, fmt.element, fmt.block)
        out.append((ints, special.any(axis=-1), fmt.scale.decode64(scales)))
    if out[0][0].shape[-2:] != out[1][0].shape[-2:]:
        raise ValueError(f"a has {qa.codes.shape[-1]} elements along the last axis, b has {qb.codes.shape[-1]}")
    return fmt, out


def _activation_format(b: np.ndarray):
    if b.dtype == np.float16:
        return ieee_format("fp16")
    if b.dtype.name == "bfloat16":
        return ieee_format("bf16")
    raise ValueError(f"b must be a Quantized or an FP16 (numpy float16) / BF16 (ml_dtypes bfloat16) "
                     f"array, got dtype {b.dtype}")


def _dot_mixed(q: Quantized, b: np.ndarray, partials: int = 1) -> np.ndarray:
    """Mixed mode (DESIGN §3.5): per block S = sum(a_i * b_i) exactly (Python integers on the
    grid of the smallest product), times 2**(scale - 127), one RNE rounding to FP32; IEEE rules
    for non-finite activations (Inf * 0 and Inf - Inf are NaN); block-order FP32 accumulation."""
    import math

    q = _check_quantized(q, "a")
    fmt = q.format
    if not fmt.is_mx:
        raise ValueError(f"mixed mode takes MX-scaled weights (E8M0), not {fmt.name}")
    source = _activation_format(b)
    if b.shape != q.codes.shape:
        raise ValueError(f"b has shape {b.shape}, the weights {q.codes.shape}")
    codes = _blocked(q.codes, -1, fmt.block, "a.codes")
    av = fmt.element.decode64(codes)
    bv = _blocked(b.astype(np.float64), -1, fmt.block, "b")
    with np.errstate(invalid="ignore"):
        products = av * bv                                  # exact: few significand bits
    lsb = int(np.log2(fmt.element.min_subnormal)) + source.emin - source.mbits

    def units(v: float) -> int:
        if v == 0:
            return 0
        mantissa, exponent = math.frexp(v)
        m = int(mantissa * (1 << 53))
        shift = exponent - 53 - lsb
        return m << shift if shift >= 0 else m >> -shift    # exact: v is a multiple of 2**lsb

    finite = np.isfinite(products)
    totals = np.frompyfunc(units, 1, 1)(np.where(finite, products, 0.0))
    sums = totals.sum(axis=-1)
    if not isinstance(sums, np.ndarray):
        sums = np.array(sums, dtype=object)
    scales = np.asarray(q.scales)
    exponent = np.where(scales == 0xFF, 0, scales.astype(np.int64) - 127) + lsb
    values = _round_to_fp32(np.asarray(sums, dtype=object), exponent)
    with np.errstate(invalid="ignore", over="ignore"):
        special = products.sum(axis=-1)                     # NaN / ±Inf exactly as IEEE sums them
        values = np.where(~np.isfinite(special), special.astype(np.float32), values)
    values = np.where(scales == 0xFF, np.float32(np.nan), values)
    return _canonical_nan(_accumulate(values, partials))


def dot(a: Quantized, b, *, partials: int = 1) -> np.ndarray:
    """Bit-exact dot product over the last axis (leading axes broadcast), float32.

    ``b`` is a Quantized of the same format, or (mixed mode, MX weights only) an FP16 / BF16
    activation array of the weights' shape. ``partials`` = P > 1 accumulates the blocks in P
    interleaved FP32 partial sums combined in a fixed tree (DESIGN §3.5; P = 1 is block order)."""
    partials = check_partials(partials)
    if not isinstance(b, Quantized):
        return _dot_mixed(a, np.asarray(b), partials)
    fmt, ((ia, sa, va), (ib, sb, vb)) = _operands(a, b)
    blocks = _dot_blocks(ia, sa, ib, sb, va, vb, fmt.element,
                         lambda x, y: (x * y).sum(axis=-1))
    return _canonical_nan(_apply_tensor_scales(_accumulate(blocks, partials), a, b))


def matmul(a: Quantized, b: Quantized, *, partials: int = 1) -> np.ndarray:
    """A[M, K] x B[N, K] (both quantized along K) → float32 [M, N], each entry as :func:`dot`
    (with the same ``partials``)."""
    partials = check_partials(partials)
    fmt, ((ia, sa, va), (ib, sb, vb)) = _operands(a, b)
    if ia.ndim != 3 or ib.ndim != 3:
        raise ValueError(f"matmul takes 2-D A[M, K] and B[N, K], got {a.codes.shape} and {b.codes.shape}")

    def block_sum(x, y):
        if x.dtype == object:
            return (x[:, None] * y[None, :]).sum(axis=-1)
        return np.einsum("mbi,nbi->mnb", x, y)

    blocks = _dot_blocks(ia, sa[:, None], ib, sb[None, :], va[:, None], vb[None, :], fmt.element, block_sum)
    return _canonical_nan(_apply_tensor_scales(_accumulate(blocks, partials), a, b))


__all__ = ["BlockFormat", "Quantized", "MXFP4", "NVFP4", "MXFP8_E4M3", "MXFP8_E5M2", "SCALE_MODES",
           "quantize", "dequantize", "dot", "matmul", "shared_exponent", "block_format", "block_value",
           "scale_value", "check_partials", "MAX_PARTIALS"]
