"""Zero-delay simulation of a mapped standard-cell netlist, for switching activity.

The netlist (:mod:`synth.netlist`) is compiled to Python from the cells' Liberty ``function``
and ``ff`` statements (:mod:`synth.liberty`): one assignment per combinational output in
topological order, and one update per flip-flop on the clock edge. Net values are Python
integers used as bit vectors:

- a **combinational** netlist is evaluated once over a whole trace, bit ``t`` of every net being
  its value in cycle ``t`` (:meth:`GateModel.trace`);
- a **sequential** netlist is stepped one clock cycle at a time (:class:`Stepper`), the test
  bench setting inputs and reading outputs between steps, every net's value recorded per cycle.

From the values the model counts, per net, the transitions between consecutive cycles and the
share of cycles at 1: the activity (transitions per clock period) and duty OpenSTA uses for
power. Limits, stated with every number the flow reports: zero-delay (no glitches, so switching
is a lower bound), one clock, flip-flops only (a latch is refused), no clock tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .liberty import Cell, python_expression
from .netlist import Netlist, NetlistError

CONSTANTS = ("1'b0", "1'b1")


@dataclass
class Activity:
    """Per-net switching over ``cycles`` simulated clock cycles; ``values`` holds every net's
    value per cycle (uint8, cycles × nets, columns in :attr:`GateModel.index` order)."""
    cycles: int
    toggles: dict          # net -> transitions between consecutive cycles
    ones: dict             # net -> cycles at 1
    values: np.ndarray | None = None

    def rate(self, net: str) -> float:
        """Transitions per clock period."""
        return self.toggles[net] / max(self.cycles - 1, 1)

    def duty(self, net: str) -> float:
        return self.ones[net] / max(self.cycles, 1)

    def total_toggles(self) -> int:
        return sum(self.toggles.values())


class GateModel:
    """A mapped netlist compiled for simulation (see the module docstring)."""

    def __init__(self, netlist: Netlist, cells: dict[str, Cell], clock: str = "clk"):
        self.netlist = netlist
        self.index: dict[str, int] = {c: i for i, c in enumerate(CONSTANTS)}
        self.drivers: dict[str, tuple] = {}           # net -> ("port", name) | ("pin", inst, pin)
        for port in netlist.inputs:
            for bit in netlist.port_bits(port):
                self._net(bit)
                self.drivers[bit] = ("port", bit)
        self.clock = clock if clock in netlist.inputs else None
        comb, flops = [], []
        for inst in netlist.instances:
            cell = cells.get(inst.cell)
            if cell is None:
                raise NetlistError(f"instance {inst.name}: cell {inst.cell} is not in the library")
            if cell.latch:
                raise NetlistError(f"instance {inst.name}: latch {inst.cell} is not supported")
            for pin in cell.outputs:
                net = inst.pins.get(pin)
                if net is None:
                    continue
                if net in self.drivers or net in CONSTANTS:
                    raise NetlistError(f"net {net} has two drivers ({inst.name}/{pin})")
                self._net(net)
                self.drivers[net] = ("pin", inst.name, pin)
            (flops if cell.ff else comb).append((inst, cell))
        for inst, cell in comb + flops:
            for pin in cell.inputs:
                net = inst.pins.get(pin)
                if net is None:
                    raise NetlistError(f"instance {inst.name}: input pin {pin} is not connected")
                if net not in self.index:
                    raise NetlistError(f"instance {inst.name}: net {net} on pin {pin} has no driver")
        self.flops = len(flops)
        self.flop_instances = flops
        self._comb = self._compile("comb", self._comb_lines(comb))
        self._edge = self._compile("edge", self._edge_lines(flops))
        self.size = len(self.index)

    def _net(self, net: str) -> int:
        return self.index.setdefault(net, len(self.index))

    def _ref(self, inst, pin) -> str:
        return f"v[{self.index[inst.pins[pin]]}]"

    def _comb_lines(self, comb) -> list[str]:
        """Combinational outputs in topological order (a loop is an error)."""
        comb_names = {inst.name for inst, _ in comb}
        # sources: constants, input ports and flip-flop outputs
        ready = {i for n, i in self.index.items()
                 if n in CONSTANTS or self.drivers[n][0] == "port" or self.drivers[n][1] not in comb_names}
        waiting = [(inst, cell, [self.index[inst.pins[p]] for p in cell.inputs]) for inst, cell in comb]
        users: dict[int, list[int]] = {}
        missing = []
        for k, (inst, cell, ins) in enumerate(waiting):
            need = {i for i in ins if i not in ready}
            missing.append(len(need))
            for i in need:
                users.setdefault(i, []).append(k)
        queue = [k for k, n in enumerate(missing) if n == 0]
        lines, done = [], 0
        self.order = []                               # combinational instances, topologically
        while queue:
            k = queue.pop()
            inst, cell, _ = waiting[k]
            self.order.append((inst, cell))
            done += 1
            for pin, function in cell.outputs.items():
                if pin not in inst.pins:
                    continue
                if not function:
                    raise NetlistError(f"instance {inst.name}: output {pin} of {cell.name} has no function")
                expr = python_expression(function, lambda p, inst=inst: self._ref(inst, p))
                out = self.index[inst.pins[pin]]
                lines.append(f"v[{out}] = {expr}")
                for user in users.pop(out, []):
                    missing[user] -= 1
                    if missing[user] == 0:
                        queue.append(user)
        if done != len(waiting):
            stuck = [waiting[k][0].name for k, n in enumerate(missing) if n][:5]
            raise NetlistError(f"combinational loop through {', '.join(stuck)}")
        return lines

    def _edge_lines(self, flops) -> list[str]:
        lines, stores = [], []
        for k, (inst, cell) in enumerate(flops):
            ff = cell.ff
            clock_net = inst.pins.get(ff.clocked_on)
            if self.clock is None or clock_net != self.clock:
                raise NetlistError(f"flip-flop {inst.name} is clocked by {clock_net}, not the clock port "
                                   f"{self.clock or '(none)'}")

            def pins(function, inst=inst):
                return python_expression(function, lambda p: self._ref(inst, p))
            state = pins(ff.next_state)
            if ff.preset:
                state = f"({pins(ff.preset)} | {state})"
            if ff.clear:
                state = f"((M ^ {pins(ff.clear)}) & {state})"
            lines.append(f"s{k} = {state}")
            for pin, function in cell.outputs.items():
                if pin not in inst.pins:
                    continue
                out = self.index[inst.pins[pin]]
                if function == ff.state:
                    stores.append(f"v[{out}] = s{k}")
                elif function == ff.state_n:
                    stores.append(f"v[{out}] = M ^ s{k}")
                else:
                    raise NetlistError(f"{cell.name}: output {pin} = {function!r} is not the state")
        return lines + stores

    @staticmethod
    def _compile(name: str, lines: list[str]):
        source = f"def {name}(v, M):\n" + "".join(f"    {line}\n" for line in lines) + "    return\n"
        scope: dict = {}
        exec(compile(source, f"<gatesim {name}>", "exec"), scope)
        return scope[name]

    def fresh(self, mask: int = 1) -> list[int]:
        v = [0] * self.size
        v[self.index["1'b1"]] = mask
        return v

    def trace(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Activity]:
        """A combinational netlist over a trace: ``inputs[port]`` holds one value per cycle
        (every input port); returns the outputs per cycle and the activity."""
        if self.flops:
            raise NetlistError(f"{self.netlist.top} has {self.flops} flip-flops: step it with Stepper")
        lengths = {len(np.asarray(a)) for a in inputs.values()}
        if set(inputs) != set(self.netlist.inputs) or len(lengths) != 1:
            raise ValueError(f"inputs: one equally long array for each of {', '.join(self.netlist.inputs)}")
        cycles = lengths.pop()
        mask = (1 << cycles) - 1
        v = self.fresh(mask)
        for port, values in inputs.items():
            values = np.asarray(values, dtype=object)
            for b, bit in enumerate(self.netlist.port_bits(port)):
                bits = np.array([(int(x) >> b) & 1 for x in values], dtype=np.uint8)
                v[self.index[bit]] = int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")
        self._comb(v, mask)
        outputs = {}
        for port in self.netlist.outputs:
            total = np.zeros(cycles, dtype=object)
            for b, bit in enumerate(self.netlist.port_bits(port)):
                word = v[self.index[bit]] if bit in self.index else 0
                raw = np.frombuffer(word.to_bytes((cycles + 7) // 8, "little"), dtype=np.uint8)
                total += np.unpackbits(raw, bitorder="little")[:cycles].astype(object) << b
            outputs[port] = total
        nbytes = (cycles + 7) // 8
        packed = np.frombuffer(b"".join(v[i].to_bytes(nbytes, "little") for i in range(self.size)), dtype=np.uint8)
        values = np.unpackbits(packed.reshape(self.size, nbytes), axis=1, bitorder="little")[:, :cycles].T
        return outputs, activity_of(self, np.ascontiguousarray(values))


class Stepper:
    """Cycle-by-cycle simulation of a sequential netlist. Per cycle: :meth:`set` the inputs,
    :meth:`settle` (combinational logic; the values are recorded for activity), :meth:`get`
    outputs, then :meth:`clock` (the flip-flops take their next state). Flip-flops start at 0;
    hold the design's reset input for its reset."""

    def __init__(self, model: GateModel):
        self.model = model
        self.v = model.fresh(1)
        self.rows: list[bytes] = []
        self.recording = True
        self._bits = {p: [model.index[b] for b in model.netlist.port_bits(p)]
                      for p in list(model.netlist.inputs) + list(model.netlist.outputs)
                      if all(b in model.index for b in model.netlist.port_bits(p))}

    def set(self, port: str, value: int) -> None:
        v = self.v
        for b, i in enumerate(self._bits[port]):
            v[i] = (value >> b) & 1

    def get(self, port: str) -> int:
        v = self.v
        return sum(v[i] << b for b, i in enumerate(self._bits[port]))

    def settle(self) -> None:
        self.model._comb(self.v, 1)
        if self.recording:
            self.rows.append(bytes(self.v))

    def clock(self) -> None:
        self.model._edge(self.v, 1)

    def activity(self) -> Activity:
        """Activity over the recorded cycles."""
        if len(self.rows) < 2:
            raise ValueError("activity needs at least two recorded cycles")
        values = np.frombuffer(b"".join(self.rows), dtype=np.uint8).reshape(len(self.rows), -1)
        return activity_of(self.model, values)


def activity_of(model: GateModel, values: np.ndarray) -> Activity:
    """Toggle and one counts of every net from its per-cycle ``values``."""
    toggles = np.count_nonzero(values[1:] != values[:-1], axis=0)
    ones = values.sum(axis=0, dtype=np.int64)
    names = [n for n, i in sorted(model.index.items(), key=lambda kv: kv[1])]
    return Activity(len(values), {n: int(toggles[i]) for i, n in enumerate(names) if n not in CONSTANTS},
                    {n: int(ones[i]) for i, n in enumerate(names) if n not in CONSTANTS}, values)
