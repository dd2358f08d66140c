"""Exact distributions and the statistics wrk computes from them (wrk's stats.c).

wrk keeps one count per integer value (per microsecond of latency, per req/s of rate) and walks
them to get the mean, the sample deviation, the share within one deviation and percentiles with
its own rank rule. Keeping the same exact counts lets worker processes merge losslessly (add the
counts) and lets the report match wrk's to the byte. Values are computed in emulated
``long double`` so they also round as wrk's do.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from fractions import Fraction
from functools import cached_property, lru_cache
from itertools import accumulate
from operator import mul
from typing import TypeVar

from .longdouble import c_round, dbl, ld, sqrt_ld

Counts = Mapping[int, int]
K = TypeVar("K")


def _packed(values: list[int]) -> array[int]:
    """``values`` in the narrowest array that holds them: 1 to 8 bytes each (8 for a negative one)."""
    top = max(values, default=0) if min(values, default=0) >= 0 else 2**32
    code = next((code for code, limit in (("B", 2**8), ("H", 2**16), ("I", 2**32)) if top < limit), "q")
    return array(code, values)


class PackedCounts(Mapping[int, int]):
    """A value -> count map kept as two arrays, the values sorted: what a run keeps of each second's
    exact latencies. As a dict, a latency took 62 bytes (an int object and a slot each): at -R5000,
    with 2,700 distinct microseconds a second, a worker grew 6.5 MB a minute; packed, 3 to 6 bytes.
    Read only, as a closed second is; it pickles as its arrays."""

    __slots__ = ("_counts", "_values")

    def __init__(self, counts: Mapping[int, int]) -> None:
        values = sorted(counts)
        self._values = _packed(values)
        self._counts = _packed([counts[value] for value in values])

    def __getitem__(self, value: int) -> int:
        at = bisect_left(self._values, value)
        if at == len(self._values) or self._values[at] != value:
            raise KeyError(value)
        return self._counts[at]

    def __iter__(self) -> Iterator[int]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def items(self) -> ItemsView[int, int]:
        return _PackedItems(self)

    def values(self) -> ValuesView[int]:
        return _PackedValues(self)

    def __reduce__(self) -> tuple[object, ...]:
        return (_unpickled, (self._values, self._counts))

    def __repr__(self) -> str:
        return f"PackedCounts({dict(self.items())!r})"


class _PackedItems(ItemsView[int, int]):
    """(value, count) pairs, at array speed (Mapping's own looks each count up)."""

    _mapping: PackedCounts

    def __iter__(self) -> Iterator[tuple[int, int]]:
        packed = self._mapping
        return zip(packed._values, packed._counts, strict=True)


class _PackedValues(ValuesView[int]):
    """The counts, at array speed (Mapping's own looks each one up: a Distribution of a second took 3.6
    times a dict's)."""

    _mapping: PackedCounts

    def __iter__(self) -> Iterator[int]:
        return iter(self._mapping._counts)

    def __contains__(self, count: object) -> bool:
        return count in self._mapping._counts


def _unpickled(values: array[int], counts: array[int]) -> PackedCounts:
    packed = PackedCounts.__new__(PackedCounts)
    packed._values, packed._counts = values, counts
    return packed


def add_counts(*parts: Mapping[K, int]) -> dict[K, int]:
    """The sum of several value -> count maps (how histograms and tallies merge), its values in
    the order they first appear. The first map with any is copied whole (at C speed: a run at
    10,000 connections merges histograms of a hundred thousand values), the others added to it."""
    merged: dict[K, int] = {}
    for part in parts:
        if not merged:
            merged = dict(part)
            continue
        get = merged.get
        for value, count in part.items():
            merged[value] = get(value, 0) + count
    return merged


def subtract_counts(whole: Mapping[K, int], part: Mapping[K, int]) -> dict[K, int]:
    """``whole`` without the samples of ``part``, which it contains."""
    return {value: count - part.get(value, 0) for value, count in whole.items() if count > part.get(value, 0)}


class Distribution:
    """Counts of integer samples, with wrk's statistics over them.

    ``count`` may exceed the sum of ``counts``: wrk's coordinated-omission correction adds
    samples below the minimum that count in the denominator but are never visited (see
    :func:`wrk_corrected`); ``hidden`` says how many.
    """

    def __init__(self, counts: Counts | None = None, *, hidden: int = 0) -> None:
        counts = counts or {}
        # the values counted zero times left out; most histograms have none, and are copied whole
        self.counts: dict[int, int] = (
            {v: c for v, c in counts.items() if c} if 0 in counts.values() else dict(counts.items())
        )
        self.hidden = hidden
        self.count = sum(self.counts.values()) + hidden

    def __repr__(self) -> str:
        return f"Distribution(count={self.count}, min={self.min}, max={self.max})"

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable: not a dict key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Distribution) and (self.counts, self.hidden) == (other.counts, other.hidden)

    def __add__(self, other: Distribution) -> Distribution:
        return Distribution(add_counts(self.counts, other.counts), hidden=self.hidden + other.hidden)

    @cached_property
    def values(self) -> list[int]:
        """The values sampled, in increasing order (the per-bin sums below run at C speed on these)."""
        return sorted(self.counts)

    @cached_property
    def weights(self) -> list[int]:
        """The count of each of :attr:`values`."""
        return list(map(self.counts.__getitem__, self.values))

    @cached_property
    def bins(self) -> list[tuple[int, int]]:
        """(value, count) pairs in increasing value order."""
        return list(zip(self.values, self.weights, strict=True))

    @cached_property
    def cumulative(self) -> list[int]:
        """cumulative[i]: the samples up to and including ``values[i]``."""
        return list(accumulate(self.weights))

    @property
    def min(self) -> int:
        return self.values[0] if self.values else 0

    @property
    def max(self) -> int:
        return self.values[-1] if self.values else 0

    # -- wrk's statistics, as exact long double values ---------------------------------------

    def _samples_before(self, index: int) -> int:
        """The samples of ``values[:index]``."""
        return self.cumulative[index - 1] if index > 0 else 0

    @cached_property
    def _sum(self) -> int:
        return sum(map(mul, self.values, self.weights))

    @cached_property
    def exact_mean(self) -> Fraction:
        """``stats_mean``: the sum of visible values over the count of all samples."""
        if not self.count:
            return Fraction(0)
        return ld(Fraction(self._sum, self.count))

    @cached_property
    def exact_stdev(self) -> Fraction:
        """``stats_stdev``: the sample standard deviation (divides by count - 1)."""
        if self.count < 2:
            return Fraction(0)
        mean = self.exact_mean
        # sum(c * (v - mean)**2) expanded, so the per-bin work stays in integers.
        n = self.cumulative[-1] if self.cumulative else 0
        s2 = sum(map(mul, map(mul, self.values, self.values), self.weights))
        total = s2 - 2 * mean * self._sum + mean * mean * n
        return sqrt_ld(ld(total / (self.count - 1)))

    @cached_property
    def exact_within_stdev(self) -> Fraction | None:
        """``stats_within_stdev``: percent of samples within mean +/- stdev; None is wrk's NaN."""
        if not self.count:
            return None
        lower = math.ceil(ld(self.exact_mean - self.exact_stdev))
        upper = math.floor(ld(self.exact_mean + self.exact_stdev))
        inside = self._samples_before(bisect_right(self.values, upper)) - self._samples_before(
            bisect_left(self.values, lower)
        )
        return ld(ld(Fraction(inside, self.count)) * 100)

    def wrk_percentile(self, p: float | Fraction) -> int:
        """``stats_percentile``: rank = C round(p/100 * count + 0.5); 0 if the rank is never reached."""
        rank = _wrk_rank(Fraction(p), self.count)
        index = bisect_left(self.cumulative, rank)  # the first value whose running total reaches the rank
        return self.values[index] if index < len(self.values) else 0

    # -- the same, as plain numbers for the API -------------------------------------------------

    @property
    def mean(self) -> float:
        return float(self.exact_mean)

    @property
    def stdev(self) -> float:
        return float(self.exact_stdev)

    @property
    def within_stdev(self) -> float:
        """Percent of samples within one standard deviation of the mean (NaN when empty)."""
        within = self.exact_within_stdev
        return math.nan if within is None else float(within)

    def percentile(self, p: float) -> int:
        """wrk's rank rule, except that p >= 100 gives the maximum (wrk prints 0 there)."""
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be within [0, 100], not {p}")
        return self.max if p >= 100 else self.wrk_percentile(p)


