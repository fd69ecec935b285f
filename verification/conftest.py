"""Shared pytest fixtures: ``simulator`` runs a cocotb bench on each simulator (Verilator,
2-state; Icarus Verilog, 4-state), skipping Icarus with the reason when it is not installed.

The slow tests (marked ``verilator`` or ``yosys``: model builds, simulations, synthesis) are
collected first, so pytest-xdist hands them out while the fast ones fill the gaps at the end,
instead of one worker finishing a long bench alone."""

import pytest

from verification.benches.runner import SIMULATORS, icarus_missing


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    if request.param == "icarus" and icarus_missing():
        pytest.skip(icarus_missing())
    return request.param


def pytest_collection_modifyitems(config, items):
    def slow(item):
        return any(item.get_closest_marker(m) for m in ("verilator", "yosys"))
    items.sort(key=lambda item: 0 if slow(item) else 1)          # stable: same order on every worker
