"""The Yosys flow: parsing of recorded Yosys output, and one real small synthesis."""

from pathlib import Path

import pytest

import hdl
import synth
from fp4hw.cli import main
from synth.report import build

SAMPLES = Path(__file__).parent / "samples"


def test_parse_recorded_stat_and_ltp():
    stat = synth.parse_stat_json((SAMPLES / "yosys_stat_generic.json").read_text())
    assert stat == {"cells": 32, "cells_by_type": {"$_AND_": 8, "$_NOR_": 16, "$_OR_": 8},
                    "transistors": 160, "transistors_exclude_ffs": False}
    assert synth.parse_ltp((SAMPLES / "yosys_ltp.txt").read_text()) == 2
    with pytest.raises(ValueError):
        synth.parse_ltp("nothing here")


def test_transistor_estimate_with_flip_flops_is_a_lower_bound():
    text = '{"design": {"num_cells": 9, "num_cells_by_type": {"$_NOR_": 3}, "estimated_num_transistors": "18+"}}'
    assert synth.parse_stat_json(text)["transistors"] == 18
    assert synth.parse_stat_json(text)["transistors_exclude_ffs"] is True


@pytest.mark.yosys
def test_synthesize_decoder_smoke():
    metrics = synth.synthesize(hdl.to_verilog(hdl.Decoder("e2m1", "fp16", lanes=2), "dec2"), "dec2")
    assert metrics["top"] == "dec2"
    assert 0 < metrics["generic_cells"] < 40 and metrics["transistors"] > 0
    assert metrics["depth"] >= 1 and metrics["ice40_lut4"] > 0 and metrics["ice40_dff"] == 0
    pipelined = synth.synthesize(hdl.to_verilog(hdl.Decoder("e2m1", "fp16", stages=1), "dec_s1"), "dec_s1")
    assert 0 < pipelined["ice40_dff"] <= 16 and pipelined["transistors_exclude_ffs"]


@pytest.mark.yosys
def test_report_writes_tables_and_uses_the_cache(tmp_path, capsys):
    points = [("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 1})]
    first = build(tmp_path, points)
    second = build(tmp_path, points)
    assert not first[0]["cached"] and second[0]["cached"]
    assert {k: v for k, v in first[0].items() if k != "cached"} == {k: v for k, v in second[0].items() if k != "cached"}
    assert (tmp_path / "verilog" / "decoder_e2m1_fp16_lanes1.v").exists()
    assert "| `decoder_e2m1_fp16_lanes1` |" in (tmp_path / "report.md").read_text()


def test_synth_error_is_reported_per_point(tmp_path, monkeypatch):
    import synth.report as report

    def failing(verilog, top, **kw):
        raise synth.SynthError(f"{top}: Yosys failed: planted")
    monkeypatch.setattr(report, "synthesize", failing)
    records = build(tmp_path, [("decoder", {"fmt": "e1m2", "out": "fp16", "lanes": 3})])
    assert "planted" in records[0]["error"]
    assert "error: " in (tmp_path / "report.md").read_text()


@pytest.mark.yosys
def test_cli_synth_prints_metrics(capsys):
    assert main(["synth", "decoder", "--fmt", "e2m1", "--lanes", "8"]) == 0
    out = capsys.readouterr().out
    assert "generic cells" in out and "transistors" in out and "iCE40 LUT4" in out
