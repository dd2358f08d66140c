"""HdrHistogram views of exact latency counts, with the statistics wrk2 prints from them.

The exact per-microsecond counts stay the source of truth; an HdrHistogram (1 µs to 24 h, three
significant digits, as wrk2) is built from them to print wrk2's percentile spectrum and to carry
latencies in JSON in the encoding other HdrHistogram tools read.
"""

from __future__ import annotations

import importlib.util
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import accumulate
from typing import Any

from ..errors import SetupError

LOWEST_US = 1
HIGHEST_US = 24 * 60 * 60 * 1_000_000  # wrk2's MAX_LATENCY
SIGNIFICANT_DIGITS = 3


def missing() -> str | None:
    """Why no histogram can be built, or None: hdrhistogram is a C extension some builds lack (no
    free-threaded wheel, a pip told to skip dependencies). The one place that knows, for the check
    before a run and for a result read, so that both say the same. Found, not imported: under
    3.14t its C module turns the GIL on, which a check before the run must not do."""
    if all(importlib.util.find_spec(name) for name in ("hdrh", "pyhdrh")):
        return None
    return "hdrhistogram is not installed: pip install hdrhistogram"


def _new() -> Any:
    """Missing, ``loadgen report`` of a constant-rate result and ``merge`` ended in a traceback
    (No module named 'hdrh')."""
    if why := missing():
        raise SetupError(why)
    from hdrh.histogram import HdrHistogram  # imported late: only constant-rate reports and JSON need it

    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@cache
def _template() -> Any:
    """An empty histogram, to ask where buckets end (every histogram here has the same)."""
    return _new()


@lru_cache(maxsize=16384)
def _highest_equivalent(value: int) -> int:
    """The largest value in ``value``'s bucket: cached, since a run of many targets builds
    thousands of histograms over the same latencies (10,000 targets: two each in its JSON)."""
    return int(_template().get_highest_equivalent_value(value))


def build(counts: Mapping[int, int]) -> Any:
    """An HdrHistogram holding the counts (values above 24 h are clamped to it).

    Values that share a bucket are recorded together, so the work is one call per bucket (a few
    thousand at most) rather than one per distinct microsecond (hundreds of thousands in a big run).
    """
    histogram = _new()
    values = sorted(counts)
    running = [0, *accumulate(map(counts.__getitem__, values))]
    start = 0
    while start < len(values):
        value = min(values[start], HIGHEST_US)
        end = len(values) if value == HIGHEST_US else bisect_right(values, _highest_equivalent(value))
        histogram.record_value(value, running[end] - running[start])
        start = end
    return histogram


def encode(counts: Mapping[int, int]) -> str:
    """The compressed, base64 HdrHistogram encoding (``HdrHistogram.decode`` reads it back)."""
    return str(build(counts).encode().decode("ascii"))


@dataclass(frozen=True)
class Bucket:
    """One non-empty HdrHistogram bucket: the values it stands for and its count."""

    lowest: int
    highest: int
    count: int

    @property
    def median(self) -> int:
        return self.lowest + (self.highest - self.lowest + 1) // 2


class Wrk2Stats:
    """wrk2's figures from an HdrHistogram: hdr_mean, hdr_stddev (population), hdr_max,
    hdr_value_at_percentile and its +/- Stdev, all in double precision as the C code."""

    def __init__(self, histogram: Any) -> None:
        self.buckets = [
            Bucket(
                histogram.get_lowest_equivalent_value(item.value_iterated_to),
                item.value_iterated_to,
                item.count_at_value_iterated_to,
            )
            for item in histogram.get_recorded_iterator()
        ]
        self.total = sum(b.count for b in self.buckets)
        self.bucket_count = histogram.bucket_count
        self.sub_bucket_count = histogram.sub_bucket_count

    @classmethod
    def of(cls, counts: Mapping[int, int]) -> Wrk2Stats:
        return cls(build(counts))

    @property
    def mean(self) -> float:
        if not self.total:
            return math.nan
        return (sum(b.count * b.median for b in self.buckets) * 1.0) / self.total

    @property
    def stdev(self) -> float:
        if not self.total:
            return math.nan
        mean = self.mean
        total = 0.0
        for b in self.buckets:
            deviation = b.median * 1.0 - mean
            total += (deviation * deviation) * b.count
        return math.sqrt(total / self.total)

    @property
    def max(self) -> int:
        return self.buckets[-1].lowest if self.buckets else 0

    def within_stdev(self) -> float:
        if not self.total:
            return 0.0
        mean, stdev = self.mean, self.stdev
        upper, lower = int(mean + stdev), int(mean - stdev)
        lower_count = upper_count = 0
        running = 0
        for b in self.buckets:
            running += b.count
            if lower > b.lowest:
                lower_count = running
            if upper < b.highest:
                upper_count = running
                break
        else:
            upper_count = self.total
        return 100.0 * (upper_count - lower_count) / self.total

    def value_at_percentile(self, percentile: float) -> int:
        wanted = max(int((min(percentile, 100.0) / 100) * self.total + 0.5), 1)
        running = 0
        for b in self.buckets:
            running += b.count
            if running >= wanted:
                return b.highest
        return 0

    def spectrum(self, ticks_per_half_distance: int = 5) -> list[tuple[int, float, int]]:
        """hdr_percentile_iter: (value, percentile, cumulative count) rows, ending at 100%; an empty
        histogram has that last row alone, at value and count 0 (hdr_percentile_iter_next's seen_last_value)."""
        rows: list[tuple[int, float, int]] = []
        if not self.total:
            return [(0, 100.0, 0)]
        target = 0.0
        running = 0
        for b in self.buckets:
            running += b.count
            current = (100.0 * running) / self.total
            while target <= current:
                rows.append((b.highest, target, running))
                half_distance = int(2 ** (int(math.log(100 / (100.0 - target)) / math.log(2)) + 1))
                target += 100.0 / (ticks_per_half_distance * half_distance)
                if running == self.total:  # the iterator moves on after one row at the last value
                    break
        rows.append((self.buckets[-1].highest, 100.0, self.total))
        return rows
