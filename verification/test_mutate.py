"""The mutation-testing tool itself (verification/tools/mutate.py): the issue's operators are generated
where hardware is built (not in parameter checks), every mutant still parses, samples nest, and the
report's kill rate, waivers and exit status."""

import ast
import json

from verification.tools import mutate

SOURCE = '''from amaranth.hdl import Mux


def build(m, a, b, c):
    m.d.comb += c.eq(Mux(a == b, a + 1, b & 3))


def check_width(n):
    return n + 1 < 8
'''


def test_mutants_are_the_issue_operators_where_hardware_is_built(tmp_path):
    path = tmp_path / "unit.py"
    path.write_text(SOURCE)
    mutants = mutate.mutants_of(path)
    assert sorted((mu.operator, mu.before.strip(), mu.after.strip()) for mu in mutants) == sorted([
        ("compare", "==", "!="), ("binop", "+", "-"), ("binop", "&", "|"), ("constant", "1", "0"),
        ("constant", "3", "2"), ("drop-eq", "c.eq(Mux(a == b, a + 1, b & 3))", "[]"),
        ("swap-mux", "a + 1, b & 3", "b & 3, a + 1")])
    assert all(mu.line == 5 for mu in mutants)                       # nothing from check_width
    for mu in mutants:
        ast.parse(mu.apply(SOURCE))


def test_a_wider_sample_holds_the_narrower_one():
    mutants = mutate.mutants_of(mutate.REPO / "hdl" / "loader.py")
    narrow = {mu.id for mu in mutate.sample(mutants, 12)}
    wide = {mu.id for mu in mutate.sample(mutants, 24)}
    assert len(narrow) == 12 and len(wide) == 24 and narrow <= wide


def test_report_counts_waivers_and_fails_on_an_unwaived_survivor(tmp_path, monkeypatch):
    first, second, third = mutate.mutants_of(mutate.REPO / "hdl" / "lfsr.py")[:3]

    def result(mu, outcome):
        return {**{k: getattr(mu, k) for k in ("file", "line", "operator", "before", "after", "start", "end")},
                "id": mu.id, "outcome": outcome}
    monkeypatch.setattr(mutate, "load_waivers", lambda: {second.id: "planted reason"})
    results = [result(first, "killed"), result(second, "survived"), result(third, "survived")]
    assert mutate.report(results, tmp_path) == 1                      # third has no waiver
    text = (tmp_path / "report.md").read_text()
    assert "**Kill rate 50.0%** (1 of 2 non-equivalent mutants; 1 waived" in text
    assert "(waived: planted reason)" in text and f"### `{third.id}` (NOT WAIVED)" in text
    results[2]["outcome"] = "killed"
    assert mutate.report(results, tmp_path) == 0
    assert json.loads((tmp_path / "results.json").read_text())["kill_rate"] == 100.0


def test_bad_result_files_and_options_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"results": [{"file": "x"}]}')
    assert mutate.main(["--only", str(tmp_path / "missing.json"), "-o", str(tmp_path / "out")]) == 2
    assert mutate.main(["--skip", str(tmp_path / "junk.json"), "-o", str(tmp_path / "out")]) == 2
    assert mutate.main(["--only", str(tmp_path / "other.json"), "-o", str(tmp_path / "out")]) == 2
    assert mutate.main(["--unwaived", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("mutate: ") for line in err)
    assert "--only" in err[0] and "--skip" in err[1] and "--unwaived" in err[3]
    assert not (tmp_path / "out").exists()


def test_every_waiver_names_a_mutant_of_the_current_rtl():
    """Waivers are keyed by file, function, operator and text (no line number): each must still
    name a mutant, or it is stale and would hide nothing (or the wrong thing)."""
    from pathlib import Path
    ids = {mu.id for path in Path(mutate.REPO, "hdl").glob("*.py") for mu in mutate.mutants_of(path)}
    stale = [w for w in mutate.load_waivers() if w not in ids]
    assert not stale, stale


def test_mutant_ids_survive_an_edit_above_them(tmp_path):
    source = "def f(m, a, b):\n    m.d.comb += a.eq(b + 1)\n    m.d.comb += a.eq(b + 1)\n"
    (tmp_path / "x.py").write_text(source)
    before = [mu.id for mu in mutate.mutants_of(tmp_path / "x.py")]
    (tmp_path / "x.py").write_text("# a comment\n\nX = 3\n" + source)
    assert [mu.id for mu in mutate.mutants_of(tmp_path / "x.py")] == before
    assert len(set(before)) == len(before) and any(i.endswith("#1") for i in before)
