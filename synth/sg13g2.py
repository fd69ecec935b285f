"""Silicon numbers in IHP SG13G2 (130 nm, 1.2 V): area in µm², static timing, power and energy
per operation (DESIGN §6), for one unit at a time.

The flow, per design point:

1. **Map** (Yosys, :func:`map_netlist`): ``synth -flatten``, ``dfflibmap`` and ``abc -liberty``
   onto the typical-corner library with a delay target of one clock period and an ABC
   constraint (driving cell ``sg13g2_buf_4``, load 6 fF-units) so that high-fanout nets get
   buffered, then tie cells for constants and buffers for port-to-port connections; ``stat
   -liberty`` gives the area (µm², the library's ``area``) and the cell count.
2. **Activity** (:mod:`synth.traffic`, :mod:`synth.gatesim`): the mapped netlist itself is
   simulated (zero delay) on traffic built from golden operands, its outputs checked against
   golden, every net's transitions counted.
3. **Power** (:mod:`synth.power`): from every net's simulated transitions and the Liberty
   tables of the reported corner, at the stated clock (the Debian OpenSTA cannot take per-net
   activity; :mod:`synth.power` says why and how the two were calibrated against each other).
   Energy per operation = energy of the simulated window / operations in it (an operation: one
   element product for multipliers, MACs and dot engines).
4. **Timing** (:mod:`synth.sta`, Debian's OpenSTA): the netlist is read back and its instance
   count checked against Yosys's; the critical path at the typical and slow corners (ideal
   clock; a combinational unit between an ideal register before and after it: input and output
   delays 0), Fmax = 1 / path.

Without OpenSTA, step 4 is skipped and the record says why in ``sta_error``; area, cells, power
and energy are still reported. Limits, written beside every figure: wire-load model (the library's default
``1k``), ideal clock (no clock tree; flip-flop clock pins are counted), zero-delay activity (no
glitch power), no placement or routing.
"""

from __future__ import annotations

import json

from .gatesim import GateModel
from .liberty import CORNERS, PDK, liberty_path, read_cells, read_library
from .netlist import NetlistError, plain_for_sta, read_netlist
from .power import INPUT_DRIVER, OUTPUT_LOAD_PF, power
from .sta import run_sta
from .toolchain import ToolMissing, run_yosys
from .traffic import DEFAULT_TRAFFIC, check_traffic, has_traffic, operation, simulate

DEFAULT_CLOCK_MHZ = 100.0

ABC_CONSTRAINTS = "set_driving_cell sg13g2_buf_4\nset_load 6.0\n"

METHOD = ("IHP SG13G2 standard cells (typical corner 1.20 V 25 °C; slow 1.08 V 125 °C), Yosys "
          "dfflibmap + abc -liberty; OpenSTA static timing with an ideal clock, inputs driven by "
          f"{INPUT_DRIVER}, {OUTPUT_LOAD_PF * 1000:g} fF on every output and the library's wire-load "
          "model (1k); power from the stated corner's Liberty tables (Liberty's when rule: a pin's "
          "unconditioned internal_power group only where no conditioned one matches) with every net's "
          "activity from zero-delay simulation of the mapped netlist on the stated traffic (synth/power.py: "
          "no glitches, no clock tree, no placement or routing)")


def map_script(top: str, *, clock_mhz: float = DEFAULT_CLOCK_MHZ, alumacc: bool = True) -> list[str]:
    """The Yosys commands that map ``top`` onto SG13G2 cells (the library as ``typ.lib``)."""
    delay_ps = round(1e6 / clock_mhz)
    return [f"synth -flatten -top {top}" + ("" if alumacc else " -noalumacc"),
            "dfflibmap -liberty typ.lib",
            f"abc -liberty typ.lib -D {delay_ps} -constr abc.constr",
            "opt_clean -purge", "setundef -zero",
            "hilomap -singleton -hicell sg13g2_tiehi L_HI -locell sg13g2_tielo L_LO",
            "insbuf -buf sg13g2_buf_1 A X", "opt_clean -purge",
            "tee -q -o sg13g2.json stat -json -liberty typ.lib",
            "write_verilog -noattr -noexpr -nohex -nodec netlist.v"]


