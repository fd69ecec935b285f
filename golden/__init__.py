"""fp4hw golden model: numpy bit manipulation that defines every bit of every unit.

- :mod:`golden.formats` (re-exported here): ``golden.E2M1``, ``E1M2``, ``E3M0``, ``E4M3``,
  ``E5M2``, ``UE4M3``, ``E8M0``, ``MiniFloat`` and the IEEE ``FP16``, ``BF16``, ``FP32``;
- :mod:`golden.mx`: MXFP4 / NVFP4 / MXFP8 block quantization and the bit-exact dot product;
- :mod:`golden.arith`: exact products and the fused FP16 MAC;
- :mod:`golden.packing`: memory images (linear, diagonal, zero-word compression, padding);
- :mod:`golden.integer`: INT4 / INT8 products, dot products and symmetric quantization (the
  integer baselines).
"""

from . import arith, integer, mx, packing
from .formats import (BF16, E1M2, E2M1, E3M0, E4M3, E5M2, E8M0, FP16, FP32, ROUNDINGS, UE4M3,
                      E8M0Format, FloatFormat, MiniFloat, element_format, ieee_format)

__all__ = ["FloatFormat", "MiniFloat", "E8M0Format", "E2M1", "E1M2", "E3M0", "E4M3", "E5M2",
           "UE4M3", "E8M0", "FP16", "BF16", "FP32", "ROUNDINGS", "element_format", "ieee_format",
           "arith", "integer", "mx", "packing"]