@lru_cache(maxsize=4096)
def _wrk_rank(p: Fraction, count: int) -> int:
    """The rank ``stats_percentile`` looks for, in emulated long double: cached, since a run of
    many targets asks the same few percentiles of counts that repeat, and this arithmetic was most
    of the time its report and JSON took (10,000 targets: 14 percentiles each)."""
    return c_round(dbl(ld(ld(ld(p / 100) * count) + Fraction(1, 2))))


def in_flight_most(runs: Iterable[tuple[int, int]], stream_limit: int | None) -> int:
    """The most requests at once of runs of (connections, streams per connection), as a server's
    stream limit below the streams (None: none was) capped them: each a request at a time."""
    return sum(
        connections * (streams if stream_limit is None else min(streams, stream_limit)) for connections, streams in runs
    )


def wrk_expected_interval(runtime_us: int, complete: int, connections: int) -> int | None:
    """The per-connection interval wrk's correction assumes, or None when wrk skips it. Over
    HTTP/2 ``connections`` is the streams (:func:`in_flight_most`): each is a closed loop of its
    own, and -c alone made the interval a tenth of the latency at -m10, whose copies, hidden below
    the minimum, took a 100 ms server's mean to 12 ms and its median to 0."""
    per_connection = complete // connections if connections else 0
    if per_connection <= 0:
        return None
    return runtime_us // per_connection


