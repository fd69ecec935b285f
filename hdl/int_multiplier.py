"""INT4 / INT8 multiplier: the integer baseline of the synthesis report.

Two's complement codes in, the exact ``2 * bits``-bit signed product out. The RTL is a plain
signed ``*``: the synthesis tool's own multiplier mapping is what an integer datapath gets, and
so it is the fair baseline for the structural FP4 multiplier (whose exact product is a 9-bit
fixed-point value for E2M1, the same order of size as INT4 × INT4 → 8 bits).
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.integer import check_bits

from .decoder import check_lanes
from .layouts import lanes_of
from .pipeline import UnitParameters, check_stages, delayed


class IntMultiplier(UnitParameters, wiring.Component):
    """Exact products of ``lanes`` pairs of two's complement integers.

    Parameters: ``fmt`` (``"int4"`` or ``"int8"``), ``lanes`` (1..512), ``stages`` (output
    registers).

    Ports:
      - ``a``, ``b``: In, ``lanes`` × ``bits`` codes (two's complement).
      - ``product``: Out, ``lanes`` × signed ``2 * bits``.

    Latency ``stages`` cycles. Golden function: ``golden.integer.mul(a, b, bits)`` per lane.
    """

    def __init__(self, fmt="int4", lanes: int = 1, stages: int = 0):
        self._bits = check_bits(fmt, "fmt")
        self._lanes = check_lanes(lanes)
        self._stages = check_stages(stages)
        super().__init__({
            "a": In(lanes_of(unsigned(self._bits), lanes)),
            "b": In(lanes_of(unsigned(self._bits), lanes)),
            "product": Out(lanes_of(signed(2 * self._bits), lanes)),
        })

    @property
    def latency(self) -> int:
        return self._stages

    @property
    def bits(self):
        """Element width (4 or 8)."""
        return self._bits

    def elaborate(self, platform):
        m = Module()
        result = Signal(self.product.shape())
        for lane in range(self._lanes):
            m.d.comb += result[lane].eq(self.a[lane].as_signed() * self.b[lane].as_signed())
        m.d.comb += self.product.eq(delayed(m, result, self._stages, "product_stage"))
        return m
