"""The stochastic-rounding bit source: ``golden.lfsr``'s 32-bit LFSR, a block of bits per step.

The state holds the stream bits ``b_t ... b_{t+31}``. Every later stream bit is a linear (GF(2))
function of the state, so the next ``count`` bits and the state ``count`` bits ahead are each
an XOR of state bits, found here at elaboration time by running the recurrence on bit masks.
Cost: at most 32-input XORs per random bit (``count`` of them) and 32 state flops; no chain of
single steps, so the depth is ``log2(32)`` XOR levels whatever ``count`` is.
"""

from __future__ import annotations

from functools import reduce

from amaranth.hdl import Cat, Const, Signal

from golden.lfsr import TAPS, WIDTH, check_seed


def stream_masks(count: int) -> list[int]:
    """For each stream bit ``b_{t+j}``, ``j < count + WIDTH``, the mask of state bits it XORs."""
    masks = [1 << j for j in range(WIDTH)]
    for j in range(WIDTH, count + WIDTH):
        masks.append(reduce(lambda a, k: a ^ masks[j - WIDTH + k], TAPS, 0))
    return masks


def _xor_of(state, mask: int):
    bits = [state[i] for i in range(WIDTH) if mask >> i & 1]
    return reduce(lambda a, b: a ^ b, bits) if bits else Const(0, 1)


def lfsr_block(m, count: int, seed: int, advance, name: str = "lfsr"):
    """A Signal of the next ``count`` stream bits (bit ``j`` = ``b_{t+j}``); the state moves
    ``count`` bits on when ``advance`` is high (sync domain, reset to ``seed``)."""
    seed = check_seed(seed)
    masks = stream_masks(count)
    state = Signal(WIDTH, init=seed, name=f"{name}_state")
    bits = Signal(count, name=f"{name}_bits")
    m.d.comb += bits.eq(Cat(*(_xor_of(state, masks[j]) for j in range(count))))
    with m.If(advance):
        m.d.sync += state.eq(Cat(*(_xor_of(state, masks[count + j]) for j in range(WIDTH))))
    return bits
