"""Issue 16: every bad input is one line naming the file or argument (exit 2, no traceback);
outputs are never half-written and never destroy what was there; nothing is silently ignored.

Each class of defect the issue names has a regression test here, plus hypothesis fuzzing of
safetensors headers, ``.npy`` headers, ``meta.json`` edits and argv. Every check goes through
``fp4hw.cli.main`` as a user's command line would, and asserts the exit status, a single stderr
line, no traceback, nothing left behind and nothing changed.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fp4hw.cli import main

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(capsys, *argv):
    """(exit status, stderr lines) of one command; it must not raise (a traceback)."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, [ln for ln in captured.err.splitlines() if ln.strip()]


def one_line_error(capsys, *argv, mentions=()):
    status, err = run(capsys, *argv)
    assert status == 2, (argv, err)
    assert len(err) == 1 and "Traceback" not in err[0], err
    for text in mentions:
        assert text in err[0], (text, err[0])
    return err[0]


def snapshot(folder):
    """Every path below ``folder`` with its bytes (folders as None)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = None
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = open(path, "rb").read() if os.path.isfile(path) else "special"
    return out


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


# --- safetensors -----------------------------------------------------------------------------

GOOD = {"t": {"dtype": "F32", "shape": [2, 32], "data_offsets": [0, 256]}}


@pytest.mark.parametrize("entry, words", [
    ("not an object", "not an object"),
    ({"dtype": 7, "shape": [2, 32], "data_offsets": [0, 256]}, "dtype"),
    ({"dtype": "F99", "shape": [2, 32], "data_offsets": [0, 256]}, "unsupported dtype"),
    ({"dtype": "F32", "shape": "2x32", "data_offsets": [0, 256]}, "shape"),
    ({"dtype": "F32", "shape": [2, -32], "data_offsets": [0, 256]}, "shape"),
    ({"dtype": "F32", "shape": [2, 32.5], "data_offsets": [0, 256]}, "shape"),
    ({"dtype": "F32", "shape": [2, 32], "data_offsets": [0]}, "data_offsets"),
    ({"dtype": "F32", "shape": [2, 32], "data_offsets": [0, 10 ** 12]}, "outside"),
    ({"dtype": "F32", "shape": [2, 32], "data_offsets": [-8, 248]}, "outside"),
    ({"dtype": "F32", "shape": [2, 32], "data_offsets": [0, 128]}, "needs 256"),
    ({"dtype": "F32", "shape": [10 ** 9, 10 ** 9], "data_offsets": [0, 256]}, "needs"),
    ({"shape": [2, 32], "data_offsets": [0, 256]}, "dtype"),
])
def test_safetensors_header_fields_are_checked_before_use(tmp_path, capsys, entry, words):
    src = tmp_path / "w.safetensors"
    src.write_bytes(safetensors_bytes({"t": entry}, bytes(256)))
    one_line_error(capsys, "quantize", src, "-o", tmp_path / "out", mentions=(str(src), words))
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


@FUZZ
@given(header=st.dictionaries(st.text(max_size=5), st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12), max_size=3), size=st.integers(0, 600))
def test_fuzzed_safetensors_headers_fail_in_one_line_and_leave_nothing(tmp_path_factory, header, size):
    tmp = tmp_path_factory.mktemp("st")
    src = tmp / "x.safetensors"
    src.write_bytes(safetensors_bytes(header, bytes(size)))
    status = main(["quantize", str(src), "-o", str(tmp / "out")])
    assert status in (0, 2)                      # all-zero float data can be a valid tensor
    if status == 2:
        assert not (tmp / "out").exists()
    assert {p.name for p in tmp.iterdir()} <= {"x.safetensors", "out"}


# --- .npy ------------------------------------------------------------------------------------

def npy_with_header(path, shape, dtype="<f4", data=b""):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data)


def test_npy_promising_more_data_than_it_holds_is_refused_before_allocating(tmp_path, capsys):
    src = tmp_path / "big.npy"
    npy_with_header(src, (10 ** 6, 10 ** 6), data=bytes(64))     # 4 TB promised, 64 bytes held
    one_line_error(capsys, "quantize", src, "-o", tmp_path / "out", mentions=(str(src), "truncated"))
    assert not (tmp_path / "out").exists()


@FUZZ
@given(shape=st.lists(st.integers(-3, 2 ** 40), max_size=3).map(tuple),
       dtype=st.sampled_from(["<f4", "<f8", "<f2", "|O", "<i4", "<c8", "V8", "bogus"]),
       data=st.binary(max_size=300))
def test_fuzzed_npy_headers_fail_in_one_line(tmp_path_factory, shape, dtype, data):
    tmp = tmp_path_factory.mktemp("npy")
    src = tmp / "x.npy"
    npy_with_header(src, shape, dtype, data)
    status = main(["quantize", str(src), "-o", str(tmp / "out")])
    assert status in (0, 2)
    assert {p.name for p in tmp.iterdir()} <= {"x.npy", "out"}


# --- dequantize: meta.json and the hex images --------------------------------------------------

@pytest.fixture
def export_dir(tmp_path):
    src = tmp_path / "w.npy"
    np.save(src, np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32))
    assert main(["quantize", str(src), "-o", str(tmp_path / "exp")]) == 0
    return tmp_path / "exp"


BAD_META = [("format", "mxfp9"), ("format", 4), ("word_bits", 33), ("word_bits", "32"), ("word_bits", True),
            ("shape", [3, -64]), ("shape", []), ("shape", "3x64"), ("padded_shape", [3, 65]),
            ("padded_shape", [10 ** 9, 10 ** 9]), ("layout", "spiral"), ("layout", "diagonal"), ("words", 10 ** 12),
            ("words", -1), ("blocks", "6"), ("blocks", 7), ("tensor_scale", -1.0), ("tensor_scale", "big"),
            ("element_bits", 8), ("rounding", 3)]


@pytest.mark.parametrize("field, value", BAD_META, ids=[f"{f}={v!r}"[:30] for f, v in BAD_META])
def test_every_meta_json_field_is_checked_and_the_file_named(export_dir, tmp_path, capsys, field, value):
    meta = json.loads((export_dir / "meta.json").read_text())
    meta[field] = value
    (export_dir / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "x.npy"
    line = one_line_error(capsys, "dequantize", export_dir, "-o", out, mentions=("meta.json",))
    assert field in line or "word" in line
    assert not out.exists()


@FUZZ
@given(edits=st.dictionaries(st.sampled_from(["format", "shape", "padded_shape", "word_bits", "layout", "words",
                                               "blocks", "tensor_scale", "element_bits", "scale_mode"]),
                             st.none() | st.integers(-5, 2 ** 40) | st.text(max_size=8) | st.floats()
                             | st.lists(st.integers(-2, 2 ** 33), max_size=3), min_size=1, max_size=3))
def test_fuzzed_meta_json_edits(tmp_path_factory, edits):
    tmp = tmp_path_factory.mktemp("meta")
    src = tmp / "w.npy"
    np.save(src, np.linspace(-3, 3, 128, dtype=np.float32).reshape(2, 64))
    assert main(["quantize", str(src), "-o", str(tmp / "exp")]) == 0
    meta = json.loads((tmp / "exp" / "meta.json").read_text())
    meta.update(edits)
    (tmp / "exp" / "meta.json").write_text(json.dumps(meta))
    status = main(["dequantize", str(tmp / "exp"), "-o", str(tmp / "x.npy")])
    assert status in (0, 2)
    assert (tmp / "x.npy").exists() == (status == 0)


@pytest.mark.parametrize("content", [b"\x00\x01\x02\x03" * 8, "ünïcödé\n".encode("latin-1"), b"zz\n" * 6])
def test_binary_or_non_text_words_hex_is_one_line(export_dir, tmp_path, capsys, content):
    (export_dir / "words.hex").write_bytes(content)
    one_line_error(capsys, "dequantize", export_dir, "-o", tmp_path / "x.npy", mentions=("words.hex",))
    assert not (tmp_path / "x.npy").exists()


# --- outputs ---------------------------------------------------------------------------------

def special_target(tmp_path, kind):
    """A symlink, FIFO or character device (a copy of /dev/null's node, made in ``tmp_path``:
    the test must not be able to destroy the machine's /dev/null if the refusal regresses)."""
    target = tmp_path / f"target-{kind}"
    if kind == "symlink":
        (tmp_path / "real.v").write_text("keep")
        target.symlink_to(tmp_path / "real.v")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return target


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device"])
def test_output_onto_a_symlink_fifo_or_device_is_refused(tmp_path, capsys, kind):
    target = special_target(tmp_path, kind)
    before = os.stat(target, follow_symlinks=False)
    one_line_error(capsys, "verilog", "decoder", "-o", target, mentions=(str(target),))
    after = os.stat(target, follow_symlinks=False)
    assert (before.st_ino, before.st_mode, before.st_rdev) == (after.st_ino, after.st_mode, after.st_rdev)
    if kind == "symlink":
        assert (tmp_path / "real.v").read_text() == "keep"


def test_dequantize_onto_a_device_is_refused(export_dir, tmp_path, capsys):
    target = special_target(tmp_path, "device")
    one_line_error(capsys, "dequantize", export_dir, "-o", target)
    assert stat.S_ISCHR(os.stat(target).st_mode)


def test_quantize_replaces_only_its_own_export(export_dir, tmp_path, capsys):
    src = tmp_path / "w.npy"
    before = snapshot(export_dir)
    assert main(["quantize", str(src), "-o", str(export_dir), "--rounding", "rtz"]) == 0     # its own: replaced
    assert json.loads((export_dir / "meta.json").read_text())["rounding"] == "rtz"
    (export_dir / "notes.txt").write_text("mine")                                       # now not only ours
    before = snapshot(export_dir)
    one_line_error(capsys, "quantize", src, "-o", export_dir, mentions=("not an fp4hw export",))
    assert snapshot(export_dir) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "meta.json").write_text("{}")                                               # meta.json alone is not enough
    one_line_error(capsys, "quantize", src, "-o", other, mentions=("not an fp4hw export",))
    assert snapshot(other) == {"meta.json": b"{}"}


