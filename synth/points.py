"""The design space of the report: which units, formats and parameters are synthesized
(``SWEEP`` for ``fp4hw report``, ``DEFAULT_POINTS`` for ``make``), their names, which flows each
point gets, the README headline rows, and each point's Verilog (``<unit>_rom`` points are golden
case-statement ROMs)."""

from __future__ import annotations

import numpy as np

import golden
import golden.arith

from .unit_gates import rom_verilog
from .units import build_unit, to_verilog


FP4 = ("e2m1", "e1m2", "e3m0")


ELEMENTS = FP4 + ("e4m3", "e5m2")


def _sweep() -> list[tuple[str, dict]]:
    points = []
    for fmt in ELEMENTS:                                     # scalar units, every element format
        points.append(("decoder", {"fmt": fmt, "out": "fp16", "lanes": 1}))
        points.append(("decoder_rom", {"fmt": fmt, "out": "fp16"}))
        points.append(("multiplier", {"fmt": fmt, "out": "fixed"}))
        if fmt in FP4:
            points.append(("multiplier_rom", {"fmt": fmt, "out": "fixed"}))
            points.append(("mac", {"fmt": fmt, "rounding": "rne"}))
    points += [("decoder", {"fmt": "e2m1", "out": out, "lanes": 8}) for out in ("fp16", "bf16", "fp32")]
    points += [("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 8, "stages": 1}),
               ("multiplier", {"fmt": "e2m1", "out": "fp16"}),
               ("multiplier", {"fmt": "e2m1", "out": "fixed", "lanes": 32}),
               ("multiplier", {"fmt": "e2m1", "out": "fixed", "stages": 1}),
               ("mac", {"fmt": "e2m1", "rounding": "rtz"}),
               ("int_multiplier", {"fmt": "int4"}), ("int_multiplier", {"fmt": "int8"}),
               ("scale_apply", {"fmt": "mxfp4"}), ("scale_apply", {"fmt": "nvfp4"}),
               ("scale_apply", {"fmt": "mxfp8_e4m3"}),
               ("scale_apply", {"fmt": "mxfp4", "mode": "value", "input": "fp16"}),
               ("scale_apply", {"fmt": "mxfp4", "stages": 1}),
               ("quantizer", {"fmt": "mxfp4", "input": "fp32", "lanes": 8}),
               ("quantizer", {"fmt": "mxfp4", "input": "bf16", "lanes": 8})]
    for word_bits in (16, 32, 64, 128):                      # the loader over word widths and layouts
        points.append(("loader", {"word_bits": word_bits, "layout": "linear"}))
        points.append(("loader", {"word_bits": word_bits, "layout": "linear", "compressed": True}))
        points.append(("loader", {"word_bits": word_bits, "layout": "diagonal"}))
    for lanes in (8, 16, 32):                                # dot engines, unpipelined (as the INT ones)
        for fmt in ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2"):
            if fmt == "nvfp4" and lanes > 16:
                continue
            points.append(("dot", {"fmt": fmt, "lanes": lanes, "preset": "unpipelined"}))
    points += [("dot", {"fmt": "mxfp4", "lanes": lanes}) for lanes in (8, 32)]   # the default: preset fast
    # GEMV around the 32-lane engine, unpipelined (GEMV's default) and at the engine's clock; its
    # vector memory (max_k / lanes words of 128 bits, in flip-flops here) is part of the area
    points += [("gemv", {"fmt": "mxfp4", "lanes": 32, "max_k": 1024, "preset": preset})
               for preset in ("unpipelined", "fast")]
    for lanes in (8, 16, 32):                                # INT baselines of the same lanes
        for fmt in ("int4", "int8"):
            points.append(("int_dot", {"fmt": fmt, "lanes": lanes}))
    # The generic flow the other way round (``alumacc``, NO_ALUMACC_UNITS), where it finishes: how
    # much the flow choice moves a dot engine's count.
    points += [("int_dot", {"fmt": "int4", "lanes": 8, "alumacc": True}),
               ("dot", {"fmt": "mxfp4", "lanes": 8, "preset": "unpipelined", "alumacc": False}),
               ("dot", {"fmt": "mxfp4", "lanes": 32, "preset": "unpipelined", "alumacc": False})]
    return points


SWEEP = _sweep()


# `make`: a small sweep (< 5 minutes cold on 2 cores) that still shows each kind of result.
DEFAULT_POINTS = [
    ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 1}),
    ("decoder_rom", {"fmt": "e2m1", "out": "fp16"}),
    ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 8}),
    *[("multiplier", {"fmt": fmt, "out": "fixed"}) for fmt in ELEMENTS],
    ("multiplier_rom", {"fmt": "e2m1", "out": "fixed"}),
    ("int_multiplier", {"fmt": "int4"}),
    ("int_multiplier", {"fmt": "int8"}),
    ("mac", {"fmt": "e2m1", "rounding": "rne"}),
    ("scale_apply", {"fmt": "mxfp4"}),
    ("loader", {"word_bits": 32, "layout": "linear", "compressed": True}),
    ("dot", {"fmt": "mxfp4", "lanes": 8}),
    ("dot", {"fmt": "mxfp4", "lanes": 8, "preset": "unpipelined"}),
    ("dot", {"fmt": "mxfp8_e4m3", "lanes": 8, "preset": "unpipelined"}),
    ("int_dot", {"fmt": "int4", "lanes": 8}),
]


