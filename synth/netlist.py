"""Read the flat gate-level Verilog that Yosys writes after mapping to standard cells
(``write_verilog -noattr -noexpr``): ports, wires and cell instances, every connection one bit.

The reader is strict on purpose: the Debian OpenSTA drops statements it cannot parse without
stopping, so the flow counts the instances here and checks that OpenSTA linked as many
(:mod:`synth.sta`). Anything but port / wire declarations and instances (an ``assign``, a
concatenation, a bit range on a cell pin) is a :class:`NetlistError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .toolchain import ToolFailed


class NetlistError(ToolFailed):
    """The gate-level netlist is not in the plain form the SG13G2 flow reads, or does not
    compute what golden computes (a tool or flow failure, not bad user input)."""


@dataclass
class Instance:
    cell: str
    name: str
    pins: dict                          # pin -> net name (or "1'b0"/"1'b1" constants)


@dataclass
class Netlist:
    top: str
    inputs: dict = field(default_factory=dict)      # port -> width (bit nets "p[i]", or "p" if scalar)
    outputs: dict = field(default_factory=dict)
    ranges: dict = field(default_factory=dict)      # declared name -> (msb, lsb) or None (scalar)
    instances: list = field(default_factory=list)

    def port_bits(self, port: str) -> list[str]:
        """The bit nets of a port, least significant first."""
        span = self.ranges[port]
        if span is None:
            return [port]
        msb, lsb = span
        step = 1 if msb >= lsb else -1
        return [f"{port}[{i}]" for i in range(lsb, msb + step, step)]


_TOKEN = re.compile(r"\\\S+|[A-Za-z_][\w$]*|\d+'[bhdo][0-9a-fA-FxXzZ_]+|\d+|/\*.*?\*/|//[^\n]*|[()\[\]{}.,;:=#]", re.S)


def _statements(text: str):
    statement = []
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok.startswith(("/*", "//")):
            continue
        if tok == ";":
            yield statement
            statement = []
        else:
            statement.append(tok)
    if statement and statement != ["endmodule"]:
        raise NetlistError(f"unterminated statement: {' '.join(statement[:8])}")


def _name(tok: str) -> str:
    return tok[1:] if tok.startswith("\\") else tok


def _net(toks: list[str], where: str) -> str:
    """One-bit connection: ``name``, ``name [i]`` or a one-bit constant."""
    if len(toks) == 1 and re.fullmatch(r"1'[bh][01]", toks[0]):
        return "1'b" + toks[0][-1]
    if len(toks) == 1:
        return _name(toks[0])
    if len(toks) == 4 and toks[1] == "[" and toks[3] == "]" and toks[2].isdigit():
        return f"{_name(toks[0])}[{toks[2]}]"
    raise NetlistError(f"{where}: connection {' '.join(toks)!r} is not one net bit")


def read_netlist(text: str) -> Netlist:
    """Parse the one module of a mapped netlist."""
    netlist = None
    for st in _statements(text):
        if not st:
            continue
        if st[0] == "endmodule":
            st = st[1:]
            if not st:
                continue
        head = st[0]
        if head == "module":
            if netlist is not None:
                raise NetlistError("more than one module")
            netlist = Netlist(_name(st[1]))
            continue
        if netlist is None:
            raise NetlistError(f"statement before the module: {' '.join(st[:6])}")
        if head in ("input", "output", "wire", "inout"):
            if head == "inout":
                raise NetlistError("inout ports are not supported")
            rest = st[1:]
            if rest and rest[0] in ("signed", "reg"):
                raise NetlistError(f"'{rest[0]}' in a declaration: {' '.join(st)}")
            span = None
            if rest and rest[0] == "[":
                if len(rest) < 6 or rest[2] != ":" or rest[4] != "]":
                    raise NetlistError(f"declaration {' '.join(st)!r}")
                span = (int(rest[1]), int(rest[3]))
                rest = rest[5:]
            names = [_name(t) for t in rest if t != ","]
            if len(names) != len([t for t in rest if t != ","]) or not names:
                raise NetlistError(f"declaration {' '.join(st)!r}")
            for name in names:
                netlist.ranges[name] = span
                width = 1 if span is None else abs(span[0] - span[1]) + 1
                if head == "input":
                    netlist.inputs[name] = width
                elif head == "output":
                    netlist.outputs[name] = width
            continue
        if head in ("assign", "always", "initial", "reg", "parameter", "localparam", "generate", "defparam"):
            raise NetlistError(f"'{head}' statement in a mapped netlist: {' '.join(st[:10])}")
        # an instance: CELL NAME ( .PIN ( net ) , ... )
        if len(st) < 4 or st[2] != "(" or st[-1] != ")":
            raise NetlistError(f"statement {' '.join(st[:10])!r} is not a cell instance")
        inst = Instance(_name(st[0]), _name(st[1]), {})
        body = st[3:-1]
        i = 0
        while i < len(body):
            if body[i] == ",":
                i += 1
                continue
            if body[i] != "." or i + 2 >= len(body) or body[i + 2] != "(":
                raise NetlistError(f"instance {inst.name}: connections must be named (.PIN(net))")
            pin = _name(body[i + 1])
            depth, j = 1, i + 3
            while depth:
                if j >= len(body):
                    raise NetlistError(f"instance {inst.name}: unbalanced parentheses")
                depth += {"(": 1, ")": -1}.get(body[j], 0)
                j += 1
            conn = body[i + 3:j - 1]
            if conn:
                inst.pins[pin] = _net(conn, f"instance {inst.name} pin {pin}")
            i = j
        netlist.instances.append(inst)
    if netlist is None:
        raise NetlistError("no module")
    return netlist


def plain_for_sta(text: str) -> str:
    """The netlist as the Debian OpenSTA reads it: without the ``signed`` keyword (which its
    reader rejects, dropping the declaration)."""
    return re.sub(r"\bsigned\s+", "", text)
