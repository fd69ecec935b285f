"""A vectorized evaluator of a combinational Amaranth design: every input vector at once.

The design is lowered by Amaranth's own netlist builder (``amaranth.hdl._ir.build_netlist``,
the netlist its RTLIL and Verilog backends write), and each cell is then evaluated with numpy
over all vectors in one operation: a cell's output is one integer array (uint64 up to 64 bits,
Python integers beyond). This is what makes the custom-format sweeps exhaustive (issue 33):
every operand pair of every format and bias a unit accepts, thousands of configurations, where
the Amaranth simulator steps one vector at a time (about 1 s per 256-vector configuration
against some 50 ms here, most of it Amaranth's elaboration).

Only combinational cells are supported (operators, part selects, matches, priority matches,
assignment lists); a design with registers, memories or instances raises ``ValueError``, so a
unit is evaluated with ``stages=0``. The evaluator is checked against the Amaranth simulator
on the units it serves (``verification/test_custom_formats.py``).

Usage::

    evaluate(hdl.Multiplier(fmt, "fp16"), {"a": codes_a, "b": codes_b})   # -> {"product": array}

Ports are named as the top-level Verilog ports (a lane array flattens to one port; struct
members do not split ports).
"""

from __future__ import annotations

import sys

import numpy as np
from amaranth.hdl import Fragment
from amaranth.hdl import _ir, _nir

_WORD = 64


def _dtype(width: int):
    return np.uint64 if width <= _WORD else object


def _mask(width: int) -> int:
    return (1 << width) - 1


