"""Pipelining shared by the units: output register stages (the ``stages`` parameter of the
combinational units), explicit cut points inside a datapath (:class:`Cuts`), and registers on a
stream (:func:`stream_register`, and :func:`skid_register`, which also cuts the ready path).

``stages=N`` puts N register stages after the combinational path; the latency is N cycles and
Yosys/abc may retime across them. ``stages=0`` is purely combinational (no clock).

:class:`Cuts` is the designer-chosen alternative (PULP fpnew's explicit pipeline registers): a
datapath written once names its cut points in order (``cuts.cut("align", x, y)``); the points a
parameter selects get a register stage, the others are wires. Values computed before a cut and
used after it are *carried* (``cuts.carry``), so they are delayed by exactly the same stages
and the datapath cannot mix two operations' bits. All registers load under one ``enable`` (a
pipeline that holds as a whole while its output stalls).
"""

from amaranth.hdl import Signal, Value
from amaranth.lib import stream

from golden.params import check_int


def check_stages(stages) -> int:
    return check_int("stages", stages, 0, 16)


def delayed(m, value, stages: int, name: str = "stage", enable=None):
    """Return ``value`` delayed by ``stages`` clock cycles in the ``sync`` domain, the
    registers loading only while ``enable`` (a 1-bit value; None: every cycle)."""
    value = Value.cast(value)
    for i in range(stages):
        reg = Signal(value.shape(), name=f"{name}{i}")
        if enable is None:
            m.d.sync += reg.eq(value)
        else:
            with m.If(enable):
                m.d.sync += reg.eq(value)
        value = reg
    return value


def stream_register(m, source, name: str):
    """``source`` (a stream) behind one register stage: the returned stream's ``valid`` and
    payload come from registers, loaded whenever the register is empty or being read, so one
    transfer per cycle passes with no bubble; ``source.ready`` is the register's
    ``~valid | ready`` (a short path when the reader's ``ready`` is itself a register, as a
    FIFO's ``w_rdy`` is). Latency 1. The cost: ``len(payload) + 1`` flip-flops."""
    out = stream.Signature(source.payload.shape()).create(path=(name,))
    m.d.comb += source.ready.eq(~out.valid | out.ready)
    with m.If(source.ready):
        m.d.sync += [out.valid.eq(source.valid), Value.cast(out.payload).eq(Value.cast(source.payload))]
    return out


def skid_register(m, source, name: str):
    """``source`` (a stream) behind a skid buffer: like :func:`stream_register` (latency 1, one
    transfer per cycle, ``valid`` and payload from registers), but ``source.ready`` is a register
    too (no second entry held), so the reader's ``ready`` stops here instead of running on
    into the writer's logic. A transfer that arrives while the output stalls waits in the skid
    entry and moves to the output when it is read. The cost: ``2 × len(payload) + 2``
    flip-flops."""
    shape = source.payload.shape()
    out = stream.Signature(shape).create(path=(name,))
    raw = Value.cast(source.payload)
    skid_valid = Signal(name=f"{name}_skid_valid")
    skid = Signal(len(raw), name=f"{name}_skid")
    m.d.comb += source.ready.eq(~skid_valid)
    with m.If(~out.valid | out.ready):
        with m.If(skid_valid):
            m.d.sync += [out.valid.eq(1), Value.cast(out.payload).eq(skid), skid_valid.eq(0)]
        with m.Else():
            m.d.sync += [out.valid.eq(source.valid), Value.cast(out.payload).eq(raw)]
    with m.Elif(source.valid & ~skid_valid):
        m.d.sync += [skid.eq(raw), skid_valid.eq(1)]
    return out


class Cuts:
    """Register stages at chosen cut points of a datapath.

    ``points`` is the datapath's ordered tuple of cut-point names, ``chosen`` the subset that
    gets registers; ``enable`` (a 1-bit value, or None for always) loads them. ``latency`` is
    the number of chosen points the datapath has passed so far (after the whole datapath: its
    latency in cycles).
    """

    def __init__(self, m, points: tuple, chosen, enable=None, name: str = "cut"):
        chosen = tuple(chosen)
        unknown = [c for c in chosen if c not in points]
        if unknown:
            raise ValueError(f"cut points {unknown} are not among {points}")
        self._m, self._points, self._chosen = m, tuple(points), frozenset(chosen)
        self._enable, self._name = enable, name
        self._carried: list = []
        self._passed: list = []
        self.latency = 0

    def has(self, point: str) -> bool:
        """Whether ``point`` is one of the datapath's cut points (chosen or not)."""
        return point in self._points

    def chosen(self, point: str) -> bool:
        """Whether ``point`` gets a register stage (a datapath may arrange its logic for it)."""
        return point in self._chosen

    def carry(self, value) -> int:
        """Carry ``value`` through every later cut; returns the handle for :meth:`get`."""
        self._carried.append(Value.cast(value))
        return len(self._carried) - 1

    def get(self, handle: int):
        """The carried value as delayed by the cuts passed since it was carried."""
        if self._carried[handle] is None:
            raise ValueError(f"carried value {handle} was released")
        return self._carried[handle]

    def release(self, handle: int):
        """The carried value as :meth:`get` gives it, carried no further (no registers at the
        cuts after this one: a value used to compute a later one, which is carried instead)."""
        value = self.get(handle)
        self._carried[handle] = None
        return value

    def _register(self, value, label):
        value = Value.cast(value)
        reg = Signal(value.shape(), name=f"{self._name}_{label}")
        if self._enable is None:
            self._m.d.sync += reg.eq(value)
        else:
            with self._m.If(self._enable):
                self._m.d.sync += reg.eq(value)
        return reg

    def cut(self, point: str, *values):
        """Pass cut point ``point`` (in datapath order): a register stage for ``values`` and every
        carried value if it is chosen, wires otherwise. Returns ``values`` (as a tuple when more
        than one)."""
        if point not in self._points:
            raise ValueError(f"{point!r} is not a cut point of {self._points}")
        if point in self._passed or any(self._points.index(p) > self._points.index(point) for p in self._passed):
            raise ValueError(f"cut point {point!r} passed out of order")
        self._passed.append(point)
        if point in self._chosen:
            self.latency += 1
            values = tuple(self._register(v, f"{point}{i}") for i, v in enumerate(values))
            self._carried = [None if v is None else self._register(v, f"{point}_carried{i}")
                             for i, v in enumerate(self._carried)]
        return values[0] if len(values) == 1 else values


class UnitParameters:
    """Read-only properties of the parameters most units share (Amaranth's own components expose
    theirs the same way): ``fmt`` (the element or block format object), ``lanes`` and ``stages``
    (output register stages). A unit mixes this in beside ``wiring.Component`` and keeps the
    values in ``_fmt``, ``_lanes``, ``_stages`` (reading one a unit does not have raises
    AttributeError, so ``hasattr`` says no)."""

    @property
    def fmt(self):
        """The element format (``golden`` format object; a block format for block units)."""
        return self._fmt

    @property
    def lanes(self) -> int:
        """Parallel lanes."""
        return self._lanes

    @property
    def stages(self) -> int:
        """Output register stages (the latency of a combinational unit)."""
        return self._stages
