"""Quantization-error analysis: how much information each 4-bit (and 8-bit) scheme keeps.

A *scheme* is an element format plus a scaling rule:

- ``mx``: MX block scaling (OCP MX: block 32, E8M0 power-of-two scales, ``scale_mode`` floor /
  ceil / even / rceil) with any element format: ``mxfp4`` (E2M1), ``mx_e1m2``, ``mx_e3m0``,
  ``mxfp8_e4m3``, ``mxfp8_e5m2``; bit exact with :func:`golden.mx.quantize`;
- ``nv``: NVFP4 (E2M1, block 16, UE4M3 scales; ``two_level`` adds the FP32 per-tensor scale);
- ``tensor``: one real-valued scale per tensor (``scale = calibrated amax / element max``):
  ``e2m1``, ``e1m2``, ``e3m0``, ``e4m3``, ``e5m2``;
- ``int``: symmetric INT4 / INT8, per tensor or per block (:mod:`golden.integer`).

Per-tensor schemes take a *calibration* of the amax they scale to: ``amax``, a percentile of
``|x|`` (``p90``, ``p99``, ``p99.9``) or ``mse`` (the clip level among 64 candidates from 0.2 to
1.0 × amax that minimizes the MSE). Block schemes are defined by their format (the block amax).

Metrics (:func:`metrics`): MSE, SQNR = 10·log10(Σx² / Σ(x̂−x)²) dB, effective bits =
(SQNR − 1.76) / 6.02 (the bits of an ideal uniform quantizer with that SQNR on a full-scale
sine; the usual ENOB convention), max |error|, saturation rate (share of elements whose scaled
magnitude exceeds the largest representable value, so they are clipped), the share of the
squared error from those clipped elements vs from rounding, the share from elements that land
in the top binade (E2M1: scaled magnitude in [4, 6], the coarsest step, or clipped: "near the
maximum"), and a
histogram of the error in units of the tensor's RMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import integer, mx
from .formats import E1M2, E2M1, E3M0, E4M3, E5M2, E8M0, element_format

# A scale computed as amax / max and divided back can put the amax element 1 ulp above the
# maximum; that is not saturation.
_SLACK = 1e-9
CALIBRATIONS = ("amax", "p90", "p99", "p99.9", "mse")
DISTRIBUTIONS = ("normal", "laplace", "student_t", "uniform", "relu_sparse")


@dataclass(frozen=True)
class Scheme:
    name: str
    kind: str                     # mx, nv, tensor, int
    element: str                  # e2m1 ..., int4, int8
    scale_mode: str = "floor"
    block: int | None = None
    two_level: bool = False

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element including the scales (per-tensor scales count as 0)."""
        bits = integer.check_bits(self.element) if self.kind == "int" else element_format(self.element).bits
        scale_bits = 8 if self.kind in ("mx", "nv") or (self.kind == "int" and self.block) else 0
        return bits + (scale_bits / self.block if self.block else 0)


_MX_ELEMENTS = {"mxfp4": E2M1, "mx_e1m2": E1M2, "mx_e3m0": E3M0, "mxfp8_e4m3": E4M3, "mxfp8_e5m2": E5M2}


def scheme(name: str) -> Scheme:
    """A scheme by name: ``mxfp4``, ``mxfp4@ceil`` (any scale mode after ``@``), ``mx_e1m2``,
    ``mx_e3m0``, ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``nvfp4``, ``nvfp4_2level``, ``e2m1`` / ``e1m2`` /
    ``e3m0`` / ``e4m3`` / ``e5m2`` (per tensor), ``int4``, ``int8`` (per tensor), ``int4_b32``,
    ``int8_b32`` (per block of 32)."""
    base, _, mode = str(name).partition("@")
    if base in _MX_ELEMENTS:
        mode = mode or "floor"
        if mode not in mx.SCALE_MODES:
            raise ValueError(f"scheme={name!r}: scale mode {mode!r} is not one of {', '.join(mx.SCALE_MODES)}")
        return Scheme(name, "mx", _MX_ELEMENTS[base].name.lower(), mode, 32)
    if mode:
        raise ValueError(f"scheme={name!r}: only MX schemes take a scale mode")
    if base in ("nvfp4", "nvfp4_2level"):
        return Scheme(name, "nv", "e2m1", block=16, two_level=base.endswith("2level"))
    if base in ("e2m1", "e1m2", "e3m0", "e4m3", "e5m2"):
        return Scheme(name, "tensor", base)
    if base in ("int4", "int8", "int4_b32", "int8_b32"):
        return Scheme(name, "int", base[:4], block=32 if base.endswith("b32") else None)
    raise ValueError(f"scheme={name!r} is not one of mxfp4[@mode], mx_e1m2, mx_e3m0, mxfp8_e4m3, mxfp8_e5m2, "
                     "nvfp4, nvfp4_2level, e2m1, e1m2, e3m0, e4m3, e5m2, int4, int8, int4_b32, int8_b32")


