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
  transition time and the output capacitance; an input pin's own table (a flip-flop clock pin:
  every cycle, rise and fall) costs per transition of that input. **Liberty's rule for
  ``when``**: of the groups of one pin (and one related pin), a group with a ``when`` counts in
  the cycles where its condition holds, and the group *without* ``when`` is the default, which
  counts only where no conditioned group matches (:func:`select_groups`). SG13G2's default
  groups are copies of conditioned ones, written for tools that ignore ``when``; adding them on
  top of the matching state would count that energy twice. A flip-flop clock pin's rise (the
  edge) is conditioned on the state before the edge, its fall (mid-cycle) on the state after.
- **leakage**: the cells' ``cell_leakage_power``.
- transition times are propagated through the netlist in topological order with the cells'
  ``rise_transition``/``fall_transition`` tables; input ports are driven by ``driver`` (a
  library cell, :data:`INPUT_DRIVER`), the clock is ideal (0 ns), and every output port carries
  ``output_load`` pF (:data:`OUTPUT_LOAD_PF`) besides its wire.

Every table (internal energy, leakage, transitions, pin capacitances) and the voltage come from
``library``, the Liberty file of the corner reported; the model's own cells serve only to
simulate.

Power = energy over the simulated window / its duration (cycles − 1 clock periods).
Zero-delay activity: no glitches, so switching and internal power are lower bounds.

Calibration (``verification/test_sg13g2.py``, on a chain of inverters, buffers and a NAND
where OpenSTA's propagated activity is exact, at both corners): switching power and leakage
equal OpenSTA's; internal power is half of the Debian OpenSTA's, which adds a cell's rise and
fall energies per transition where the Liberty tables give energy per transition (later
OpenSTA releases average the two, as this module does). With a load set on the output ports,
that OpenSTA drops the wire-load estimate of a net that reaches only a port; this module keeps
it beside the stated load (the test measures the difference). Two differences remain on cells
the chain does not hold, and both are that OpenSTA's, not the standard reading: that OpenSTA adds
a pin's unconditioned group to its conditioned ones (Liberty makes it the default for states
no condition covers), and it weighs conditioned groups by a vectorless state probability, not
by the simulated states.
"""

from __future__ import annotations

import numpy as np

from .gatesim import CONSTANTS, GateModel
from .liberty import Library, python_expression

# What drives the unit's input ports and what its output ports drive, in both the power model and
# static timing (synth/sta.py): a small buffer of the library, and a few gate inputs.
INPUT_DRIVER = "sg13g2_buf_2"
OUTPUT_LOAD_PF = 0.005


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


def net_loads(model: GateModel, library: Library, output_load: float = OUTPUT_LOAD_PF) -> dict[str, float]:
    """Capacitance (pF) of every net: load pins + wire, and ``output_load`` on an output port."""
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
            pins[bit] = pins.get(bit, 0.0) + output_load
    wires = library.default_wire_load
    return {net: pins.get(net, 0.0) + wire_capacitance(library, wires, fanout.get(net, 0))
            for net in model.index if net not in CONSTANTS}


def driver_transition(library: Library, driver: str, load: float) -> float:
    """Output transition (ns) of library cell ``driver`` driving ``load`` pF from an ideal input."""
    cell = library.cells.get(driver)
    if cell is None or not cell.timing:
        raise ValueError(f"driver={driver!r} is not a cell of the library with timing arcs")
    return max(t.at(0.0, load) for arc in cell.timing for t in (arc.rise_transition, arc.fall_transition)
               if t is not None)


def transitions(model: GateModel, library: Library, loads: dict, driver: str = INPUT_DRIVER) -> dict[str, float]:
    """Transition time (ns) of every net: input ports driven by ``driver``, the clock ideal."""
    slew = {net: 0.0 for net in model.index}
    for port in model.netlist.inputs:
        if port == model.clock:
            continue
        for bit in model.netlist.port_bits(port):
            if bit in slew and bit not in CONSTANTS:
                slew[bit] = driver_transition(library, driver, loads.get(bit, 0.0))
    for inst, _ in list(model.flop_instances) + list(model.order):
        cell = library.cells[inst.cell]
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


def _when(expr: str, inst, columns) -> np.ndarray:
    code = python_expression(expr, lambda p: f"c[{inst.pins[p]!r}]")
    return np.asarray(eval(code, {"M": np.uint8(1), "c": columns})).astype(bool)   # noqa: S307 (our own compiled text)


def select_groups(arcs, condition) -> list:
    """Liberty's rule for the ``internal_power`` groups of one pin (and one related pin):
    ``[(arc, mask)]`` where a conditioned group's mask is ``condition(arc.when)`` (a boolean per
    cycle) and the unconditioned group's is the cycles where no conditioned group matches (every
    cycle when there is none). Its tables are the default for states no ``when`` names, not
    energy on top of the matching state's."""
    masks = [(arc, condition(arc.when)) for arc in arcs if arc.when]
    covered = None
    for _, mask in masks:
        covered = mask if covered is None else covered | mask
    default = True if covered is None else ~covered
    return masks + [(arc, default) for arc in arcs if not arc.when]


