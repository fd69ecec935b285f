"""fp4hw RTL: Amaranth 0.5 components generated from the golden model's semantics.

Each component documents its ports, latency and the golden function it equals.
"""

from .decoder import Decoder
from .mac import MAC
from .multiplier import Multiplier
from .dot import DotEngine
from .gemv import GEMV
from .int_dot import IntDotEngine
from .int_multiplier import IntMultiplier
from .loader import PackedLoader
from .quantizer import Quantizer
from .scale import ScaleApply

__all__ = ["Decoder", "Multiplier", "MAC", "ScaleApply", "Quantizer", "PackedLoader", "DotEngine", "GEMV",
           "IntMultiplier", "IntDotEngine"]
