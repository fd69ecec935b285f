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