def test_a_failed_rename_removes_its_temporary_file(tmp_path, capsys, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", refuse)
    status, err = run(capsys, "verilog", "decoder", "-o", tmp_path / "d.v")
    assert status == 2 and len(err) == 1
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["verilog", "decoder", "-o", str(tmp_path / "d.v")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "d.v").st_mode) == 0o644


def test_interrupted_analyze_leaves_the_previous_output(tmp_path, capsys, monkeypatch):
    from golden import analysis_report
    out = tmp_path / "analysis"
    args = ["analyze", "--tensor", "normal", "--schemes", "mxfp4", "--rows", "4", "--cols", "64", "-o", str(out)]
    assert main(args) == 0
    before = snapshot(out)
    real = analysis_report.write_analysis

    def interrupted(results, folder, command, log=None, plots=None):
        real(results, folder, command, log, plots)          # everything written, then Ctrl-C
        raise KeyboardInterrupt
    monkeypatch.setattr(analysis_report, "write_analysis", interrupted)
    assert main(args) == 130
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]          # no staging left


def test_interrupted_report_leaves_the_previous_report(tmp_path, monkeypatch):
    from synth import report
    points = [("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 3})]        # fails fast: no tool runs
    out = tmp_path / "r"
    report.sweep(points, out, jobs=1, cache_dir=tmp_path / "cache")
    (out / "cache-like-neighbour").mkdir()                                     # not the report's: kept
    before = snapshot(out)

    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    from synth import tables
    monkeypatch.setattr(tables, "markdown_table", interrupted)          # inside write_report, before publish
    with pytest.raises(KeyboardInterrupt):
        report.sweep(points, out, jobs=1, cache_dir=tmp_path / "cache")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "r"]


# --- nothing silently ignored --------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["verilog", "loader", "--block", "16"], "--scales"),
    (["verilog", "quantizer", "--sr-bits", "4"], "stochastic"),
    (["verilog", "quantizer", "--seed", "5", "--rounding", "rtz"], "stochastic"),
    (["verilog", "scale_apply", "--input", "fp16"], "--mode value"),
    (["verilog", "quantizer", "--fmt", "nvfp4", "--scale-mode", "floor"], "MX formats"),
    (["verilog", "loader", "--fmt", "e1m2"], "--decode"),
    (["verilog", "decoder", "--name", ""], "identifier"),
    (["verilog", "decoder", "--name", "module"], "reserved"),
    (["verilog", "decoder", "--name", "logic"], "reserved"),
    (["verilog", "decoder", "--name", "dec\n"], "identifier"),
    (["verilog", "decoder", "--name", "9lives"], "identifier"),
    (["verilog", "mac", "--word-bits", "32"], "does not take"),
])
def test_options_a_unit_would_ignore_are_refused(capsys, argv, words):
    one_line_error(capsys, *argv, mentions=(words,))


