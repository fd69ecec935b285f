"""Bench runners: build a unit's traffic, run its cocotb bench on Verilator or Icarus and return
the cocotb (tests, failures) counts. Used by the tests and by ``python -m verification.tools.bench``
(which records throughput), so neither imports the other.

- :func:`run_quantizer_bench`: ``verification.benches.quantizer`` on 2,000 blocks of a config;
- :func:`run_loader_bench`: ``verification.benches.loader`` on directed and random jobs;
- :func:`gemv_streams` / :func:`run_gemv_bench`: ``verification.benches.gemv`` on a GEMV job.
"""

from __future__ import annotations


import numpy as np

import golden
import hdl
from golden import mx
from verification.benches.runner import run_cocotb
from verification.traffic.loader import save, throughput_traffic, traffic
from verification.traffic.quantizer import (beats_of, coverage_points, golden_blocks, quantizer_coverage_declared,
                                            stimulus_blocks)

QUANTIZER_CONFIGS = [  # fmt, input, lanes, scale_mode, rounding
    ("mxfp4", "fp32", 8, "floor", "rne"),
    ("mxfp4", "fp32", 32, "rceil", "stochastic"),
    ("mxfp4", "bf16", 16, "even", "rne"),
    ("mxfp4", "fp16", 4, "ceil", "rtz"),
    ("nvfp4", "fp32", 16, None, "rne"),
    ("nvfp4", "fp16", 4, None, "stochastic"),
]

LOADER_CONFIGS = [  # word_bits, layout, compressed, scales, block
    (16, "linear", False, "e8m0", 32),
    (32, "linear", True, None, 32),
    (32, "diagonal", True, None, 32),
    (64, "diagonal", False, None, 32),
    (128, "linear", True, "ue4m3", 16),
    (512, "linear", False, "e8m0", 32),
]


def run_quantizer_bench(config, tmp_path, blocks=2000, planted_fault=None, testcase=None, sim="verilator"):
    fmt, source, lanes, scale_mode, rounding = config
    block = mx.block_format(fmt)
    x = stimulus_blocks(fmt, blocks, seed=hash(config) % 1000)
    bits, payloads = golden_blocks(x, fmt, source, scale_mode, rounding)
    if planted_fault is not None:
        payloads[planted_fault] ^= 1 << 1                   # one element bit of one block
    width = golden.ieee_format(source).bits
    np.savez(tmp_path / "vectors.npz", beats=np.array(beats_of(bits, lanes, width), dtype=object),
             blocks=np.array(payloads, dtype=object))
    params = {"vectors": str(tmp_path / "vectors.npz"), "report": str(tmp_path / "throughput.json"),
              "block": block.block, "element_bits": block.element.bits, "lanes": lanes,
              "block_bits": block.block * block.element.bits, "seed": 7,
              "data_points": coverage_points(x, fmt, source, scale_mode),
              "declared": quantizer_coverage_declared(fmt, scale_mode)}
    dut = hdl.Quantizer(fmt, input=source, lanes=lanes, scale_mode=scale_mode, rounding=rounding)
    return run_cocotb(dut, "quantizer", "verification.benches.quantizer", tmp_path, params=params,
                      testcase=testcase, sim=sim)


