"""``fp4hw``: generate Verilog, synthesize for area, build the default report.

    fp4hw verilog UNIT [--fmt e2m1] [--out fp16] [--lanes N] [--stages N] [--name NAME] [-o FILE]
    fp4hw synth   UNIT [same unit options] [--json] [--lib generic|unit-gates|sg13g2]
                  [--corner typ|slow] [--clock-mhz F] [--traffic relu50|relu0|relu70|relu90|random|constant]
    fp4hw build   [-o build] [--jobs N]
    fp4hw report  [-o build/report] [--units UNIT ...] [--jobs N] [--timeout S] [--no-readme]
    fp4hw quantize IN.npy|IN.safetensors [--tensor NAME] --format mxfp4 -o OUT_DIR [--word-bits 32]
                   [--layout linear|diagonal] [--scale-mode floor] [--rounding rne] [--two-level]
    fp4hw dequantize OUT_DIR -o X.npy
    fp4hw analyze [--tensor normal|laplace|student_t|uniform|relu_sparse|FILE ...] [--name NAME]
                  [--schemes ...] [--rows R --cols C] [-o build/analysis]
    fp4hw claims  [-o docs/claims.md] [--cache build/cache]

    fp4hw --version

What the CLI promises (README "On bad input and interruption"):
- a bad argument, parameter or input file prints one line on stderr naming it and exits with
  status 2, never a traceback; a tool failure (Yosys, nextpnr) exits 1 with one line;
- an output is written whole or not at all: files are written beside the target and renamed into
  place, folders built beside the target and moved in; ``-o`` onto a symbolic link, device, FIFO
  or socket is refused; ``quantize -o DIR`` replaces DIR only when it holds exactly an earlier
  export; Ctrl-C (exit 130) leaves the previous output or nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message):                       # one line, exit 2 (no usage dump)
        raise _UsageError(f"{self.prog}: {message}")

    def parse_args(self, args=None, namespace=None):
        """As argparse, but an option given twice is an error (argparse keeps the last one
        silently; issue 33)."""
        argv = sys.argv[1:] if args is None else list(args)
        seen = set()
        for token in argv:
            if token == "--":
                break
            if token.startswith("-") and len(token) > 1 and not token[1].isdigit():
                name = token.split("=", 1)[0]
                if name in seen and name not in ("-h", "--help"):
                    self.error(f"{name} is given twice")
                seen.add(name)
        return super().parse_args(argv, namespace)


class _UsageError(Exception):
    pass


def _integer(text: str) -> int:
    """An integer in any Python base notation (``0x2545F491``, ``12345``)."""
    return int(text, 0)


_integer.__name__ = "integer"


def _add_unit_options(p):
    import synth
    p.add_argument("unit", help=f"one of {', '.join(synth.UNITS)}")
    p.add_argument("--fmt", help="element format: e2m1 (default), e1m2, e3m0, e4m3, e5m2; for scale_apply and "
                                 "quantizer a block format: mxfp4 (default), nvfp4, mxfp8_e4m3, mxfp8_e5m2")
    p.add_argument("--out", help="output form (decoder: fp16, bf16, fp32; multiplier: fixed, fp16, bf16, fp32)")
    p.add_argument("--acc", help="MAC accumulator format (fp16)")
    p.add_argument("--rounding", help="rne (default), rtz; quantizer also stochastic")
    p.add_argument("--mode", help="scale_apply: block (default) or value")
    p.add_argument("--input", help="scale_apply (value mode), quantizer: fp32 (default), bf16, fp16")
    p.add_argument("--scale-mode", dest="scale_mode", help="quantizer (MX): floor (default), ceil, even, rceil")
    p.add_argument("--sr-bits", dest="sr_bits", type=int, help="quantizer: random bits per element (8)")
    p.add_argument("--seed", type=_integer, help="quantizer: LFSR seed (default 0x2545F491)")
    p.add_argument("--word-bits", dest="word_bits", type=int, help="loader: bus word width W (16..512, default 32)")
    p.add_argument("--layout", help="loader: linear (default) or diagonal")
    p.add_argument("--compressed", action="store_const", const=True, help="loader: zero-word decompression")
    p.add_argument("--scales", help="loader: MX scale side stream, e8m0 or ue4m3")
    p.add_argument("--block", type=int, help="loader: elements per scale (32 default, or 16)")
    p.add_argument("--decode", help="loader: decode lanes to fp16, bf16 or fp32")
    p.add_argument("--activations", help="dot, gemv: mixed mode with fp16 or bf16 activations")
    p.add_argument("--max-k", dest="max_k", type=int, help="gemv: longest activation vector (4096)")
    p.add_argument("--lanes", type=int, help="parallel lanes (default 1)")
    p.add_argument("--stages", type=int, help="output register stages (default 0; loader: its token and beat registers, 0..2)")
    p.add_argument("--preset", help="dot: depth preset, fast (default: the 250 MHz depths) or unpipelined; "
                                     "gemv: its engine's (default unpipelined)")
    p.add_argument("--partials", type=int,
                   help="dot: interleaved FP32 partial sums (power of two; default the fewest the adder needs)")
    p.add_argument("--mul-stages", dest="mul_stages", type=int, help="dot: multiplier register stages (0..3)")
    p.add_argument("--tree-every", dest="tree_every", type=int,
                   help="dot: a register every N levels of the adder tree (0: none)")
    p.add_argument("--scale-stages", dest="scale_stages", type=int, help="dot: ScaleApply register stages (0..6)")
    p.add_argument("--add-stages", dest="add_stages", type=int, help="dot: FP32 accumulator adder stages (0..10)")
    p.add_argument("--load-stages", dest="load_stages", type=int,
                   help="dot: the loaders' token register (1), beat register (2) around the aligner, "
                        "the token register a skid buffer (3) (0..3)")
    p.add_argument("--name", help="top module name (default: the unit name)")


def _parser() -> _Parser:
    parser = _Parser(prog="fp4hw", description="FP4 arithmetic hardware generator")
    parser.add_argument("--version", action="version", version=f"fp4hw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("verilog", help="write a unit's Verilog")
    p.set_defaults(run=_verilog)
    _add_unit_options(p)
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p = sub.add_parser("synth", help="synthesize a unit with Yosys and print its area")
    p.set_defaults(run=_synth)
    _add_unit_options(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--lib", choices=["generic", "unit-gates", "sg13g2"], default="generic",
                   help="generic: Yosys generic gates + iCE40 (default); unit-gates: the {AND2, OR2, "
                        "XOR2, NOT1} library of public FP4-multiplier records; sg13g2: IHP SG13G2 standard "
                        "cells: area (µm²), OpenSTA timing, power and energy per operation")
    p.add_argument("--corner", choices=["typ", "slow"], help="sg13g2: corner of the reported path and power (typ)")
    p.add_argument("--clock-mhz", dest="clock_mhz", type=float,
                   help="sg13g2: clock for power and the mapping's delay target (default 100)")
    p.add_argument("--traffic", help="sg13g2: operands for power: relu50 (default; normal weights × ReLU "
                                     "activations with 50%% zeros), relu0, relu70, relu90, random, constant")
    p = sub.add_parser("build", help="the main job: Verilog and area report of the default units")
    p.set_defaults(run=_build)
    p.add_argument("-o", "--output", default="build", help="output folder (default: build)")
    p.add_argument("--jobs", type=int, help="parallel Yosys runs (default: the number of cores)")
    p = sub.add_parser("report", help="the full design-space area report (every unit, format and baseline)")
    p.set_defaults(run=_report)
    p.add_argument("-o", "--output", default="build/report", help="output folder (default: build/report)")
    p.add_argument("--units", nargs="+", metavar="UNIT", help="only these units of the sweep (default: all)")
    p.add_argument("--jobs", type=int, help="parallel Yosys runs (default: the number of cores)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per Yosys / nextpnr run (default 900)")
    p.add_argument("--cache", default="build/cache", help="synthesis cache folder (default: build/cache)")
    p.add_argument("--no-readme", action="store_true",
                   help="do not rewrite the headline block of ./README.md")
    p = sub.add_parser("quantize", help="a tensor file → packed codes + scales (.npy and $readmemh hex)")
    p.set_defaults(run=_quantize)
    p.add_argument("input", help=".npy or .safetensors file")
    p.add_argument("--tensor", help="the tensor's name in a .safetensors file")
    p.add_argument("--format", default="mxfp4", help="mxfp4 (default), nvfp4, mxfp8_e4m3, mxfp8_e5m2")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--word-bits", dest="word_bits", type=int, default=32, help="memory word width (default 32)")
    p.add_argument("--layout", default="linear", help="linear (default) or diagonal")
    p.add_argument("--scale-mode", dest="scale_mode", help="MX: floor (default), ceil, even, rceil")
    p.add_argument("--rounding", default="rne", help="rne (default), rtz, rna, stochastic")
    p.add_argument("--two-level", dest="two_level", action="store_true", help="nvfp4: add the FP32 per-tensor scale")
    p.add_argument("--seed", type=int, help="--rounding stochastic: random seed (default 0; recorded in meta.json)")
    p = sub.add_parser("dequantize", help="an export folder → float32 .npy")
    p.set_defaults(run=_dequantize)
    p.add_argument("input", help="folder written by fp4hw quantize")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p = sub.add_parser("analyze", help="quantization error of FP4 / FP8 / INT schemes on tensors")
    p.set_defaults(run=_analyze)
    p.add_argument("--tensor", nargs="+", help="synthetic distributions (normal, laplace, student_t, uniform, "
                                               "relu_sparse; default all) or .npy / .safetensors files")
    p.add_argument("--name", help="the tensor's name inside a .safetensors file")
    p.add_argument("--schemes", nargs="+", help="schemes (default: every MX, NVFP4, per-tensor and INT scheme)")
    p.add_argument("--rows", type=int, help="synthetic tensor rows (default 64)")
    p.add_argument("--cols", type=int, help="synthetic tensor columns (default 1024)")
    p.add_argument("--seed", type=int, help="synthetic tensors' random seed (default 0)")
    p.add_argument("-o", "--output", default="build/analysis", help="output folder (default build/analysis)")
    p = sub.add_parser("claims", help="regenerate docs/claims.md: the seed's claims against measurements")
    p.set_defaults(run=_claims)
    p.add_argument("-o", "--output", default="docs/claims.md", help="output file (default docs/claims.md)")
    p.add_argument("--cache", default="build/cache",
                   help="synthesis cache of the energy claims' design points (default: build/cache, the report's)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _unit_params(args) -> dict:
    return {k: getattr(args, k) for k in ("fmt", "out", "acc", "rounding", "lanes", "stages", "mode",
                                          "input", "scale_mode", "sr_bits", "seed", "word_bits", "layout",
                                          "compressed", "scales", "block", "decode", "activations", "max_k",
                                          "preset", "partials", "mul_stages", "tree_every", "scale_stages", "add_stages",
                                          "load_stages")}


def _component(args):
    import synth
    name = synth.check_module_name(args.unit if args.name is None else args.name)
    component = synth.build_unit(args.unit, **_unit_params(args))
    return component, name


def _verilog(args) -> int:
    import synth
    from synth import files
    if args.output:
        files.check_target(args.output)
    component, name = _component(args)
    text = synth.to_verilog(component, name)
    if args.output:
        files.write_text(args.output, text)
    elif sys.stdout is None:                   # started with stdout closed: nowhere to write
        raise ValueError("standard output is closed; give -o FILE")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()                     # a closed pipe fails here, inside main's handlers
    return 0


def _synth(args) -> int:
    import synth
    silicon = {"--corner": args.corner, "--clock-mhz": args.clock_mhz, "--traffic": args.traffic}
    given = [k for k, v in silicon.items() if v is not None]
    if given and args.lib != "sg13g2":
        raise ValueError(f"{', '.join(given)} applies to --lib sg13g2 only")
    if args.traffic is not None:
        from synth import traffic
        traffic.check_traffic(args.traffic)              # '' too: it is not the default
        params = {k: v for k, v in _unit_params(args).items() if v is not None}
        if not traffic.has_traffic(args.unit, params):
            raise ValueError(f"--traffic: {args.unit} with these parameters has no traffic model, so no power "
                             "is computed; leave --traffic out")
    component, name = _component(args)
    verilog = synth.to_verilog(component, name)
    if args.lib == "sg13g2":
        return _synth_sg13g2(args, verilog, name)
    if args.lib == "unit-gates":
        from synth.unit_gates import unit_gates
        metrics = unit_gates(verilog, name)
        metrics.pop("netlist")
        if args.json:
            print(json.dumps(metrics, indent=1, sort_keys=True))
        else:
            cells = ", ".join(f"{k}: {v}" for k, v in sorted(metrics["unit_cells"].items()))
            print(f"{name}: {metrics['unit_gates']} unit gates ({cells})")
        return 0
    metrics = synth.synthesize(verilog, name)
    if args.json:
        print(json.dumps(metrics, indent=1, sort_keys=True))
    else:
        plus = "+" if metrics["transistors_exclude_ffs"] else ""
        cells = ", ".join(f"{k.strip('$_')}: {v}" for k, v in sorted(metrics["generic_cells_by_type"].items()))
        print(f"{name}: generic cells {metrics['generic_cells']} ({cells})")
        print(f"{name}: transistors (stat -tech cmos) {metrics['transistors']}{plus}, depth {metrics['depth']}")
        print(f"{name}: iCE40 LUT4 {metrics['ice40_lut4']}, carry {metrics['ice40_carry']}, DFF {metrics['ice40_dff']}")
    return 0


def _synth_sg13g2(args, verilog: str, name: str) -> int:
    from synth import sg13g2, traffic
    from synth.points import NO_ALUMACC_UNITS
    params = {k: v for k, v in _unit_params(args).items() if v is not None}
    record = sg13g2.measure(args.unit, params, verilog, name, corner=args.corner or "typ",
                            alumacc=args.unit not in NO_ALUMACC_UNITS,
                            clock_mhz=sg13g2.DEFAULT_CLOCK_MHZ if args.clock_mhz is None else args.clock_mhz,
                            traffic=traffic.check_traffic(traffic.DEFAULT_TRAFFIC if args.traffic is None
                                                          else args.traffic))
    if args.json:
        print(json.dumps({"top": name, "sg13g2": record}, indent=1, sort_keys=True))
        return 0
    r = record
    print(f"{name}: SG13G2 area {r['area_um2']:,.1f} µm², {r['cells']} cells "
          f"(flip-flops {r['ff_area_um2']:,.1f} µm², {100 * r['ff_share']:.0f} %)")
    if "sta_error" in r:
        print(f"{name}: {r['sta_error']}")
    else:
        paths = r["critical_path_ns_by_corner"]
        print(f"{name}: critical path {paths['typ']} ns typ, {paths['slow']} ns slow; "
              f"Fmax {r['fmax_mhz']} MHz ({r['corner']})")
    if r.get("traffic") and "power_mw" in r:
        p = r["power_mw"]
        print(f"{name}: {p['total']:.4g} mW at {r['clock_mhz']:g} MHz on {r['traffic']} traffic (internal "
              f"{p['internal']:.4g}, switching {p['switching']:.4g}, leakage {p['leakage']:.3g}): "
              f"{r['energy_pj_per_op']:.4g} pJ per {r['operation']}")
    elif not r.get("traffic"):
        print(f"{name}: no traffic model for this unit: no power")
    return 0


def _check_jobs(args) -> None:
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs} must be at least 1")


def _summary(out: Path, records: list) -> int:
    failed = [r["name"] for r in records if "error" in r]
    print(f"wrote {out}/report.json, report.md, plots and verilog/ ({len(records)} design points"
          + (f"; {len(failed)} failed: {', '.join(failed[:5])}" if failed else "") + ")")
    return 1 if failed else 0


def _build(args) -> int:
    from synth import report
    from synth.files import check_target
    from .progress import Progress
    _check_jobs(args)
    out = check_target(args.output, kind="folder")
    bar = Progress()
    return _summary(out, report.build(out, jobs=args.jobs, progress=bar, log=bar.log))


def _report(args) -> int:
    from synth import report
    from synth.files import check_target
    from .progress import Progress
    _check_jobs(args)
    if not args.timeout > 0:
        raise ValueError(f"--timeout {args.timeout:g} must be positive")
    out = check_target(args.output, kind="folder")
    check_target(args.cache, kind="folder", option="--cache")
    points = report.select(report.SWEEP, args.units) if args.units else report.SWEEP
    command = "fp4hw report" + (f" --units {' '.join(args.units)}" if args.units else "")
    bar = Progress()
    records = report.sweep(points, out, jobs=args.jobs, cache_dir=args.cache, timeout=args.timeout, command=command,
                           readme=None if args.no_readme else Path("README.md"), progress=bar, log=bar.log)
    return _summary(out, records)


def _quantize(args) -> int:
    from . import export
    from .tensor_io import load_tensor
    fmt = str(args.format).lower()
    if args.scale_mode is not None and fmt == "nvfp4":
        raise ValueError("--scale-mode applies to MX formats; nvfp4's block scale is amax / 6 (RNE to UE4M3)")
    if args.tensor is not None and args.tensor == "":
        raise ValueError("--tensor needs a tensor name")
    export.check_export_target(args.output)              # before the (long) quantization
    x = load_tensor(args.input, args.tensor)
    meta = export.export(x, Path(args.output), args.format, word_bits=args.word_bits, layout=args.layout,
                         scale_mode=args.scale_mode or "floor", rounding=args.rounding, two_level=args.two_level,
                         seed=args.seed)
    print(f"wrote {args.output}/: {meta['words']} words of {meta['word_bits']} bits (words.hex), "
          f"{meta['blocks']} scales (scales.hex), codes.npy, scales.npy, image.npy, meta.json")
    return 0


def _dequantize(args) -> int:
    import numpy as np
    from synth import files
    from . import export
    out = files.check_target(args.output)
    if out.suffix != ".npy":
        raise ValueError(f"-o {args.output}: name a .npy file")
    values = export.dequantize_dir(Path(args.input))
    with files.open_atomic(out, "wb") as f:
        np.save(f, values, allow_pickle=False)
    print(f"wrote {out}: float32 {tuple(values.shape)}")
    return 0


def _analyze(args) -> int:
    import numpy as np
    from golden import analysis, analysis_report
    from synth import files
    from .progress import Progress
    from .tensor_io import load_tensor
    items = list(args.tensor or analysis.DISTRIBUTIONS)
    for item in items:
        if item not in analysis.DISTRIBUTIONS and not item.endswith((".npy", ".safetensors")):
            raise ValueError(f"--tensor {item!r} is not a distribution ({', '.join(analysis.DISTRIBUTIONS)}) "
                             "or a .npy / .safetensors file")
        if items.count(item) > 1:
            raise ValueError(f"--tensor {item!r} is given twice")
    paths = [item for item in items if item not in analysis.DISTRIBUTIONS]
    # options that would be silently ignored (issue 33)
    if not any(item.endswith(".safetensors") for item in paths) and args.name is not None:
        raise ValueError("--name picks a tensor inside a .safetensors file; no .safetensors file is given")
    given = [f"--{k}" for k in ("rows", "cols", "seed") if getattr(args, k) is not None]
    if len(paths) == len(items) and given:
        raise ValueError(f"{', '.join(given)} shape the synthetic tensors; with only files given they would be ignored")
    rows, cols, seed = (64 if args.rows is None else args.rows, 1024 if args.cols is None else args.cols,
                        0 if args.seed is None else args.seed)
    if rows < 1 or cols < 1:
        raise ValueError("--rows and --cols must be positive")
    if rows * cols > 1 << 26:
        raise ValueError(f"--rows {rows} × --cols {cols} is over 2^26 elements; take a smaller tensor")
    out = files.check_target(args.output, kind="folder")
    # a file is labelled by its name, or by its path as given where two files share a name
    names = [Path(item).name for item in paths]
    tensors = {}
    for item in items:
        if item in analysis.DISTRIBUTIONS:
            tensors[item] = analysis.synthetic(item, (rows, cols), seed)
        else:
            label = Path(item).name if names.count(Path(item).name) == 1 else item
            tensors[label] = load_tensor(item, args.name)
            finite = np.isfinite(tensors[label])
            if not finite.all():
                first = tuple(int(i[0]) for i in np.nonzero(~finite)) if finite.ndim else ()
                raise ValueError(f"--tensor {item}: {int((~finite).sum())} NaN or Inf values (first at index "
                                 f"{first}); the error analysis needs finite values")
            if not np.any(tensors[label]):
                raise ValueError(f"--tensor {item}: every value is zero, so every scheme is exact and its "
                                 "error ratios (SQNR) are undefined; nothing to analyze")
    for name in args.schemes or []:
        analysis.scheme(name)
    bar = Progress("analyze")
    results = analysis_report.analyze_tensors(tensors, args.schemes, progress=bar)
    with files.staging(out) as work:
        from synth.plots import write_analysis_plots
        written = analysis_report.write_analysis(results, work / "out", "fp4hw analyze " + " ".join(sys.argv[2:]),
                                                 log=bar.log, plots=write_analysis_plots)
        files.publish(work / "out", out, written)      # its own files only: the user's stay (issue 33)
    print(f"wrote {out}/: {', '.join(written)}")
    return 0


def _claims(args) -> int:
    from golden import analysis_report
    from synth import files
    from .progress import Progress
    from synth import energy_claims
    files.check_target(args.output)
    files.check_target(args.cache, kind="folder", option="--cache")
    text = analysis_report.claims(args.seed, progress=Progress("claims"))
    energy = energy_claims.claims_data(args.cache, progress=Progress("energy claims (SG13G2)"))
    text = text.rstrip() + "\n\n" + energy_claims.render(energy)
    files.write_text(args.output, text)
    print(f"wrote {args.output}")
    return 0


def _one_line(error) -> str:
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    return lines[0] if lines else type(error).__name__


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like SIGINT's KeyboardInterrupt, so that the
    same clean-up runs: staging folders removed, child processes ended (subprocess kills its
    child on any exception), earlier outputs left in place."""

    def __init__(self, number: int):
        super().__init__(number)
        self.number = number