def test_quantize_nvfp4_with_a_scale_mode_is_refused(tmp_path, capsys):
    src = tmp_path / "w.npy"
    np.save(src, np.ones((1, 32), np.float32))
    one_line_error(capsys, "quantize", src, "--format", "nvfp4", "--scale-mode", "floor", "-o", tmp_path / "o",
                   mentions=("MX formats",))


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip().startswith("fp4hw ")


@FUZZ
@given(argv=st.lists(st.sampled_from([
    "verilog", "synth", "decoder", "multiplier", "mac", "loader", "quantizer", "scale_apply", "dot", "gemv", "nope",
    "--fmt", "e2m1", "e4m3", "mxfp4", "nvfp4", "bogus", "--out", "fp16", "fixed", "--lanes", "0", "8", "-3", "x",
    "--stages", "--name", "", "module", "--word-bits", "33", "32", "--layout", "diagonal", "--scales", "e8m0",
    "--block", "16", "--sr-bits", "--rounding", "stochastic", "rne", "--mode", "value", "--input", "bf16",
    "--max-k", "31", "--activations", "fp16", "--seed", "0x10", "--json"]), min_size=1, max_size=9))
def test_fuzzed_argv_never_raises(argv, monkeypatch):
    """Random command lines against the unit options: exit 0, 1 or 2, never an exception. The
    Verilog conversion and Yosys are stubbed: what is fuzzed is the argument handling and the
    units' parameter checks."""
    import synth
    monkeypatch.setattr(synth, "to_verilog", lambda component, name: "module m; endmodule\n")
    monkeypatch.setattr(synth, "synthesize", lambda verilog, name: {
        "generic_cells": 0, "generic_cells_by_type": {}, "transistors": 0, "transistors_exclude_ffs": False,
        "depth": 0, "ice40_lut4": 0, "ice40_carry": 0, "ice40_dff": 0})
    assert main(argv) in (0, 1, 2)