def run_loader_bench(config, tmp_path, planted_fault=None, testcase=None, n_random=30, sim="verilator"):
    word_bits, layout, compressed, scales, block = config
    t = traffic(word_bits, layout, compressed, scales, block, n_random=n_random)
    if planted_fault is not None:
        t.beats[planted_fault] ^= 1 << (word_bits // 4 * 5)          # flip one beat's `last`
    save(t, tmp_path / "traffic.npz")
    save(throughput_traffic(word_bits, layout, compressed, scales, block), tmp_path / "throughput.npz")
    expect_error = int(any(b >> (word_bits // 4 * 5 + 1) & 1 for b in t.beats))
    params = {"traffic": str(tmp_path / "traffic.npz"), "throughput": str(tmp_path / "throughput.npz"),
              "report": str(tmp_path / "throughput.json"), "lanes": word_bits // 4, "scales": scales,
              "expect_error": expect_error, "seed": 3, "layout": layout, "compressed": compressed}
    dut = hdl.PackedLoader(word_bits, layout, compressed=compressed, scales=scales, block=block)
    return run_cocotb(dut, "loader", "verification.benches.loader", tmp_path, params=params, testcase=testcase,
                      sim=sim)


def gemv_streams(fmt, lanes, rows, k, activations=None, seed=6, max_k=None, preset="unpipelined"):
    """Job, vector words/scales, weight words/scales and golden results of one GEMV
    (``golden.mx.matmul(…, partials=P)`` with the engine's P)."""
    import ml_dtypes
    from golden import packing
    from verification.traffic.dot import memory_words
    fmt = mx.block_format(fmt)
    dut = hdl.GEMV(fmt, lanes, max_k=max_k or max(k, fmt.block), activations=activations, preset=preset)
    partials = dut.partials
    rng = np.random.default_rng(seed)
    w = mx.quantize(rng.standard_normal((rows, k)) * np.exp2(rng.integers(-4, 4, (rows, 1))), fmt)
    if activations is None:
        x = mx.quantize(np.maximum(rng.standard_normal((1, k)), 0), fmt)
        want = mx.matmul(w, x, partials=partials).reshape(-1) if k else np.zeros(rows, np.float32)
        x_words = memory_words(x.codes[0], fmt.element.bits, dut._engine.b_word_bits) if k else []
        x_scales = [int(s) for s in x.scales[0]]
    else:
        dtype = np.float16 if activations == "fp16" else ml_dtypes.bfloat16
        xv = rng.standard_normal(k).astype(dtype)
        want = mx.dot(w, np.tile(xv, (rows, 1)), partials=partials) if k else np.zeros(rows, np.float32)
        x_words = packing.to_words(xv.view(np.uint16).astype("<u2").view(np.uint8), dut._engine.b_word_bits) if k else []
        x_scales = []
    w_words = [wd for r in range(rows) for wd in (memory_words(w.codes[r], fmt.element.bits, dut._engine.word_bits)
                                                 if k else [])]
    w_scales = [int(s) for r in range(rows) for s in w.scales[r]]
    results = [int(v) | (int(i == rows - 1) << 32) for i, v in enumerate(np.asarray(want, np.float32).view(np.uint32))]
    return dut, {"job": [rows | k << 16], "x_words": x_words, "x_scales": x_scales, "w_words": w_words,
                 "w_scales": w_scales}, results


def save_gemv(path, streams, expected):
    np.savez(path, **{name: np.array(items, dtype=object) for name, items in streams.items()},
             results=np.array(expected, dtype=object))


def run_gemv_bench(fmt, lanes, rows, k, activations, tmp_path, testcase=None, planted_fault=None, sim="verilator",
                   preset="unpipelined"):
    dut, streams, expected = gemv_streams(fmt, lanes, rows, k, activations, preset=preset)
    if planted_fault is not None:
        expected[planted_fault] ^= 1
    save_gemv(tmp_path / "full.npz", streams, expected)
    _, small, small_expected = gemv_streams(fmt, lanes, 12, min(k, 512), activations, seed=9, max_k=k, preset=preset)
    if planted_fault is not None:
        small_expected[planted_fault] ^= 1
    save_gemv(tmp_path / "stalled.npz", small, small_expected)
    params = {"full": str(tmp_path / "full.npz"), "stalled": str(tmp_path / "stalled.npz"),
              "report": str(tmp_path / "gemv.json"), "mixed": activations is not None}
    return run_cocotb(dut, "gemv", "verification.benches.gemv", tmp_path, params=params, testcase=testcase, sim=sim)
