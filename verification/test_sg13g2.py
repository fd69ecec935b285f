"""The SG13G2 flow (issue 18): vendored Liberty files, the Liberty and netlist readers, the
OpenSTA output parser on recorded reports, the gate-level simulator against golden, the power
model against OpenSTA, and one real multiplier through the whole flow."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import synth
from synth import sg13g2, sta, traffic
from synth.gatesim import GateModel
from synth.liberty import PDK, Table, liberty_path, python_expression, read_cells, read_library
from synth.netlist import NetlistError, plain_for_sta, read_netlist
from synth.power import power

SAMPLES = Path(__file__).parent / "samples" / "opensta"
needs_sta = pytest.mark.skipif(shutil.which("sta") is None,
                               reason="OpenSTA (binary sta) not installed: sudo apt-get install -y opensta")


def test_vendored_liberty_files_are_the_recorded_ones():
    readme = (PDK / "README.md").read_text()
    for corner in ("typ", "slow"):
        digest = hashlib.sha256(liberty_path(corner).read_bytes()).hexdigest()
        assert digest in readme, f"{liberty_path(corner).name} changed: sha256 {digest} is not in the provenance"
    assert "Apache License" in (PDK / "LICENSE").read_text()


def test_liberty_reader_finds_cells_functions_flip_flops_and_tables():
    lib = read_library(liberty_path("typ"))
    assert lib.voltage == 1.2 and lib.default_wire_load == "1k"
    assert len(lib.cells) == 84
    nand = lib.cells["sg13g2_nand2_1"]
    assert nand.area == pytest.approx(7.2576) and nand.outputs == {"Y": "!(A*B)"}
    assert nand.capacitance["A"] == pytest.approx(0.00288593)
    ff = lib.cells["sg13g2_dfrbpq_1"].ff
    assert (ff.next_state, ff.clocked_on, ff.clear) == ("D", "CLK", "RESET_B'")
    arcs = [a for a in lib.cells["sg13g2_dfrbpq_1"].power if a.pin == "CLK"]
    assert arcs and any(a.when for a in arcs)                 # state-dependent clock-pin energy
    for cell in lib.cells.values():                          # every function compiles and evaluates
        for pin, function in cell.outputs.items():
            if function and not cell.ff:
                code = python_expression(function, lambda p: "1")
                assert eval(code, {"M": 1}) in (0, 1)        # noqa: S307


@pytest.mark.parametrize("function, table", [
    ("!(A*B)", {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 0}),
    ("(A+B)'", {(0, 0): 1, (0, 1): 0, (1, 0): 0, (1, 1): 0}),
    ("A^B", {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 0}),
    ("(!S*A)+(S*B)", None),
])
def test_liberty_functions_compile_to_the_truth_table(function, table):
    if table is None:                                        # a mux: S selects
        code = python_expression(function.replace("S", "C"), lambda p: p)
        for a in (0, 1):
            for b in (0, 1):
                assert eval(code, {"M": 1, "A": a, "B": b, "C": 0}) == a       # noqa: S307
                assert eval(code, {"M": 1, "A": a, "B": b, "C": 1}) == b       # noqa: S307
        return
    code = python_expression(function, lambda p: p)
    for (a, b), want in table.items():
        assert eval(code, {"M": 1, "A": a, "B": b}) == want                    # noqa: S307
    with pytest.raises(ValueError):
        python_expression("A $ B")


def test_tables_interpolate_and_extrapolate_linearly():
    t = Table((0.0, 1.0), (0.0, 2.0), ((0.0, 2.0), (1.0, 3.0)))
    assert t.at(0.5, 1.0) == pytest.approx(1.5)
    assert t.at(2.0, 0.0) == pytest.approx(2.0)               # beyond the last index
    assert Table((), (), ((0.25,),)).at(3.0, 9.0) == 0.25      # a scalar


PLAIN = """module chain(a, b, y, z);
  input a; input b; output y; output z;
  wire n1; wire n2; wire n3;
  sg13g2_inv_1 _1_ (.A(a), .Y(n1));
  sg13g2_buf_1 _2_ (.A(n1), .X(n2));
  sg13g2_inv_1 _3_ (.A(n2), .Y(y));
  sg13g2_nand2_1 _4_ (.A(n2), .B(b), .Y(n3));
  sg13g2_inv_1 _5_ (.A(n3), .Y(z));
