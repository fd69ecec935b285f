"""The two test tiers and how a test or one of its configurations picks its tier.

- ``make test`` (``-m 'not full'``, every developer's inner loop and CI's, budget 8 minutes on
  2 cores from a fresh clone): every golden test; the Amaranth-simulator tests in a covering set
  of settings (every format, mode and rounding once; of each depth parameter the shallowest, the
  default and the deepest); each unit's cocotb bench on Verilator in its default configuration,
  with stimulus sized to cover the directed corners and a random sample; the 4-state Icarus run
  of one representative configuration per unit (marked :data:`ICARUS`); the planted-fault check
  of every bench on Verilator.
- ``make verify-full`` (``-m full``): everything ``make test`` leaves out: the other
  configurations and every depth setting on Verilator, every configuration on Icarus, the full
  block, pair and vector counts, the exhaustive 2^24 MAC and the formal proofs.

A configuration that belongs to verify-full is a ``full(...)`` parameter; a test parametrized
by the ``simulator`` fixture runs on Icarus in ``make test`` only when it (or its parameter)
carries the ``icarus`` marker (``icarus(...)``), and in verify-full otherwise
(``verification/conftest.py``). Nothing leaves both tiers.
"""

import pytest

FULL = pytest.mark.full
ICARUS = pytest.mark.icarus


def in_verify_full(config) -> bool:
    """Whether this run is ``make verify-full`` (``-m full``): a test whose make-test run takes a
    sample takes the whole stimulus there."""
    return (config.getoption("markexpr", "") or "").strip() == "full"


def full(*values, id=None):
    """A parameter set that runs in ``make verify-full`` only."""
    return pytest.param(*values, marks=FULL, id=id)


def icarus(*values, id=None):
    """A parameter set whose Icarus run (the ``simulator`` fixture) is its unit's
    representative one in ``make test``."""
    return pytest.param(*values, marks=ICARUS, id=id)
