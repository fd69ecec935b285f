"""Traffic for power: realistic operands from golden, driven through a mapped netlist.

A traffic name says what the operands are (DESIGN §6):

- ``relu0``, ``relu50``, ``relu70``, ``relu90``: weights drawn from N(0, 1) times activations
  drawn from |N(0, 1)| with exactly 0 / 50 / 70 / 90 % of them set to zero (ReLU outputs),
  both quantized by golden in the unit's format: MXFP4 / NVFP4 / MXFP8 (block 32 or 16, floor
  scale), E1M2 / E3M0 elements with E8M0 block scales, INT4 / INT8 symmetric per block of 32;
- ``random``: every finite code equally likely (about the most activity operands can cause);
- ``constant``: the same operands every cycle (activity only from the first cycle and the clock).

Units with a traffic model (:func:`has_traffic`): scalar multipliers and MACs (one product per
cycle, registered inputs and outputs assumed), the MX / NVFP4 / INT dot engines (jobs of
``k = 256`` elements back to back, streams never stalled, one product per lane per beat) and the
linear packed loader, plain or with zero-word decompression (the activations' MXFP4 codes, jobs
of 256 elements; an operation is one element delivered, so its energy adds to a dot engine's
per product). The MAC accumulates FP16 over runs of 32 products, as it would inside a dot
product.

:func:`simulate` runs the traffic through the mapped netlist (:mod:`synth.gatesim`), checks
every output against golden (a mismatch raises: the netlist, the library model or the
simulator is wrong) and returns the activity, the cycles and the operations counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import golden
import golden.arith
import golden.integer
from golden import mx, packing

from .gatesim import GateModel, Stepper
from .netlist import NetlistError

TRAFFIC = ("relu0", "relu50", "relu70", "relu90", "random", "constant")
DEFAULT_TRAFFIC = "relu50"
ZEROS = {"relu0": 0.0, "relu50": 0.5, "relu70": 0.7, "relu90": 0.9}

SCALAR_SAMPLES = 4096          # products per scalar unit
DOT_K = 256                    # elements per dot-engine job (an unpipelined or INT engine)
PIPELINED_DOT_K = 1024         # ... a pipelined one: the jobs its combine keeps at one beat per cycle
DOT_CYCLES = 512               # dot-engine jobs: enough for about this many beats


def operation(unit: str) -> str:
    """What one operation of ``unit`` is, for energy per operation."""
    return "element delivered" if unit == "loader" else "element product"


def check_traffic(name: str) -> str:
    if name not in TRAFFIC:
        raise ValueError(f"traffic={name!r} is not one of {', '.join(TRAFFIC)}")
    return name


def has_traffic(unit: str, params: dict) -> bool:
    """Whether :func:`simulate` has a model for this design point."""
    if unit in ("multiplier", "int_multiplier", "mac"):
        return params.get("lanes", 1) == 1 and not params.get("stages")
    if unit == "dot":
        return params.get("activations") is None
    if unit == "loader":
        return (params.get("layout", "linear") == "linear" and not params.get("scales")
                and not params.get("decode"))
    return unit == "int_dot"


def _element_block(fmt) -> mx.BlockFormat:
    fmt = golden.element_format(fmt)
    known = {f.element.name: f for f in (mx.MXFP4, mx.MXFP8_E4M3, mx.MXFP8_E5M2)}
    return known.get(fmt.name) or mx.BlockFormat(fmt, 32, golden.E8M0)


def _values(traffic: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Weights and activations (float64, length n) of a ReLU traffic."""
    w = rng.standard_normal(n)
    x = np.abs(rng.standard_normal(n))
    x[rng.permutation(n)[:round(ZEROS[traffic] * n)]] = 0.0
    return w, x


def _codes(traffic: str, n: int, bits: int, quantize, rng, codes=None) -> tuple[np.ndarray, np.ndarray]:
    """Element codes of weights and activations; ``quantize(values)`` → codes; ``random``
    draws from ``codes`` (default: every ``bits``-bit code)."""
    if traffic == "random":
        codes = np.arange(1 << bits) if codes is None else codes
        return rng.choice(codes, n), rng.choice(codes, n)
    if traffic == "constant":
        a, b = quantize(np.full(n, 1.5)), quantize(np.full(n, 0.75))
        return a, b
    w, x = _values(traffic, n, rng)
    return quantize(w), quantize(x)


@dataclass
class Workload:
    """What :func:`simulate` measured."""
    cycles: int           # clock cycles the activity covers
    ops: int              # element products done in them
    checked: int          # outputs compared with golden (all equal)
    activity: object      # synth.gatesim.Activity


def simulate(unit: str, params: dict, model: GateModel, traffic: str = DEFAULT_TRAFFIC, seed: int = 0) -> Workload:
    """Run ``traffic`` through the compiled netlist of design point (``unit``, ``params``)."""
    check_traffic(traffic)
    if not has_traffic(unit, params):
        raise ValueError(f"{unit} {params}: no traffic model (scalar multipliers and MACs with lanes=1 and "
                         "stages=0, MX / NVFP4 / INT dot engines)")
    rng = np.random.default_rng(seed)
    if unit in ("multiplier", "int_multiplier", "mac"):
        return _scalar(unit, params, model, traffic, rng)
    if unit == "loader":
        return _loader(params, model, traffic, rng)
    return _dot(unit, params, model, traffic, rng)


