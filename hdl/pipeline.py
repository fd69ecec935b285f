"""Output pipelining shared by the combinational units (the ``stages`` parameter).

``stages=N`` puts N register stages after the combinational path; the latency is N cycles and
Yosys/abc may retime across them. ``stages=0`` is purely combinational (no clock).
"""

from amaranth.hdl import Signal


def check_stages(stages) -> int:
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 0 or stages > 16:
        raise ValueError(f"stages={stages!r} must be an integer from 0 to 16")
    return stages


def delayed(m, value, stages: int, name: str = "stage"):
    """Return ``value`` delayed by ``stages`` clock cycles in the ``sync`` domain."""
    for i in range(stages):
        reg = Signal(value.shape(), name=f"{name}{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
