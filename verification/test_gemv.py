"""hdl.GEMV against golden.mx.matmul: the 64 x 4096 MXFP4 GEMV on Verilator and Icarus without
stalls (its cycle count) and a smaller one under random stalls, jobs back to back and rejected
jobs in the Amaranth simulator."""

import json

import numpy as np
import pytest

from golden import mx
from verification.benches.amaranth_sim import run_streams
from verification.benches.runs import gemv_streams
from verification.benches.runs import run_gemv_bench as run_gemv
from verification.tiers import full, icarus


def simulate_gemv(dut, streams, expected, stall, seed=3):
    sources = {getattr(dut, name): items for name, items in streams.items() if items or name == "job"}
    return run_streams(dut, sources, dut.result, len(expected), stall=stall, seed=seed,
                       cycles=12 * (len(streams["w_words"]) + len(streams["x_words"])) + 2000)


@pytest.mark.parametrize("fmt, lanes, rows, k, activations", [
    ("mxfp4", 32, 6, 256, None), ("mxfp4", 8, 3, 96, None), ("nvfp4", 16, 4, 64, None),
    ("mxfp4", 16, 4, 128, "fp16"), ("mxfp4", 32, 2, 0, None), ("mxfp8_e4m3", 8, 2, 64, None),
    ("mxfp4", 32, 3, 32, None)])                       # a one-word vector
def test_gemv_in_amaranth_simulator(fmt, lanes, rows, k, activations):
    dut, streams, expected = gemv_streams(fmt, lanes, rows, k, activations)
    got = simulate_gemv(dut, streams, expected, stall=0.2)
    assert got == expected


@pytest.mark.parametrize("fmt, lanes, rows, k, activations", [
    ("mxfp4", 8, 3, 256, None), ("mxfp4", 32, 4, 512, None), full("mxfp4", 16, 3, 128, "fp16"),
    full("nvfp4", 16, 3, 128, None), full("mxfp8_e4m3", 8, 2, 64, None)])
def test_gemv_on_the_fast_engine_in_amaranth_simulator(fmt, lanes, rows, k, activations):
    """GEMV on the engine's fast preset (issue 28 step 3): every row equals golden.mx.matmul(…,
    partials=P) with the engine's P, under stalls."""
    dut, streams, expected = gemv_streams(fmt, lanes, rows, k, activations, preset="fast")
    assert dut.partials > 1 and dut.preset == "fast"
    got = simulate_gemv(dut, streams, expected, stall=0.2)
    assert got == expected


def test_gemv_in_amaranth_simulator_jobs_back_to_back():
    """Two GEMV jobs in a row (different shapes): the replay of the first vector must stop at
    its last row, and the second job must start clean (mutation testing found no test for it)."""
    dut, first, want_first = gemv_streams("mxfp4", 8, 3, 96, seed=6, max_k=128)
    _, second, want_second = gemv_streams("mxfp4", 8, 2, 64, seed=7, max_k=128)
    streams = {name: first[name] + second[name] for name in first}
    got = simulate_gemv(dut, streams, want_first + want_second, stall=0.2)
    assert got == want_first + want_second


def test_gemv_job_of_no_rows_gives_nothing_and_the_next_job_runs():
    """A job of 0 rows reads its vector and gives no result; the next job must still run (the
    mutation run found no test of it: a GEMV that stayed busy after such a job survived)."""
    dut, first, want_first = gemv_streams("mxfp4", 8, 3, 96, seed=6, max_k=128)
    _, empty, _ = gemv_streams("mxfp4", 8, 1, 64, seed=8, max_k=128)
    _, second, want_second = gemv_streams("mxfp4", 8, 2, 64, seed=7, max_k=128)
    streams = {name: first[name] + (empty[name] if name.startswith("x_") else []) + second[name] for name in first}
    streams["job"] = first["job"] + [0 | 64 << 16] + second["job"]
    assert simulate_gemv(dut, streams, want_first + want_second, stall=0.2) == want_first + want_second


@pytest.mark.parametrize("bad_k", [31, 48, 160, (1 << 24) - 32])
def test_gemv_rejects_a_job_whose_k_is_not_a_block_multiple_or_exceeds_max_k(bad_k):
    """Between two good jobs, a job with a bad ``k`` (not a multiple of the block, or over
    max_k = 128) reads nothing and gives one result: error and last set, the canonical NaN."""
    dut, first, want_first = gemv_streams("mxfp4", 8, 3, 96, seed=6, max_k=128)
    _, second, want_second = gemv_streams("mxfp4", 8, 2, 64, seed=7, max_k=128)
    rejected = 0x7FC00000 | 1 << 32 | 1 << 33                # value NaN, last, error
    streams = {name: first[name] + second[name] for name in first}
    streams["job"] = first["job"] + [5 | bad_k << 16] + second["job"]
    want = want_first + [rejected] + want_second
    assert simulate_gemv(dut, streams, want, stall=0.2) == want
    with pytest.raises(ValueError):                         # golden refuses such a length too
        mx.dot(mx.quantize(np.ones((1, 31)), "mxfp4"), mx.quantize(np.ones((1, 31)), "mxfp4"))


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, lanes, rows, k, activations", [
    ("mxfp4", 32, 64, 4096, None), icarus("nvfp4", 16, 16, 1024, None), full("mxfp4", 16, 16, 1024, "fp16")])
def test_gemv_on_verilator(fmt, lanes, rows, k, activations, tmp_path, simulator):
    """The issue's 64 x 4096 MXFP4 GEMV without stalls (cycle count recorded), and a smaller one
    under random stalls, both bit-exact."""
    assert run_gemv(fmt, lanes, rows, k, activations, tmp_path, sim=simulator) == (2, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == rows


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, lanes, rows, k", [full("mxfp4", 32, 64, 4096), full("mxfp4", 8, 16, 1024)])
def test_gemv_on_the_fast_engine_on_verilator(fmt, lanes, rows, k, tmp_path, simulator):
    """GEMV on the fast preset (P = 8 at 32 lanes, 4 at 8): rows longer than the combine keep
    one beat per cycle, bit-exact with golden.mx.matmul(…, partials=P), also under stalls."""
    assert run_gemv(fmt, lanes, rows, k, None, tmp_path, sim=simulator, preset="fast") == (2, 0)
    report = json.loads((tmp_path / "gemv.json").read_text())
    assert report["beats_per_cycle"] == 1.0 and report["rows"] == rows


@pytest.mark.verilator
def test_gemv_bench_catches_planted_fault(tmp_path, simulator):
    assert run_gemv("nvfp4", 16, 16, 1024, None, tmp_path, planted_fault=3, sim=simulator) == (2, 2)
