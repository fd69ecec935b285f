"""Formal equivalence of the combinational scalar units against golden-generated references.

Each case pairs the unit's generated Verilog (``dut``) with a case-statement ROM written from the
golden model (``gold``, :func:`synth.unit_gates.rom_verilog`) and asks Yosys SAT to prove the two
equal for every input (``miter -equiv``; :func:`synth.unit_gates.prove_equivalent`):

- complete proofs where the input space is at most 2^16: the decoder (every element format and
  output form), the multiplier (every FP4 format and product form; FP8 ``fixed`` with its
  ``invalid`` flag: 2^16 entries, ``make verify-full``), the INT4 / INT8 multipliers; the 2^16
  spaces as 256 proofs, one per value of ``a`` against a 256-entry ROM over ``b``;
- bounded proofs where it is larger: the MAC with its addend ``c`` tied to one constant per
  proof (every ``a`` × ``b`` for each of a set of directed ``c`` values), and ScaleApply with
  ``scale_b`` tied to a constant and the block sum restricted to a small signed range (every
  ``scale_a`` × every such sum; 3 bits in ``make test``, 5 in ``make verify-full``). The tie-down is a wrapper module around the unmodified unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import golden
import hdl
import synth
from golden import arith, integer, mx
from synth.unit_gates import prove_all_equivalent, prove_equivalent, rom_verilog


@dataclass
class Case:
    name: str
    gold: str                 # ROM Verilog, module "gold"
    gate: str                 # unit Verilog (+ wrapper), top module "dut"
    entries: int              # input combinations proven
    parts: list | None = None  # instead of gold/gate: (gold, gate) pairs that together cover the space

    def prove(self, timeout: float = 900) -> bool:
        if self.parts is not None:
            return prove_all_equivalent(self.parts, "gold", "dut", timeout=timeout)
        return prove_equivalent(self.gold, "gold", self.gate, "dut", timeout=timeout)


def _pairs(bits):
    codes = np.arange(1 << bits)
    return np.repeat(codes, codes.size), np.tile(codes, codes.size)


def _split_by_a(name: str, unit: str, bits: int, outputs: list) -> Case:
    """A complete proof over every ``a`` × ``b`` (``bits`` each) as ``2**bits`` proofs, one per
    value of ``a`` (tied in a wrapper around the unmodified ``unit``, module ``unit``) against a
    ROM over ``b``: a single 2^16-entry ROM is beyond Yosys (a 65,536-way case statement ran for
    11 minutes at 3.8 GB without finishing when it was stopped). ``outputs``: ``(port, width, table over a × b)``."""
    n = 1 << bits
    ports = ", ".join(name for name, _, _ in outputs)
    wrapper_ports = "".join(f", .{port}({port})" for port, _, _ in outputs)
    declarations = "".join(f"  output [{w - 1}:0] {port};\n" for port, w, _ in outputs)
    parts = []
    for a in range(n):
        gold = rom_verilog("gold", [("b", bits)], [(port, w, table[a * n:(a + 1) * n]) for port, w, table in outputs])
        wrapper = (f"module dut(b, {ports});\n  input [{bits - 1}:0] b;\n{declarations}"
                   f"  unit u(.a({bits}'d{a}), .b(b){wrapper_ports});\nendmodule\n")
        parts.append((gold, unit + wrapper))
    return Case(name, "", "", n * n, parts)


def decoder_case(fmt: str, out: str) -> Case:
    f = golden.element_format(fmt)
    table = f.to_ieee(np.arange(1 << f.bits), out)
    gold = rom_verilog("gold", [("code", f.bits)], ("value", golden.ieee_format(out).bits), table)
    return Case(f"decoder_{fmt}_{out}", gold, synth.to_verilog(hdl.Decoder(fmt, out), "dut"), 1 << f.bits)


def multiplier_case(fmt: str, out: str, *, table=None) -> Case:
    """``table``: replace the golden product table (a planted fault, for the tests)."""
    f = golden.element_format(fmt)
    a, b = _pairs(f.bits)
    flags_invalid = out == "fixed" and f.specials != "none"
    finite = np.isfinite(f.values[a]) & np.isfinite(f.values[b])
    if table is not None:
        product = table
    elif flags_invalid:             # NaN/Inf operands: no fixed-point product, the port reads 0
        product = np.where(finite, arith.mul(np.where(finite, a, 0), np.where(finite, b, 0), f, out), 0)
    else:
        product = arith.mul(a, b, f, out)
    width = arith.fixed_width(f) if out == "fixed" else golden.ieee_format(out).bits
    outputs = [("product", width, product)]
    if flags_invalid:
        outputs.append(("invalid", 1, ~finite))
    if f.bits == 8:
        return _split_by_a(f"multiplier_{fmt}_{out}", synth.to_verilog(hdl.Multiplier(fmt, out), "unit"), 8, outputs)
    gold = rom_verilog("gold", [("a", f.bits), ("b", f.bits)], outputs)
    return Case(f"multiplier_{fmt}_{out}", gold, synth.to_verilog(hdl.Multiplier(fmt, out), "dut"), a.size)


def int_multiplier_case(fmt: str) -> Case:
    bits = integer.check_bits(fmt)
    a, b = _pairs(bits)
    if bits == 8:
        return _split_by_a(f"int_multiplier_{fmt}", synth.to_verilog(hdl.IntMultiplier(fmt), "unit"), 8,
                           [("product", 16, integer.mul(a, b, bits))])
    gold = rom_verilog("gold", [("a", bits), ("b", bits)], ("product", 2 * bits), integer.mul(a, b, bits))
    return Case(f"int_multiplier_{fmt}", gold, synth.to_verilog(hdl.IntMultiplier(fmt), "dut"), a.size)


# Directed FP16 addends for the bounded MAC proofs: zeros, ±1, the extremes, subnormals, specials
# and values that make the products' roundings and cancellations matter.
MAC_ADDENDS = (0x0000, 0x8000, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7C00,
               0xFC00, 0x7E00, 0x3555, 0xC800, 0x1400, 0x6400, 0xB800)


def mac_case(fmt: str, rounding: str, c: int) -> Case:
    f = golden.element_format(fmt)
    a, b = _pairs(f.bits)
    result = arith.mac(a, b, np.full(a.size, c, np.uint16), f, "fp16", rounding)
    gold = rom_verilog("gold", [("a", f.bits), ("b", f.bits)], ("result", 16), result)
    unit = synth.to_verilog(hdl.MAC(fmt, rounding=rounding), "mac_unit")
    wrapper = (f"module dut(a, b, result);\n  input [{f.bits - 1}:0] a;\n  input [{f.bits - 1}:0] b;\n"
               f"  output [15:0] result;\n  mac_unit u(.a(a), .b(b), .c(16'd{c}), .result(result));\nendmodule\n")
    return Case(f"mac_{fmt}_{rounding}_c{c:04x}", gold, unit + wrapper, a.size)


def scale_case(fmt: str, scale_b: int, total_bits: int = 5) -> Case:
    """ScaleApply (block mode) over every ``scale_a`` and every sum in the signed
    ``total_bits`` range, ``scale_b`` fixed."""
    block = mx.block_format(fmt)
    totals = np.arange(1 << total_bits)
    signed_totals = np.where(totals >= 1 << (total_bits - 1), totals - (1 << total_bits), totals)
    scale_codes = np.arange(1 << block.scale.bits)
    sa = np.repeat(scale_codes, totals.size)
    t = np.tile(signed_totals, scale_codes.size)
    result = mx.block_value(t, sa, np.full(t.size, scale_b), block)
    gold = rom_verilog("gold", [("scale_a", block.scale.bits), ("t", total_bits)], ("result", 32), result)
    width = hdl.scale.block_sum_width(block)
    unit = synth.to_verilog(hdl.ScaleApply(fmt), "scale_unit")
    invalid = ", .invalid(1'b0)" if block.element.specials != "none" else ""
    wrapper = (f"module dut(scale_a, t, result);\n  input [{block.scale.bits - 1}:0] scale_a;\n"
               f"  input [{total_bits - 1}:0] t;\n  output [31:0] result;\n"
               f"  scale_unit u(.total({{{{{width - total_bits}{{t[{total_bits - 1}]}}}}, t}}), .scale_a(scale_a), "
               f".scale_b({block.scale.bits}'d{scale_b}){invalid}, .result(result));\nendmodule\n")
    return Case(f"scale_apply_{fmt}_sb{scale_b}", gold, unit + wrapper, t.size)


# (builder, arguments): cheap to list, built inside the test that proves it.
QUICK = ([(decoder_case, (f, o)) for f in ("e2m1", "e1m2", "e3m0", "e4m3", "e5m2") for o in ("fp16", "bf16", "fp32")]
         + [(multiplier_case, ("e2m1", o)) for o in ("fixed", "fp16", "bf16", "fp32")]
         + [(multiplier_case, (f, "fixed")) for f in ("e1m2", "e3m0")]
         + [(int_multiplier_case, ("int4",))]
         + [(mac_case, ("e2m1", r, c)) for r in ("rne", "rtz") for c in MAC_ADDENDS[:6]]
         + [(scale_case, ("mxfp4", sb, 3)) for sb in (127, 0, 254, 255)])

FULL = ([(multiplier_case, (f, "fixed")) for f in ("e4m3", "e5m2")] + [(int_multiplier_case, ("int8",))]
        + [(multiplier_case, (f, o)) for f in ("e1m2", "e3m0") for o in ("fp16", "bf16", "fp32")]
        + [(mac_case, (f, r, c)) for f in ("e2m1", "e1m2", "e3m0") for r in ("rne", "rtz") for c in MAC_ADDENDS]
        + [(scale_case, (fmt, sb, 5)) for fmt in ("mxfp4", "mxfp8_e4m3") for sb in (127, 1, 200)]
        + [(scale_case, ("nvfp4", sb, 5)) for sb in (0x38, 0x01, 0x7E, 0x7F)])   # UE4M3: 1.0, min, max, NaN


def case_id(spec) -> str:
    builder, args = spec
    return builder.__name__.replace("_case", "") + "-" + "-".join(f"{a:x}" if isinstance(a, int) else str(a) for a in args)