endmodule
"""


@pytest.mark.parametrize("bad", ["  assign y = a;\n", "  assign {n1, n2} = 2'b00;\n",
                                 "  sg13g2_inv_1 _9_ (.A({a, b}), .Y(n1));\n", "  wire signed [3:0] s;\n",
                                 "  sg13g2_inv_1 _9_ (a, n1);\n"])
def test_netlist_reader_refuses_what_it_does_not_understand(bad):
    read_netlist(PLAIN)
    text = PLAIN.replace("endmodule", bad + "endmodule")
    with pytest.raises(NetlistError):
        read_netlist(text)


def test_signed_is_removed_for_opensta():
    assert plain_for_sta("  wire signed [13:0] s;\n") == "  wire [13:0] s;\n"


def _sample(name):
    return (SAMPLES / name).read_text()


def test_sta_parser_on_recorded_reports():
    typ = sta.parse_sta(_sample("multiplier_typ.txt"), 51, 10.0)
    slow = sta.parse_sta(_sample("multiplier_slow.txt"), 51, 10.0)
    assert typ == {"critical_path_ns": pytest.approx(1.2226, abs=1e-4)}
    assert slow["critical_path_ns"] == pytest.approx(1.945, abs=1e-3) and slow["critical_path_ns"] > typ["critical_path_ns"]
    engine = sta.parse_sta(_sample("int_dot_typ.txt"), 3256, 10.0)
    assert engine["critical_path_ns"] == pytest.approx(7.9557, abs=1e-4)
    p = engine["power_mw"]
    assert p["total"] == pytest.approx(p["internal"] + p["switching"] + p["leakage"])
    assert p["sequential"] + p["combinational"] == pytest.approx(p["total"], rel=1e-6)


def test_sta_parser_fails_on_a_planted_unparsable_line_and_on_a_short_count():
    """The Debian OpenSTA skips a statement it cannot parse and times what is left: the flow
    fails instead of reporting a shorter path."""
    with pytest.raises(sta.StaFailed, match="syntax error"):
        sta.parse_sta(_sample("int_dot_planted_unparsable_line.txt"), 3256, 10.0)
    clean = "\n".join(ln for ln in _sample("int_dot_planted_unparsable_line.txt").splitlines()
                      if not ln.startswith("Error"))
    with pytest.raises(sta.StaFailed, match="3255 cells, Yosys wrote 3256"):
        sta.parse_sta(clean, 3256, 10.0)


@pytest.fixture(scope="module")
def multiplier_netlist():
    verilog = synth.to_verilog(synth.build_unit("multiplier", fmt="e2m1", out="fixed"), "mul")
    return verilog, sg13g2.map_netlist(verilog, "mul")


@pytest.mark.yosys
def test_mapped_multiplier_simulates_exactly_as_golden(multiplier_netlist):
    import golden
    import golden.arith
    _, mapped = multiplier_netlist
    assert mapped["cells"] == len(read_netlist(mapped["netlist"]).instances) and mapped["area_um2"] > 0
    model = GateModel(read_netlist(mapped["netlist"]), read_cells(liberty_path("typ")))
    a, b = np.repeat(np.arange(16), 16), np.tile(np.arange(16), 16)
    out, activity = model.trace({"a": a, "b": b})
    want = [int(x) & 0x1FF for x in golden.arith.mul(a, b, golden.E2M1, "fixed")]
    assert [int(x) for x in out["product"]] == want
    assert activity.cycles == 256 and activity.total_toggles() > 0


@pytest.mark.yosys
def test_a_planted_netlist_fault_is_caught_by_the_golden_check(multiplier_netlist):
    _, mapped = multiplier_netlist
    text = mapped["netlist"]
    assert "sg13g2_nor2_1 " in text
    head, _, tail = text.partition("sg13g2_nor2_1 ")        # the first NOR becomes an OR (output pin X)
    instance, end, rest = tail.partition(");")
    planted = head + "sg13g2_or2_1 " + instance.replace(".Y(", ".X(") + end + rest
    model = GateModel(read_netlist(planted), read_cells(liberty_path("typ")))
    with pytest.raises(NetlistError, match="golden"):
        traffic.simulate("multiplier", {"fmt": "e2m1"}, model, "random")


@pytest.mark.yosys
def test_energy_follows_activity(multiplier_netlist):
    """Constant operands cost leakage only; ReLU traffic less than random codes: activity really
    reaches the power numbers."""
    _, mapped = multiplier_netlist
    lib = read_library(liberty_path("typ"))
    model = GateModel(read_netlist(mapped["netlist"]), lib.cells)
    totals = {}
    for name in ("constant", "relu90", "relu50", "random"):
        work = traffic.simulate("multiplier", {"fmt": "e2m1"}, model, name)
        totals[name] = power(model, lib, work.activity.values, period_ns=10.0)
    assert totals["constant"]["internal"] == 0 and totals["constant"]["switching"] == 0
    assert totals["constant"]["total"] < totals["relu90"]["total"] < totals["relu50"]["total"] < totals["random"]["total"]


@pytest.mark.yosys
def test_sequential_netlist_steps_through_jobs_and_checks_golden():
    """An 8-lane INT4 dot engine, mapped, streams its jobs bit-exactly; its clock keeps the
    flip-flops' clock pins busy even on constant operands."""
    verilog = synth.to_verilog(synth.build_unit("int_dot", fmt="int4", lanes=8), "eng")
    mapped = sg13g2.map_netlist(verilog, "eng", alumacc=False)      # as the report maps INT engines
    lib = read_library(liberty_path("typ"))
    model = GateModel(read_netlist(mapped["netlist"]), lib.cells)
    assert model.flops == mapped["flip_flops"] > 0
    work = traffic.simulate("int_dot", {"fmt": "int4", "lanes": 8}, model, "relu50")
    assert work.checked == work.ops // traffic.DOT_K and work.ops / work.cycles > 7   # ~one beat per cycle
    quiet = traffic.simulate("int_dot", {"fmt": "int4", "lanes": 8}, model, "constant")
    busy_power = power(model, lib, work.activity.values, period_ns=10.0)
    quiet_power = power(model, lib, quiet.activity.values, period_ns=10.0)
    assert 0 < quiet_power["sequential"] and quiet_power["total"] < busy_power["total"]


