"""Stream test-bench parts for cocotb (cocotbext-axi style): a cycle loop that drives
``amaranth.lib.stream`` ports on the generated Verilog, pause generators for valid/ready
stalls, and a scoreboard.

Signals follow Amaranth's flattening: a stream port ``i`` is ``i__valid``, ``i__ready`` and
``i__payload``. Everything is driven on the falling clock edge and sampled one nanosecond later
(combinational paths settled), so the transfer rules are checked exactly as the next rising edge
will see them: a source keeps ``valid`` and its payload until the beat is taken, and a beat moves
when ``valid & ready``.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from verification.benches.runner import resolved


def no_pauses():
    """Never stall."""
    return itertools.repeat(False)


def random_pauses(seed: int, probability: float):
    """Stall each cycle with ``probability``, reproducibly by ``seed``."""
    rng = random.Random(seed)
    while True:
        yield rng.random() < probability


def burst_pauses(seed: int, longest: int = 8):
    """Alternating runs of go and stall, each 1..``longest`` cycles: long stalls that random
    pauses rarely produce."""
    rng = random.Random(seed)
    while True:
        stall = rng.random() < 0.5
        for _ in range(rng.randint(1, longest)):
            yield stall


def _any_state(index: int) -> str:
    return "any"


@dataclass
class Source:
    """Beats to push into stream port ``name`` (integers: the raw payload bits); ``state(i)``
    names the state of beat ``i`` for the handshake coverage."""
    name: str
    beats: list
    pauses: object = field(default_factory=no_pauses)
    state: object = _any_state
    sent: int = 0
    offered: bool = False
    first_cycle: int | None = None
    last_cycle: int | None = None

    @property
    def done(self) -> bool:
        return self.sent == len(self.beats)


@dataclass
class Sink:
    """Collects payloads from stream port ``name``; ``state(i)`` names the state of the
    ``i``-th beat expected, for the handshake coverage."""
    name: str
    expected: int
    pauses: object = field(default_factory=no_pauses)
    state: object = _any_state
    received: list = field(default_factory=list)
    cycles: list = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.received) >= self.expected


class StreamTB:
    """Owns the clock, the reset and the cycle loop over ``sources`` and ``sinks``."""

    def __init__(self, dut, period_ns: int = 10):
        self.dut = dut
        self.clk = dut.clk
        self.cycle = 0
        self.coverage = None            # a verification.tools.coverage.Coverage to count handshakes into
        cocotb.start_soon(Clock(self.clk, period_ns, unit="ns").start())

    async def reset(self, cycles: int = 2):
        self.dut.rst.value = 1
        await ClockCycles(self.clk, cycles)
        await FallingEdge(self.clk)
        self.dut.rst.value = 0

    def _port(self, name, signal):
        return self.dut[f"{name}__{signal}"]

    async def run(self, sources, sinks, *, timeout: int, on_cycle=None):
        """Run until every source is drained and every sink has its beats; return the cycle
        count. ``on_cycle(tb)`` is called once per cycle after the settle (coverage hooks)."""
        for s in sources:
            self._port(s.name, "valid").value = 0
        for k in sinks:
            self._port(k.name, "ready").value = 0
        start = self.cycle
        while not (all(s.done for s in sources) and all(k.done for k in sinks)):
            if self.cycle - start > timeout:
                state = ", ".join([f"{s.name}: sent {s.sent}/{len(s.beats)}" for s in sources] +
                                  [f"{k.name}: got {len(k.received)}/{k.expected}" for k in sinks])
                raise AssertionError(f"no progress after {timeout} cycles ({state})")
            for s in sources:
                stall = next(s.pauses)
                if not s.done and (s.offered or not stall):
                    s.offered = True
                    self._port(s.name, "valid").value = 1
                    self._port(s.name, "payload").value = s.beats[s.sent]
                else:
                    self._port(s.name, "valid").value = 0
            for k in sinks:
                self._port(k.name, "ready").value = 0 if next(k.pauses) else 1
            await Timer(1, unit="ns")
            if on_cycle is not None:
                on_cycle(self)
            # Icarus is 4-state: after reset no handshake signal may be X or Z
            ready = {s.name: resolved(self._port(s.name, "ready"), f"{s.name}__ready at cycle {self.cycle}")
                     for s in sources}
            if self.coverage is not None:
                self._cover(sources, sinks, ready)
            for s in sources:
                if s.offered and ready[s.name]:
                    if s.first_cycle is None:
                        s.first_cycle = self.cycle
                    s.last_cycle = self.cycle
                    s.sent += 1
                    s.offered = False
            for k in sinks:
                if resolved(self._port(k.name, "valid"), f"{k.name}__valid at cycle {self.cycle}") and \
                        int(self._port(k.name, "ready").value):
                    k.received.append(resolved(self._port(k.name, "payload"), f"{k.name}__payload at cycle {self.cycle}"))
                    k.cycles.append(self.cycle)
            await FallingEdge(self.clk)
            self.cycle += 1
        return self.cycle - start


    def _cover(self, sources, sinks, ready):
        """Handshake coverage of this cycle (see verification/tools/coverage.py)."""
        cov = self.coverage
        for s in sources:
            if s.done:
                continue
            state = s.state(s.sent)
            cov.sample(f"{s.name}: DUT stalls ({state})", s.offered and not ready[s.name])
            cov.sample(f"{s.name}: bench pauses ({state})", not s.offered)
        for k in sinks:
            if k.done:
                continue
            valid = int(self._port(k.name, "valid").value)
            cov.sample(f"{k.name}: bench stalls ({k.state(len(k.received))})",
                       valid and not int(self._port(k.name, "ready").value))


def handshake_points(stream: str, states, *, source: bool = True, dut_stalls=True) -> list[str]:
    """The handshake coverage points of a stream in each of its ``states``: a source's bench
    pauses and (where the DUT can refuse it) DUT stalls; a sink's bench stalls. ``dut_stalls``
    may be a subset of ``states`` (the states in which the DUT can hold the stream back)."""
    if not source:
        return [f"{stream}: bench stalls ({s})" for s in states]
    stall_states = states if dut_stalls is True else (dut_stalls or [])
    return [f"{stream}: bench pauses ({s})" for s in states] + [f"{stream}: DUT stalls ({s})" for s in stall_states]


def compare(name: str, got: list, want: list, describe=None) -> list:
    """Scoreboard: mismatches ``(index, got, want)`` (described by ``describe`` if given),
    plus a count mismatch."""
    errors = []
    if len(got) != len(want):
        errors.append((name, "count", len(got), len(want)))
    for index, (g, w) in enumerate(zip(got, want)):
        if g != w:
            errors.append((name, index) + (describe(g, w) if describe else (hex(g), hex(w))))
    return errors
