"""Icarus Verilog is the second, 4-state simulator: the benches run on it with the same seeds
and vectors as on Verilator (the ``simulator`` fixture), and an X that reaches an output, a
``valid`` or a ``ready`` fails a bench. Here: X planted into the generated Verilog is caught."""

import numpy as np
import pytest

import golden
import hdl
import synth
from synth.nextpnr import ports
from verification.benches.runner import icarus_missing, run_vector_bench
from verification.benches.runs import LOADER_CONFIGS as CONFIGS
from verification.benches.runs import run_loader_bench as run_bench

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(icarus_missing() is not None, reason=icarus_missing() or "")]


def plant_x(verilog: str, top: str, port: str, condition: str) -> str:
    """``verilog`` with output ``port`` of ``top`` turned to X whenever ``condition`` (a Verilog
    expression over the ports) holds: the unit becomes ``<top>_inner`` inside a wrapper."""
    found = ports(verilog, top)
    inner = verilog.replace(f"module {top}(", f"module {top}_inner(", 1)
    names = [n for _, n, _ in found]
    lines = [f"module {top}({', '.join(names)});"]
    for direction, name, width in found:
        lines.append(f"  {direction} [{width - 1}:0] {name};")
        if direction == "output":
            lines.append(f"  wire [{width - 1}:0] {name}_inner;")
    connections = ", ".join(f".{n}({n}_inner)" if d == "output" else f".{n}({n})" for d, n, _ in found)
    lines.append(f"  {top}_inner unit({connections});")
    for direction, name, width in found:
        if direction == "output":
            x = f" ^ (({condition}) ? {{{width}{{1'bx}}}} : {width}'d0)" if name == port else ""
            lines.append(f"  assign {name} = {name}_inner{x};")
    return inner + "\n".join(lines) + "\nendmodule\n"


def test_x_on_a_combinational_output_fails_the_bench(tmp_path):
    codes = np.arange(16)
    dut = hdl.Decoder("e2m1", "fp16")
    want = golden.E2M1.to_ieee(codes, "fp16").astype(np.int64)
    kwargs = dict(inputs={"code": (codes, 4)}, outputs={"value": (want, 16)}, lanes=1, sim="icarus")
    clean = synth.to_verilog(dut, "decoder")
    assert run_vector_bench(dut, "decoder", tmp_path / "clean", verilog=clean, **kwargs) == (1, 0)
    planted = plant_x(clean, "decoder", "value", "code == 4'd5")
    assert run_vector_bench(dut, "decoder", tmp_path / "x", verilog=planted, **kwargs) == (1, 1)
    assert "value at vector step 5 is" in (tmp_path / "x" / "results.xml").read_text()


@pytest.mark.parametrize("port", ["lanes__valid", "words__ready"])
def test_x_on_a_handshake_fails_the_stream_bench(tmp_path, port, monkeypatch):
    """A valid or ready that goes X for a moment (here: while word 0x...7 is offered) fails
    the loader bench even if every beat would still arrive right."""
    import verification.benches.runner as runner
    original = runner.run_cocotb

    def with_x(component, top, *args, **kwargs):
        verilog = plant_x(synth.to_verilog(component, top), top, port, "words__valid && words__payload[3:0] == 4'd7")
        return original(component, top, *args, verilog=verilog, **kwargs)
    monkeypatch.setattr("verification.benches.runs.run_cocotb", with_x)
    tests, failures = run_bench(CONFIGS[1], tmp_path, n_random=5, sim="icarus")
    assert failures >= 1
    assert f"{port} at cycle" in (tmp_path / "results.xml").read_text() and "X/Z reached it" in \
        (tmp_path / "results.xml").read_text()