def _by_residue(latency: Counts, expected: int) -> dict[int, dict[int, int]]:
    """The values wrk's correction copies (n >= 2*expected), as residue -> quotient -> count."""
    by_residue: dict[int, dict[int, int]] = defaultdict(dict)
    for value, count in latency.items():
        quotient, residue = divmod(value, expected)
        if quotient >= 2:
            by_residue[residue][quotient] = count
    return by_residue


def _lowest(residue: int) -> int:
    return 1 if residue else 2  # position residue + q*expected must stay above expected


def wrk_correction_size(latency: Counts, expected: int | None) -> int:
    """How many values :func:`wrk_corrected` visits: its work, known before doing it."""
    if not expected:
        return 0
    by_residue = _by_residue(latency, expected)
    return sum(max(0, max(quotients) - _lowest(residue)) for residue, quotients in by_residue.items())


def wrk_corrected(latency: Distribution, expected: int | None) -> Distribution:
    """``stats_correct``: add the samples a stalled closed loop failed to send.

    Each recorded value n >= 2*expected gets copies at n - expected, n - 2*expected, ... while
    above expected. wrk never lowers ``min``, so copies below it stay invisible but counted.
    Copies are accumulated per residue class of ``expected`` so the work is bounded by the
    range of values rather than by the number of copies.
    """
    if not expected:  # wrk would loop forever on 0; it cannot happen with real timings
        return latency
    added: dict[int, int] = defaultdict(int)
    for residue, quotients in _by_residue(latency.counts, expected).items():
        running = 0
        for q in range(max(quotients) - 1, _lowest(residue) - 1, -1):
            running += quotients.get(q + 1, 0)
            if running:
                added[residue + q * expected] += running
    floor = latency.min
    visible = {v: c for v, c in added.items() if v >= floor}
    hidden = sum(added.values()) - sum(visible.values())
    return Distribution(add_counts(latency.counts, visible), hidden=latency.hidden + hidden)


def distribution_from_samples(samples: Iterable[int]) -> Distribution:
    """A distribution of individual samples (a convenience for tests and scripts)."""
    counts: dict[int, int] = defaultdict(int)
    for sample in samples:
        counts[sample] += 1
    return Distribution(counts)
