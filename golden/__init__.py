"""fp4hw golden model: numpy bit manipulation that defines every bit of every unit.

Element and scale formats (DESIGN §3.1–3.3) live in :mod:`golden.formats` and are re-exported
here: ``golden.E2M1``, ``E1M2``, ``E3M0``, ``E4M3``, ``E5M2``, ``UE4M3``, ``E8M0`` and the IEEE
formats ``FP16``, ``BF16``, ``FP32`` used for exact widening.
"""

from .formats import (BF16, E1M2, E2M1, E3M0, E4M3, E5M2, E8M0, FP16, FP32, ROUNDINGS, UE4M3,
                      E8M0Format, FloatFormat, MiniFloat, element_format, ieee_format)

__all__ = ["FloatFormat", "MiniFloat", "E8M0Format", "E2M1", "E1M2", "E3M0", "E4M3", "E5M2",
           "UE4M3", "E8M0", "FP16", "BF16", "FP32", "ROUNDINGS", "element_format", "ieee_format"]
