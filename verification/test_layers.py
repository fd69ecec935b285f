"""DESIGN §1's import rules hold (read with ast), and the checker fails on a planted violation."""

from pathlib import Path

from verification.tools.layers import violations

ROOT = Path(__file__).resolve().parent.parent



def test_layers_point_one_way():
    assert violations(ROOT) == []


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