class _Evaluator:
    def __init__(self, netlist, inputs: dict, n: int):
        self.netlist = netlist
        self.n = n
        self.cache = {}                      # cell index -> (array, width)
        self.values = {}                     # netlist Value (tuple of nets) -> (array, width)
        top = netlist.top
        self.top_words = {}                  # port start bit -> (array, width)
        for name, (start, width) in top.ports_i.items():
            if name not in inputs:
                raise ValueError(f"no value given for input port {name!r}")
            array = np.asarray(inputs[name])
            if array.shape != (n,):
                raise ValueError(f"input {name!r}: {array.shape} values, expected ({n},)")
            values = np.array([int(v) & _mask(width) for v in array], dtype=object) if width > _WORD \
                else (array.astype(np.int64).astype(np.uint64) & np.uint64(_mask(width)))
            self.top_words[start] = (values, width)
        unknown = set(inputs) - set(top.ports_i)
        if unknown:
            raise ValueError(f"no input port named {', '.join(sorted(unknown))}")

    # -- values ---------------------------------------------------------------------------------
    def _const(self, value: int, width: int):
        return np.full(self.n, value, dtype=_dtype(width)) if width <= _WORD else \
            np.array([value] * self.n, dtype=object)

    def _bits_of(self, net):
        """(array, bit) holding ``net``: a cell output word and the bit index in it."""
        cell = net.cell
        if cell == 0:
            for start, (array, width) in self.top_words.items():
                if start <= net.bit < start + width:
                    return array, net.bit - start, width
            raise ValueError(f"net {net} is not an input port bit")
        array, width = self.cell(cell)
        return array, net.bit, width

    def value(self, value) -> tuple:
        """The integer array of a netlist Value (a tuple of nets, LSB first) and its width."""
        key = tuple(value)
        hit = self.values.get(key)
        if hit is None:
            hit = self.values[key] = self._value(value)
        return hit

    def _value(self, value) -> tuple:
        width = len(value)
        if width and value[0].is_cell and value[0].cell != 0 and value[0].bit == 0:
            cell = value[0].cell
            if all(net.is_cell and net.cell == cell and net.bit == i for i, net in enumerate(value)):
                array, cell_width = self.cell(cell)          # a whole cell output, or its low bits
                if cell_width == width:
                    return array, width
                if width <= _WORD and cell_width <= _WORD:
                    return array & np.uint64(_mask(width)), width
        wide = width > _WORD
        result = self._const(0, width)
        position = 0
        while position < width:
            net = value[position]
            if net.is_const:
                run = 1
                while position + run < width and value[position + run].is_const:
                    run += 1
                bits = 0
                for k in range(run):
                    bits |= value[position + k].const << k
                if bits:
                    result = result | self._cast(self._const(bits, width), width) << self._shift(position, width)
                position += run
                continue
            array, bit, source_width = self._bits_of(net)
            run = 1
            while (position + run < width and value[position + run].is_cell
                   and value[position + run].cell == net.cell
                   and value[position + run].bit == net.bit + run):
                run += 1
            if net.cell == 0:                # a run must stay inside one input port
                run = min(run, source_width - bit)
            piece = self._cast(array, width if wide or source_width > _WORD else _WORD)
            piece = (piece >> self._shift(bit, width)) & self._cast_int(_mask(run), width)
            result = result | (self._cast(piece, width) << self._shift(position, width))
            position += run
        return result, width

    def _cast(self, array, width):
        if width > _WORD:
            return array.astype(object) if array.dtype != object else array
        if array.dtype == object:
            return np.array([int(v) & _mask(_WORD) for v in array], dtype=np.uint64)
        return array.astype(np.uint64, copy=False)

    @staticmethod
    def _shift(amount: int, width: int):
        return amount if width > _WORD else np.uint64(amount)

    @staticmethod
    def _cast_int(value: int, width: int):
        return value if width > _WORD else np.uint64(value)

    # -- cells ----------------------------------------------------------------------------------
    def cell(self, index: int):
        if index in self.cache:
            return self.cache[index]
        cell = self.netlist.cells[index]
        if isinstance(cell, _nir.Operator):
            result = self._operator(cell)
        elif isinstance(cell, _nir.Part):
            result = self._part(cell)
        elif isinstance(cell, _nir.Matches):
            result = self._matches(cell)
        elif isinstance(cell, _nir.PriorityMatch):
            result = self._priority_match(cell)
        elif isinstance(cell, _nir.AssignmentList):
            result = self._assignment_list(cell)
        else:
            raise ValueError(f"cell {type(cell).__name__} is not combinational; evaluate the unit "
                             "with stages=0")
        self.cache[index] = result
        return result

    def _signed(self, array, width):
        """Two's-complement reading of ``width``-bit values, as int64 (or Python ints)."""
        if width > _WORD - 1:
            values = array.astype(object)
            return np.array([v - (1 << width) if v >> (width - 1) else v for v in values], dtype=object)
        as_int = array.astype(np.int64)
        return np.where(as_int >= (1 << (width - 1)), as_int - (1 << width), as_int)

    def _wrap(self, array, width):
        """Reduce an integer array (any sign) modulo 2**width into the storage dtype."""
        if width > _WORD:
            return np.array([int(v) & _mask(width) for v in array], dtype=object)
        if array.dtype == object:
            return np.array([int(v) & _mask(width) for v in array], dtype=np.uint64)
        return array.astype(np.uint64) & np.uint64(_mask(width))

    def _operator(self, cell):
        op, inputs = cell.operator, cell.inputs
        args = [self.value(v) for v in inputs]
        width = cell.width
        if op == "m":
            (sel, _), (a, _), (b, _) = args
            out = np.where(sel != 0, a, b)
            return (out if out.dtype == _dtype(width) else out.astype(_dtype(width))), width
        (x, wx) = args[0]
        if len(args) == 1:
            if op == "~":
                if width <= _WORD:
                    return x ^ np.uint64(_mask(width)), width
                return self._wrap(~x, width), width
            if op == "-":
                return self._wrap(-self._signed(x, wx) if wx > _WORD else (np.uint64(0) - x), width), width
            if op in ("b", "r|"):
                return (x != 0).astype(np.uint64), 1
            if op == "r&":
                return (x == self._cast_int(_mask(wx), wx)).astype(np.uint64), 1
            if op == "r^":
                ints = x.astype(object) if x.dtype != object else x
                return np.array([bin(int(v)).count("1") & 1 for v in ints], dtype=np.uint64), 1
            raise ValueError(f"operator {op!r} is not supported")
        (y, wy) = args[1]
        if op in ("+", "-", "*", "&", "|", "^"):
            if width > _WORD:
                xs, ys = x.astype(object), y.astype(object)
                out = {"+": xs + ys, "-": xs - ys, "*": xs * ys, "&": xs & ys, "|": xs | ys, "^": xs ^ ys}[op]
                return self._wrap(out, width), width
            out = {"+": np.add, "-": np.subtract, "*": np.multiply, "&": np.bitwise_and,
                   "|": np.bitwise_or, "^": np.bitwise_xor}[op](x, y)
            return out & np.uint64(_mask(width)), width
        if op in ("<<", "u>>", "s>>"):
            amounts = y.astype(object) if y.dtype == object else y.astype(np.uint64)
            if width > _WORD or op == "s>>" and width > _WORD - 1:
                xs = self._signed(x, width) if op == "s>>" else x.astype(object)
                out = [int(v) << int(s) if op == "<<" else int(v) >> int(s) for v, s in zip(xs, amounts)]
                return self._wrap(np.array(out, dtype=object), width), width
            big = amounts >= width
            safe = np.where(big, 0, amounts).astype(np.uint64)
            if op == "<<":
                return np.where(big, np.uint64(0), (x << safe) & np.uint64(_mask(width))), width
            if op == "u>>":
                return np.where(big, np.uint64(0), x >> safe), width
            signed = self._signed(x, width)
            out = np.where(big, np.where(signed < 0, -1, 0), signed >> np.where(big, 0, amounts).astype(np.int64))
            return self._wrap(out, width), width
        if op in ("==", "!="):
            out = x == y if op == "==" else x != y
            return np.asarray(out).astype(np.uint64), 1
        if op[0] in "us" and op[1:] in ("<", ">", "<=", ">="):
            if op[0] == "s":
                x, y = self._signed(x, wx), self._signed(y, wy)
            compare = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}[op[1:]]
            return np.asarray(compare(x, y)).astype(np.uint64), 1
        raise ValueError(f"operator {op!r} is not supported")

    def _part(self, cell):
        value, vw = self.value(cell.value)
        offset, _ = self.value(cell.offset)
        width = cell.width
        if vw <= _WORD - 1 and width <= _WORD:
            start = offset.astype(np.int64) * cell.stride
            source = self._signed(value, vw) if cell.value_signed else value.astype(np.int64)
            beyond = start >= vw
            shifted = source >> np.where(beyond, 0, start)
            fill = np.where(source < 0, -1, 0) if cell.value_signed else 0
            return self._wrap(np.where(beyond, fill, shifted), width), width
        start = offset.astype(object) * cell.stride
        source = self._signed(value, vw) if cell.value_signed else value.astype(object)
        out = []
        for v, s in zip(source, start):
            s = int(s)
            out.append((int(v) >> s) if s < vw else (-1 if cell.value_signed and int(v) < 0 else 0))
        return self._wrap(np.array(out, dtype=object), width), width

    def _matches(self, cell):
        value, _ = self.value(cell.value)
        hit = np.zeros(self.n, dtype=bool)
        for pattern in cell.patterns:
            bits = pattern[::-1]                      # patterns are written MSB first
            care = sum(1 << i for i, c in enumerate(bits) if c != "-")
            want = sum(1 << i for i, c in enumerate(bits) if c == "1")
            if value.dtype == object:
                hit |= np.array([(int(v) & care) == want for v in value])
            else:
                hit |= (value & np.uint64(care)) == np.uint64(want)
        return hit.astype(np.uint64), 1

    def _priority_match(self, cell):
        en, _ = self.value(_nir.Value(cell.en))
        inputs, width = self.value(cell.inputs)
        if width <= _WORD:                            # the lowest set bit: x & -x
            lowest = inputs & (~inputs + np.uint64(1))
            return np.where(en != 0, lowest, np.uint64(0)).astype(np.uint64), width
        ints = inputs.astype(object) if inputs.dtype != object else inputs
        out = np.array([(int(v) & -int(v)) if e else 0 for v, e in zip(ints, en)], dtype=object)
        return self._wrap(out, width), width

    def _assignment_list(self, cell):
        result, width = self.value(cell.default)
        result = result.astype(object) if width > _WORD else result.copy()
        for assignment in cell.assignments:
            cond, _ = self.value(_nir.Value(assignment.cond))
            end = min(assignment.start + len(assignment.value), width)
            if assignment.start >= width:
                continue
            value, _ = self.value(assignment.value[:end - assignment.start])
            field = _mask(end - assignment.start) << assignment.start
            if width > _WORD:
                updated = np.array([(int(r) & ~field) | (int(v) << assignment.start)
                                    for r, v in zip(result, value)], dtype=object)
            else:
                updated = (result & np.uint64(~field & _mask(_WORD))) | (value.astype(np.uint64) << np.uint64(assignment.start))
            result = np.where(cond != 0, updated, result)
        return result.astype(_dtype(width)), width


