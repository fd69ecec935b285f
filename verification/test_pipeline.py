"""hdl/pipeline.py on its own, in the Amaranth simulator: ``Cuts`` (chosen points are registers,
the others wires; one value comes back as a value, several as a tuple; carried values keep step;
``latency`` counts the chosen points; points out of order are refused), ``delayed`` with an
enable (it holds while the enable is low), ``stream_register`` and ``skid_register`` (one transfer
per cycle, nothing lost or doubled under stalls on either side; the skid buffer's ``ready`` does
not follow the reader's in the same cycle). The mutation run found these reached only through the units."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal, unsigned
from amaranth.lib import stream
from amaranth.sim import Simulator

from hdl.pipeline import Cuts, delayed, skid_register, stream_register


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


class CutChain(Elaboratable):
    """x → cut "a" (x, carried c) → cut "b" (one value) → y; c carried through both."""

    def __init__(self, chosen):
        self.x, self.c = Signal(8), Signal(8)
        self.y, self.c_out = Signal(8), Signal(8)
        self.chosen = chosen
        self.latency = None

    def elaborate(self, platform):
        m = Module()
        cuts = Cuts(m, ("a", "b", "z"), self.chosen, name="t")
        handle = cuts.carry(self.c)
        one, two = cuts.cut("a", self.x + 1, self.x + 2)
        single = cuts.cut("b", one + two)
        assert not isinstance(single, tuple)                   # one value comes back as a value
        m.d.comb += [self.y.eq(single), self.c_out.eq(cuts.get(handle))]
        m.d.sync += Signal(name="clocked").eq(1)             # a clock domain even with no cut chosen
        self.latency = cuts.latency
        return m


@pytest.mark.parametrize("chosen", [(), ("a",), ("b",), ("a", "b")])
def test_cuts_register_the_chosen_points_and_keep_carried_values_in_step(chosen):
    dut = CutChain(chosen)
    values = [(i * 37) % 200 for i in range(20)]
    seen = []

    async def bench(ctx):
        for cycle, v in enumerate(values + [0] * 3):
            ctx.set(dut.x, v)
            ctx.set(dut.c, v ^ 0x5A)
            seen.append((ctx.get(dut.y), ctx.get(dut.c_out)))
            await ctx.tick()
    simulate(dut, bench)
    assert dut.latency == len(chosen)
    for i, v in enumerate(values):
        assert seen[i + len(chosen)] == ((2 * v + 3) & 0xFF, v ^ 0x5A), (chosen, i)


def test_cuts_refuse_points_out_of_order_and_unknown_ones():
    m = Module()
    cuts = Cuts(m, ("a", "b"), ("a",))
    cuts.cut("b", Signal(2))
    with pytest.raises(ValueError, match="out of order"):
        cuts.cut("a", Signal(2))
    with pytest.raises(ValueError, match="not a cut point"):
        cuts.cut("c", Signal(2))
    with pytest.raises(ValueError, match="not among"):
        Cuts(m, ("a",), ("q",))


def test_a_released_value_is_carried_no_further():
    m = Module()
    cuts = Cuts(m, ("a", "b"), ("a", "b"))
    kept, dropped = cuts.carry(Signal(4)), cuts.carry(Signal(4))
    cuts.cut("a")
    once = cuts.release(dropped)
    cuts.cut("b")
    assert once.name == "cut_a_carried1" and cuts.get(kept).name == "cut_b_carried0"
    with pytest.raises(ValueError, match="released"):
        cuts.get(dropped)


class Delay(Elaboratable):
    def __init__(self):
        self.x, self.enable, self.y = Signal(8), Signal(), Signal(8)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(delayed(m, self.x, 2, "d", self.enable))
        return m


def test_delayed_with_an_enable_holds_while_it_is_low():
    dut = Delay()
    pattern = [1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1]

    async def bench(ctx):
        shift = [0, 0]                                     # the model: two registers loading on enable
        for i, enable in enumerate(pattern):
            ctx.set(dut.x, i + 10)
            ctx.set(dut.enable, enable)
            assert ctx.get(dut.y) == shift[1], i
            await ctx.tick()
            if enable:
                shift = [i + 10, shift[0]]
    simulate(dut, bench)


class Register(Elaboratable):
    def __init__(self, kind=stream_register):
        self.i = stream.Signature(unsigned(8)).create(path=("i",))
        self._m = Module()
        self.o = kind(self._m, self.i, "r")

    def elaborate(self, platform):
        return self._m


@pytest.mark.parametrize("kind", [stream_register, skid_register], ids=["register", "skid"])
@pytest.mark.parametrize("stall, gaps", [(0.0, 0.0), (0.4, 0.0), (0.4, 0.3)])
def test_stream_register_passes_one_transfer_per_cycle_and_loses_nothing(kind, stall, gaps):
    dut = Register(kind)
    items, got, rng = list(range(1, 60)), [], random.Random(3)
    taken = []
    ready_followed_reader = []

    async def bench(ctx):
        pending = list(items)
        for cycle in range(600):
            offer = bool(pending) and rng.random() >= gaps
            ctx.set(dut.i.valid, 1 if offer else 0)
            if pending:
                ctx.set(dut.i.payload, pending[0])
            ctx.set(dut.o.ready, 0)
            held = ctx.get(dut.i.ready)
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            ready_followed_reader.append(held != ctx.get(dut.i.ready))
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload))
                taken.append(cycle)
            moved = offer and ctx.get(dut.i.ready)
            await ctx.tick()
            if moved:
                pending.pop(0)
    simulate(dut, bench)
    assert got == items
    if stall == 0 and gaps == 0:                           # no bubble: one transfer every cycle
        assert taken == list(range(taken[0], taken[0] + len(items)))
    if kind is skid_register:                              # its ready is a register
        assert not any(ready_followed_reader)
    elif stall:
        assert any(ready_followed_reader)