@needs_sta
def test_power_model_against_opensta_on_a_chain():
    """On inverters, a buffer and a NAND with a constant input, OpenSTA's propagated activity is
    exact, so the two power computations can be compared: switching agrees; the Debian
    OpenSTA's internal power is twice ours (it adds rise and fall energies per transition)."""
    lib = read_library(liberty_path("typ"))
    model = GateModel(read_netlist(PLAIN), lib.cells)
    cycles = 4001
    _, activity = model.trace({"a": np.arange(cycles) % 2, "b": np.ones(cycles, dtype=int)})
    ports = [("port", "a", 1.0, 0.5), ("port", "b", 0.0, 1.0)]
    ours = power(model, lib, activity.values, period_ns=10.0, output_load=0.0)
    theirs = sta.run_sta(PLAIN, "chain", 5, clock=None, period_ns=10.0, activity=ports, output_load=0.0)["power_mw"]
    assert ours["switching"] == pytest.approx(theirs["switching"], rel=0.02)
    assert 2 * ours["internal"] == pytest.approx(theirs["internal"], rel=0.03)
    assert ours["leakage"] == pytest.approx(theirs["leakage"], rel=0.01)
    # With the stated 5 fF on each output, both add it; this OpenSTA then drops the wire-load
    # estimate of the two nets that only reach a port (y, z), which ours keeps.
    loaded = power(model, lib, activity.values, period_ns=10.0)
    theirs = sta.run_sta(PLAIN, "chain", 5, clock=None, period_ns=10.0, activity=ports)["power_mw"]
    from synth.power import wire_capacitance
    port_wires_mw = 2 * 0.5 * wire_capacitance(lib, "1k", 1) * 1e-12 * lib.voltage ** 2 * 1e8 * 1e3
    assert loaded["switching"] - port_wires_mw == pytest.approx(theirs["switching"], rel=0.02)


