"""golden.lfsr (the stochastic-rounding bit stream) and its hardware form hdl.lfsr."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from golden.lfsr import DEFAULT_SEED, TAPS, WIDTH, lfsr_bits, lfsr_rbits
from hdl.lfsr import lfsr_block


def polymulmod(a: int, b: int, p: int, degree: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a >> degree & 1:
            a ^= p
    return result


def x_power(n: int, p: int, degree: int) -> int:
    result, base = 1, 2
    while n:
        if n & 1:
            result = polymulmod(result, base, p, degree)
        base = polymulmod(base, base, p, degree)
        n >>= 1
    return result


def test_characteristic_polynomial_is_primitive():
    """x^32 + x^22 + x^2 + x + 1: x has order exactly 2^32 - 1 modulo p, so the LFSR has the
    full period from every non-zero seed."""
    p = (1 << WIDTH) | sum(1 << k for k in TAPS)
    order = (1 << WIDTH) - 1
    assert x_power(order, p, WIDTH) == 1
    for prime in (3, 5, 17, 257, 65537):               # 2^32 - 1 = 3 * 5 * 17 * 257 * 65537
        assert x_power(order // prime, p, WIDTH) != 1


def test_stream_follows_the_recurrence_bit_by_bit():
    seed = 0x9E3779B9
    got = lfsr_bits(3000, seed)
    want = [seed >> k & 1 for k in range(WIDTH)]
    while len(want) < 3000:
        t = len(want) - WIDTH
        want.append(want[t] ^ want[t + 1] ^ want[t + 2] ^ want[t + 22])
    assert got.tolist() == want


def test_rbits_take_consecutive_bits_lsb_first():
    bits = lfsr_bits(8 * 10)
    r = lfsr_rbits(10, 8)
    assert r.tolist() == [int("".join(map(str, bits[8 * i:8 * i + 8][::-1])), 2) for i in range(10)]
    assert 100 < lfsr_rbits(2000, 8).mean() < 155                # roughly uniform on [0, 256)


@pytest.mark.parametrize("bad", [0, -1, 1 << 32, 1.5, True])
def test_bad_seeds_are_rejected(bad):
    with pytest.raises(ValueError, match="seed"):
        lfsr_bits(10, bad)


@pytest.mark.parametrize("count", [5, 32, 96, 256])
def test_hardware_block_equals_golden_stream(count):
    """hdl.lfsr jumps ``count`` bits per step through GF(2) matrices; golden steps one bit at a
    time: the bits the hardware presents over 12 steps are the golden stream."""
    m = Module()
    advance = Signal()
    bits = lfsr_block(m, count, DEFAULT_SEED, advance)
    seen = []

    async def bench(ctx):
        for step in range(12):
            ctx.set(advance, step % 3 != 1)                 # hold the state now and then
            seen.append((ctx.get(bits), step % 3 != 1))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    stream = lfsr_bits(count * 12)
    position = 0
    for value, advanced in seen:
        want = int("".join(map(str, stream[position:position + count][::-1])), 2)
        assert value == want
        position += count if advanced else 0
