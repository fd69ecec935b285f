"""The fp4hw command line: deterministic Verilog, Verilator lint, one-line errors with exit 2."""

import subprocess
import sys

import pytest

from fp4hw.cli import main
from synth.toolchain import activate_verilator
from verification.tiers import full


def fp4hw(*args, **kw):
    return subprocess.run([sys.executable, "-m", "fp4hw", *args], capture_output=True, text=True, **kw)


def test_verilog_is_byte_identical_across_runs(tmp_path):
    a, b = tmp_path / "a.v", tmp_path / "b.v"
    assert fp4hw("verilog", "decoder", "--fmt", "e2m1", "-o", str(a)).returncode == 0
    assert fp4hw("verilog", "decoder", "--fmt", "e2m1", "-o", str(b)).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert "module decoder(" in a.read_text()
    assert str(tmp_path) not in a.read_text()


@pytest.mark.verilator
@pytest.mark.parametrize("unit, args", [
    ("decoder", ["--fmt", "e2m1"]), ("decoder", ["--fmt", "e3m0", "--out", "fp32", "--lanes", "8"]),
    ("decoder", ["--fmt", "e2m1", "--lanes", "8", "--stages", "2", "--name", "dec8"]),
    ("decoder", ["--fmt", "e4m3", "--out", "bf16"]), ("decoder", ["--fmt", "e5m2"]),
    ("multiplier", ["--fmt", "e2m1", "--name", "fp4_mul"]), ("multiplier", ["--fmt", "e5m2", "--out", "fp32"]),
    ("multiplier", ["--fmt", "e4m3", "--lanes", "2", "--stages", "1"]),
    ("mac", []), ("mac", ["--rounding", "rtz", "--lanes", "2", "--stages", "1"]),
    ("scale_apply", []), ("scale_apply", ["--fmt", "nvfp4"]), ("scale_apply", ["--fmt", "mxfp8_e4m3", "--stages", "1"]),
    ("scale_apply", ["--mode", "value", "--input", "fp16"]), ("scale_apply", ["--fmt", "nvfp4", "--stages", "3"]),
    full("dot", ["--fmt", "mxfp4", "--lanes", "8", "--preset", "fast"]), full("dot", ["--lanes", "32", "--preset", "fast"]),
    ("multiplier", ["--fmt", "e4m3", "--stages", "3"]),
    full("quantizer", ["--lanes", "8"]), full("quantizer", ["--fmt", "nvfp4", "--input", "fp16", "--lanes", "4",
                                                              "--rounding", "stochastic"]),
    ("quantizer", ["--input", "bf16", "--scale-mode", "rceil", "--rounding", "rtz"]),
    ("loader", []), ("loader", ["--word-bits", "16", "--layout", "diagonal", "--compressed"]),
    ("loader", ["--word-bits", "128", "--compressed", "--scales", "e8m0", "--decode", "fp16"]),
    # make test lints one dot engine (the big models take 15-35 s each); the others in verify-full
    ("dot", ["--fmt", "mxfp4", "--lanes", "8"]), full("dot", ["--fmt", "nvfp4", "--lanes", "16"]),
    full("dot", ["--fmt", "mxfp8_e4m3", "--lanes", "8"]), full("dot", ["--lanes", "16", "--activations", "fp16"]),
    ("gemv", ["--lanes", "8", "--max-k", "1024"]),
])
def test_verilator_lint_shows_only_waived_width_warnings(unit, args, tmp_path):
    name = args[args.index("--name") + 1] if "--name" in args else unit
    path = tmp_path / f"{name}.v"                    # file named after the module (DECLFILENAME)
    assert main(["verilog", unit, *args, "-o", str(path)]) == 0
    # -Wall with exactly DESIGN's two waivers must be clean (the waivers silence only the two
    # WIDTH warnings, so every other warning is absent) ...
    lint = lint_clean(path)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr
    # ... and UNOPTFLAT (a wire feeding part of itself) only shows when Verilator schedules the model
    verilated = subprocess.run([activate_verilator(), "-cc", "--public-flat-rw", "-Wall", *WAIVERS,
                                "-Mdir", str(tmp_path / "obj"), str(path)], capture_output=True, text=True)
    assert verilated.returncode == 0, verilated.stderr


WAIVERS = ["-Wno-WIDTHTRUNC", "-Wno-WIDTHEXPAND"]            # DESIGN §2: these two and no others


def lint_clean(path):
    return subprocess.run([activate_verilator(), "--lint-only", "-Wall", *WAIVERS, str(path)],
                          capture_output=True, text=True)


@pytest.mark.verilator
def test_lint_check_fails_on_a_planted_warning(tmp_path):
    """The lint check fails on any warning but DESIGN's two waivers (here UNUSEDSIGNAL; a wire
    named *unused* would be exempt by Verilator's default, and --public-flat-rw hides it)."""
    path = tmp_path / "planted.v"
    path.write_text("module planted(input [3:0] a, output [3:0] y);\n  wire [3:0] dangling = a + 4'd1;\n"
                    "  assign y = a;\nendmodule\n")
    run = lint_clean(path)
    assert run.returncode != 0 and "UNUSEDSIGNAL" in run.stderr


@pytest.mark.parametrize("args, fragment", [
    (["verilog", "decoder", "--fmt", "e9m1"], "fmt='e9m1'"),
    (["verilog", "decoder", "--lanes", "0"], "lanes=0"),
    (["verilog", "decoder", "--lanes", "x"], "invalid int value"),
    (["verilog", "nosuchunit"], "unit='nosuchunit'"),
    (["verilog", "decoder", "--bogus"], "unrecognized arguments"),
    (["verilog", "decoder", "--name", "9bad"], "not a Verilog identifier"),
    (["verilog", "decoder", "--out", "fp8"], "out='fp8'"),
    (["synth", "decoder", "--stages", "-1"], "stages=-1"),
    (["verilog", "mac", "--rounding", "rna"], "rounding='rna'"),
    (["verilog", "decoder", "--rounding", "rtz"], "decoder does not take --rounding"),
    (["synth", "multiplier", "--lib", "tsmc"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, fragment, tmp_path):
    run = fp4hw(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and fragment in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_unwritable_outputs_give_one_line_and_exit_2(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    for args, fragment in ((["build", "-o", str(a_file)], "is a file"),
                           (["verilog", "decoder", "-o", str(tmp_path)], "is a folder")):
        run = fp4hw(*args)
        assert run.returncode == 2 and fragment in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert a_file.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_no_half_written_file(tmp_path):
    out = tmp_path / "x.v"
    assert fp4hw("verilog", "decoder", "--lanes", "0", "-o", str(out)).returncode == 2
    assert fp4hw("verilog", "decoder", "-o", str(tmp_path / "missing" / "x.v")).returncode == 2
    assert list(tmp_path.iterdir()) == []
