"""Power of a mapped netlist from its simulated per-net activity and the Liberty tables.

Why not OpenSTA's own power: the Debian OpenSTA (2.0.17, a 2019 snapshot) applies only
input-port activities; ``sta::set_power_pin_activity`` is accepted and has no effect, and flip-flop
outputs take the global default activity (measured: ``verification/test_sg13g2.py``). Its
figure would be a vectorless estimate, not the traffic's. So this module computes power the way
OpenSTA does, from the same Liberty data, but with every net's simulated activity:

- **switching**: each transition of a net driven by a cell charges or discharges its
  capacitance, ½·C·V² per transition; C = the input-pin capacitances of its loads + the
  library's default wire-load model (``1k``) for its fanout (an output port counts as one load
  of no pin capacitance). Nets driven by input ports, the clock among them, are charged by
  whatever drives the unit and are not counted (as in OpenSTA).
- **internal**: Liberty ``internal_power`` energies. An output transition of a cell costs the
  energy of the arc from the related input that switched in the same cycle (split equally when
  several did; a flip-flop's output arcs are related to the clock), looked up at that input's
  transition time and the output capacitance, and counted only in the cycles where the arc's
  ``when`` holds; an input pin's own table (a flip-flop clock pin: every cycle, rise and fall)
  costs per transition of that input.
- **leakage**: the cells' ``cell_leakage_power``.
- transition times are propagated through the netlist in topological order with the cells'
  ``rise_transition``/``fall_transition`` tables (inputs and the clock ideal: 0 ns).

Power = energy over the simulated window / its duration (cycles − 1 clock periods).
Zero-delay activity: no glitches, so switching and internal power are lower bounds.

Calibration (``verification/test_sg13g2.py``, on a chain of inverters, buffers and a NAND
where OpenSTA's propagated activity is exact): switching power equals OpenSTA's; internal
power is half of the Debian OpenSTA's, which adds a cell's rise and fall energies per
transition where the Liberty tables give energy per transition (later OpenSTA releases average
the two, as this module does).
"""

from __future__ import annotations

import numpy as np

from .gatesim import CONSTANTS, GateModel
from .liberty import Library, python_expression


def wire_capacitance(library: Library, model: str, fanout: int) -> float:
    """The wire-load model's capacitance (pF) of a net with ``fanout`` loads."""
    if fanout <= 0:
        return 0.0
    per_length, points, slope = library.wire_loads[model]
    points = sorted(points)
    if fanout >= points[-1][0]:
        length = points[-1][1] + slope * (fanout - points[-1][0])
    else:
        length = float(np.interp(fanout, [p[0] for p in points], [p[1] for p in points]))
    return per_length * length


def net_loads(model: GateModel, library: Library) -> dict[str, float]:
    """Capacitance (pF) of every net: load pins + wire."""
    pins: dict[str, float] = {}
    fanout: dict[str, int] = {}
    for inst in model.netlist.instances:
        cell = library.cells[inst.cell]
        for pin in cell.inputs:
            net = inst.pins[pin]
            pins[net] = pins.get(net, 0.0) + cell.capacitance.get(pin, 0.0)
            fanout[net] = fanout.get(net, 0) + 1
    for port in model.netlist.outputs:
        for bit in model.netlist.port_bits(port):
            fanout[bit] = fanout.get(bit, 0) + 1
    wires = library.default_wire_load
    return {net: pins.get(net, 0.0) + wire_capacitance(library, wires, fanout.get(net, 0))
            for net in model.index if net not in CONSTANTS}


def transitions(model: GateModel, library: Library, loads: dict) -> dict[str, float]:
    """Transition time (ns) of every net, ideal at the inputs and the clock."""
    slew = {net: 0.0 for net in model.index}
    for inst, cell in list(model.flop_instances) + list(model.order):
        for arc in cell.timing:
            out = inst.pins.get(arc.pin)
            if out is None:
                continue
            related = 0.0 if cell.ff and arc.related_pin == cell.ff.clocked_on else slew.get(inst.pins.get(arc.related_pin), 0.0)
            for table in (arc.rise_transition, arc.fall_transition):
                if table is not None:
                    slew[out] = max(slew[out], table.at(related, loads.get(out, 0.0)))
    return slew