# The README headline: (point name, label).
HEADLINE = [
    ("multiplier_e2m1_fixed", "E2M1 multiplier, exact fixed-point product"),
    ("multiplier_rom_e2m1_fixed", "golden ROM of the same function"),
    ("int_multiplier_int4", "INT4 multiplier (baseline)"),
    ("multiplier_e4m3_fixed", "FP8 E4M3 multiplier"),
    ("mac_e2m1_rne", "E2M1 MAC, FP16 accumulator, rne"),
    ("dot_mxfp4_lanes32_unpipelined", "MXFP4 dot engine, 32 lanes, unpipelined"),
    ("dot_mxfp8_e4m3_lanes32_unpipelined", "MXFP8 (E4M3) dot engine, 32 lanes, unpipelined"),
    ("dot_mxfp4_lanes8_unpipelined", "MXFP4 dot engine, 8 lanes, unpipelined"),
    ("dot_mxfp4_lanes8", "MXFP4 dot engine, 8 lanes, fast preset (the default)"),
    ("dot_mxfp4_lanes32", "MXFP4 dot engine, 32 lanes, fast preset (the default)"),
    ("int_dot_int4_lanes8", "INT4 dot engine, 8 lanes (baseline)"),
    ("int_dot_int4_lanes32", "INT4 dot engine, 32 lanes (baseline)"),
]


HEADLINE_BEGIN = "<!-- report:headline:begin -->"


HEADLINE_END = "<!-- report:headline:end -->"


# Units synthesized with `synth -flatten -noalumacc` in the generic flow (synth/yosys.py): with
# alumacc, the INT dot engines' sum of products is one $macc that ABC does not map within the
# timeout. A point's ``"alumacc"`` parameter overrides this (the flow-comparison points of the
# sweep; the report's § footnote gives both counts).
NO_ALUMACC_UNITS = {"int_dot"}


def flow_comparison(params: dict) -> bool:
    """A point that runs a unit under the other generic flow (not a design point of its own)."""
    return "alumacc" in params


SCALAR_UNITS = {"decoder", "decoder_rom", "multiplier", "multiplier_rom", "int_multiplier", "mac"}


# Sequential units placed and routed for Fmax (and any point with output stages).
FMAX_UNITS = {"dot", "int_dot", "loader", "quantizer"}


def point_name(unit: str, params: dict) -> str:
    def part(k, v):
        if v is True:
            return k
        if k == "alumacc":
            return "alumacc" if v else "noalumacc"
        if k in ("lanes", "stages"):
            return f"{k}{v}"
        if k == "preset":
            return "" if v == "fast" else str(v)
        if k == "max_k":
            return f"k{v}"
        return f"w{v}" if k == "word_bits" else str(v)
    return "_".join([unit] + [p for p in (part(k, v) for k, v in params.items()) if p])


def select(points, units) -> list:
    """The points of ``units`` (names of units, e.g. ``["dot", "int_dot"]``), in sweep order."""
    known = {u for u, _ in points}
    unknown = sorted(set(units) - known)
    if unknown:
        raise ValueError(f"--units: {', '.join(unknown)} not in the sweep (one of {', '.join(sorted(known))})")
    return [(u, p) for u, p in points if u in units]


def with_unit_gates(unit: str, params: dict) -> bool:
    return unit in SCALAR_UNITS and params.get("lanes", 1) == 1 and not params.get("stages")


def with_fmax(unit: str, params: dict) -> bool:
    return unit in FMAX_UNITS or bool(params.get("stages"))


def point_verilog(unit: str, params: dict, name: str) -> str:
    """Verilog of a design point; ``<unit>_rom`` is the golden case-statement ROM of a scalar
    unit (ports named as the unit's, so the two can be proven equivalent)."""
    if unit == "multiplier_rom":
        fmt = golden.element_format(params.get("fmt", "e2m1"))
        if params.get("out", "fixed") != "fixed" or fmt.bits != 4:
            raise ValueError("multiplier_rom is defined for 4-bit formats with out='fixed'")
        codes = np.arange(16)
        table = golden.arith.mul(np.repeat(codes, 16), np.tile(codes, 16), fmt, "fixed")
        return rom_verilog(name, [("a", 4), ("b", 4)], ("product", golden.arith.fixed_width(fmt)), table)
    if unit == "decoder_rom":
        fmt = golden.element_format(params.get("fmt", "e2m1"))
        out = golden.ieee_format(params.get("out", "fp16"))
        table = fmt.to_ieee(np.arange(1 << fmt.bits), out.name.lower())
        return rom_verilog(name, [("code", fmt.bits)], ("value", out.bits), table)
    design = {k: v for k, v in params.items() if k != "alumacc"}
    return to_verilog(build_unit(unit, **design), name)


def _expected_cost(unit: str, params: dict) -> float:
    """A rough rank of a point's synthesis time (only the order of the work depends on it)."""
    lanes = params.get("lanes", 1)
    base = {"quantizer": 60, "dot": 4, "gemv": 6, "int_dot": 1, "loader": 3, "scale_apply": 2, "mac": 2}.get(unit, 1)
    return base * (lanes if unit in ("dot", "gemv", "int_dot", "quantizer") else 1) * (4 if "mxfp8" in str(params) else 1)