@needs_sta
def test_slow_corner_takes_its_own_tables_and_agrees_with_opensta_there():
    """Issue 32: every table of the slow corner comes from the slow Liberty file. Leakage and
    internal energy differ from the typical corner's, and on the chain they agree with OpenSTA
    run on the slow library (internal: twice ours, as at the typical corner)."""
    model = GateModel(read_netlist(PLAIN), read_cells(liberty_path("typ")))
    cycles = 4001
    _, activity = model.trace({"a": np.arange(cycles) % 2, "b": np.ones(cycles, dtype=int)})
    ports = [("port", "a", 1.0, 0.5), ("port", "b", 0.0, 1.0)]
    ours = {c: power(model, read_library(liberty_path(c)), activity.values, period_ns=10.0, output_load=0.0)
            for c in ("typ", "slow")}
    assert ours["slow"]["leakage"] > 2 * ours["typ"]["leakage"]
    assert ours["slow"]["internal"] != pytest.approx(ours["typ"]["internal"], rel=0.02)
    theirs = sta.run_sta(PLAIN, "chain", 5, clock=None, corner="slow", period_ns=10.0, activity=ports,
                         output_load=0.0)["power_mw"]
    assert ours["slow"]["switching"] == pytest.approx(theirs["switching"], rel=0.02)
    assert 2 * ours["slow"]["internal"] == pytest.approx(theirs["internal"], rel=0.03)
    assert ours["slow"]["leakage"] == pytest.approx(theirs["leakage"], rel=0.01)


XOR = """module x(a, b, y);
  input a; input b; output y;
  sg13g2_xor2_1 _1_ (.A(a), .B(b), .X(y));
endmodule
"""


@pytest.mark.parametrize("b, when", [(1, "B"), (0, "!B")])
def test_a_combinational_transition_costs_its_matching_group_only(b, when):
    """Issue 32, Liberty's rule: the xor's output arcs from A come in three groups, when B, when
    !B and one without when (a copy of the !B one). With B held, each transition of the output
    costs exactly the matching group's table value, never that plus the default."""
    lib = read_library(liberty_path("typ"))
    model = GateModel(read_netlist(XOR), lib.cells)
    cycles = 2001
    _, activity = model.trace({"a": np.arange(cycles) % 2, "b": np.full(cycles, b)})
    got = power(model, lib, activity.values, period_ns=10.0)
    joules_pj = got["internal"] * 1e-3 * (cycles - 1) * 10e-9 * 1e12
    from synth.power import net_loads, transitions
    loads = net_loads(model, lib)
    slew = transitions(model, lib, loads)["a"]
    arcs = {a.when: a for a in lib.cells["sg13g2_xor2_1"].power if a.pin == "X" and a.related_pin == "A"}
    assert set(arcs) == {"B", "!B", None}
    rises = falls = (cycles - 1) // 2
    want = rises * arcs[when].rise.at(slew, loads["y"]) + falls * arcs[when].fall.at(slew, loads["y"])
    assert joules_pj == pytest.approx(want, rel=1e-6)
    doubled = want + rises * arcs[None].rise.at(slew, loads["y"]) + falls * arcs[None].fall.at(slew, loads["y"])
    assert joules_pj != pytest.approx(doubled, rel=0.05)


FLOP = """module f(clk, d, rst_n, q);
  input clk; input d; input rst_n; output q;
  sg13g2_dfrbpq_1 _1_ (.CLK(clk), .D(d), .RESET_B(rst_n), .Q(q));
endmodule
"""