def power(model: GateModel, library: Library, values: np.ndarray, *, period_ns: float,
          driver: str = INPUT_DRIVER, output_load: float = OUTPUT_LOAD_PF) -> dict:
    """Internal, switching and leakage power (mW) over the simulated window (see the module
    docstring), every table from ``library``; also split into sequential and combinational
    cells."""
    cycles = values.shape[0]
    if cycles < 2:
        raise ValueError("power needs at least two simulated cycles")
    periods = cycles - 1
    volts = library.voltage
    loads = net_loads(model, library, output_load)
    slew = transitions(model, library, loads, driver)
    toggled = values[1:] != values[:-1]                      # periods × nets
    rises = toggled & (values[1:] == 1)
    index = model.index
    energy = {"internal": {"sequential": 0.0, "combinational": 0.0},
              "switching": {"sequential": 0.0, "combinational": 0.0}}
    leakage = 0.0
    every = np.ones(periods, dtype=bool)
    for inst, _ in list(model.flop_instances) + list(model.order):
        cell = library.cells[inst.cell]
        kind = "sequential" if cell.ff else "combinational"
        leakage += cell.leakage_pw
        after, before = _Columns(values[1:], index), _Columns(values[:-1], index)
        clock_pin = cell.ff.clocked_on if cell.ff else None
        groups: dict[tuple, list] = {}
        for arc in cell.power:
            if (arc.pin in cell.outputs and arc.related_pin) or arc.pin in inst.pins:
                groups.setdefault((arc.pin, arc.related_pin if arc.pin in cell.outputs else None), []).append(arc)
        by_output: dict[str, list] = {}
        for (pin, related), arcs in groups.items():
            if related is not None:
                by_output.setdefault(pin, []).append(arcs)
                continue
            net = inst.pins[pin]                             # an input pin's own energy
            if pin == clock_pin:                             # the edge sees the state before it
                up, down = every, every
                rise_when, fall_when = before, after
            else:
                up = rises[:, index[net]]
                down = toggled[:, index[net]] & ~up
                rise_when = fall_when = after
            for (arc, up_mask), (_, down_mask) in zip(select_groups(arcs, lambda w: _when(w, inst, rise_when)),
                                                      select_groups(arcs, lambda w: _when(w, inst, fall_when))):
                energy["internal"][kind] += (np.count_nonzero(up & up_mask) * arc.rise.at(slew[net]) +
                                             np.count_nonzero(down & down_mask) * arc.fall.at(slew[net]))
        for pin, arc_groups in by_output.items():
            out = inst.pins.get(pin)
            if out is None:
                continue
            o = index[out]
            t_out, r_out = toggled[:, o], rises[:, o]
            if not t_out.any():
                continue
            related = sorted({arcs[0].related_pin for arcs in arc_groups})

            def switched(p, inst=inst, clock_pin=clock_pin):
                return every if p == clock_pin else toggled[:, index[inst.pins[p]]]
            count = sum(switched(p).astype(np.int32) for p in related)
            share = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0) * t_out
            c_out = loads.get(out, 0.0)
            for arcs in arc_groups:
                for arc, mask in select_groups(arcs, lambda w, inst=inst, after=after: _when(w, inst, after)):
                    part = share * switched(arc.related_pin) * mask
                    s_in = 0.0 if arc.related_pin == clock_pin else slew[inst.pins[arc.related_pin]]
                    energy["internal"][kind] += (float(part[r_out].sum()) * arc.rise.at(s_in, c_out)
                                                 + float(part[~r_out].sum()) * arc.fall.at(s_in, c_out))
            energy["switching"][kind] += 0.5 * c_out * volts ** 2 * np.count_nonzero(t_out)
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
