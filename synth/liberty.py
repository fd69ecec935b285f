"""The little of a Liberty file the SG13G2 flow needs: each cell's area, pins (direction,
``function``) and flip-flop (``ff``) behaviour, and Liberty boolean functions compiled to Python.

Liberty function syntax (as SG13G2 writes it): ``!`` or a trailing ``'`` is NOT, ``*``, ``&`` or
juxtaposition is AND, ``+`` or ``|`` is OR, ``^`` is XOR, ``0``/``1`` are constants. The
compiled expressions work on Python integers used as bit vectors of any width: ``M`` is the
all-ones mask of that width, so NOT x is ``(M ^ x)``. :mod:`synth.gatesim` evaluates a netlist
with them, one bit per clock cycle of a combinational trace or one cycle at a time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

PDK = Path(__file__).parent / "pdk" / "sg13g2"

CORNERS = {"typ": "sg13g2_stdcell_typ_1p20V_25C.lib", "slow": "sg13g2_stdcell_slow_1p08V_125C.lib"}


def liberty_path(corner: str = "typ") -> Path:
    """The vendored SG13G2 Liberty file of ``corner`` (``"typ"`` or ``"slow"``)."""
    if corner not in CORNERS:
        raise ValueError(f"corner={corner!r} is not one of {', '.join(CORNERS)}")
    return PDK / CORNERS[corner]


@dataclass
class FlipFlop:
    """A Liberty ``ff (IQ, IQN)`` group: the state's next value on the ``clocked_on`` edge,
    forced to 0 while ``clear`` and to 1 while ``preset`` is true (functions of the pins)."""
    state: str
    state_n: str
    next_state: str
    clocked_on: str
    clear: str | None = None
    preset: str | None = None


@dataclass
class Table:
    """A Liberty lookup table over (input transition, output capacitance), or over the
    transition alone, or a scalar; :meth:`at` interpolates linearly and extrapolates linearly
    beyond the ends, as NLDM tables are read."""
    index_1: tuple
    index_2: tuple
    values: tuple                 # rows over index_1, columns over index_2

    def at(self, transition: float, capacitance: float = 0.0) -> float:
        def axis(index, x):
            if len(index) < 2:
                return 0, 0, 0.0
            i = max(0, min(len(index) - 2, sum(1 for v in index[1:-1] if v <= x)))
            return i, i + 1, (x - index[i]) / (index[i + 1] - index[i])
        i0, i1, u = axis(self.index_1, transition)
        j0, j1, w = axis(self.index_2, capacitance)
        row = lambda i: self.values[i][j0] + (self.values[i][j1] - self.values[i][j0]) * w  # noqa: E731
        return row(i0) + (row(i1) - row(i0)) * u


@dataclass
class PowerArc:
    """An ``internal_power`` group: energy per rise / fall of ``pin`` (caused by
    ``related_pin`` for an output pin), counted when ``when`` holds."""
    pin: str
    related_pin: str | None
    when: str | None
    rise: Table
    fall: Table


@dataclass
class TimingArc:
    pin: str
    related_pin: str
    rise_transition: Table | None
    fall_transition: Table | None


@dataclass
class Cell:
    name: str
    area: float
    inputs: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)       # output pin -> Liberty function ("" if none)
    ff: FlipFlop | None = None
    latch: bool = False
    capacitance: dict = field(default_factory=dict)   # input pin -> pF
    power: list = field(default_factory=list)         # PowerArc
    timing: list = field(default_factory=list)        # TimingArc (combinational and clock-to-output)
    leakage_pw: float = 0.0


@dataclass
class Library:
    cells: dict
    voltage: float
    wire_loads: dict              # name -> (capacitance per length, [(fanout, length)], slope)
    wire_load_selection: list     # (area from, area to, model)
    default_wire_load: str


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.\-+]+|[{}():;,]|\\\n|/\*.*?\*/|//[^\n]*', re.S)


def _tokens(text: str):
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok.startswith(("/*", "//", "\\")):
            continue
        yield tok


def _parse_group(tokens, pos: int):
    """Parse the body of a group after its ``{``; returns (children, attributes, pos after ``}``).
    Children are (kind, args, children, attributes); attributes map name → value (last wins)."""
    children, attrs = [], {}
    while pos < len(tokens):
        tok = tokens[pos]
        if tok == "}":
            return children, attrs, pos + 1
        name = tok
        nxt = tokens[pos + 1]
        if nxt == ":":
            end = tokens.index(";", pos + 2)
            attrs[name] = " ".join(tokens[pos + 2:end]).strip('"')
            pos = end + 1
        elif nxt == "(":
            close = tokens.index(")", pos + 2)
            args = [t.strip('"') for t in tokens[pos + 2:close] if t != ","]
            if tokens[close + 1] == "{":
                sub_children, sub_attrs, pos = _parse_group(tokens, close + 2)
                children.append((name, args, sub_children, sub_attrs))
            else:                                    # complex attribute: name (args) ;
                attrs[name] = args
                attrs.setdefault("(" + name, []).append(args)     # repeated ones, in order
                pos = close + 2 if tokens[close + 1] == ";" else close + 1
        else:
            raise ValueError(f"Liberty: unexpected {nxt!r} after {name!r}")
    raise ValueError("Liberty: unbalanced braces")


def _numbers(args) -> tuple:
    return tuple(float(x) for a in args for x in a.replace(",", " ").split())


def _table(group, templates) -> Table:
    kind, args, _, attrs = group
    template = templates.get(args[0] if args else "scalar", ())
    if template[:1] not in ((), ("input_transition_time",), ("input_net_transition",)) or \
            template[1:] not in ((), ("total_output_net_capacitance",)):
        raise ValueError(f"Liberty table {args}: variables {template} not (transition, capacitance)")
    index_1, index_2 = _numbers(attrs.get("index_1", ())), _numbers(attrs.get("index_2", ()))
    flat = _numbers(attrs.get("values", ()))
    columns = max(len(index_2), 1)
    rows = tuple(flat[i:i + columns] for i in range(0, len(flat), columns))
    if len(rows) != max(len(index_1), 1) or any(len(r) != columns for r in rows):
        raise ValueError(f"Liberty table {args}: {len(flat)} values for {len(index_1)} × {len(index_2)}")
    return Table(index_1, index_2, rows)


def _pin(cell: Cell, name: str, sub, attrs, templates) -> None:
    direction = attrs.get("direction")
    if direction == "input":
        cell.inputs.append(name)
        cell.capacitance[name] = float(attrs.get("capacitance", 0))
    elif direction == "output":
        cell.outputs[name] = attrs.get("function", "")
    for group in sub:
        kind, _, tables, gattrs = group
        by_kind = {t[0]: t for t in tables}
        if kind == "internal_power" and "rise_power" in by_kind and "fall_power" in by_kind:
            cell.power.append(PowerArc(name, gattrs.get("related_pin"), gattrs.get("when"),
                                       _table(by_kind["rise_power"], templates), _table(by_kind["fall_power"], templates)))
        elif kind == "timing" and gattrs.get("timing_type", "combinational") in (
                "combinational", "rising_edge", "combinational_rise", "combinational_fall"):
            cell.timing.append(TimingArc(name, gattrs["related_pin"],
                                         _table(by_kind["rise_transition"], templates) if "rise_transition" in by_kind else None,
                                         _table(by_kind["fall_transition"], templates) if "fall_transition" in by_kind else None))


@functools.lru_cache(maxsize=4)
def read_library(path: str | Path) -> Library:
    """The Liberty file at ``path``: cells, voltage and wire-load models."""
    tokens = list(_tokens(Path(path).read_text()))
    if tokens[:1] != ["library"] or tokens[4:5] != ["{"]:
        raise ValueError(f"{path}: not a Liberty library")
    children, lib_attrs, _ = _parse_group(tokens, 5)
    templates = {args[0]: tuple(attrs[k] for k in ("variable_1", "variable_2") if k in attrs)
                 for kind, args, _, attrs in children if kind in ("lu_table_template", "power_lut_template")}
    cells, wire_loads, selection = {}, {}, []
    for kind, args, sub, attrs in children:
        if kind == "wire_load":
            fanouts = [_numbers(a) for a in attrs.get("(fanout_length", [])]
            wire_loads[args[0]] = (float(attrs["capacitance"]), fanouts, float(attrs.get("slope", 0)))
        elif kind == "wire_load_selection" and args[0] == lib_attrs.get("default_wire_load_selection"):
            selection = [(float(lo), float(hi), model) for lo, hi, model in attrs.get("(wire_load_from_area", [])]
        elif kind == "cell":
            cell = Cell(args[0], float(attrs.get("area", 0)), leakage_pw=float(attrs.get("cell_leakage_power", 0)))
            for skind, sargs, ssub, sattrs in sub:
                if skind == "pin":
                    _pin(cell, sargs[0], ssub, sattrs, templates)
                elif skind == "ff":
                    cell.ff = FlipFlop(sargs[0], sargs[1], sattrs["next_state"], sattrs["clocked_on"],
                                       sattrs.get("clear"), sattrs.get("preset"))
                elif skind in ("latch", "statetable"):
                    cell.latch = True
            cells[cell.name] = cell
    return Library(cells, float(lib_attrs.get("nom_voltage", 0)), wire_loads, selection,
                   lib_attrs.get("default_wire_load", ""))


def read_cells(path: str | Path) -> dict[str, Cell]:
    """The cells of the Liberty file at ``path`` by name."""
    return read_library(path).cells


class _Parser:
    """Recursive descent over a Liberty function; ``name(pin)`` gives each pin's Python text."""

    def __init__(self, text: str, name):
        self.toks = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[01]|[!'*&+|^()]", text)
        if "".join(self.toks) != re.sub(r"\s+", "", text):
            raise ValueError(f"Liberty function {text!r}: unexpected characters")
        self.pos, self.name = 0, name

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, tok=None):
        got = self.peek()
        if got is None or (tok is not None and got != tok):
            raise ValueError(f"Liberty function {' '.join(self.toks)!r}: expected {tok or 'a term'}")
        self.pos += 1
        return got

    def parse(self) -> str:
        out = self.or_()
        if self.peek() is not None:
            raise ValueError(f"Liberty function {' '.join(self.toks)!r}: trailing {self.peek()!r}")
        return out

    def or_(self):
        terms = [self.xor()]
        while self.peek() in ("+", "|"):
            self.take()
            terms.append(self.xor())
        return terms[0] if len(terms) == 1 else "(" + " | ".join(terms) + ")"

    def xor(self):
        terms = [self.and_()]
        while self.peek() == "^":
            self.take()
            terms.append(self.and_())
        return terms[0] if len(terms) == 1 else "(" + " ^ ".join(terms) + ")"

    def and_(self):
        terms = [self.unary()]
        while self.peek() is not None and self.peek() not in ("+", "|", "^", ")"):
            if self.peek() in ("*", "&"):
                self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else "(" + " & ".join(terms) + ")"

    def unary(self):
        if self.peek() == "!":
            self.take()
            return f"(M ^ {self.unary()})"
        if self.peek() == "(":
            self.take("(")
            out = self.or_()
            self.take(")")
        else:
            tok = self.take()
            out = {"0": "0", "1": "M"}.get(tok) or self.name(tok)
        while self.peek() == "'":
            self.take()
            out = f"(M ^ {out})"
        return out


def python_expression(function: str, name=lambda pin: pin) -> str:
    """The Python expression of a Liberty ``function`` over integers used as bit vectors (``M``
    the mask of ones); ``name(pin)`` is the Python text of each pin."""
    return _Parser(function, name).parse()
