"""``make suite-time``: the benchmark that records how long ``make test`` takes on a fresh clone.

It clones the committed tree (``git clone`` of this checkout's HEAD) into a temporary folder,
gives it an empty yowasp cache (so Yosys and nextpnr compile their WebAssembly as on a new
machine) and no simulator builds, creates its virtual environment (timed apart: pip's time
depends on the network and its cache, not on the suite), then times ``make test`` there, and
writes what it measured with the machine it ran on to ``build/suite_time.json``. A benchmark
records a number; it does not fail on it. The README's "Tests" section quotes its result.

    python -m verification.tools.suite_time [-o build/suite_time.json] [--keep] [--target test]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def machine() -> dict:
    """The machine the suite ran on: cores, CPU model, memory, Python."""
    cpu = ""
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else ""
    except OSError:
        pass
    memory = None
    try:
        found = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        memory = round(int(found.group(1)) / 2 ** 20, 1) if found else None
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": memory, "python": platform.python_version(),
            "system": platform.platform()}


def summary(output: str) -> str:
    """pytest's last line (``N passed, M skipped ... in T s``)."""
    lines = [ln.strip("= ") for ln in output.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
    return lines[-1] if lines else ""


def run(target: str = "test", keep: bool = False) -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="fp4hw-suite-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {**os.environ, "YOWASP_CACHE_DIR": str(work / "yowasp"), "CI": "true"}
    env.pop("FP4HW_SIM_BUILD", None)
    start = time.monotonic()
    subprocess.run(["make", ".venv/.fp4hw-installed"], cwd=clone, env=env, check=True, capture_output=True)
    setup = time.monotonic() - start
    print(f"suite-time: venv ready in {setup:.0f} s; running make {target} in {clone}", flush=True)
    start = time.monotonic()
    done = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    (work / "make.log").write_text(done.stdout + done.stderr)
    record = {"target": f"make {target}", "seconds": round(seconds, 1),
              "minutes": f"{int(seconds // 60)} min {int(seconds % 60)} s", "exit": done.returncode,
              "pytest": summary(done.stdout), "venv_setup_seconds": round(setup, 1), "commit": commit,
              "fresh_clone": True, "empty_yowasp_cache": True, "machine": machine(),
              "log": str(work / "make.log") if keep else None}
    if not keep:
        import shutil
        shutil.rmtree(clone, ignore_errors=True)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="suite_time", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="build/suite_time.json")
    parser.add_argument("--target", default="test", choices=["test", "verify-full"])
    parser.add_argument("--keep", action="store_true", help="keep the clone and its make log")
    args = parser.parse_args(argv)
    record = run(args.target, args.keep)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out)
    print(f"suite-time: make {args.target} {record['minutes']} ({record['pytest'] or 'no pytest summary'}), "
          f"exit {record['exit']}, on {record['machine']['cores']} cores ({record['machine']['cpu']}) -> {out}")
    return 0 if record["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
