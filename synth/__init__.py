"""fp4hw synthesis flow: everything that runs a tool on the RTL (DESIGN §1, §6): Verilog export
and the unit registry (:mod:`synth.units`), tool discovery and runs (:mod:`synth.toolchain`),
Yosys metrics (:mod:`synth.yosys`), nextpnr Fmax, unit-gate counts, ROM writers and equivalence
provers (:mod:`synth.unit_gates`), and the design-space report (:mod:`synth.report`)."""

from .units import UNITS, build_unit, check_module_name, to_verilog, unit_names
from .yosys import SynthError, parse_ltp, parse_stat_json, synthesize

__all__ = ["SynthError", "synthesize", "parse_stat_json", "parse_ltp", "UNITS", "build_unit", "to_verilog",
           "check_module_name", "unit_names"]
