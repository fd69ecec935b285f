"""``fp4hw``: generate Verilog, synthesize for area, build the default report.

    fp4hw verilog UNIT [--fmt e2m1] [--out fp16] [--lanes N] [--stages N] [--name NAME] [-o FILE]
    fp4hw synth   UNIT [same unit options] [--json] [--lib generic|unit-gates]
    fp4hw build   [-o build] [--jobs N]
    fp4hw report  [-o build/report] [--units UNIT ...] [--jobs N] [--timeout S] [--no-readme]
    fp4hw quantize IN.npy|IN.safetensors [--tensor NAME] --format mxfp4 -o OUT_DIR [--word-bits 32]
                   [--layout linear|diagonal] [--scale-mode floor] [--rounding rne] [--two-level]
    fp4hw dequantize OUT_DIR -o X.npy
    fp4hw analyze [--tensor normal|laplace|student_t|uniform|relu_sparse|FILE ...] [--name NAME]
                  [--schemes ...] [--rows R --cols C] [-o build/analysis]
    fp4hw claims  [-o docs/claims.md]

Bad arguments or parameters print one line on stderr and exit with status 2; an output file is
written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .toolchain import ToolMissing


class _Parser(argparse.ArgumentParser):
    def error(self, message):                       # one line, exit 2 (no usage dump)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _integer(text: str) -> int:
    """An integer in any Python base notation (``0x2545F491``, ``12345``)."""
    return int(text, 0)


_integer.__name__ = "integer"


def _add_unit_options(p):
    import hdl
    p.add_argument("unit", help=f"one of {', '.join(hdl.UNITS)}")
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
    p.add_argument("--stages", type=int, help="output register stages (default 0)")
    p.add_argument("--name", help="top module name (default: the unit name)")


def _parser() -> _Parser:
    parser = _Parser(prog="fp4hw", description="FP4 arithmetic hardware generator")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("verilog", help="write a unit's Verilog")
    _add_unit_options(p)
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p = sub.add_parser("synth", help="synthesize a unit with Yosys and print its area")
    _add_unit_options(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--lib", choices=["generic", "unit-gates"], default="generic",
                   help="generic: Yosys generic gates + iCE40 (default); unit-gates: the {AND2, OR2, "
                        "XOR2, NOT1} library of public FP4-multiplier records")
    p = sub.add_parser("build", help="the main job: Verilog and area report of the default units")
    p.add_argument("-o", "--output", default="build", help="output folder (default: build)")
    p.add_argument("--jobs", type=int, help="parallel Yosys runs (default: the number of cores)")
    p = sub.add_parser("report", help="the full design-space area report (every unit, format and baseline)")
    p.add_argument("-o", "--output", default="build/report", help="output folder (default: build/report)")
    p.add_argument("--units", nargs="+", metavar="UNIT", help="only these units of the sweep (default: all)")
    p.add_argument("--jobs", type=int, help="parallel Yosys runs (default: the number of cores)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per Yosys / nextpnr run (default 900)")
    p.add_argument("--cache", default="build/cache", help="synthesis cache folder (default: build/cache)")
    p.add_argument("--no-readme", action="store_true",
                   help="do not rewrite the headline block of ./README.md")
    p = sub.add_parser("quantize", help="a tensor file → packed codes + scales (.npy and $readmemh hex)")
    p.add_argument("input", help=".npy or .safetensors file")
    p.add_argument("--tensor", help="the tensor's name in a .safetensors file")
    p.add_argument("--format", default="mxfp4", help="mxfp4 (default), nvfp4, mxfp8_e4m3, mxfp8_e5m2")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--word-bits", dest="word_bits", type=int, default=32, help="memory word width (default 32)")
    p.add_argument("--layout", default="linear", help="linear (default) or diagonal")
    p.add_argument("--scale-mode", dest="scale_mode", default="floor", help="MX: floor (default), ceil, even, rceil")
    p.add_argument("--rounding", default="rne", help="rne (default), rtz, rna, stochastic")
    p.add_argument("--two-level", dest="two_level", action="store_true", help="nvfp4: add the FP32 per-tensor scale")
    p = sub.add_parser("dequantize", help="an export folder → float32 .npy")
    p.add_argument("input", help="folder written by fp4hw quantize")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p = sub.add_parser("analyze", help="quantization error of FP4 / FP8 / INT schemes on tensors")
    p.add_argument("--tensor", nargs="+", help="synthetic distributions (normal, laplace, student_t, uniform, "
                                               "relu_sparse; default all) or .npy / .safetensors files")
    p.add_argument("--name", help="the tensor's name inside a .safetensors file")
    p.add_argument("--schemes", nargs="+", help="schemes (default: every MX, NVFP4, per-tensor and INT scheme)")
    p.add_argument("--rows", type=int, default=64, help="synthetic tensor rows (default 64)")
    p.add_argument("--cols", type=int, default=1024, help="synthetic tensor columns (default 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="build/analysis", help="output folder (default build/analysis)")
    p = sub.add_parser("claims", help="regenerate docs/claims.md: the seed's claims against measurements")
    p.add_argument("-o", "--output", default="docs/claims.md", help="output file (default docs/claims.md)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _component(args):
    import hdl
    params = {k: getattr(args, k) for k in ("fmt", "out", "acc", "rounding", "lanes", "stages", "mode",
                                            "input", "scale_mode", "sr_bits", "seed", "word_bits", "layout",
                                            "compressed", "scales", "block", "decode", "activations", "max_k")}
    component = hdl.build_unit(args.unit, **params)
    name = hdl.units.check_module_name(args.name or args.unit)
    return component, name


def _write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ValueError(f"-o {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"-o {path} is a folder; name a file")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class _atomic_binary:
    """A binary file written whole or not at all (a temporary file renamed into place)."""

    def __init__(self, path: Path):
        self._path = Path(path)
        if not self._path.parent.exists():
            raise ValueError(f"-o {path}: folder {self._path.parent} does not exist")

    def __enter__(self):
        fd, self._tmp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        self._file = os.fdopen(fd, "wb")
        return self._file

    def __exit__(self, kind, value, tb):
        self._file.close()
        if kind is None:
            os.replace(self._tmp, self._path)
        else:
            os.unlink(self._tmp)
        return False


def _run(args) -> int:
    import hdl
    if args.command == "verilog":
        component, name = _component(args)
        text = hdl.to_verilog(component, name)
        if args.output:
            _write_atomic(Path(args.output), text)
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "synth":
        import synth
        component, name = _component(args)
        if args.lib == "unit-gates":
            from synth.unit_gates import unit_gates
            metrics = unit_gates(hdl.to_verilog(component, name), name)
            metrics.pop("netlist")
            if args.json:
                print(json.dumps(metrics, indent=1, sort_keys=True))
            else:
                cells = ", ".join(f"{k}: {v}" for k, v in sorted(metrics["unit_cells"].items()))
                print(f"{name}: {metrics['unit_gates']} unit gates ({cells})")
            return 0
        metrics = synth.synthesize(hdl.to_verilog(component, name), name)
        if args.json:
            print(json.dumps(metrics, indent=1, sort_keys=True))
        else:
            plus = "+" if metrics["transistors_exclude_ffs"] else ""
            cells = ", ".join(f"{k.strip('$_')}: {v}" for k, v in sorted(metrics["generic_cells_by_type"].items()))
            print(f"{name}: generic cells {metrics['generic_cells']} ({cells})")
            print(f"{name}: transistors (stat -tech cmos) {metrics['transistors']}{plus}, depth {metrics['depth']}")
            print(f"{name}: iCE40 LUT4 {metrics['ice40_lut4']}, carry {metrics['ice40_carry']}, DFF {metrics['ice40_dff']}")
        return 0
    if args.command in ("build", "report"):
        from synth import report
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {args.output} is a file; {args.command} writes a folder")
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs {args.jobs} must be at least 1")
        if args.command == "build":
            records = report.build(out, jobs=args.jobs)
        else:
            if args.timeout <= 0:
                raise ValueError(f"--timeout {args.timeout:g} must be positive")
            points = report.select(report.SWEEP, args.units) if args.units else report.SWEEP
            command = "fp4hw report" + (f" --units {' '.join(args.units)}" if args.units else "")
            records = report.sweep(points, out, jobs=args.jobs, cache_dir=args.cache, timeout=args.timeout,
                                   command=command, readme=None if args.no_readme else Path("README.md"))
        failed = [r["name"] for r in records if "error" in r]
        print(f"wrote {out}/report.json, report.md, plots and verilog/ ({len(records)} design points"
              + (f"; {len(failed)} failed: {', '.join(failed[:5])}" if failed else "") + ")")
        return 1 if failed else 0
    if args.command == "quantize":
        from . import export
        from .tensor_io import load_tensor
        x = load_tensor(args.input, args.tensor)
        meta = export.export(x, Path(args.output), args.format, word_bits=args.word_bits, layout=args.layout,
                             scale_mode=args.scale_mode, rounding=args.rounding, two_level=args.two_level)
        print(f"wrote {args.output}/: {meta['words']} words of {meta['word_bits']} bits (words.hex), "
              f"{meta['blocks']} scales (scales.hex), codes.npy, scales.npy, image.npy, meta.json")
        return 0
    if args.command == "dequantize":
        import numpy as np
        from . import export
        values = export.dequantize_dir(Path(args.input))
        out = Path(args.output)
        if out.suffix != ".npy":
            raise ValueError(f"-o {args.output}: name a .npy file")
        with _atomic_binary(out) as f:
            np.save(f, values, allow_pickle=False)
        print(f"wrote {out}: float32 {tuple(values.shape)}")
        return 0
    if args.command == "analyze":
        from golden import analysis
        from . import analysis_report
        from .tensor_io import load_tensor
        if args.rows < 1 or args.cols < 1:
            raise ValueError("--rows and --cols must be positive")
        tensors = {}
        for item in args.tensor or analysis.DISTRIBUTIONS:
            if item in analysis.DISTRIBUTIONS:
                tensors[item] = analysis.synthetic(item, (args.rows, args.cols), args.seed)
            elif item.endswith((".npy", ".safetensors")):
                tensors[Path(item).name] = load_tensor(item, args.name)
            else:
                raise ValueError(f"--tensor {item!r} is not a distribution ({', '.join(analysis.DISTRIBUTIONS)}) "
                                 "or a .npy / .safetensors file")
        for name in args.schemes or []:
            analysis.scheme(name)
        results = analysis_report.analyze_tensors(tensors, args.schemes)
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {args.output} is a file; analyze writes a folder")
        written = analysis_report.write_analysis(results, out, "fp4hw analyze " + " ".join(sys.argv[2:]))
        print(f"wrote {out}/: {', '.join(written)}")
        return 0
    if args.command == "claims":
        from . import analysis_report
        text = analysis_report.claims(args.seed)
        _write_atomic(Path(args.output), text)
        print(f"wrote {args.output}")
        return 0
    raise AssertionError(args.command)


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        return _run(args)
    except _UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (ValueError, ToolMissing) as error:
        print(f"fp4hw: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:                           # an output path that cannot be written
        where = f": {error.filename}" if error.filename else ""
        print(f"fp4hw: error: cannot write output{where} ({error.strerror or error})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:                         # synthesis failures and the like
        from synth.yosys import SynthError
        if isinstance(error, SynthError):
            print(f"fp4hw: error: {error}", file=sys.stderr)
            return 1
        raise
