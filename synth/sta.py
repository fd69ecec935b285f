"""Static timing and power of a mapped SG13G2 netlist with OpenSTA (Debian package ``opensta``,
binary ``sta``, 2.0.17; see ../shared/pdk/README.md for that build's quirks).

One ``sta`` process per corner reads the vendored Liberty file and the plain netlist
(:func:`synth.netlist.plain_for_sta`), links it and prints what the flow parses:

- ``fp4hw-cells N``: the instances it linked. That OpenSTA skips statements it cannot parse and
  goes on, so any ``Error:``/``Warning:`` line from reading, or a count different from Yosys's,
  fails the run (:class:`StaFailed`) rather than timing a smaller circuit;
- ``fp4hw-slack S``: the worst setup slack (ns) against a clock of the stated period on port
  ``clk`` (or a virtual clock for a combinational unit) with input and output delays 0, the
  inputs driven by :data:`synth.power.INPUT_DRIVER` and every output loaded with
  :data:`synth.power.OUTPUT_LOAD_PF`: the critical path is ``period - S`` (register to register
  including clock-to-Q and setup, or port to port);
- ``fp4hw-power …``: ``sta::design_power`` (W: internal, switching, leakage, total; then the
  same for sequential and combinational cells), after every net's driver pin is given its
  activity (transitions per clock period) and duty from gate-level simulation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .liberty import liberty_path
from .power import INPUT_DRIVER, OUTPUT_LOAD_PF
from .toolchain import Stopped, ToolFailed, ToolMissing, run_child

INSTALL = "sudo apt-get install -y opensta"


class StaFailed(ToolFailed):
    """OpenSTA failed, or read a netlist other than the one Yosys wrote."""


def sta_command() -> str:
    found = shutil.which("sta")
    if not found:
        raise ToolMissing(f"OpenSTA not found (binary 'sta'): no static timing; install it with: {INSTALL}")
    return found


def _tcl_name(name: str) -> str:
    if any(c in name for c in "{}\\\n"):
        raise ValueError(f"name {name!r} cannot be passed to OpenSTA")
    return "{" + name + "}"


def sta_script(netlist_file: str, top: str, corner: str, *, period_ns: float, clock: str | None,
               activity: list | None = None, driver: str | None = INPUT_DRIVER,
               output_load: float = OUTPUT_LOAD_PF) -> str:
    """The Tcl script of one run. ``activity``: (kind, name, rate, duty) with kind ``pin``
    (``inst/pin``) or ``port``; ``driver`` (a library cell, or None for ideal inputs) drives the
    inputs, ``output_load`` pF loads every output (none set when 0: this OpenSTA then estimates
    a port-only net's wire from the wire-load model, which it skips once a port load is set)."""
    lines = [f"read_liberty {liberty_path(corner)}", f"read_verilog {netlist_file}", f"link_design {top}",
             "puts \"fp4hw-cells [llength [get_cells *]]\""]
    if clock:
        lines += [f"create_clock -name clk -period {period_ns} [get_ports {clock}]",
                  f"set inputs [delete_from_list [all_inputs] [get_ports {clock}]]"]
    else:
        lines += [f"create_clock -name clk -period {period_ns}", "set inputs [all_inputs]"]
    lines += ["if {[llength $inputs]} { set_input_delay 0 -clock clk $inputs }",
              *([f"if {{[llength $inputs]}} {{ set_driving_cell -lib_cell {driver} $inputs }}"] if driver else []),
              *([f"set_load {output_load:g} [all_outputs]"] if output_load else []),
              "set_output_delay 0 -clock clk [all_outputs]",
              "puts \"fp4hw-slack [sta::worst_slack -max]\""]
    if activity is not None:
        for kind, name, rate, duty in activity:
            if kind == "pin":
                lines.append(f"sta::set_power_pin_activity [get_pins {_tcl_name(name)}] {rate:.6g} {duty:.6g}")
            else:
                lines.append(f"sta::set_power_input_port_activity [get_ports {_tcl_name(name)}] {rate:.6g} {duty:.6g}")
        lines.append("puts \"fp4hw-power [sta::design_power [sta::cmd_corner]]\"")
    return "\n".join(lines + ["exit"]) + "\n"


def parse_sta(output: str, cells: int, period_ns: float) -> dict:
    """Critical path (ns), and power (mW) if reported, from a run's output; raises
    :class:`StaFailed` on a reading error or a cell count other than ``cells``."""
    problems = [ln for ln in output.splitlines() if ln.startswith(("Error", "Warning"))]
    if problems:
        raise StaFailed(f"OpenSTA: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    found = re.search(r"^fp4hw-cells (\d+)$", output, re.M)
    if not found:
        raise StaFailed("OpenSTA did not link the netlist")
    if int(found.group(1)) != cells:
        raise StaFailed(f"OpenSTA linked {found.group(1)} cells, Yosys wrote {cells}: statements were dropped")
    slack = re.search(r"^fp4hw-slack (\S+)$", output, re.M)
    if not slack:
        raise StaFailed("OpenSTA reported no slack")
    value = float(slack.group(1))
    result = {"critical_path_ns": None if abs(value) > 1e20 else round(period_ns - value, 4)}
    power = re.search(r"^fp4hw-power (.+)$", output, re.M)
    if power:
        w = [float(x) for x in power.group(1).split()]
        if len(w) < 12:
            raise StaFailed(f"OpenSTA power: {power.group(1)!r}")
        result["power_mw"] = {"internal": w[0] * 1e3, "switching": w[1] * 1e3, "leakage": w[2] * 1e3,
                              "total": w[3] * 1e3, "sequential": w[7] * 1e3, "combinational": w[11] * 1e3}
    return result


def run_sta(netlist: str, top: str, cells: int, *, corner: str = "typ", period_ns: float = 10.0,
            clock: str | None = "clk", activity: list | None = None, driver: str | None = INPUT_DRIVER,
            output_load: float = OUTPUT_LOAD_PF, timeout: float = 600) -> dict:
    """Time (and, given ``activity``, power) ``netlist`` at ``corner``; see the module docstring."""
    command = sta_command()
    with tempfile.TemporaryDirectory(prefix="fp4hw-sta-") as work:
        Path(work, "netlist.v").write_text(netlist)
        Path(work, "run.tcl").write_text(sta_script("netlist.v", top, corner, period_ns=period_ns, clock=clock,
                                                    activity=activity, driver=driver, output_load=output_load))
        try:
            run = run_child([command, "-no_splash", "-exit", "run.tcl"], cwd=work, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StaFailed(f"{top}: OpenSTA timed out after {timeout:.0f} s") from None
        except Stopped:
            raise StaFailed(f"{top}: OpenSTA stopped (the run is being interrupted)") from None
    if run.returncode != 0:
        lines = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.strip()]
        raise StaFailed(f"{top}: OpenSTA failed: {lines[-1] if lines else run.returncode}")
    return parse_sta(run.stdout + run.stderr, cells, period_ns)