class _Columns(dict):
    """Net name → its values per period, taken from the value matrix on first use."""

    def __init__(self, values, index):
        super().__init__()
        self.values, self.index = values, index

    def __missing__(self, net):
        column = self.values[:, self.index[net]]
        self[net] = column
        return column


def _when(expr: str | None, inst, columns) -> np.ndarray | bool:
    if not expr:
        return True
    code = python_expression(expr, lambda p: f"c[{inst.pins[p]!r}]")
    return eval(code, {"M": np.uint8(1), "c": columns}).astype(bool)   # noqa: S307 (our own compiled text)


def power(model: GateModel, library: Library, values: np.ndarray, *, period_ns: float) -> dict:
    """Internal, switching and leakage power (mW) over the simulated window (see the module
    docstring); also split into sequential and combinational cells."""
    cycles = values.shape[0]
    if cycles < 2:
        raise ValueError("power needs at least two simulated cycles")
    periods = cycles - 1
    volts = library.voltage
    loads = net_loads(model, library)
    slew = transitions(model, library, loads)
    toggled = values[1:] != values[:-1]                      # periods × nets
    rises = toggled & (values[1:] == 1)
    ones_now = values[1:]
    index = model.index
    energy = {"internal": {"sequential": 0.0, "combinational": 0.0},
              "switching": {"sequential": 0.0, "combinational": 0.0}}
    leakage = 0.0
    every = np.ones(periods, dtype=bool)
    for inst, cell in list(model.flop_instances) + list(model.order):
        kind = "sequential" if cell.ff else "combinational"
        leakage += cell.leakage_pw
        columns = _Columns(ones_now, index)
        clock_pin = cell.ff.clocked_on if cell.ff else None
        by_output: dict[str, list] = {}
        for arc in cell.power:
            if arc.pin in cell.outputs and arc.related_pin:
                by_output.setdefault(arc.pin, []).append(arc)
            elif arc.pin in inst.pins:                      # an input pin's own energy
                net = inst.pins[arc.pin]
                if arc.pin == clock_pin:
                    up, down = every, every
                else:
                    up = rises[:, index[net]]
                    down = toggled[:, index[net]] & ~up
                mask = _when(arc.when, inst, columns)
                e = (np.count_nonzero(up & mask) * arc.rise.at(slew[net]) +
                     np.count_nonzero(down & mask) * arc.fall.at(slew[net]))
                energy["internal"][kind] += e
        for pin, arcs in by_output.items():
            out = inst.pins.get(pin)
            if out is None:
                continue
            o = index[out]
            t_out, r_out = toggled[:, o], rises[:, o]
            if not t_out.any():
                continue
            related = sorted({a.related_pin for a in arcs})

            def switched(p, inst=inst, clock_pin=clock_pin):
                return every if p == clock_pin else toggled[:, index[inst.pins[p]]]
            count = sum(switched(p).astype(np.int32) for p in related)
            share = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0) * t_out
            for arc in arcs:
                mask = _when(arc.when, inst, columns)
                part = share * switched(arc.related_pin) * mask
                s_in = 0.0 if arc.related_pin == clock_pin else slew[inst.pins[arc.related_pin]]
                c_out = loads.get(out, 0.0)
                energy["internal"][kind] += (float(part[r_out].sum()) * arc.rise.at(s_in, c_out)
                                             + float(part[~r_out].sum()) * arc.fall.at(s_in, c_out))
            energy["switching"][kind] += 0.5 * loads.get(out, 0.0) * volts ** 2 * np.count_nonzero(t_out)
    seconds = periods * period_ns * 1e-9
    mw = {k: {kind: v * 1e-12 / seconds * 1e3 for kind, v in parts.items()} for k, parts in energy.items()}
    leak_mw = leakage * 1e-12 * 1e3
    result = {"internal": sum(mw["internal"].values()), "switching": sum(mw["switching"].values()),
              "leakage": leak_mw}
    result["total"] = result["internal"] + result["switching"] + result["leakage"]
    result["sequential"] = mw["internal"]["sequential"] + mw["switching"]["sequential"]
    result["combinational"] = mw["internal"]["combinational"] + mw["switching"]["combinational"]
    result["wire_load"] = library.default_wire_load
    return result
