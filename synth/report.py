"""The area report: Verilog for a list of design points, Yosys metrics for each, as JSON and a
Markdown table.

``DEFAULT_POINTS`` is what ``make`` (``fp4hw build``) runs. Results are cached under
``<out>/cache`` by a hash of the Verilog text and the Yosys script, so a re-run with nothing
changed does no synthesis. A failing point is recorded with its error instead of ending the run.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

import golden
import golden.arith
import hdl

from .unit_gates import rom_verilog, unit_gate_script, unit_gates
from fp4hw.toolchain import ToolMissing

from .nextpnr import fmax
from .yosys import SynthError, generic_script, ice40_script, synthesize

# (unit, params): the default sweep of the units that exist.
DEFAULT_POINTS = [
    ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 1}),
    ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 8}),
    ("decoder", {"fmt": "e2m1", "out": "bf16", "lanes": 8}),
    ("decoder", {"fmt": "e2m1", "out": "fp32", "lanes": 8}),
    ("decoder", {"fmt": "e1m2", "out": "fp16", "lanes": 8}),
    ("decoder", {"fmt": "e3m0", "out": "fp16", "lanes": 8}),
    ("decoder", {"fmt": "e4m3", "out": "fp16", "lanes": 8}),
    ("decoder", {"fmt": "e5m2", "out": "fp16", "lanes": 8}),
    ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 8, "stages": 1}),
    ("multiplier", {"fmt": "e2m1", "out": "fixed"}),
    ("multiplier_rom", {"fmt": "e2m1", "out": "fixed"}),
    ("multiplier", {"fmt": "e1m2", "out": "fixed"}),
    ("multiplier", {"fmt": "e3m0", "out": "fixed"}),
    ("multiplier", {"fmt": "e4m3", "out": "fixed"}),
    ("multiplier", {"fmt": "e5m2", "out": "fixed"}),
    ("multiplier", {"fmt": "e2m1", "out": "fp16"}),
    ("multiplier", {"fmt": "e2m1", "out": "fixed", "lanes": 32}),
    ("mac", {"fmt": "e2m1", "rounding": "rne"}),
    ("mac", {"fmt": "e2m1", "rounding": "rtz"}),
    ("scale_apply", {"fmt": "mxfp4"}),
    ("scale_apply", {"fmt": "nvfp4"}),
    ("scale_apply", {"fmt": "mxfp4", "mode": "value", "input": "fp16"}),
    ("quantizer", {"fmt": "mxfp4", "input": "fp32", "lanes": 8}),
    ("loader", {"word_bits": 32, "layout": "linear", "compressed": True}),
    ("loader", {"word_bits": 32, "layout": "diagonal"}),
    ("dot", {"fmt": "mxfp4", "lanes": 8}),
    ("dot", {"fmt": "mxfp4", "lanes": 32}),
    ("dot", {"fmt": "mxfp8_e4m3", "lanes": 8}),
    ("dot", {"fmt": "mxfp8_e4m3", "lanes": 32}),
]

# Sequential points that also get nextpnr-ice40 place and route for Fmax.
FMAX_UNITS = {"dot"}

# Scalar points that also get the unit-gate count ({AND2, OR2, XOR2, NOT1}, area 1 each).
UNIT_GATE_UNITS = {"multiplier", "multiplier_rom"}

COLUMNS = [("generic_cells", "cells"), ("transistors", "transistors"), ("depth", "depth"),
           ("ice40_lut4", "LUT4"), ("ice40_carry", "carry"), ("ice40_dff", "DFF"),
           ("unit_gates", "unit gates"), ("fmax_mhz", "Fmax MHz")]


def point_name(unit: str, params: dict) -> str:
    def part(k, v):
        if v is True:
            return k
        if k in ("lanes", "stages"):
            return f"{k}{v}"
        return f"w{v}" if k == "word_bits" else str(v)
    parts = [unit] + [part(k, v) for k, v in params.items()]
    return "_".join(parts)


def _cache_key(verilog: str, top: str, unit_gates: bool, with_fmax: bool = False) -> str:
    script = "\n".join(generic_script(top) + ice40_script(top) + (unit_gate_script(top) if unit_gates else [])
                       + (["nextpnr-ice40 --hx8k --package ct256 --seed 1 (harness)"] if with_fmax else []))
    return hashlib.sha256((verilog + "\0" + script).encode()).hexdigest()[:24]


def point_verilog(unit: str, params: dict, name: str) -> str:
    """Verilog of a design point; ``<unit>_rom`` is the golden ROM baseline of a scalar unit."""
    if unit == "multiplier_rom":
        fmt = golden.element_format(params.get("fmt", "e2m1"))
        if params.get("out", "fixed") != "fixed" or fmt.bits != 4:
            raise ValueError("multiplier_rom is defined for 4-bit formats with out='fixed'")
        codes = np.arange(16)
        table = golden.arith.mul(np.repeat(codes, 16), np.tile(codes, 16), fmt, "fixed")
        return rom_verilog(name, [("a", 4), ("b", 4)], ("product", golden.arith.fixed_width(fmt)), table)
    return hdl.to_verilog(hdl.build_unit(unit, **params), name)


def run_point(unit: str, params: dict, out_dir: Path) -> dict:
    name = point_name(unit, params)
    record = {"unit": unit, "params": params, "name": name}
    verilog = point_verilog(unit, params, name)
    with_unit_gates = unit in UNIT_GATE_UNITS and params.get("lanes", 1) == 1
    (out_dir / "verilog").mkdir(parents=True, exist_ok=True)
    (out_dir / "verilog" / f"{name}.v").write_text(verilog)
    with_fmax = unit in FMAX_UNITS
    cache = out_dir / "cache" / f"{_cache_key(verilog, name, with_unit_gates, with_fmax)}.json"
    if cache.exists():
        record.update(json.loads(cache.read_text()), cached=True)
        return record
    try:
        metrics = synthesize(verilog, name)
        if with_unit_gates:
            gates = unit_gates(verilog, name)
            metrics.update(unit_gates=gates["unit_gates"], unit_cells=gates["unit_cells"])
        if with_fmax:
            try:
                metrics.update(fmax(verilog, name))
            except (SynthError, ToolMissing) as error:  # the design does not fit, or no nextpnr
                metrics["fmax_error"] = str(error)
    except SynthError as error:
        record["error"] = str(error)
        return record
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(metrics, sort_keys=True))
    record.update(metrics, cached=False)
    return record


def markdown_table(records: list[dict]) -> str:
    lines = ["| design point | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for r in records:
        if "error" in r:
            cells = [f"error: {r['error']}"] + [""] * (len(COLUMNS) - 1)
        else:
            cells = []
            for key, _ in COLUMNS:
                value = r.get(key, "")
                if key == "transistors" and r.get("transistors_exclude_ffs"):
                    value = f"{value}+"
                if key == "ice40_lut4" and r.get("ice40_flow", "synth_ice40") != "synth_ice40":
                    value = f"{value}†"
                if key == "fmax_mhz" and "fmax_error" in r:
                    value = "‡"
                cells.append(str(value))
        lines.append(f"| `{r['name']}` | " + " | ".join(cells) + " |")
    failed_pnr = [r for r in records if "fmax_error" in r]
    if failed_pnr:
        lines += ["", "‡ no Fmax: " + "; ".join(f"`{r['name']}`: {r['fmax_error'].split(': ', 1)[-1][:140]}"
                                                 for r in failed_pnr)]
    if any(r.get("ice40_flow", "synth_ice40") != "synth_ice40" for r in records if "error" not in r):
        lines += ["", "† `synth_ice40 -noabc`: abc9 crashed on this design (an assertion in ABC's "
                      "`&verify`), so Yosys's built-in LUT mapping was used; expect fewer LUTs from abc9."]
    return "\n".join(lines) + "\n"


def dot_table(records: list[dict]) -> str:
    """The dot engine per MAC lane, and the FP4 / FP8 area ratio at equal lanes."""
    dots = {(r["params"]["fmt"], r["params"]["lanes"]): r for r in records
            if r["unit"] == "dot" and "error" not in r}
    if not dots:
        return ""
    lines = ["", "## Dot engine per MAC lane, FP4 against FP8", "",
             "| format | lanes | transistors / lane | cells / lane | LUT4 / lane | depth | Fmax MHz | "
             "FP4/FP8 transistors | FP4/FP8 LUT4 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (fmt, lanes), r in sorted(dots.items()):
        fp8 = dots.get(("mxfp8_e4m3", lanes))
        ratios = ("", "")
        if fmt == "mxfp4" and fp8:
            ratios = (f"{r['transistors'] / fp8['transistors']:.2f}", f"{r['ice40_lut4'] / fp8['ice40_lut4']:.2f}")
        fmax_text = r.get("fmax_mhz", "does not fit the HX8K" if "fmax_error" in r else "")
        lines.append(f"| {fmt} | {lanes} | {r['transistors'] / lanes:.0f} | {r['generic_cells'] / lanes:.0f} | "
                     f"{r['ice40_lut4'] / lanes:.0f} | {r['depth']} | {fmax_text} | {ratios[0]} | {ratios[1]} |")
    lines += ["", "Transistors exclude flip-flops (Yosys gives them no CMOS estimate); per lane = the whole "
              "engine (loaders, scale unit, accumulator included) divided by the lanes."]
    return "\n".join(lines) + "\n"


def write_report(records: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    body = ["# fp4hw area report", "",
            "Generic gates: `synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; stat -tech cmos`",
            "(transistors with `+` exclude flip-flops); depth: `ltp -noff` levels; iCE40: `synth_ice40`;",
            "unit gates: {AND2, OR2, XOR2, NOT1} of area 1 with the abc script of public FP4-multiplier",
            "records (`fp4hw synth multiplier --lib unit-gates`). `*_rom` rows are golden case-statement ROMs.",
            "Fmax: nextpnr-ice40 on an HX8K (ct256, seed 1) with the unit inside a register harness",
            "(`synth/nextpnr.py`).", "Reproduce with `make` or `fp4hw build`.", "", markdown_table(records),
            dot_table(records)]
    (out_dir / "report.md").write_text("\n".join(body))


def build(out_dir: Path | str = "build", points=None, *, progress=sys.stderr) -> list[dict]:
    """Write Verilog and the area report for ``points`` (default: DEFAULT_POINTS)."""
    out_dir = Path(out_dir)
    points = DEFAULT_POINTS if points is None else points
    records = []
    for i, (unit, params) in enumerate(points, 1):
        start = time.monotonic()
        record = run_point(unit, params, out_dir)
        status = "cached" if record.get("cached") else "error" if "error" in record else \
            f"{time.monotonic() - start:.1f} s"
        print(f"[{i}/{len(points)}] {record['name']}: {status}", file=progress, flush=True)
        records.append(record)
    write_report(records, out_dir)
    return records
