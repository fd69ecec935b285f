"""Output pipelining shared by the combinational units (the ``stages`` parameter).

``stages=N`` puts N register stages after the combinational path; the latency is N cycles and
Yosys/abc may retime across them. ``stages=0`` is purely combinational (no clock).
"""

from amaranth.hdl import Signal


from golden.params import check_int


def check_stages(stages) -> int:
    return check_int("stages", stages, 0, 16)


def delayed(m, value, stages: int, name: str = "stage"):
    """Return ``value`` delayed by ``stages`` clock cycles in the ``sync`` domain."""
    for i in range(stages):
        reg = Signal(value.shape(), name=f"{name}{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


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
