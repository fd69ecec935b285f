"""Functional coverage: a bench declares the points that say the interesting cases happened,
counts hits while it runs, prints the table and fails below 100% of what it declared.

Two kinds of points feed one collector:

- handshake points, hit by :class:`verification.benches.streams.StreamTB` every cycle: a source
  the bench holds back (``bench pauses``), a source the DUT holds back (``DUT stalls``: valid
  and not ready), a sink the bench holds back (``bench stalls``: valid and not ready), each in
  the *state* of the beat concerned (the stream's ``state(index)``: e.g. a job's first word or
  a later one, a last beat or another);
- data points, hit by the bench for each beat or result that crossed the interface (a ``last``
  on lane position p, an all-zero chunk, a scale code 0xFF, a rounding tie, a saturated
  element, a NaN result).

Hitting a point that was not declared raises, so a renamed point cannot silently stop counting.
"""

from __future__ import annotations


class Coverage:
    def __init__(self, name: str):
        self.name = name
        self.counts: dict[str, int] = {}

    def declare(self, *points: str) -> "Coverage":
        for p in points:
            self.counts.setdefault(p, 0)
        return self

    def hit(self, point: str, n: int = 1) -> None:
        if point not in self.counts:
            raise KeyError(f"coverage point {point!r} of {self.name} was not declared")
        self.counts[point] += n

    def sample(self, point: str, condition, n: int = 1) -> None:
        """Hit ``point`` ``n`` times when ``condition`` holds and the point is declared (states
        a bench does not declare, e.g. a saturation its scale mode cannot produce, are ignored)."""
        if condition and point in self.counts:
            self.counts[point] += n

    def missing(self) -> list[str]:
        return [p for p, n in self.counts.items() if n == 0]

    def percent(self) -> float:
        return 100.0 * (len(self.counts) - len(self.missing())) / max(1, len(self.counts))

    def table(self) -> str:
        width = max((len(p) for p in self.counts), default=10)
        lines = [f"coverage of {self.name}: {self.percent():.1f}% of {len(self.counts)} points",
                 f"  {'point':<{width}}  hits"]
        lines += [f"  {p:<{width}}  {n}{'   <-- never hit' if n == 0 else ''}" for p, n in self.counts.items()]
        return "\n".join(lines)

    def check(self, log=print) -> None:
        """Print the table; fail below 100% of the declared points."""
        log(self.table())
        missing = self.missing()
        assert not missing, f"coverage of {self.name} {self.percent():.1f}%: never hit {missing}"