def evaluate(elaboratable, inputs: dict) -> dict:
    """Every output port of the combinational ``elaboratable`` for the input vectors ``inputs``
    (port name -> integer array, all of one length). Returns port name -> integer array."""
    lengths = {len(np.asarray(v)) for v in inputs.values()}
    if len(lengths) != 1:
        raise ValueError("every input needs the same number of vectors")
    n = lengths.pop()
    fragment = Fragment.get(elaboratable, None)
    netlist = _ir.build_netlist(fragment, ports=_ports(elaboratable))
    for cell in netlist.cells[1:]:
        if not isinstance(cell, (_nir.Operator, _nir.Part, _nir.Matches, _nir.PriorityMatch,
                                 _nir.AssignmentList)):
            raise ValueError(f"cell {type(cell).__name__} is not combinational; evaluate the unit "
                             "with stages=0")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        evaluator = _Evaluator(netlist, inputs, n)
        return {name: evaluator.value(value)[0] for name, value in netlist.top.ports_o.items()}
    finally:
        sys.setrecursionlimit(limit)


def _ports(component) -> dict:
    """The component's signature members as top-level ports, named as ``amaranth.back.rtlil``
    names them (path parts joined by ``__``)."""
    from amaranth.hdl import ValueCastable, Value
    from amaranth.lib import wiring
    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise ValueError("evaluate() takes a component with a wiring.Signature")
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            direction = _ir.PortDirection.Input if member.flow == wiring.In else _ir.PortDirection.Output
            ports["__".join(map(str, path))] = (value, direction)
    return ports
