"""The unit registry behind ``fp4hw verilog`` / ``fp4hw synth``, and deterministic Verilog export.

``UNITS`` maps a unit name to its component class and the constructor parameters the CLI may
pass. :func:`to_verilog` converts a component with source locations left out, so the text
depends only on the design and its parameters (byte-identical run to run and across checkouts).
"""

from __future__ import annotations

import re

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

from .decoder import Decoder

UNITS = {
    "decoder": (Decoder, ("fmt", "out", "lanes", "stages")),
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
# PROCASSINIT. We convert RTLIL with Amaranth's bundled Yosys ourselves: processes to muxes,
# constant folding, width reduction and a purge of unused wires (all semantics-preserving), and
# no init values (registers take their value from the synchronous `rst` port, as in an ASIC).
_CLEANUP = ["proc", "opt_expr", "wreduce", "opt_clean -purge", "attrmap -remove init",
            "write_verilog -noattr -norename"]


def to_verilog(component, name: str) -> str:
    """Verilog text of ``component`` with top module ``name``; deterministic (no source
    locations, no absolute paths)."""
    text = rtlil.convert(component, name=check_module_name(name), emit_src=False)
    yosys = find_yosys(lambda version: version >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *_CLEANUP]
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)
