"""``fp4hw``: generate Verilog, synthesize for area, build the default report.

    fp4hw verilog UNIT [--fmt e2m1] [--out fp16] [--lanes N] [--stages N] [--name NAME] [-o FILE]
    fp4hw synth   UNIT [same unit options] [--json] [--lib generic|unit-gates]
    fp4hw build   [-o build]

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
    if args.command == "build":
        from synth.report import build
        if Path(args.output).exists() and not Path(args.output).is_dir():
            raise ValueError(f"-o {args.output} is a file; build writes a folder")
        records = build(args.output)
        print(f"wrote {args.output}/verilog/*.v and {args.output}/report.md ({len(records)} design points)")
        return 1 if any("error" in r for r in records) else 0
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