def synthetic(distribution: str, shape=(256, 1024), seed: int = 0) -> np.ndarray:
    """A float32 test tensor: ``normal``, ``laplace``, ``student_t`` (3 degrees of freedom),
    ``uniform`` (on [-1, 1]) or ``relu_sparse`` (max(0, normal), the input of a convolution
    after ReLU: half the elements zero)."""
    rng = np.random.default_rng(seed)
    if distribution == "normal":
        x = rng.standard_normal(shape)
    elif distribution == "laplace":
        x = rng.laplace(size=shape)
    elif distribution == "student_t":
        x = rng.standard_t(3, shape)
    elif distribution == "uniform":
        x = rng.uniform(-1, 1, shape)
    elif distribution == "relu_sparse":
        x = np.maximum(rng.standard_normal(shape), 0)
    else:
        raise ValueError(f"distribution={distribution!r} is not one of {', '.join(DISTRIBUTIONS)}")
    return x.astype(np.float32)


def calibrated_amax(x: np.ndarray, calibration: str, quantize_at=None) -> float:
    """The magnitude a per-tensor scale maps to the format's maximum."""
    a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if calibration == "amax":
        return float(a.max(initial=0.0))
    if calibration in ("p90", "p99", "p99.9"):
        return float(np.percentile(a, float(calibration[1:])))
    if calibration == "mse":
        if quantize_at is None:
            raise ValueError("calibration='mse' needs the scheme's quantizer")
        top = float(a.max(initial=0.0))
        candidates = top * np.linspace(0.2, 1.0, 64)
        errors = [np.mean((quantize_at(c)[0] - x) ** 2) for c in candidates]
        return float(candidates[int(np.argmin(errors))])
    raise ValueError(f"calibration={calibration!r} is not one of {', '.join(CALIBRATIONS)}")


def _tensor_float(x, fmt, clip_at, rounding, rbits):
    scale = clip_at / fmt.max if clip_at > 0 else 1.0
    scaled = x / scale
    codes = fmt.encode(scaled, rounding, saturate=True, rbits=rbits)
    level = np.abs(scaled) / fmt.max
    return fmt.decode64(codes) * scale, level > 1 + _SLACK, level


def quantize_dequantize(x, sch: Scheme | str, *, calibration: str = "amax", rounding: str = "rne",
                        rbits=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x̂, clipped, level)``: the dequantized tensor (float64), the mask of elements that
    saturated, and each element's scaled magnitude as a fraction of the format's maximum (> 1:
    clipped). ``x``'s last axis must be a multiple of the block size for block schemes.
    ``rbits`` seeds stochastic rounding (an int, a Generator, or the random integers)."""
    sch = scheme(sch) if isinstance(sch, str) else sch
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"x must be a float tensor, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or Inf")
    x64 = x.astype(np.float64)
    if sch.kind in ("mx", "nv"):
        if calibration != "amax":
            raise ValueError(f"calibration={calibration!r}: block scheme {sch.name} scales each block to its amax")
        fmt = (mx.BlockFormat(element_format(sch.element), 32, E8M0, sch.name) if sch.kind == "mx" else mx.NVFP4)
        q = mx.quantize(x.astype(np.float32), fmt, scale_mode=sch.scale_mode, rounding=rounding, rbits=rbits,
                        tensor_scale="amax" if sch.two_level else None)
        xhat = mx.dequantize(q).astype(np.float64)
        scale = fmt.scale.decode64(q.scales).astype(np.float64)
        if q.tensor_scale is not None:
            scale = scale * float(q.tensor_scale)
        per_element = np.repeat(scale, fmt.block, axis=-1)
        level = np.abs(x64) / np.where(per_element > 0, per_element, 1.0) / fmt.element.max
        return xhat, level > 1 + _SLACK, level
    if sch.kind == "tensor":
        fmt = element_format(sch.element)

        def at(clip_at):
            return _tensor_float(x64, fmt, clip_at, rounding, rbits)
        clip_at = calibrated_amax(x64, calibration, at)
        xhat, clipped, level = at(clip_at)
        return xhat, clipped, level
    bits, block = integer.check_bits(sch.element), sch.block
    if rounding != "rne":
        raise ValueError(f"rounding={rounding!r}: the integer schemes round to nearest even only")
    q = integer.qmax(bits)

    def at_int(clip_at):
        codes, scale = integer.quantize(x64, bits, None if block else np.asarray(clip_at / q), block=block)
        xhat = integer.dequantize(codes, scale, bits, block=block)
        s = np.repeat(scale, block, axis=-1) if block else scale
        level = np.abs(x64) / np.where(s > 0, s, 1.0) / q
        return xhat, level > 1 + _SLACK, level
    if block:
        if calibration != "amax":
            raise ValueError(f"calibration={calibration!r}: block scheme {sch.name} scales each block to its amax")
        return at_int(None)
    return at_int(calibrated_amax(x64, calibration, at_int))


def top_binade(sch: Scheme | str) -> float:
    """Where the scheme's last (coarsest) step region starts, as a fraction of its maximum:
    E2M1 [4, 6] → 2/3; integers: the upper half."""
    sch = scheme(sch) if isinstance(sch, str) else sch
    if sch.kind == "int":
        return 0.5
    fmt = element_format(sch.element)
    return float(2.0 ** np.floor(np.log2(fmt.max)) / fmt.max)


def metrics(x, xhat, clipped=None, near_max=None, *, bins: int = 41) -> dict:
    """Error metrics of ``xhat`` against ``x`` (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    err = np.asarray(xhat, dtype=np.float64) - x
    sq = err ** 2
    total = float(sq.sum())
    signal = float((x ** 2).sum())
    mse = float(sq.mean()) if sq.size else 0.0
    sqnr = float("inf") if total == 0 else 10 * np.log10(signal / total) if signal > 0 else float("-inf")
    clipped = np.zeros(x.shape, bool) if clipped is None else np.asarray(clipped, bool)
    near_max = clipped if near_max is None else np.asarray(near_max, bool) | clipped
    rms = float(np.sqrt(np.mean(x ** 2))) or 1.0
    counts, edges = np.histogram(np.clip(err / rms, -1, 1), bins=bins, range=(-1, 1))
    return {
        "mse": mse,
        "sqnr_db": sqnr,
        "effective_bits": (sqnr - 1.76) / 6.02,
        "max_abs_error": float(np.abs(err).max(initial=0.0)),
        "saturation_rate": float(clipped.mean()) if clipped.size else 0.0,
        "clip_share": float(sq[clipped].sum() / total) if total else 0.0,
        "rounding_share": float(sq[~clipped].sum() / total) if total else 0.0,
        "near_max_share": float(sq[near_max].sum() / total) if total else 0.0,
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist(), "unit": "error / RMS(x)"},
    }


