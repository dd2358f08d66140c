"""A list of seconds as the overhead benchmarks state it: in milliseconds, the median with its quartiles and range.

from spread import spread_ms   # a sibling script, as the benchmarks import each other
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["Spread", "spread_ms"]


@dataclass(frozen=True)
class Spread:
    lowest: float
    q1: float
    median: float
    q3: float
    highest: float
    count: int


def spread_ms(seconds: list[float]) -> Spread:
    """The quartiles of ``seconds`` (at least one) in ms; one value is its own quartiles."""
    ms = sorted(value * 1000 for value in seconds)
    q1, median, q3 = statistics.quantiles(ms, n=4) if len(ms) > 1 else (ms[0],) * 3
    return Spread(ms[0], q1, median, q3, ms[-1], len(ms))
