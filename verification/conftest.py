"""Shared pytest fixtures: ``simulator`` runs a cocotb bench on each simulator (Verilator,
2-state; Icarus Verilog, 4-state), skipping Icarus with the reason when it is not installed.
Which Icarus runs belong to ``make test`` and which to ``make verify-full``:
``verification/tiers.py``.

The slow tests are collected first (the longest by name, then those marked ``verilator``, then
``yosys``), so pytest-xdist hands them out while the fast ones fill the gaps at the end, instead
of one worker finishing a long bench alone."""

import pytest

from verification.benches.runner import SIMULATORS, icarus_missing


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    if request.param == "icarus" and icarus_missing():
        pytest.skip(icarus_missing())
    return request.param


# The longest single tests (one worker each for about a minute): handed out first of all.
LONGEST = ("test_two_job_sweep_from_an_empty_yowasp_cache", "test_quantizer_stream_on_verilator",
           "test_mixed_mode_on_verilator", "test_gemv_on_verilator", "test_fp32_adder_against_numpy_on_verilator")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Tiers (verification/tiers.py): an Icarus run that is not its unit's representative one
    (marked ``icarus``) belongs to ``make verify-full``. Marked here, before ``-m`` selects."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("simulator") == "icarus" \
                and item.get_closest_marker("icarus") is None:
            item.add_marker(pytest.mark.full)

    def rank(item):
        if item.originalname in LONGEST:
            return (0, LONGEST.index(item.originalname))
        if item.get_closest_marker("verilator"):
            return (1, 0)
        return (2, 0) if item.get_closest_marker("yosys") else (3, 0)
    items.sort(key=rank)                     # stable: the same order on every xdist worker