@pytest.mark.parametrize("d", [0, 1])
def test_a_flip_flop_clock_pin_costs_its_matching_state_only(d):
    """Issue 32: the clock pin of sg13g2_dfrbpq_1 has six groups conditioned on D, RESET_B and Q
    and a default without when. With D and Q steady, every cycle costs the matching group's rise
    and fall (clock ideal: 0 ns), and nothing else switches."""
    from synth.gatesim import Stepper
    lib = read_library(liberty_path("typ"))
    model = GateModel(read_netlist(FLOP), lib.cells)
    step = Stepper(model)
    step.recording = False
    for _ in range(3):                                   # Q takes D
        step.set("d", d), step.set("rst_n", 1), step.settle(), step.clock()
    step.recording = True
    cycles = 501
    for _ in range(cycles):
        step.set("d", d), step.set("rst_n", 1), step.settle(), step.clock()
    assert step.get("q") == d
    got = power(model, lib, step.activity().values, period_ns=10.0)
    per_cycle_pj = got["internal"] * 1e-3 * 10e-9 * 1e12
    when = "(D * RESET_B * Q)" if d else "(!D * RESET_B * !Q)"
    arcs = {a.when: a for a in lib.cells["sg13g2_dfrbpq_1"].power if a.pin == "CLK"}
    assert when in arcs and None in arcs
    assert per_cycle_pj == pytest.approx(arcs[when].rise.at(0.0) + arcs[when].fall.at(0.0), rel=1e-6)
    assert got["switching"] == 0


@needs_sta
def test_debian_opensta_ignores_pin_activity():
    """Why synth/power.py exists: annotating a driver pin changes nothing in that OpenSTA."""
    runs = []
    for rate in (0.0, 1.0):
        activity = [("port", "a", 0.2, 0.5), ("port", "b", 0.2, 0.5), ("pin", "_2_/X", rate, 0.5)]
        runs.append(sta.run_sta(PLAIN, "chain", 5, clock=None, activity=activity)["power_mw"]["total"])
    assert runs[0] == runs[1]


@needs_sta
@pytest.mark.yosys
def test_the_planted_unparsable_line_fails_the_real_flow(multiplier_netlist):
    _, mapped = multiplier_netlist
    text = mapped["netlist"]
    i = text.index("  sg13g2_nor2_1 ")
    planted = text[:i] + "  assign {_x1, _x2} = 2'b00;\n" + text[i:]
    sta.run_sta(text, "mul", mapped["cells"], clock=None)
    with pytest.raises(sta.StaFailed):
        sta.run_sta(planted, "mul", mapped["cells"], clock=None)


@needs_sta
@pytest.mark.yosys
def test_one_multiplier_through_the_whole_flow_on_the_command_line(capsys):
    from fp4hw.cli import main
    assert main(["synth", "multiplier", "--lib", "sg13g2", "--json", "--traffic", "relu50"]) == 0
    record = json.loads(capsys.readouterr().out)["sg13g2"]
    for key in ("area_um2", "cells", "critical_path_ns", "fmax_mhz", "power_mw", "energy_pj_per_op",
                "clock_mhz", "corner", "traffic"):
        assert key in record, key
    assert record["area_um2"] > 100 and 0 < record["critical_path_ns"] < record["critical_path_ns_by_corner"]["slow"]
    assert record["fmax_mhz"] == pytest.approx(1000 / record["critical_path_ns"], rel=1e-3)
    assert record["power_mw"]["total"] > record["power_mw"]["leakage"] > 0
    assert record["energy_pj_per_op"] == pytest.approx(record["power_mw"]["total"] * 1e-3 / 100e6 * 1e12
                                                      * (record["sim_cycles"] - 1) / record["operations"], rel=1e-3)
    assert record["golden_checked"] == record["operations"] and record["traffic"] == "relu50"
    assert record["input_driver"] == "sg13g2_buf_2" and record["output_load_pf"] == 0.005
    assert "sg13g2_buf_2" in record["method"] and "5 fF" in record["method"]
    assert 0 <= record["ff_power_share"] <= 1