def test_analyze_into_a_folder_with_the_users_files_keeps_them(tmp_path, monkeypatch):
    """issue 33: `analyze -o DIR` (also the current folder) replaces only its own files; it used
    to empty the folder, the user's files with it."""
    out = tmp_path / "work"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    (out / "data" / "w.npy").write_bytes(b"x")
    args = ["analyze", "--tensor", "normal", "--schemes", "mxfp4", "--rows", "4", "--cols", "64", "-o"]
    assert main(args + [str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "w.npy").read_bytes() == b"x"
    assert (out / "analysis.md").exists() and (out / "analysis.json").exists()
    monkeypatch.chdir(out)
    assert main(args + ["../work"]) == 0                 # the current folder, named from inside it
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "w.npy").exists()


def test_closed_standard_streams(tmp_path):
    """Issue 33: started with stdout closed, `fp4hw verilog` ended in a traceback; with stderr
    closed, an error line went to stdout, i.e. into the Verilog file the user redirected there.
    Now: one line on stderr and exit 2; with stderr closed, the error is dropped, stdout stays clean."""
    command = [sys.executable, "-m", "fp4hw", "verilog"]
    run = subprocess.run(command + ["decoder"], preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE, text=True)
    assert run.returncode == 2 and run.stderr.splitlines() == ["fp4hw: error: standard output is closed; give -o FILE"]
    out = tmp_path / "out.v"
    with open(out, "w") as f:
        run = subprocess.run(command + ["nope"], stdout=f, preexec_fn=lambda: os.close(2))
    assert run.returncode == 2 and out.read_text() == ""
    with open(out, "w") as f:                              # and the Verilog itself still comes through
        assert subprocess.run(command + ["decoder"], stdout=f, preexec_fn=lambda: os.close(2)).returncode == 0
    assert out.read_text().startswith("/* Generated by")


