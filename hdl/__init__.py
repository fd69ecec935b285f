"""fp4hw RTL: Amaranth 0.5 components generated from the golden model's semantics.

Each component documents its ports, latency and the golden function it equals.
"""

from .decoder import Decoder
from .mac import MAC
from .multiplier import Multiplier

__all__ = ["Decoder", "Multiplier", "MAC"]
from .units import UNITS, build_unit, to_verilog

__all__ += ["UNITS", "build_unit", "to_verilog"]
