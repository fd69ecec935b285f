"""Gate counts in the unit-area {AND2, OR2, XOR2, NOT1} library, measured the way public
FP4-multiplier records are (issue: multiplier and MAC RTL), and the golden ROM baseline.

``unit_gates(verilog, top)`` runs exactly the issue's Yosys/abc script against
``synth/lib/unit_gates.lib`` and returns the cell counts and the gate netlist.
``rom_verilog(...)`` writes a case-statement ROM of any scalar function from golden values: the
baseline the structural design is compared against, and the reference of the equivalence proof.
Note: abc's ``&deepsyn -T 3`` is time-bounded, so counts can differ by a gate or two on a much
slower or faster machine; the report records the measured number.
"""

from __future__ import annotations

import re
from pathlib import Path

from .toolchain import run_yosys

LIBRARY = Path(__file__).parent / "lib" / "unit_gates.lib"
ABC_SCRIPT = ("+strash;,ifraig;,scorr;,dc2;,strash;,balance;,rewrite;,refactor;,balance;,rewrite;,"
              "rewrite,-z;,balance;,refactor,-z;,rewrite,-z;,balance;,&get,-n;,&deepsyn,-T,3,-I,4;,"
              "&put;,logic;,mfs2;,strash;,dch,-f;,map,-a,-B,0")


def unit_gate_script(top: str) -> list[str]:
    return [f"hierarchy -top {top}", "proc", "opt", "memory", "opt", "flatten", "opt -full",
            "techmap", "opt", f'abc -liberty unit_gates.lib -script "{ABC_SCRIPT}"',
            "tee -q -o unit.txt stat -liberty unit_gates.lib", "write_verilog -noattr netlist.v"]


def parse_unit_stat(text: str) -> dict:
    cells = {name: int(count) for count, name in re.findall(r"^\s+(\d+)\s+[\d.]+\s+(AND2|OR2|XOR2|NOT1)\s*$", text, re.M)}
    area = re.search(r"Chip area for module .*?: ([\d.]+)", text)
    if not area:
        raise ValueError("no 'Chip area' line in the stat -liberty output")
    return {"unit_gates": int(float(area.group(1))), "unit_cells": cells}


def unit_gates(verilog: str, top: str, *, timeout: float = 600) -> dict:
    """Unit-gate count of ``verilog`` (top ``top``) and the mapped netlist text."""
    out = run_yosys({"design.v": verilog, "unit_gates.lib": LIBRARY.read_text()},
                    ["read_verilog design.v", *unit_gate_script(top)], timeout=timeout, label=top)
    result = parse_unit_stat(out["unit.txt"])
    result["netlist"] = out["netlist.v"]
    return result


def rom_verilog(top: str, inputs: list[tuple[str, int]], output, table=None) -> str:
    """A combinational ROM: ``output = table[concatenated inputs]`` (first input most significant).

    ``output`` is ``(name, width)`` with ``table``, or a list of ``(name, width, table)`` for a
    ROM with several outputs (ports named as the unit's, so the two can be proven equivalent)."""
    outputs = [(output[0], output[1], table)] if table is not None else list(output)
    width = sum(w for _, w in inputs)
    ports = ", ".join([n for n, _ in inputs] + [name for name, _, _ in outputs])
    lines = [f"module {top}({ports});"]
    lines += [f"  input [{w - 1}:0] {n};" for n, w in inputs]
    lines += [f"  output reg [{w - 1}:0] {name};" for name, w, _ in outputs]
    lines += ["  always @* begin", f"    case ({{{', '.join(n for n, _ in inputs)}}})"]
    columns = [[int(v) & ((1 << w) - 1) for v in tab] for _, w, tab in outputs]
    for i in range(len(columns[0])):
        assigns = " ".join(f"{name} = {w}'d{col[i]};" for (name, w, _), col in zip(outputs, columns))
        lines.append(f"      {width}'d{i}: begin {assigns} end")
    defaults = " ".join(f"{name} = {w}'d0;" for name, w, _ in outputs)
    lines += [f"      default: begin {defaults} end", "    endcase", "  end", "endmodule", ""]
    return "\n".join(lines)


def prove_equivalent(gold: str, gold_top: str, gate: str, gate_top: str, *, timeout: float = 600) -> bool:
    """Yosys SAT proof that two combinational modules with the same ports are equivalent
    (``miter -equiv`` + ``sat -verify -prove-asserts``); the gate netlist may use the unit-gate
    cells. True if proven, False if SAT finds a counterexample."""
    return prove_all_equivalent([(gold, gate)], gold_top, gate_top, timeout=timeout)


def prove_all_equivalent(pairs: list[tuple[str, str]], gold_top: str, gate_top: str, *,
                         timeout: float = 600) -> bool:
    """:func:`prove_equivalent` for each ``(gold, gate)`` pair, all in one Yosys process (one
    design at a time); True if every pair is proven."""
    from .yosys import SynthError
    files = {"unit_gates.lib": LIBRARY.read_text()}
    commands = []
    for i, (gold, gate) in enumerate(pairs):
        files[f"gold{i}.v"], files[f"gate{i}.v"] = gold, gate
        commands += ["design -reset", "read_liberty unit_gates.lib", f"read_verilog gold{i}.v",
                     f"read_verilog gate{i}.v", "proc", "memory", "flatten", "opt_clean",
                     f"miter -equiv -flatten -make_assert {gold_top} {gate_top} miter", "hierarchy -top miter",
                     "tee -a sat.txt sat -verify -prove-asserts -show-inputs miter"]
    try:
        out = run_yosys(files, commands, timeout=timeout, label="equivalence")
    except SynthError as error:
        if "proof did fail" in str(error):
            return False
        raise
    return out["sat.txt"].count("SUCCESS!") == len(pairs)
