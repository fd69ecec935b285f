"""Small helpers for testing components in the Amaranth simulator (the fast inner loop)."""

from __future__ import annotations

from amaranth.sim import Simulator


def run_vectors(dut, vectors, *, apply, read, expected, clocked: int = 0) -> list:
    """Drive each vector with ``apply(ctx, v)``, read the result with ``read(ctx)`` (after
    ``clocked`` clock edges when > 0), and return the mismatches ``(v, got, want)`` against
    ``expected(v)``.
    """
    mismatches = []

    async def bench(ctx):
        for v in vectors:
            apply(ctx, v)
            if clocked:
                await ctx.tick().repeat(clocked)
            got, want = read(ctx, v), expected(v)
            if got != want:
                mismatches.append((v, got, want))

    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return mismatches


async def stream_put(ctx, stream, payload):
    """Offer one ``payload`` on ``stream`` and wait until it is taken (valid held until then).
    An integer ``payload`` sets the raw bits of a layout payload."""
    ctx.set(stream.valid, 1)
    target = stream.payload
    if isinstance(payload, int) and hasattr(target, "as_value"):
        target = target.as_value()
    ctx.set(target, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Take one payload from ``stream`` (ready held until it comes) and return it."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload
