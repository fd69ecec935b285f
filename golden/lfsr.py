"""The random bits of stochastic rounding in hardware: a 32-bit linear-feedback shift register.

Model and RTL must see the same bits, so the sequence is defined here, bit by bit:

- the bit stream ``b_0, b_1, ...`` starts with the 32 bits of ``seed`` (LSB first; a zero seed
  is rejected, it would stay zero forever);
- after that ``b_{t+32} = b_{t+22} ^ b_{t+2} ^ b_{t+1} ^ b_t``: the characteristic polynomial
  ``x^32 + x^22 + x^2 + x + 1``, primitive (period ``2**32 - 1``; Xilinx XAPP052's taps 32, 22,
  2, 1; the test suite checks primitivity);
- element ``i`` of a stream (in stream order: beat by beat, lane 0 first) uses the ``sr_bits``
  bits ``b_{i*sr_bits} ... b_{i*sr_bits + sr_bits - 1}`` as an integer, the first bit as the LSB.

The hardware keeps ``b_t ... b_{t+31}`` as its state and produces the bits of a whole block at
once by a GF(2) matrix (each bit an XOR of state bits); :func:`lfsr_bits` here steps the
recurrence directly, so the two are independent descriptions of one sequence.
"""

from __future__ import annotations

import numpy as np

WIDTH = 32
TAPS = (0, 1, 2, 22)          # b_{t+32} = XOR of b_{t+k} for k in TAPS
DEFAULT_SEED = 0x2545F491


def check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 < seed < 1 << WIDTH:
        raise ValueError(f"seed={seed!r} must be an integer in [1, 2**{WIDTH})")
    return int(seed)


def lfsr_bits(count: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The first ``count`` bits of the stream (uint8 0/1)."""
    seed = check_seed(seed)
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative integer")
    total = max(int(count), WIDTH)
    bits = np.zeros(total + WIDTH, dtype=np.uint8)
    bits[:WIDTH] = (seed >> np.arange(WIDTH)) & 1
    step = WIDTH - max(TAPS)          # bits b_{t+32 .. t+41} only need b_t .. b_{t+31}
    t = 0
    while t + WIDTH < total:
        n = min(step, total - t - WIDTH)
        new = np.zeros(n, dtype=np.uint8)
        for k in TAPS:
            new ^= bits[t + k:t + k + n]
        bits[t + WIDTH:t + WIDTH + n] = new
        t += n
    return bits[:count].copy()


def lfsr_rbits(count: int, sr_bits: int = 8, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Random integers (int64) for the first ``count`` elements: element ``i`` gets stream bits
    ``[i*sr_bits, (i+1)*sr_bits)``, the first as the LSB; pass them as ``rbits`` to
    ``encode``/``golden.mx.quantize``."""
    if not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= 32:
        raise ValueError(f"sr_bits={sr_bits!r} must be an integer from 1 to 32")
    bits = lfsr_bits(count * sr_bits, seed).reshape(count, sr_bits).astype(np.int64)
    return (bits << np.arange(sr_bits)).sum(axis=1)


__all__ = ["WIDTH", "TAPS", "DEFAULT_SEED", "lfsr_bits", "lfsr_rbits", "check_seed"]
