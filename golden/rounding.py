"""Rounding of non-negative magnitudes to an integer number of quanta.

Every conversion in the golden model (element encode, FP16/FP32 results of the MAC and the dot
product) reduces to one step: a non-negative magnitude expressed in units of the target quantum
(``scaled``, a float64 whose integer part is below 2**53) is turned into an integer. This module
is that step, once, for all four modes of DESIGN §3.2.

Stochastic rounding is defined the way an adder and an LFSR do it in hardware: keep ``sr_bits``
bits of the fraction (truncating the rest), add the ``sr_bits``-wide random integer ``r`` at that
position, and truncate. With r uniform on [0, 2**sr_bits) the expected result equals the kept
(truncated) value, which is what "unbiased" means here.
"""

from __future__ import annotations

import numpy as np

ROUNDINGS = ("rne", "rtz", "rna", "stochastic")


def check_rounding(rounding: str, allowed=ROUNDINGS) -> str:
    if rounding not in allowed:
        raise ValueError(f"rounding={rounding!r} is not one of {', '.join(allowed)}")
    return rounding


def random_bits(rbits, shape, sr_bits: int) -> np.ndarray:
    """Normalize the ``rbits`` argument of a stochastic conversion to an int64 array of ``shape``.

    ``rbits`` may be an integer array (broadcast to ``shape``), a ``numpy.random.Generator``, an
    integer seed, or None (fresh, non-reproducible draws).
    """
    if not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= 32:
        raise ValueError(f"sr_bits={sr_bits!r} must be an integer from 1 to 32")
    if rbits is None or isinstance(rbits, (int, np.integer, np.random.Generator)):
        rng = rbits if isinstance(rbits, np.random.Generator) else np.random.default_rng(rbits)
        return rng.integers(0, 1 << sr_bits, size=shape, dtype=np.int64)
    r = np.asarray(rbits)
    if r.dtype.kind not in "iu":
        raise ValueError(f"rbits must be an integer array, got dtype {r.dtype}")
    try:
        r = np.broadcast_to(r, shape).astype(np.int64)
    except ValueError:
        raise ValueError(f"rbits of shape {np.shape(rbits)} does not broadcast to the input shape {shape}") from None
    bad = (r < 0) | (r >= (1 << sr_bits))
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"rbits holds {int(bad.sum())} values outside [0, 2**{sr_bits}); first at index {where}")
    return r


def round_quanta(scaled: np.ndarray, rounding: str, r: np.ndarray | None = None, sr_bits: int = 8,
                 parity_offset=0) -> np.ndarray:
    """Round non-negative ``scaled`` (float64, in target quanta) to int64 under ``rounding``.

    ``r`` holds the random integers for ``rounding="stochastic"`` (see :func:`random_bits`).
    ``rne`` breaks a tie toward the even *code*: the candidate below is ``floor(scaled) +
    parity_offset`` as a code. With mantissa bits the offset is even and this is the usual
    even-significand rule; with none (E3M0) the code's last bit is an exponent bit.
    """
    whole = np.floor(scaled)
    fraction = scaled - whole          # exact: both operands share the binade of ``scaled``
    n = whole.astype(np.int64)
    if rounding == "rtz":
        return n
    if rounding == "rne":
        up = (fraction > 0.5) | ((fraction == 0.5) & (((n + parity_offset) & 1) == 1))
    elif rounding == "rna":
        up = fraction >= 0.5
    elif rounding == "stochastic":
        kept = np.floor(np.ldexp(fraction, sr_bits)).astype(np.int64)
        return n + ((kept + r) >> sr_bits)
    else:
        check_rounding(rounding)
    return n + up.astype(np.int64)