def test_a_signal_during_the_final_renames_waits_until_they_are_done(tmp_path, monkeypatch):
    """Issue 33: a Ctrl-C between moving the old output aside and the new one in left the old
    output only under a hidden name. The OS delivers the signal to any thread that does not
    block it (here a waiting helper thread, as numpy's workers are), and Python runs the handler
    in the main thread; the renames now finish first, then the interruption arrives."""
    import signal
    import threading
    from synth import files
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    (out / "report" / "a.txt").write_text("old")
    work = tmp_path / "work"
    (work / "report").mkdir(parents=True)
    (work / "report" / "a.txt").write_text("new")
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    real, calls = os.replace, []

    def replace(source, target):                 # the test hook: a signal between the two renames
        calls.append(target)
        real(source, target)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(200):                 # give the handler every chance to run here
                sum(range(1000))
    monkeypatch.setattr(files.os, "replace", replace)
    try:
        with pytest.raises(KeyboardInterrupt):
            files.publish(work, out, ["report"])
    finally:
        stop.set()
    assert (out / "report" / "a.txt").read_text() == "new" and len(calls) == 2
    assert sorted(p.name for p in out.iterdir()) == ["report"]                  # no hidden .old left


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_end_a_run_as_ctrl_c_does(tmp_path, name):
    """Issue 33: SIGTERM and SIGHUP killed a run outright (staging folders and child processes
    left behind); now they end it like SIGINT: one line, exit 128 + N, nothing left over."""
    import signal
    number = getattr(signal, name)
    run = subprocess.Popen([sys.executable, "-m", "fp4hw", "analyze", "--rows", "2048", "--cols", "4096",
                            "-o", str(tmp_path / "out")], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    run.stderr.read(len("analyze: "))                 # running: its first progress line has begun
    run.send_signal(number)
    err = run.stderr.read()
    assert run.wait(timeout=60) == 128 + number
    assert f"fp4hw: stopped by {name}; earlier outputs are left as they were" in err.splitlines()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_stochastic_quantize_is_reproducible_and_records_its_seed(tmp_path, capsys):
    """Issue 33: `quantize --rounding stochastic` drew fresh random bits every run and meta.json
    recorded none. Now the seed defaults to 0, `--seed` picks another, meta.json records it, and
    a --seed that would be ignored (no stochastic rounding) is refused."""
    src = tmp_path / "w.npy"
    np.save(src, np.random.default_rng(2).standard_normal((4, 128)).astype(np.float32))
    words = {}
    for name, extra in (("a", []), ("b", []), ("c", ["--seed", "5"])):
        assert main(["quantize", str(src), "--rounding", "stochastic", *extra, "-o", str(tmp_path / name)]) == 0
        words[name] = (tmp_path / name / "words.hex").read_text()
    assert words["a"] == words["b"] != words["c"]
    assert json.loads((tmp_path / "a" / "meta.json").read_text())["seed"] == 0
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["seed"] == 5
    capsys.readouterr()
    one_line_error(capsys, "quantize", src, "--seed", "5", "-o", tmp_path / "d", mentions=("--seed", "rne"))
    one_line_error(capsys, "quantize", src, "--rounding", "stochastic", "--seed", "-1", "-o", tmp_path / "d",
                   mentions=("--seed",))
    assert not (tmp_path / "d").exists()


def test_values_beyond_float32_are_refused(tmp_path, capsys):
    """Issue 33: a float64 1e39 exported, then dequantized to Inf; a meta.json tensor_scale of
    1e308 or 1e-50 gave all-Inf or all-zero output; tensor_scale_hex was never compared."""
    big = tmp_path / "big.npy"
    np.save(big, np.array([[1e39] + [1.0] * 31]))
    one_line_error(capsys, "quantize", big, "-o", tmp_path / "x", mentions=("float32",))
    assert not (tmp_path / "x").exists()
    src = tmp_path / "w.npy"
    np.save(src, np.linspace(-3, 3, 64, dtype=np.float32).reshape(2, 32))
    assert main(["quantize", str(src), "--format", "nvfp4", "--two-level", "-o", str(tmp_path / "e")]) == 0
    capsys.readouterr()
    meta_path = tmp_path / "e" / "meta.json"
    good = json.loads(meta_path.read_text())
    for edit, field in (({"tensor_scale": 1e308}, "tensor_scale"), ({"tensor_scale": 1e-50}, "tensor_scale"),
                        ({"tensor_scale_hex": "3f800000"}, "tensor_scale_hex"),
                        ({"tensor_scale_hex": "xyz"}, "tensor_scale_hex"),
                        ({"tensor_scale": None}, "tensor_scale_hex"), ({"seed": -3}, "seed")):
        meta_path.write_text(json.dumps({**good, **edit}))
        one_line_error(capsys, "dequantize", tmp_path / "e", "-o", tmp_path / "y.npy", mentions=(field, "meta.json"))
        assert not (tmp_path / "y.npy").exists()
    meta_path.write_text(json.dumps(good))
    assert main(["dequantize", str(tmp_path / "e"), "-o", str(tmp_path / "y.npy")]) == 0


@pytest.mark.parametrize("argv, words", [
    (["verilog", "decoder", "--lanes", "2", "--lanes", "4"], ("--lanes", "twice")),
    (["verilog", "decoder", "--lanes=2", "--lanes", "4"], ("--lanes", "twice")),
    (["analyze", "--tensor", "normal", "--tensor", "laplace"], ("--tensor", "twice")),
    (["synth", "decoder", "--lib", "sg13g2", "--traffic", ""], ("traffic",)),
    (["synth", "scale_apply", "--lib", "sg13g2", "--traffic", "relu0"], ("--traffic", "no traffic model")),
    (["verilog", "decoder", "-o", "newdir/"], ("newdir/", "folder")),
], ids=["repeated", "repeated-equals", "repeated-nargs", "empty-traffic", "traffic-without-model", "trailing-slash"])
def test_options_that_would_be_ignored_or_overridden_are_refused(tmp_path, monkeypatch, capsys, argv, words):
    """Issue 33: a repeated option silently took the last value, `--traffic ''` the default,
    `--traffic` on a unit without a traffic model nothing, and `-o newdir/` wrote a file."""
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, *argv, mentions=words)
    assert not list(tmp_path.iterdir())