def analyze(x, sch, *, calibration: str = "amax", rounding: str = "rne", rbits=None) -> dict:
    """Metrics of one scheme on one tensor, with the scheme's storage cost."""
    sch = scheme(sch) if isinstance(sch, str) else sch
    xhat, clipped, level = quantize_dequantize(x, sch, calibration=calibration, rounding=rounding, rbits=rbits)
    result = metrics(x, xhat, clipped, level >= top_binade(sch))
    result.update(scheme=sch.name, calibration=calibration, rounding=rounding,
                  bits_per_element=sch.bits_per_element)
    return result


def rounding_study(x, sch="mxfp4", *, draws: int = 64, seed: int = 0) -> dict:
    """Nearest (rne), truncation (rtz) and stochastic rounding of ``x`` compared by bias and
    variance: per element, the mean of x̂ − x over ``draws`` stochastic draws (the bias; one draw
    for the deterministic modes) and the variance of x̂ across draws. Reported as mean |bias| and
    mean variance relative to mean(x²), and the error of the sum Σx̂ vs Σx relative to Σ|x| (what an
    accumulation keeps; for stochastic rounding, of the mean sum over the draws)."""
    if not isinstance(draws, int) or draws < 2:
        raise ValueError(f"draws={draws!r} must be an integer >= 2")
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    power = float(np.mean(x64 ** 2)) or 1.0
    total, magnitude = float(x64.sum()), float(np.abs(x64).sum()) or 1.0
    out = {}
    for rounding in ("rne", "rtz"):
        xhat = quantize_dequantize(x, sch, rounding=rounding)[0]
        out[rounding] = {"mean_abs_bias": float(np.mean(np.abs(xhat - x64))) / np.sqrt(power),
                         "variance": 0.0, "sum_error": abs(float(xhat.sum()) - total) / magnitude}
    rng = np.random.default_rng(seed)
    acc = np.zeros_like(x64)
    acc2 = np.zeros_like(x64)
    sums = []
    for _ in range(draws):
        xhat = quantize_dequantize(x, sch, rounding="stochastic", rbits=rng)[0]
        acc += xhat
        acc2 += xhat ** 2
        sums.append(float(xhat.sum()))
    mean = acc / draws
    variance = np.maximum(acc2 / draws - mean ** 2, 0) * draws / (draws - 1)
    out["stochastic"] = {"mean_abs_bias": float(np.mean(np.abs(mean - x64))) / np.sqrt(power),
                         "variance": float(variance.mean()) / power,
                         "sum_error": abs(float(np.mean(sums)) - total) / magnitude}
    out["draws"] = draws
    return out
