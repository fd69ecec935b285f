"""Mutation testing of the RTL sources: how many deliberate bugs do the fast tests catch?

``make mutate`` (``python -m verification.tools.mutate``) enumerates mutants of the hardware-building
code in ``hdl/`` (every function but constructors, parameter checks and properties), applies
them one at a time to a scratch copy of the sources, runs the fast tests of the affected unit
(Amaranth simulator, ``-x``), and for a mutant those miss the unit's cocotb benches on Icarus
Verilog in every configuration, verify-full's included (the generated Verilog against every
golden vector), and reports killed / survived per
file, each survivor with its diff. Operators (the issue's list):

- ``+`` ↔ ``-``, ``&`` ↔ ``|``; ``==`` ↔ ``!=``, ``<`` ↔ ``<=``, ``>`` ↔ ``>=``;
- flip the lowest bit of an integer constant;
- drop an assignment (``x.eq(y)`` → nothing);
- swap the two data arms of a ``Mux``.

A mutant whose design no longer elaborates counts as killed (the tests fail). Survivors are
either equivalent mutants, waived with the reason in ``verification/tools/mutation_waivers.txt``
(one ``<mutant id>  <reason>`` per line), or holes to close with a test. The whole space is
~1,500 mutants (hours on 2 cores); ``--sample N`` takes N per file, spread evenly and
reproducibly, which is what ``make mutate`` runs by default.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WAIVERS = Path(__file__).with_name("mutation_waivers.txt")

# hdl file -> (test files, -k expression): the fast tests that exercise it
TESTS = {
    "arith.py": (["test_hdl_arith.py", "test_decoder_sim.py", "test_multiplier.py", "test_mac.py", "test_quantizer.py"],
                 "hdl_arith or (amaranth and not mxfp8)"),
    "decoder.py": (["test_decoder_sim.py", "test_custom_formats.py"], "decoder or not custom"),
    # Cuts: the FP32 adder's latency; delayed with an enable and stream_register: the loader's
    # token register and the default (pipelined) dot engine, one beat per cycle
    "pipeline.py": (["test_pipeline.py", "test_decoder_sim.py", "test_multiplier.py", "test_loader.py",
                     "test_fpadd.py", "test_dot.py"],
                    "((pipeline or pipelined or exhaustive) and not dot) or token_register or "
                    "(fpadd and amaranth) or fast_preset_keeps or (engine_in_amaranth and default)"),
    "multiplier.py": (["test_multiplier.py", "test_dot.py", "test_custom_formats.py"],
                      "amaranth or mixed_mode_in or rtl or refused or accepted or datapath"),
    "mac.py": (["test_mac.py", "test_custom_formats.py"], "amaranth or rtl or refused or accepted"),
    "rounding.py": (["test_multiplier.py", "test_mac.py", "test_scale.py", "test_quantizer.py",
                     "test_custom_formats.py"], "amaranth or rtl or rounder"),
    "scale.py": (["test_scale.py", "test_dot.py"], "amaranth or mixed_mode_in"),
    "lfsr.py": (["test_lfsr.py"], ""),
    "quantizer.py": (["test_quantizer.py"], "amaranth"),
    "zero_words.py": (["test_loader.py"], "amaranth"),
    "loader.py": (["test_loader.py"], "amaranth or decodes"),
    "fpadd.py": (["test_fpadd.py"], "amaranth"),
    "dot.py": (["test_dot.py"], "engine_in_amaranth or mixed_mode_in"),
    "gemv.py": (["test_gemv.py"], "amaranth or rejects"),
    "int_multiplier.py": (["test_int_baselines.py"], ""),
    "int_dot.py": (["test_int_baselines.py"], ""),
}
# Second tier, for a mutant the fast tests miss: the unit's cocotb benches on Icarus Verilog
# (the generated Verilog, every vector; Icarus builds in a second where Verilator needs a minute).
BENCHES = {
    "arith.py": (["test_decoder_verilator.py", "test_multiplier.py", "test_quantizer.py"], "icarus and not planted"),
    "decoder.py": (["test_decoder_verilator.py"], "icarus and not planted"),
    "pipeline.py": (["test_decoder_verilator.py"], "icarus and not planted"),
    "multiplier.py": (["test_multiplier.py", "test_dot.py"], "icarus and (multiplier or mixed_mode)"),
    "mac.py": (["test_mac.py"], "icarus and not planted"),
    "rounding.py": (["test_multiplier.py", "test_mac.py", "test_scale.py", "test_quantizer.py"],
                    "icarus and not planted"),
    "scale.py": (["test_scale.py", "test_dot.py"], "icarus and (scale_apply or mixed_mode) and not planted"),
    "quantizer.py": (["test_quantizer.py"], "icarus and stream"),
    "zero_words.py": (["test_loader.py"], "icarus and streams"),
    "loader.py": (["test_loader.py"], "icarus and streams"),
    "fpadd.py": (["test_fpadd.py"], "icarus"),
    "dot.py": (["test_dot.py"], "icarus and (engine_on or mixed_mode)"),
    "gemv.py": (["test_gemv.py"], "icarus and gemv_on"),
    "int_multiplier.py": (["test_int_baselines.py"], ""),
    "int_dot.py": (["test_int_baselines.py"], ""),
    "lfsr.py": (["test_quantizer.py"], "icarus and stream"),
}
SWAPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&"),
         ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"),
         ast.Gt: (">", ">="), ast.GtE: (">=", ">")}


@dataclass
class Mutant:
    file: str
    line: int
    operator: str
    before: str
    after: str
    start: int          # character offsets of the replaced text in the file
    end: int
    scope: str = ""     # the innermost function around it ("Class.method" or "function")
    nth: int = 0        # how many mutants of the same scope, operator and text come before it

    @property
    def id(self) -> str:
        """Stable under edits elsewhere in the file (no line number): file, enclosing function,
        operator, the text before and after, and an occurrence index where those repeat."""
        key = f"{self.file}:{self.scope}:{self.operator}:{self.before.strip()[:40]}->{self.after.strip()[:40]}"
        return key + (f"#{self.nth}" if self.nth else "")

    def apply(self, text: str) -> str:
        return text[:self.start] + self.after + text[self.end:]

    def diff(self, text: str) -> str:
        lines = difflib.unified_diff(text.splitlines(), self.apply(text).splitlines(), f"a/hdl/{self.file}",
                                     f"b/hdl/{self.file}", n=1, lineterm="")
        return "\n".join(lines)


def _offsets(text: str) -> list[int]:
    starts, pos = [0], 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _qualnames(tree):
    """Every function of ``tree`` with its qualified name (``Class.method``, ``outer.inner``)."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield child, name
                yield from walk(child, name + ".")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def _hardware_functions(tree):
    """Functions that build hardware: everything but constructors, parameter checks and
    properties (whose mutants change error handling or Python-side numbers, not the RTL)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name != "__init__" and not node.name.startswith("check") \
                and not any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
            yield node


def mutants_of(path: Path) -> list[Mutant]:
    text = path.read_text()
    tree = ast.parse(text)
    line_start = _offsets(text)

    def at(line, col):
        return line_start[line - 1] + col

    found, seen = [], set()

    def add(node_line, operator, start, end, after):
        if (start, end, after) in seen or text[start:end] == after:
            return
        seen.add((start, end, after))
        found.append(Mutant(path.name, node_line, operator, text[start:end], after, start, end))

    for function in _hardware_functions(tree):
        for node in ast.walk(function):
            if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
                a, b = at(node.left.end_lineno, node.left.end_col_offset), at(node.right.lineno, node.right.col_offset)
                between = text[a:b]
                old, new = SWAPS[type(node.op)]
                if between.count(old) == 1 and "(" not in between and ")" not in between:
                    add(node.lineno, "binop", a, b, between.replace(old, new))
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAPS:
                a = at(node.left.end_lineno, node.left.end_col_offset)
                b = at(node.comparators[0].lineno, node.comparators[0].col_offset)
                between = text[a:b]
                old, new = SWAPS[type(node.ops[0])]
                if between.strip() == old:
                    add(node.lineno, "compare", a, b, between.replace(old, new))
            elif isinstance(node, ast.Constant) and type(node.value) is int and node.lineno == node.end_lineno:
                a, b = at(node.lineno, node.col_offset), at(node.end_lineno, node.end_col_offset)
                if text[a:b].isdigit() or text[a:b].lower().startswith("0x"):
                    add(node.lineno, "constant", a, b, str(node.value ^ 1))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "eq" \
                    and len(node.args) == 1:
                a, b = at(node.lineno, node.col_offset), at(node.end_lineno, node.end_col_offset)
                add(node.lineno, "drop-eq", a, b, "[]")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Mux" \
                    and len(node.args) == 3:
                x, y = node.args[1], node.args[2]
                xa, xb = at(x.lineno, x.col_offset), at(x.end_lineno, x.end_col_offset)
                ya, yb = at(y.lineno, y.col_offset), at(y.end_lineno, y.end_col_offset)
                add(node.lineno, "swap-mux", xa, yb, text[ya:yb] + text[xb:ya] + text[xa:xb])
    # a drop-eq inside "m.d.x += a.eq(b)" (not a list) must leave a statement: "[]" does
    found.sort(key=lambda mu: (mu.start, mu.operator, mu.after))
    spans = [(at(f.lineno, f.col_offset), at(f.end_lineno, f.end_col_offset), name) for f, name in _qualnames(tree)]
    counts = {}
    for mu in found:
        inside = [(b - a, name) for a, b, name in spans if a <= mu.start < b]
        mu.scope = min(inside)[1] if inside else "<module>"
        key = (mu.scope, mu.operator, mu.before.strip(), mu.after.strip())
        mu.nth = counts.get(key, 0)
        counts[key] = mu.nth + 1
    return found


def sample(mutants: list[Mutant], count: int | None) -> list[Mutant]:
    if count is None or len(mutants) <= count:
        return mutants
    step = len(mutants) / count
    return [mutants[int(i * step)] for i in range(count)]


def load_waivers() -> dict[str, str]:
    waivers = {}
    if WAIVERS.exists():
        for line in WAIVERS.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                mutant_id, _, reason = line.partition("  ")
                waivers[mutant_id.strip()] = reason.strip()
    return waivers


def _scratch(root: Path, index: int) -> Path:
    work = root / f"work{index}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("golden", "hdl", "synth", "fp4hw", "verification"):
        shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "samples"))
    shutil.copy(REPO / "pyproject.toml", work / "pyproject.toml")
    return work


def _command(name: str, tier: int = 1) -> list[str]:
    files, expression = (TESTS if tier == 1 else BENCHES)[name]
    # tier 2 runs the unit's Icarus benches over every configuration, verify-full's included: make
    # test runs Icarus on one representative configuration per unit (issue 34), which would leave
    # the others' features (E5M2's IEEE products, say) out of reach of a survivor's second chance
    marks = "not verilator and not yosys and not full" if tier == 1 else "full or not full"
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "-m", marks, *[f"verification/{f}" for f in files]]
    return command + (["-k", expression] if expression else [])


def baseline(name: str, work: Path, timeout: float) -> float:
    """Run a file's tests on the unmutated sources: they must pass (else every mutant would
    look killed). Returns the seconds they take."""
    start = time.monotonic()
    run = subprocess.run(_command(name), cwd=work, env={**os.environ, "PYTHONPATH": str(work)},
                         capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise SystemExit(f"mutate: the tests of {name} fail without any mutation:\n{run.stdout[-2000:]}")
    return time.monotonic() - start


def run_mutant(mutant: Mutant, work: Path, timeout: float, benches: bool = True, tiers=(1, 2)) -> dict:
    """Kill ``mutant`` with the fast tests, then (if it survives them) with the unit's Icarus
    benches; the outcome says which tier killed it."""
    target = work / "hdl" / mutant.file
    original = (REPO / "hdl" / mutant.file).read_text()
    target.write_text(mutant.apply(original))
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1",
           "FP4HW_SIM_BUILD": str(work / "sim")}
    start = time.monotonic()
    outcome, tail, tier = "survived", [""], 0
    try:
        for tier in (tiers if benches else (1,)):
            try:
                run = subprocess.run(_command(mutant.file, tier), cwd=work, env=env, capture_output=True, text=True,
                                     timeout=timeout * (1 if tier == 1 else 4))
                tail = (run.stdout + run.stderr).strip().splitlines()[-1:] or [""]
                if run.returncode not in (0, 5):
                    outcome = "killed"
                    break
            except subprocess.TimeoutExpired:
                outcome, tail = "killed", [f"timeout after {timeout:.0f} s"]
                break
    finally:
        target.write_text(original)
    return {**asdict(mutant), "id": mutant.id, "outcome": outcome, "killed_by": "" if outcome != "killed" else
            ("fast tests" if tier == 1 else "Icarus benches"), "seconds": round(time.monotonic() - start, 1),
            "summary": tail[0][:200]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verification.tools.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", help="hdl files to mutate (default: every file with tests)")
    parser.add_argument("--sample", type=int, default=None, help="mutants per file (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds per mutant at most (default 600; also at most 60 s + 5 × the unmutated run)")
    parser.add_argument("-o", "--output", default="build/mutate")
    parser.add_argument("--list", action="store_true", help="only count the mutants")
    parser.add_argument("--fast-only", action="store_true", help="no second tier (the Icarus benches)")
    parser.add_argument("--only", help="a results.json: run again only the mutants that survived there")
    parser.add_argument("--unwaived", action="store_true",
                        help="with --only: only the survivors that have no waiver")
    parser.add_argument("--skip", help="a results.json: run only the mutants it does not hold, and report "
                                       "them together with its results (a wider --sample after a narrower one)")
    parser.add_argument("--benches-only", action="store_true",
                        help="with --only: skip the fast tests the survivors already passed")
    args = parser.parse_args(argv)
    files = args.files or sorted(TESTS)
    unknown = [f for f in files if f not in TESTS]
    if unknown:
        print(f"mutate: no tests mapped for {', '.join(unknown)} (one of {', '.join(sorted(TESTS))})", file=sys.stderr)
        return 2
    if (args.unwaived or args.benches_only) and not args.only:
        print("mutate: --unwaived and --benches-only need --only RESULTS.json", file=sys.stderr)
        return 2
    earlier = {}
    for option in ("only", "skip"):
        path = getattr(args, option)
        if path:
            try:
                earlier[option] = json.loads(Path(path).read_text())["results"]
                for r in earlier[option]:
                    r["id"], r["outcome"]                  # every record names its mutant and outcome
            except (OSError, ValueError, KeyError, TypeError) as error:
                print(f"mutate: --{option} {path}: not a results.json of this tool ({error})", file=sys.stderr)
                return 2
    chosen = []
    again = None
    if args.only:
        waived = load_waivers() if args.unwaived else {}
        again = {r["id"] for r in earlier["only"] if r["outcome"] != "killed" and r["id"] not in waived}
    done = earlier.get("skip", [])
    for name in files:
        every = mutants_of(REPO / "hdl" / name)
        picked = sample(every, args.sample)
        if again is not None:
            picked = [mu for mu in picked if mu.id in again]
        picked = [mu for mu in picked if mu.id not in {r["id"] for r in done}]
        chosen += picked
        print(f"{name}: {len(every)} mutants, running {len(picked)}", file=sys.stderr)
    files = [f for f in files if any(mu.file == f for mu in chosen)]
    if args.list:
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    from synth.toolchain import warm_all
    warm_all()                 # compile each yowasp tool once before parallel runs (the SIGBUS race)
    works = [_scratch(out, i) for i in range(args.jobs)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        timings = dict(zip(files, pool.map(lambda f: baseline(f, works[files.index(f) % len(works)], args.timeout),
                                           files)))
    print("unmutated tests pass: " + ", ".join(f"{f} {t:.0f} s" for f, t in timings.items()), file=sys.stderr)
    free = list(works)
    results, start = [], time.monotonic()

    def one(mutant):
        work = free.pop()
        try:   # a mutant that loops forever (an adder tree that never shrinks) is killed by the timeout
            return run_mutant(mutant, work, min(args.timeout, 60 + 5 * timings[mutant.file]), not args.fast_only,
                              (2,) if args.benches_only else (1, 2))
        finally:
            free.append(work)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, result in enumerate(pool.map(one, chosen), 1):
            results.append(result)
            print(f"[{i}/{len(chosen)} {time.monotonic() - start:.0f} s] {result['outcome']:8s} {result['id']}",
                  file=sys.stderr, flush=True)
    for work in works:
        shutil.rmtree(work, ignore_errors=True)
    if args.only:                      # the earlier run's results with these mutants' new outcomes
        rerun = {r["id"]: r for r in results}
        results = [rerun.get(r["id"], r) for r in earlier["only"]]
    return report(done + results, out)


def report(results: list[dict], out: Path) -> int:
    waivers = load_waivers()
    sources = {f: (REPO / "hdl" / f).read_text() for f in {r["file"] for r in results}}
    lines = ["# Mutation testing of hdl/", "", "| file | mutants | killed | of which by the Icarus benches | survived | "
             "waived (equivalent) | kill rate |", "|---|---:|---:|---:|---:|---:|---:|"]
    total = killed = waived = 0
    for name in sorted(sources):
        rs = [r for r in results if r["file"] == name]
        k = sum(r["outcome"] == "killed" for r in rs)
        w = sum(r["outcome"] != "killed" and r["id"] in waivers for r in rs)
        total, killed, waived = total + len(rs), killed + k, waived + w
        rate = 100 * k / max(1, len(rs) - w)
        by_bench = sum(r.get("killed_by") == "Icarus benches" for r in rs)
        lines.append(f"| {name} | {len(rs)} | {k} | {by_bench} | {len(rs) - k - w} | {w} | {rate:.1f}% |")
    rate = 100 * killed / max(1, total - waived)
    lines += ["", f"**Kill rate {rate:.1f}%** ({killed} of {total - waived} non-equivalent mutants; {waived} waived "
              f"as equivalent; {100 * killed / max(1, total):.1f}% of all {total}).", ""]
    survivors = [r for r in results if r["outcome"] != "killed"]
    if survivors:
        lines += ["## Survivors", ""]
        for r in survivors:
            mutant = Mutant(r["file"], r["line"], r["operator"], r["before"], r["after"], r["start"], r["end"],
                            r.get("scope", ""), r.get("nth", 0))
            reason = waivers.get(r["id"])
            lines += [f"### `{r['id']}`" + (f" (waived: {reason})" if reason else " (NOT WAIVED)"), "", "```diff",
                      mutant.diff(sources[r["file"]]), "```", ""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"kill_rate": rate, "results": results}, indent=1) + "\n")
    print(text)
    unwaived = [r for r in survivors if r["id"] not in waivers]
    return 0 if rate >= 95 and not unwaived else 1


if __name__ == "__main__":
    sys.exit(main())
