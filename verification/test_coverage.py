"""The functional-coverage collector the stream benches use (verification/tools/coverage.py)."""

import pytest

from verification.tools.coverage import Coverage
from verification.benches.streams import handshake_points


def test_coverage_fails_below_100_percent_and_names_the_holes():
    cov = Coverage("unit").declare("a", "b", "c")
    cov.hit("a")
    cov.sample("b", True, 3)
    cov.sample("c", False)
    cov.sample("not declared", True)                  # states a bench does not declare are ignored
    assert cov.percent() == pytest.approx(200 / 3) and cov.missing() == ["c"]
    lines = []
    with pytest.raises(AssertionError, match=r"never hit \['c'\]"):
        cov.check(lines.append)
    assert "c  0   <-- never hit" in lines[0] and "b  3" in lines[0]
    cov.hit("c")
    cov.check(lines.append)                            # 100%: passes


def test_hitting_an_undeclared_point_is_an_error():
    with pytest.raises(KeyError, match="was not declared"):
        Coverage("unit").declare("a").hit("typo")


def test_handshake_points():
    assert handshake_points("i", ["first", "last"], dut_stalls=["last"]) == [
        "i: bench pauses (first)", "i: bench pauses (last)", "i: DUT stalls (last)"]
    assert handshake_points("o", ["any"], source=False) == ["o: bench stalls (any)"]