def _raw_safetensors(text: str, data: bytes) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode() + data


_F16 = '{"dtype": "F32", "shape": [16], "data_offsets": [%d, %d]}'
MALFORMED_SAFETENSORS = {
    "duplicate-name": (('{"t": %s, "t": %s}' % (_F16 % (0, 64), _F16 % (64, 128))), 128, "twice"),
    "overlap": (('{"a": %s, "b": %s}' % (_F16 % (0, 64), _F16 % (32, 96))), 96, "overlaps"),
    "hole": (('{"a": %s, "b": %s}' % (_F16 % (0, 64), _F16 % (72, 136))), 136, "hole"),
    "trailing-bytes": (('{"a": %s}' % (_F16 % (0, 64))), 72, "trailing"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_SAFETENSORS))
def test_malformed_safetensors_are_refused_as_the_library_refuses_them(tmp_path, capsys, case):
    """Issue 33: duplicate tensor names, overlapping or holed data offsets and trailing bytes were
    accepted; the reference safetensors library refuses all four (checked here when installed)."""
    text, size, words = MALFORMED_SAFETENSORS[case]
    src = tmp_path / "m.safetensors"
    src.write_bytes(_raw_safetensors(text, bytes(size)))
    one_line_error(capsys, "quantize", src, "--tensor", "a" if case != "duplicate-name" else "t",
                   "-o", tmp_path / "out", mentions=(str(src), words))
    assert not (tmp_path / "out").exists()
    try:
        from safetensors.numpy import load_file
    except ImportError:
        return
    with pytest.raises(Exception):
        load_file(src)


def test_a_nan_tensor_and_a_bad_scale_code_name_their_file(tmp_path, capsys):
    """Issue 33: `analyze` on a tensor holding NaN said "x holds NaN or Inf", and a UE4M3 scale
    code out of range in scales.hex said "2 UE4M3 codes are outside [0, 128)": neither named
    the file. Now both do, with where the first bad value is."""
    src = tmp_path / "nan.npy"
    np.save(src, np.array([[1.0] * 5 + [np.nan] + [1.0] * 26], np.float32))
    one_line_error(capsys, "analyze", "--tensor", src, "-o", tmp_path / "a", mentions=(str(src), "(0, 5)"))
    np.save(tmp_path / "w.npy", np.ones((1, 64), np.float32))
    assert main(["quantize", str(tmp_path / "w.npy"), "--format", "nvfp4", "-o", str(tmp_path / "e")]) == 0
    capsys.readouterr()
    (tmp_path / "e" / "scales.hex").write_text("23\nff\n23\n23\n")
    one_line_error(capsys, "dequantize", tmp_path / "e", "-o", tmp_path / "y.npy",
                   mentions=(str(tmp_path / "e" / "scales.hex"), "line 2", "ff"))
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "a").exists()


