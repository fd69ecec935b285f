"""Shared pytest fixtures: ``simulator`` runs a cocotb bench on each simulator (Verilator,
2-state; Icarus Verilog, 4-state), skipping Icarus with the reason when it is not installed."""

import pytest

from verification.benches.runner import SIMULATORS, icarus_missing


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    if request.param == "icarus" and icarus_missing():
        pytest.skip(icarus_missing())
    return request.param