def test_sta_drives_inputs_and_loads_outputs():
    """Issue 32: ports are not ideal; the script states the driver and the load it uses."""
    script = sta.sta_script("n.v", "top", "typ", period_ns=10.0, clock="clk")
    assert "set_driving_cell -lib_cell sg13g2_buf_2 $inputs" in script and "set_load 0.005 [all_outputs]" in script


@pytest.mark.yosys
def test_without_opensta_area_and_energy_are_reported_and_timing_says_why(monkeypatch, capsys):
    from fp4hw.cli import main
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "sta" else shutil.which(name))
    assert main(["synth", "multiplier", "--lib", "sg13g2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("multiplier: SG13G2 area ")
    assert out[1] == ("multiplier: OpenSTA not found (binary 'sta'): no static timing; "
                      "install it with: sudo apt-get install -y opensta")
    assert "pJ per element product" in out[2]


@pytest.mark.parametrize("argv, message", [
    (["synth", "multiplier", "--corner", "slow"], "--corner applies to --lib sg13g2 only"),
    (["synth", "multiplier", "--lib", "sg13g2", "--traffic", "sparse"], "traffic='sparse' is not one of"),
    (["synth", "multiplier", "--lib", "sg13g2", "--clock-mhz", "0"], "clock_mhz=0.0 must be"),
    (["synth", "multiplier", "--lib", "sg13g2", "--corner", "fast"], "invalid choice"),
])
def test_bad_sg13g2_options_are_one_line_exit_2(argv, message, capsys):
    from fp4hw.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _claims_data(fp4_mul, fp8_mul, fp4_engine, fp8_engine, decompressor):
    traffics = ["relu50", "relu0", "relu70", "relu90"]
    energy = {}
    for key, value in (("fp4_multiplier", fp4_mul), ("fp8_multiplier", fp8_mul), ("fp4_engine", fp4_engine),
                       ("fp8_engine", fp8_engine), ("decompressor", decompressor)):
        energy[key] = {t: value for t in traffics}
        energy[key + "_name"] = key
    return {"clock_mhz": 100.0, "traffics": traffics, "energy": energy}


def test_energy_claim_verdicts_follow_the_numbers():
    from synth.energy_claims import render
    seed_like = render(_claims_data(0.38, 1.0, 8.1, 10.0, 3.3))       # 38 %, 19 % advantage, +14 %
    assert seed_like.count("| agree |") == 8 and "costs +14% against FP8 (the seed: +14%): **agree**" in seed_like
    ours_like = render(_claims_data(0.2, 1.0, 6.0, 10.0, 2.0))
    assert "| agree |" not in ours_like and "**disagree**" in ours_like and "costs -20% against FP8" in ours_like
    assert "shrinks to 40% for the whole engine: the claim holds in kind" in ours_like
    assert "Not measured: dot_x: no energy figures" in render({"error": "dot_x: no energy figures"})


def test_pipelined_dot_engines_get_jobs_longer_than_their_combine():
    """Issue 28: the energy traffic of a pipelined engine is jobs of 1024 (a 256-element job at
    32 lanes is 8 beats against a bank held 25 cycles); the unpipelined and INT engines keep 256."""
    from hdl.dot import combine_cycles
    from synth.traffic import dot_jobs
    assert dot_jobs("dot", {"fmt": "mxfp4", "lanes": 8}) == (8, 1024, 4)
    assert dot_jobs("dot", {"fmt": "mxfp4", "lanes": 32}) == (32, 1024, 16)
    assert dot_jobs("dot", {"fmt": "mxfp4", "lanes": 32, "preset": "unpipelined"}) == (32, 256, 1)
    assert dot_jobs("int_dot", {"fmt": "int4", "lanes": 8}) == (8, 256, 1)
    for lanes in (8, 32):
        _, k, partials = dot_jobs("dot", {"fmt": "mxfp4", "lanes": lanes})
        assert k // lanes > combine_cycles(10, partials)