def test_an_interrupted_sweep_ends_its_workers_tools_before_it_cleans_up(tmp_path, monkeypatch):
    """Issue 33: after Ctrl-C, `build`/`report` left a staging folder that a worker thread
    recreated after the clean-up, printed progress after the "interrupted" line, and left their
    tools running. Now the workers' tools are ended and the workers waited for before the clean-up."""
    import signal
    import threading
    import time
    from synth import report, toolchain
    started, lines = threading.Event(), []

    def slow_point(unit, params, work, cache_dir, *, timeout):
        started.set()
        try:                                              # a tool that would run for a minute
            toolchain.run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout=120)
        except toolchain.Stopped:
            pass
        (work / "verilog").mkdir(parents=True, exist_ok=True)      # what a late worker used to do
        return {"unit": unit, "params": params, "name": unit}
    monkeypatch.setattr(report, "run_point", slow_point)
    monkeypatch.setattr(report, "warm_all", lambda tools: [])
    main_thread = threading.main_thread().ident           # Ctrl-C, to the thread that waits on the pool
    threading.Thread(target=lambda: started.wait(30) and (time.sleep(0.5), signal.pthread_kill(main_thread,
                                                                                                signal.SIGINT)),
                     daemon=True).start()
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        report.sweep([("decoder", {"lanes": 1}), ("decoder", {"lanes": 2})], tmp_path / "r", jobs=2,
                     progress=lambda done, total, text: lines.append(text))
    assert time.monotonic() - begin < 20                   # the tools were ended, not waited out
    time.sleep(0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [] and lines == []
    assert not toolchain._children
    assert toolchain.run_child([sys.executable, "-c", "pass"], timeout=30).returncode == 0   # resumed


@FUZZ
@given(at=st.integers(0, 6), name=st.sampled_from(["SIGINT", "SIGTERM", "SIGHUP"]))
def test_fuzzed_signal_timing_around_the_final_renames(tmp_path_factory, at, name):
    """Issue 33: a signal at any step of publishing (each rename and removal; a helper thread
    present, as numpy's workers are) leaves every published entry whole: the new output, never
    a missing one or a hidden .old copy; the interruption arrives once publishing is done."""
    import shutil
    import signal
    import threading
    from fp4hw import cli
    from synth import files
    tmp = tmp_path_factory.mktemp("sig")
    out, work = tmp / "out", tmp / "work"
    for folder, text in ((out, "old"), (work, "new")):
        (folder / "verilog").mkdir(parents=True)
        (folder / "verilog" / "a.v").write_text(text)
        (folder / "report.md").write_text(text)
    number = getattr(signal, name)
    previous = cli._handle_termination()                  # the CLI's SIGTERM / SIGHUP handling
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
    steps = []
    real_replace, real_rmtree = os.replace, shutil.rmtree

    def step(real):
        def run(*args, **kwargs):
            real(*args, **kwargs)
            steps.append(args[0])
            if len(steps) == at + 1:
                os.kill(os.getpid(), number)
                sum(range(20000))                           # room for the handler to run right here
        return run
    outcome = "finished"
    try:
        files.os.replace, files.shutil.rmtree = step(real_replace), step(real_rmtree)
        try:
            files.publish(work, out, ["verilog", "report.md"])
            sum(range(20000))                               # a deferred signal lands here at the latest
        except KeyboardInterrupt:                           # SIGINT's, or the CLI's _Terminated
            outcome = "interrupted"
    finally:
        files.os.replace, files.shutil.rmtree = real_replace, real_rmtree
        stop.set()
        for n, handler in previous.items():
            signal.signal(n, handler)
    assert outcome == ("interrupted" if len(steps) > at else "finished"), (at, len(steps))   # not lost
    assert (out / "verilog" / "a.v").read_text() == "new" and (out / "report.md").read_text() == "new"
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "verilog"]