def parse_area(stat_json: str, cells: dict) -> dict:
    """Area (µm²), cell count and the flip-flops' share from Yosys's ``stat -json -liberty``."""
    design = json.loads(stat_json)["design"]
    by_type = {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    unknown = sorted(t for t in by_type if t not in cells)
    if unknown:
        raise NetlistError(f"cells not in the library: {', '.join(unknown[:5])}")
    ff_area = sum(n * cells[t].area for t, n in by_type.items() if cells[t].ff)
    area = float(design["area"])
    return {"area_um2": round(area, 1), "cells": int(design["num_cells"]), "ff_area_um2": round(ff_area, 1),
            "ff_share": round(ff_area / area, 4) if area else 0.0,
            "flip_flops": sum(n for t, n in by_type.items() if cells[t].ff), "cells_by_type": by_type}


def map_netlist(verilog: str, top: str, *, clock_mhz: float = DEFAULT_CLOCK_MHZ, alumacc: bool = True,
                timeout: float = 900) -> dict:
    """Map ``verilog`` onto SG13G2; returns the area record and ``netlist`` (the plain text
    OpenSTA reads). The netlist's instance count must equal Yosys's cell count."""
    files = {"design.v": verilog, "typ.lib": liberty_path("typ").read_text(), "abc.constr": ABC_CONSTRAINTS}
    read = ["read_verilog design.v", f"hierarchy -check -top {top}"]
    out = run_yosys(files, read + map_script(top, clock_mhz=clock_mhz, alumacc=alumacc), timeout=timeout, label=top)
    cells = read_cells(liberty_path("typ"))
    area = parse_area(out["sg13g2.json"], cells)
    netlist = plain_for_sta(out["netlist.v"])
    parsed = read_netlist(netlist)
    if len(parsed.instances) != area["cells"]:
        raise NetlistError(f"{top}: the netlist has {len(parsed.instances)} instances, Yosys counted {area['cells']}")
    return {**area, "netlist": netlist}


def fingerprint(*, clock_mhz: float, traffics, alumacc: bool, energy_clocks: tuple = ()) -> str:
    """What an SG13G2 record depends on besides the Verilog, for cache keys: the mapping script,
    clock and traffics, the Liberty files, this flow's own code and the OpenSTA version."""
    import hashlib
    from pathlib import Path
    from .toolchain import cache_versions
    digest = hashlib.sha256()
    digest.update("\n".join(map_script("top", clock_mhz=clock_mhz, alumacc=alumacc)).encode())
    digest.update(repr((clock_mhz, tuple(traffics)) + ((tuple(energy_clocks),) if energy_clocks else ())).encode())
    for corner in CORNERS:
        digest.update(liberty_path(corner).read_bytes())
    here = Path(__file__).parent
    for module in ("sg13g2", "liberty", "netlist", "gatesim", "traffic", "power", "sta"):
        digest.update((here / f"{module}.py").read_bytes())
    digest.update(json.dumps(cache_versions("opensta"), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def check_clock(clock_mhz) -> float:
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)) or not 0 < clock_mhz <= 5000:
        raise ValueError(f"clock_mhz={clock_mhz!r} must be a number of MHz in (0, 5000]")
    return float(clock_mhz)


def measure(unit: str, params: dict, verilog: str, top: str, *, corner: str = "typ",
            clock_mhz: float = DEFAULT_CLOCK_MHZ, traffic: str | None = DEFAULT_TRAFFIC, also: tuple = (),
            energy_clocks: tuple = (), alumacc: bool = True, timeout: float = 900) -> dict:
    """The ``"sg13g2"`` record of one design point (see the module docstring): area and cells;
    with a traffic model, power and energy per operation on ``traffic`` (and the energy on each
    traffic of ``also`` in ``energy_pj_per_op_by_traffic``, and on ``traffic`` at ``clock_mhz`` and
    each clock of ``energy_clocks`` in ``energy_pj_per_op_by_clock``, keyed by MHz: the same
    activity per cycle, the power tables at that period); with OpenSTA installed, the critical
    path at both corners and Fmax, else ``sta_error`` says why they are missing."""
    if corner not in CORNERS:
        raise ValueError(f"corner={corner!r} is not one of {', '.join(CORNERS)}")
    clock_mhz = check_clock(clock_mhz)
    energy_clocks = [check_clock(c) for c in energy_clocks]
    traffics = [check_traffic(t) for t in ([traffic] if traffic is not None else []) + list(also)]
    if not has_traffic(unit, params):
        traffics = []
    mapped = map_netlist(verilog, top, clock_mhz=clock_mhz, alumacc=alumacc, timeout=timeout)
    text = mapped.pop("netlist")
    record = {**mapped, "clock_mhz": clock_mhz, "corner": corner, "traffic": traffics[0] if traffics else None,
              "input_driver": INPUT_DRIVER, "output_load_pf": OUTPUT_LOAD_PF, "method": METHOD}
    netlist = read_netlist(text)
    clock = "clk" if "clk" in netlist.inputs else None
    model = GateModel(netlist, read_cells(liberty_path("typ"))) if traffics else None
    period = 1000.0 / clock_mhz
    library = read_library(liberty_path(corner))
    by_traffic = {}
    for name in dict.fromkeys(traffics):
        work = simulate(unit, params, model, name)
        mw = power(model, library, work.activity.values, period_ns=period)
        joules = mw["total"] * 1e-3 * (work.cycles - 1) / (clock_mhz * 1e6)
        by_traffic[name] = round(joules / work.ops * 1e12, 5)
        if name == traffics[0]:
            record["wire_load"] = mw.pop("wire_load")
            record["power_mw"] = {k: round(float(v), 6) for k, v in mw.items()}
            record["ff_power_share"] = round(mw["sequential"] / mw["total"], 4) if mw["total"] else 0.0
            record["energy_pj_per_op"] = by_traffic[name]
            record["operation"] = operation(unit)
            record.update(sim_cycles=work.cycles, operations=work.ops,
                          ops_per_cycle=round(work.ops / work.cycles, 3), golden_checked=work.checked,
                          mean_toggle_rate=round(work.activity.total_toggles() / max(len(work.activity.toggles), 1)
                                                 / max(work.cycles - 1, 1), 4))
            if energy_clocks:
                by_clock = {f"{clock_mhz:g}": by_traffic[name]}
                for other in energy_clocks:
                    total = power(model, library, work.activity.values, period_ns=1000.0 / other)["total"]
                    by_clock[f"{other:g}"] = round(total * 1e-3 * (work.cycles - 1) / (other * 1e6) / work.ops * 1e12, 5)
                record["energy_pj_per_op_by_clock"] = by_clock
    if len(by_traffic) > 1:
        record["energy_pj_per_op_by_traffic"] = by_traffic
    try:
        paths = {c: run_sta(text, top, record["cells"], corner=c, period_ns=period, clock=clock,
                            timeout=timeout)["critical_path_ns"] for c in CORNERS}
    except ToolMissing as error:
        record["sta_error"] = str(error)
        return record
    record["critical_path_ns_by_corner"] = paths
    path = paths[corner]
    record["critical_path_ns"] = path
    record["fmax_mhz"] = round(1000.0 / path, 1) if path else None
    record["timing_met"] = path is None or path <= period
    return record


__all__ = ["PDK", "METHOD", "DEFAULT_CLOCK_MHZ", "map_script", "map_netlist", "parse_area", "measure",
           "check_clock", "fingerprint"]