def _loader(params, model, traffic, rng) -> Workload:
    word_bits = params.get("word_bits", 32)
    lanes = word_bits // 4
    k = DOT_K
    jobs = max(16, DOT_CYCLES * lanes // k)
    quantize = lambda v: mx.quantize(np.asarray(v, dtype=np.float64).reshape(jobs, k), mx.MXFP4).codes  # noqa: E731
    _, codes = _codes(traffic, jobs * k, 4, lambda v: quantize(v).reshape(-1), rng)
    codes = np.asarray(codes, dtype=np.uint8).reshape(jobs, k)
    words = []
    for row in codes:
        image = packing.pack_elements(row, 4, word_bits)
        if params.get("compressed"):
            stream = packing.to_words(packing.compress_zero_words(image, word_bits), word_bits)
            words += [w | (int(i == len(stream) - 1) << word_bits) for i, w in enumerate(stream)]
        else:
            words += packing.to_words(image, word_bits)
    beats, stepper = run_streams(model, {"job": [k] * jobs, "words": words}, "lanes", jobs * k // lanes,
                                 max_cycles=8 * jobs * k // lanes + 200)
    got = np.array([[(b >> (4 * i)) & 0xF for i in range(lanes)] for b in beats], dtype=np.uint8).reshape(jobs, k)
    flags = [((b >> (4 * lanes)) & ((1 << lanes) - 1), (b >> (5 * lanes + 1)) & 1) for b in beats]
    if not np.array_equal(got, codes) or any(mask != (1 << lanes) - 1 or error for mask, error in flags):
        raise NetlistError("gate-level loader: delivered lanes differ from the packed codes (golden)")
    return Workload(len(stepper.rows), jobs * k, len(beats), stepper.activity())


def _scalar(unit, params, model, traffic, rng) -> Workload:
    n = SCALAR_SAMPLES
    if unit == "int_multiplier":
        bits = golden.integer.check_bits(int(str(params.get("fmt", "int4"))[3:]))
        a, b = _codes(traffic, n, bits, lambda v: golden.integer.quantize(v, bits, block=32)[0], rng)
        want = {"product": golden.integer.mul(a, b, bits)}
        widths = {"product": 2 * bits}
        inputs = {"a": a, "b": b}
    else:
        fmt = golden.element_format(params.get("fmt", "e2m1"))
        block = _element_block(fmt)
        finite = np.flatnonzero(np.isfinite(fmt.decode(np.arange(1 << fmt.bits))))
        a, b = _codes(traffic, n, fmt.bits, lambda v: mx.quantize(v, block).codes, rng, finite)
        if unit == "multiplier":
            out = params.get("out", "fixed")
            want = {"product": golden.arith.mul(a, b, fmt, out)}
            widths = {"product": golden.arith.fixed_width(fmt) if out == "fixed" else golden.ieee_format(out).bits}
            inputs = {"a": a, "b": b}
        else:
            rounding = params.get("rounding", "rne")
            c = np.zeros(n, dtype=np.int64)
            result = np.zeros(n, dtype=np.int64)
            for i in range(n):                       # FP16 accumulation over runs of 32 products
                c[i] = 0 if i % 32 == 0 else result[i - 1]
                result[i] = int(golden.arith.mac(a[i:i + 1], b[i:i + 1], c[i:i + 1], fmt, rounding=rounding)[0])
            inputs, want, widths = {"a": a, "b": b, "c": c}, {"result": result}, {"result": 16}
    outputs, activity = model.trace(inputs)
    for port, expected in want.items():
        mask = (1 << widths[port]) - 1                # golden gives signed / wide integers, ports raw bits
        got = [int(x) for x in outputs[port]]
        expected = [int(x) & mask for x in np.asarray(expected).reshape(-1)]
        bad = [i for i, (g, w) in enumerate(zip(got, expected)) if g != w]
        if bad:
            i = bad[0]
            raise NetlistError(f"gate-level {unit}: {port} = {got[i]:#x} at sample {i}, golden {expected[i]:#x} "
                               f"(inputs {', '.join(f'{k}={int(v[i]):#x}' for k, v in inputs.items())})")
    return Workload(n, n, n, activity)


def dot_jobs(unit: str, params: dict) -> tuple[int, int, int]:
    """A dot engine's traffic shape: ``(lanes, k, partials)``. A pipelined engine adds its partial
    sums at a job's end; a job shorter than that combine would hold the next back, and its energy
    would count the idle cycles (issue 28), so it gets jobs of :data:`PIPELINED_DOT_K`."""
    if unit != "dot":
        return params.get("lanes", 32), DOT_K, 1
    from hdl.dot import engine_depth            # its lanes and partial sums as built (the preset's)
    depth = engine_depth(**{k: v for k, v in params.items() if k not in ("alumacc", "activations")})
    pipelined = depth["partials"] > 1 or any(
        depth[name] for name in ("mul_stages", "tree_every", "scale_stages", "add_stages", "load_stages"))
    return depth["lanes"], PIPELINED_DOT_K if pipelined else DOT_K, depth["partials"]


def _dot(unit, params, model, traffic, rng) -> Workload:
    lanes, k, partials = dot_jobs(unit, params)
    pipelined = k == PIPELINED_DOT_K
    jobs = max(4 if pipelined else 16, DOT_CYCLES * lanes // k)
    streams: dict[str, list[int]] = {"job": [k] * jobs}
    if unit == "int_dot":
        bits = golden.integer.check_bits(int(str(params.get("fmt", "int4"))[3:]))
        quantize = lambda v: golden.integer.quantize(v.reshape(jobs, k), bits, block=32)[0].reshape(-1)  # noqa: E731
        a, b = _codes(traffic, jobs * k, bits, quantize, rng)
        a, b = a.reshape(jobs, k), b.reshape(jobs, k)
        want = [int(r) & 0xFFFFFFFF for r in golden.integer.dot(a, b, bits)]
        codes = {"a_words": a, "b_words": b}
    else:
        fmt = mx.block_format(params.get("fmt", "mxfp4"))
        bits = fmt.element.bits

        def quantize(v):
            return mx.quantize(np.asarray(v, dtype=np.float64).reshape(jobs, k), fmt)
        if traffic == "random":
            qa, qb = quantize(rng.standard_normal(jobs * k)), quantize(rng.standard_normal(jobs * k))
            finite = np.flatnonzero(np.isfinite(fmt.element.decode(np.arange(1 << bits))))
            for q in (qa, qb):
                q.codes[...] = rng.choice(finite, q.codes.shape)
                q.scales[...] = rng.integers(100, 155, q.scales.shape) if fmt.is_mx else rng.integers(1, 127, q.scales.shape)
        elif traffic == "constant":
            qa, qb = quantize(np.full(jobs * k, 1.5)), quantize(np.full(jobs * k, 0.75))
        else:
            w, x = _values(traffic, jobs * k, rng)
            qa, qb = quantize(w), quantize(x)
        want = [int(r) for r in mx.dot(qa, qb, partials=partials).reshape(-1).view(np.uint32)]
        codes = {"a_words": qa.codes, "b_words": qb.codes}
        streams["scale_a"] = [int(s) for s in qa.scales.reshape(-1)]
        streams["scale_b"] = [int(s) for s in qb.scales.reshape(-1)]
    word_bits = lanes * bits
    for name, c in codes.items():
        image = packing.pack_elements(np.asarray(c, dtype=np.uint8).reshape(-1), bits, word_bits)
        streams[name] = packing.to_words(image, word_bits)
    results, stepper = run_streams(model, streams, "result", jobs, max_cycles=40 * jobs * k // lanes + 200)
    width = 32
    got = [r & ((1 << width) - 1) for r in results]
    errors = [r >> 32 for r in results] if unit == "dot" else [0] * jobs
    for i, (g, w, e) in enumerate(zip(got, want, errors)):
        if g != w or e:
            raise NetlistError(f"gate-level {unit}: job {i} gave {g:#010x}{' (error bit)' if e else ''}, golden {w:#010x}")
    return Workload(len(stepper.rows), jobs * k, jobs, stepper.activity())


def run_streams(model: GateModel, inputs: dict[str, list[int]], output: str, count: int, *,
                max_cycles: int, reset_cycles: int = 2):
    """Drive the In streams ``inputs`` (payload lists) at full rate, the Out stream ``output``
    always ready, until ``count`` payloads came out. Reset is held for ``reset_cycles`` cycles
    (not recorded); activity covers the cycles from the first after reset to the last result.
    A payload is held after its stream ends (no artificial toggles). Returns (payloads, stepper)."""
    stepper = Stepper(model)
    stepper.recording = False
    ports = model.netlist.inputs
    for port in ports:
        stepper.set(port, 0)
    stepper.set("rst", 1)
    for _ in range(reset_cycles):
        stepper.settle()
        stepper.clock()
    stepper.set("rst", 0)
    stepper.recording = True
    position = {name: 0 for name in inputs}
    stepper.set(f"{output}__ready", 1)
    results = []
    for _ in range(max_cycles):
        for name, payloads in inputs.items():
            i = position[name]
            stepper.set(f"{name}__valid", int(i < len(payloads)))
            if i < len(payloads):
                stepper.set(f"{name}__payload", payloads[i])
        stepper.settle()
        for name, payloads in inputs.items():
            if position[name] < len(payloads) and stepper.get(f"{name}__ready"):
                position[name] += 1
        if stepper.get(f"{output}__valid"):
            results.append(stepper.get(f"{output}__payload"))
        stepper.clock()
        if len(results) == count:
            return results, stepper
    raise NetlistError(f"gate-level {model.netlist.top}: {len(results)} of {count} results after {max_cycles} "
                       f"cycles (streams consumed: {position})")
