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


def run_streams(dut, sources: dict, sink, count: int, *, stall: float = 0.0, seed: int = 1,
                cycles: int = 100_000) -> list:
    """Push each ``{port: payload integers}`` source into ``dut`` and take ``count`` payloads
    (raw integers) from the ``sink`` port, every side stalling with probability ``stall``
    (reproducible by ``seed``). Stops after ``cycles`` clock cycles if the count never comes.
    While a source's ``valid`` is low its payload is random bits (all ones first: e.g. the NaN
    scale code), so a unit that reads a payload it was not offered fails."""
    import random

    rng = random.Random(seed)
    got = []

    def source(port, items):
        raw = port.payload.as_value() if hasattr(port.payload, "as_value") else port.payload
        width = len(raw)

        def garbage(ctx, first=False):
            ctx.set(raw, (1 << width) - 1 if first else rng.getrandbits(width))

        async def put(ctx):
            garbage(ctx, first=True)
            for item in items:
                while rng.random() < stall:
                    await ctx.tick()
                    garbage(ctx)
                await stream_put(ctx, port, int(item))
                garbage(ctx, first=rng.random() < 0.5)
        return put

    async def drain(ctx):
        while len(got) < count:
            ctx.set(sink.ready, int(rng.random() >= stall))
            await ctx.tick()

    async def monitor(ctx):
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
                sink.valid, sink.ready, sink.payload.as_value() if hasattr(sink.payload, "as_value") else sink.payload):
            if valid and ready:
                got.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for port, items in sources.items():
        sim.add_testbench(source(port, items))
    sim.add_testbench(drain)
    sim.add_process(monitor)
    sim.run_until(1e-8 * cycles)
    return got
