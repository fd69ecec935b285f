"""``make bench``: golden-model throughput against ml_dtypes casts in the same process, and the
hardware's cycle-level throughput measured in the cocotb benches on Verilator.

Targets: E2M1 ``encode`` of 16M float32 within 2x of ``x.astype(ml_dtypes.float4_e2m1fn)``;
MXFP4 ``quantize`` of a 4096x4096 float32 matrix within 3x of that cast; the quantizer accepts
1.0 input beats per cycle with no stalls, the loader delivers 1.0 output beats per cycle. Prints the best of several runs and the ratios; a
benchmark records numbers, it does not fail on them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(out: str = "build/bench.json") -> dict:
    import ml_dtypes

    import golden
    from golden import mx

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1 << 24) * 3).astype(np.float32)
    matrix = rng.standard_normal((4096, 4096)).astype(np.float32)
    print("timing E2M1 encode of 16M float32 ...", flush=True)
    cast = best_of(lambda: x.astype(ml_dtypes.float4_e2m1fn))
    encode = best_of(lambda: golden.E2M1.encode(x))
    print("timing MXFP4 quantize of 4096x4096 ...", flush=True)
    cast_matrix = best_of(lambda: matrix.astype(ml_dtypes.float4_e2m1fn))
    quantize = best_of(lambda: mx.quantize(matrix), repeat=3)
    result = {
        "ml_dtypes_cast_16M_s": cast, "e2m1_encode_16M_s": encode,
        "encode_ratio": encode / cast, "encode_target": 2.0,
        "ml_dtypes_cast_4096x4096_s": cast_matrix, "mxfp4_quantize_4096x4096_s": quantize,
        "quantize_ratio": quantize / cast_matrix, "quantize_target": 3.0,
    }
    print(f"E2M1 encode 16M:      {encode * 1e3:8.1f} ms vs ml_dtypes {cast * 1e3:6.1f} ms "
          f"-> ratio {result['encode_ratio']:.2f} (target <= 2)")
    print(f"MXFP4 quantize 4096^2: {quantize * 1e3:7.1f} ms vs ml_dtypes {cast_matrix * 1e3:6.1f} ms "
          f"-> ratio {result['quantize_ratio']:.2f} (target <= 3)")
    result["quantizer"] = quantizer_throughput()
    result["loader"] = loader_throughput()
    result["gemv"] = gemv_cycles()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return result


def measure(what: str, runs: list, report_file: str, testcase: str, describe) -> dict:
    """Run each ``(label, run)`` (``run(folder)`` starts a cocotb bench with ``testcase`` and
    returns its counts) in a scratch folder; collect the JSON it writes as ``report_file``."""
    import tempfile

    measured = {}
    for label, run in runs:
        print(f"measuring {what} {label} (Verilator) ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            counts = run(Path(tmp), testcase)
            report = json.loads((Path(tmp) / report_file).read_text())
        report["bit_exact"] = counts == (1, 0)
        measured[label] = report
        print(f"  {describe(report)}, bit-exact: {report['bit_exact']}")
    return measured


def quantizer_throughput(blocks: int = 2000) -> dict:
    """Input beats accepted per cycle with input always valid and output always ready."""
    from verification.benches.runs import QUANTIZER_CONFIGS as CONFIGS
    from verification.benches.runs import run_quantizer_bench as run_bench

    runs = [("-".join(str(v) for v in config),
             lambda folder, testcase, config=config: run_bench(config, folder, blocks=blocks, testcase=testcase))
            for config in (CONFIGS[0], CONFIGS[1], CONFIGS[4])]
    return measure("quantizer throughput", runs, "throughput.json", "full_throughput_without_stalls",
                   lambda r: f"{r['beats']} beats in {r['cycles']} cycles -> {r['beats_per_cycle']:.3f} beats/cycle")


def loader_throughput() -> dict:
    """Output beats per cycle over >= 10,240 words, no stalls, every layout and decompression."""
    from verification.benches.runs import run_loader_bench as run_bench

    configs = [(32, "linear", False, None, 32), (32, "linear", True, None, 32), (32, "diagonal", False, None, 32),
               (32, "diagonal", True, None, 32), (512, "linear", True, "e8m0", 32)]
    runs = [("-".join(str(v) for v in config),
             lambda folder, testcase, config=config: run_bench(config, folder, testcase=testcase, n_random=1))
            for config in configs]
    return measure("loader throughput", runs, "throughput.json", "full_throughput_without_stalls",
                   lambda r: f"{r['beats']} beats from {r['words']} words in {r['cycles']} cycles -> "
                             f"{r['beats_per_cycle']:.4f} beats/cycle")


def gemv_cycles() -> dict:
    """The 64 x 4096 MXFP4 GEMV (32 and 8 lanes), an NVFP4 and a mixed-mode one: cycles from the
    job to the last result, weight beats per cycle, all with no stalls on Verilator."""
    from verification.benches.runs import run_gemv_bench as run_gemv

    shapes = [("mxfp4", 32, 64, 4096, None), ("mxfp4", 8, 64, 4096, None), ("nvfp4", 16, 64, 1024, None),
              ("mxfp4", 16, 16, 1024, "fp16")]
    runs = [(f"{fmt}-lanes{lanes}-{rows}x{k}" + (f"-{act}" if act else ""),
             lambda folder, testcase, shape=(fmt, lanes, rows, k, act): run_gemv(*shape, folder, testcase=testcase))
            for fmt, lanes, rows, k, act in shapes]
    return measure("GEMV", runs, "gemv.json", "gemv_cycle_count_without_stalls",
                   lambda r: f"{r['rows']} rows: {r['cycles_job_to_last_result']} cycles from the job to the last "
                             f"result, {r['beats_per_cycle']:.3f} weight beats/cycle")


if __name__ == "__main__":
    main(*sys.argv[1:])
