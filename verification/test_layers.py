"""DESIGN §1's import rules hold (read with ast), and the checker fails on a planted violation."""

from pathlib import Path

from verification.layers import violations

ROOT = Path(__file__).resolve().parent.parent

# Known and not yet fixed (issue 17 stays open for it): the benchmark tool reuses the cocotb
# bench runners that still live in three test modules. This list may only shrink.
KNOWN = {
    "verification/bench.py:82: product module imports the test module verification.test_quantizer.CONFIGS",
    "verification/bench.py:82: product module imports the test module verification.test_quantizer",
    "verification/bench.py:82: product module imports the test module verification.test_quantizer.run_bench",
    "verification/bench.py:93: product module imports the test module verification.test_loader",
    "verification/bench.py:93: product module imports the test module verification.test_loader.run_bench",
    "verification/bench.py:108: product module imports the test module verification.test_dot",
    "verification/bench.py:108: product module imports the test module verification.test_dot.run_gemv",
}


def test_layers_point_one_way():
    found = set(violations(ROOT))
    assert found - KNOWN == set(), sorted(found - KNOWN)
    assert KNOWN <= found, f"fixed, drop from KNOWN: {sorted(KNOWN - found)}"


def planted(tmp_path, package, name, text):
    for p in ("golden", "hdl", "synth", "verification", "fp4hw"):
        (tmp_path / p).mkdir(exist_ok=True)
        (tmp_path / p / "__init__.py").write_text("")
    (tmp_path / package / name).write_text(text)
    return violations(tmp_path)


def test_the_checker_catches_planted_violations(tmp_path):
    assert planted(tmp_path, "hdl", "ok.py", "import amaranth\nfrom golden import mx\nfrom .ok import x\n") == []
    assert any("a layer above" in v for v in planted(tmp_path, "hdl", "up.py", "from synth.toolchain import run\n"))
    assert any("a layer above" in v for v in planted(tmp_path, "synth", "cli.py", "import fp4hw.cli\n"))
    assert any("a layer above" in v for v in planted(tmp_path, "golden", "rel.py", "from ..hdl import units\n"))
    assert any("allowed" in v for v in planted(tmp_path, "hdl", "np.py", "import numpy\n"))
    assert any("test module" in v for v in planted(tmp_path, "verification", "tool.py",
                                                    "from verification.test_dot import run_bench\n"))
    assert not any("test_x" in v for v in planted(tmp_path, "verification", "test_x.py", "import fp4hw.cli\n"))