def _terminate(number, frame):
    raise _Terminated(number)


def _handle_termination() -> dict:
    """SIGTERM and SIGHUP end a run as SIGINT does (issue 33: they killed it mid-write). Only
    the main thread can set handlers (an in-process caller on another thread keeps its own)."""
    import signal
    import threading
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) == signal.SIG_DFL:
                previous[number] = signal.signal(number, _terminate)
    return previous


def main(argv=None) -> int:
    import signal
    previous = _handle_termination()
    try:
        return _main(argv)
    finally:                                            # an in-process caller gets its handlers back
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv) -> int:
    import os
    from synth.toolchain import ToolFailed, ToolMissing
    if sys.stderr is None:       # started with stderr closed: print(file=None) would write to stdout,
        sys.stderr = open(os.devnull, "w")       # i.e. into the Verilog a user redirected there (issue 33)
    import warnings
    try:
        args = _parser().parse_args(argv)
        with warnings.catch_warnings():   # the CLI speaks in its own lines, not numpy's or matplotlib's (issue 33)
            warnings.simplefilter("ignore")
            return args.run(args)
    except SystemExit as done:                         # --version, --help
        return done.code if isinstance(done.code, int) else 0
    except _UsageError as error:
        print(_one_line(error), file=sys.stderr)
        return 2
    except (ValueError, ToolMissing) as error:          # ParameterTypeError is a ValueError too
        print(f"fp4hw: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("fp4hw: error: out of memory (the input is too large for this machine)", file=sys.stderr)
        return 2
    except BrokenPipeError:                             # the reader of stdout went away (| head)
        sys.stdout = open(os.devnull, "w")             # nothing more to flush at exit
        return 141
    except OSError as error:                           # a path that cannot be read or written
        where = f" {error.filename}" if error.filename else ""
        print(f"fp4hw: error: cannot access{where} ({error.strerror or _one_line(error)})", file=sys.stderr)
        return 2
    except _Terminated as stop:
        import signal
        name = signal.Signals(stop.number).name
        print(f"fp4hw: stopped by {name}; earlier outputs are left as they were", file=sys.stderr)
        return 128 + stop.number
    except KeyboardInterrupt:
        print("fp4hw: interrupted; earlier outputs are left as they were", file=sys.stderr)
        return 130
    except ToolFailed as error:
        print(f"fp4hw: error: {_one_line(error)}", file=sys.stderr)
        return 1
