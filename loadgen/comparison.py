"""Run-to-run comparison (``loadgen compare``): the figures of two results, the change, and
whether the change is significant. Pure: Results in, a Comparison out; rendering is
:mod:`loadgen.report.comparison_text`.

The method, a bootstrap over seconds: each run's timeline is resampled 1,000 times (as many
seconds as it has, drawn with replacement) and every figure is recomputed from the drawn
seconds: requests/sec from their requests and durations, the mean and the percentiles from their
exact latency histograms, the error rate from their counts. A change is significant when its
interval of (NEW - BASE) over the paired resamples excludes 0. The verdict is 95% sure as a
whole: the 7 figures are judged at once, so each interval is of 99.3% (1 - 5% / 7, Bonferroni),
and it is widened for few seconds (:func:`widening`). With 95% for each figure and no widening,
pairs of runs of one server were "significant" in 7 of 10 at 3 seconds, 6 of 10 at 5 (and 26%
of pairs drawn alike at 30 seconds). Seconds, not single requests, are drawn because requests
within a second are not independent: a pause or a slow spell moves many of them at once, and
resampling requests one by one would call noise significant.

The latency is the timeline's: as measured (without wrk's correction for coordinated omission;
from the intended send time in ``-R`` mode, as the report). The random draws are seeded, each
run's by its own seconds, so the same two files always get the same verdict, and swapped, the
opposite change.

Runs with several targets (``--targets``) are also compared target by target, matched by label:
the same figures over each target's whole run. A target keeps no seconds of its own, so these
changes are shown, not judged, and the verdict is the run's.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from operator import attrgetter
from statistics import NormalDist

from ._stats.stats import Distribution
from ._stats.student import t_quantile
from .measurement import SOCKET_ERRORS
from .result import Result, Second, TargetStats, one_target
from .targetsfile import Target, labels

__all__ = ["METHOD", "METRICS", "Change", "Comparison", "Difference", "Metric", "TargetChanges", "compare"]

RESAMPLES = 1000
CONFIDENCE = 0.95
MIN_SECONDS = 3  # fewer seconds than this cannot say how much a figure varies
_LISTED = 3  # targets named in a note that the runs ran different ones
SEED = 14


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # "req/s", "us" or "%"
    higher_is_better: bool


PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}
METRICS = (
    Metric("requests/sec", "req/s", True),
    Metric("mean", "us", False),
    *(Metric(name, "us", False) for name in PERCENTILES),
    Metric("errors", "%", False),
)
TAIL = (1 - CONFIDENCE) / len(METRICS) / 2  # each figure's: the seven wrong together 5% of the time at most
METHOD = (
    f"bootstrap over each run's seconds ({RESAMPLES:,} resamples of the timeline, every figure recomputed "
    f"from the drawn seconds' exact histograms); significant when the interval of NEW - BASE excludes 0: "
    f"each figure's of {1 - 2 * TAIL:.1%}, for {CONFIDENCE:.0%} over the {len(METRICS)} together, widened for "
    "runs of few seconds"
)

Figures = dict[str, float | None]


@dataclass(frozen=True)
class _SecondCounts:
    """One second, reduced to what the figures are built from."""

    duration_s: float
    requests: int
    errors: float  # socket errors, timeouts and statuses > 399, less those that cost no request
    attempts: float  # responses and requests lost to a socket error
    latency_sum: int
    values: tuple[int, ...]  # sorted latencies (µs) of the second
    at_most: tuple[int, ...]  # at_most[i]: samples <= values[i - 1]; at_most[0] == 0

    @classmethod
    def of(cls, second: Second, none_lost: float) -> _SecondCounts:
        """``none_lost``: the second's errors that cost no request (a close of an idle connection,
        wrk's read error), out of the errors and the requests, as the ``errors`` threshold counts
        them: a -R run against a server closing idle connections had 49% errors and a significant
        regression, every request answered."""
        errors = second.interval.errors
        socket = sum(errors.get(kind, 0) for kind in SOCKET_ERRORS)
        bins = second.latency.bins
        return cls(
            second.duration_s,
            second.requests,
            sum(errors.values()) - none_lost,
            second.requests + socket - none_lost,
            sum(value * count for value, count in bins),
            tuple(value for value, _ in bins),
            (0, *accumulate(count for _, count in bins)),
        )

    def count_at_most(self, value: int) -> int:
        return self.at_most[bisect_right(self.values, value)]


class Seconds:
    """A run's timeline, ready to be resampled: the figures of any multiset of its seconds."""

    def __init__(self, result: Result) -> None:
        none_lost = result.errors_by_second(attrgetter("lost_nothing"))
        self.tallies = tuple(_SecondCounts.of(*pair) for pair in zip(result.timeline, none_lost, strict=True))
        self.values = sorted({value for tally in self.tallies for value in tally.values})
        # Each run draws from its own stream, seeded by what it measured: its draws do not depend on
        # the side it is on, so swapping BASE and NEW negates every interval. One stream drawn BASE
        # then NEW gave two runs' p50 [-171, 10] (no) one way and [2, 176] (yes, worse) the other.
        self.seed = repr((SEED, [(tally.requests, tally.latency_sum) for tally in self.tallies]))

    def __len__(self) -> int:
        return len(self.tallies)

    def figures(self, weights: Mapping[int, int]) -> Figures:
        """The figures of the seconds drawn (index -> times drawn)."""
        drawn = [(self.tallies[index], times) for index, times in weights.items()]
        duration = sum(tally.duration_s * times for tally, times in drawn)
        samples = sum(tally.at_most[-1] * times for tally, times in drawn)
        attempts = sum(tally.attempts * times for tally, times in drawn)
        figures: Figures = {
            "requests/sec": sum(tally.requests * times for tally, times in drawn) / duration if duration else None,
            "mean": sum(tally.latency_sum * times for tally, times in drawn) / samples if samples else None,
            "errors": 100 * sum(tally.errors * times for tally, times in drawn) / attempts if attempts else None,
        }
        for name, p in PERCENTILES.items():
            figures[name] = float(self._percentile(drawn, samples, p)) if samples else None
        return figures

    def _percentile(self, drawn: list[tuple[_SecondCounts, int]], samples: int, p: float) -> int:
        """wrk's rank rule over the drawn seconds' histograms, by bisection over the values."""
        rank = min(samples, math.floor(p / 100 * samples) + 1)
        low, high = 0, len(self.values) - 1
        while low < high:
            middle = (low + high) // 2
            if sum(tally.count_at_most(self.values[middle]) * times for tally, times in drawn) >= rank:
                high = middle
            else:
                low = middle + 1
        return self.values[low]

    def everything(self) -> Figures:
        return self.figures(dict.fromkeys(range(len(self.tallies)), 1))

    def resampled(self, rng: random.Random) -> Figures:
        return self.figures(Counter(rng.randrange(len(self.tallies)) for _ in self.tallies))


@dataclass(frozen=True)
class Change:
    """One figure of both runs; ``interval`` is the bootstrap interval of NEW - BASE (None when
    either run is too short to tell)."""

    metric: Metric
    base: float | None
    new: float | None
    interval: tuple[float, float] | None

    @property
    def change_pct(self) -> float | None:
        """The change relative to BASE; infinite from zero to more, None when either is missing."""
        if self.base is None or self.new is None:
            return None
        if self.base == 0:
            return 0.0 if self.new == 0 else math.inf
        return (self.new - self.base) / self.base * 100

    @property
    def significant(self) -> bool | None:
        if self.interval is None:
            return None
        return self.interval[0] > 0 or self.interval[1] < 0

    @property
    def worse(self) -> bool:
        if self.base is None or self.new is None:
            return False
        return self.new < self.base if self.metric.higher_is_better else self.new > self.base

    @property
    def regression(self) -> bool:
        return bool(self.significant) and self.worse


@dataclass(frozen=True)
class Difference:
    """Something the two runs did not share, which their figures do not show: ``what`` is
    ``mode`` (closed loop or constant rate), ``rate`` (asked, constant-rate runs), ``in flight`` (the
    requests the connections carry at once, closed-loop runs), ``URL``, ``method``, ``protocol`` or
    ``targets`` (the labels only BASE ran, and only NEW) or ``target`` (a label both ran, sent
    otherwise: each run's)."""

    what: str
    base: str
    new: str


@dataclass(frozen=True)
class TargetChanges:
    """One target's figures in both runs (None where a run did not have it); never judged."""

    label: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]
    differences: tuple[Difference, ...] = ()
    targets: tuple[TargetChanges, ...] = ()

    @property
    def judged(self) -> bool:
        """Both runs had enough seconds for the significance to mean something."""
        return all(change.interval is not None for change in self.changes if change.base is not None)

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.regression)

    @property
    def improvements(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.significant and not change.worse)

    def regression_above(self, pct: float) -> bool:
        """A significant regression larger than ``pct`` percent (``--fail-above``)."""
        return any(abs(change.change_pct or 0) > pct for change in self.regressions)


def widening(seconds: int) -> float:
    """How much wider than the bootstrap's own an interval is drawn when the shorter run has
    ``seconds`` (n): resampling n seconds spreads their mean by sqrt((n - 1) / n) of its spread,
    and a spread estimated from two runs of n seconds takes Student's t quantile of 2n - 2
    degrees of freedom, not the normal one (as Hesterberg's expanded percentile interval). Without
    it, 3 seconds against 3 of one server (drawn alike, nothing drifting) were "significant" in
    14-22% of pairs per figure, 6-14% at 5 seconds."""
    return math.sqrt(seconds / (seconds - 1)) * t_quantile(1 - TAIL, 2 * seconds - 2) / NormalDist().inv_cdf(1 - TAIL)


def _interval(differences: list[float], change: float | None, widen: float) -> tuple[float, float] | None:
    """The bootstrap's interval of NEW - BASE, widened by ``widen`` on either side of ``change``."""
    if not differences or change is None:
        return None
    ordered = sorted(differences)
    low, high = ordered[int(TAIL * (len(ordered) - 1))], ordered[math.ceil((1 - TAIL) * (len(ordered) - 1))]
    return change - widen * max(change - low, 0.0), change + widen * max(high - change, 0.0)


def _mode(result: Result) -> str:
    return "constant-rate" if result.paced else "closed-loop"


def _rate_asked(result: Result) -> str:
    """-R's total rate, or the stages as given: a ramp has no one rate (``Result.rate`` counts
    only -R's, 0 for a run of stages alone, so two runs of different stages looked alike)."""
    ramps = [run.stages for run in result.runs if run.stages]
    if not ramps:
        return f"{result.rate:,.6g} requests/sec"
    return " + ".join("--stages " + ",".join(f"{d:.15g}s:{t:.15g}" for d, t in stages) for stages in ramps)


def what_differs(base: Result, new: Result) -> tuple[Difference, ...]:
    """What the two runs did not share: their mode (or, two constant-rate runs, the rate or the
    stages they asked for; two closed-loop ones, the requests they kept in flight: -c2 against -c8
    was "requests/sec +267%, yes, better", unremarked), URL, method, protocol spoken (HTTP/1.1 or
    h2) or targets (``--targets``: the URL is only the first's)."""
    pairs = [("mode", _mode(base), _mode(new))]
    if base.rate is not None and new.rate is not None:  # both constant-rate
        pairs.append(("rate", _rate_asked(base), _rate_asked(new)))
    if not base.paced and not new.paced:  # both closed-loop: the requests in flight are the load
        pairs.append(("in flight", f"{base.in_flight_most:,}", f"{new.in_flight_most:,}"))
    pairs += [("URL", base.url, new.url), ("method", base.runs[0].method, new.runs[0].method)]
    if base.measured.protocol and new.measured.protocol:  # "" in a document older than the field
        pairs.append(("protocol", base.measured.protocol, new.measured.protocol))
    if base.targets or new.targets:  # the URL is the first target's: the others may differ
        pairs += [("targets", *targets_only_in(base, new)), ("target", *targets_unlike(base, new))]
    return tuple(Difference(what, b, n) for what, b, n in pairs if b != n)


def _labels(result: Result) -> list[str]:
    """Its targets' labels; a run of one URL is one target, as a targets file would name it."""
    if result.targets:
        return [target.label for target in result.targets]
    return [one_target(result)]


def targets_only_in(base: Result, new: Result) -> tuple[str, str]:
    """BASE's targets that NEW did not run, and NEW's that BASE did not (empty: none); ``compare``
    notes them, ``merge`` refuses them."""
    ours, theirs = _labels(base), _labels(new)
    return _listed(ours, set(theirs)), _listed(theirs, set(ours))


def _listed(labels: list[str], others: set[str]) -> str:
    """The labels not among ``others``: the first few (a file may hold 10,000), and how many more."""
    return _first_few([label for label in labels if label not in others])


def _first_few(names: list[str]) -> str:
    more = f" and {len(names) - _LISTED:,} more" if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


def targets_unlike(base: Result, new: Result) -> tuple[str, str]:
    """The targets both ran under one label (``METHOD path``) but sent otherwise, each as its run
    sent it (BASE's, NEW's; empty: none): from another server, or as another share of the run's
    requests (``weight 1 of 2`` and ``weight 9 of 10``, where the labels alone looked alike);
    ``compare`` notes them, ``merge`` refuses them. A result's targets are its first run's."""
    ours, theirs = _requests(base), _requests(new)
    unlike = [label for label, request in ours.items() if label in theirs and not _alike(request, theirs[label])]
    return (
        _first_few([_sent(label, ours[label], theirs[label]) for label in unlike]),
        _first_few([_sent(label, theirs[label], ours[label]) for label in unlike]),
    )


def _requests(result: Result) -> dict[str, tuple[Target, int]]:
    """Each label of the result's first run, its target and the weights' total (runs[].targets; a
    run of one URL is its one target)."""
    run = result.runs[0]
    targets = run.targets or (Target(run.method, run.url),)
    total = sum(target.weight for target in targets)
    return {label: (target, total) for label, target in zip(labels(targets), targets, strict=True)}


def _alike(ours: tuple[Target, int], theirs: tuple[Target, int]) -> bool:
    (mine, my_total), (other, other_total) = ours, theirs
    return mine.url == other.url and mine.weight * other_total == other.weight * my_total


def _sent(label: str, request: tuple[Target, int], other: tuple[Target, int]) -> str:
    """``GET /b weight 1 of 2``, and ``at http://127.0.0.1:8080/b`` where the other run's URL differs."""
    target, total = request
    where = f" at {target.url}" if target.url != other[0].url else ""
    return f"{label} weight {target.weight:,} of {total:,}{where}"


def target_figures(target: TargetStats | None) -> Figures:
    """A target's figures over the whole run, as :class:`Seconds` computes a run's (the latency as
    measured, without wrk's correction)."""
    if target is None:
        return dict.fromkeys((metric.name for metric in METRICS), None)
    latency = Distribution(target.measured.latency)
    attempts = target.ended
    figures: Figures = {
        "requests/sec": target.requests_per_sec,
        "mean": latency.mean if latency.count else None,
        "errors": 100 * target.ended_in_error / attempts if attempts else None,
    }
    for name, p in PERCENTILES.items():
        figures[name] = float(latency.percentile(p)) if latency.count else None
    return figures


def _target_changes(base: Result, new: Result) -> tuple[TargetChanges, ...]:
    """Every target of either run, in BASE's order then NEW's new ones."""
    labels = dict.fromkeys([target.label for target in base.targets] + [target.label for target in new.targets])
    changes = []
    for label in labels:
        before, after = target_figures(base.target(label)), target_figures(new.target(label))
        changes.append(TargetChanges(label, tuple(Change(m, before[m.name], after[m.name], None) for m in METRICS)))
    return tuple(changes)


def compare(base: Result, new: Result) -> Comparison:
    """BASE and NEW side by side, each change judged by the bootstrap (see the module's docstring)."""
    runs = Seconds(base), Seconds(new)
    points = [run.everything() for run in runs]
    differences: dict[str, list[float]] = {metric.name: [] for metric in METRICS}
    widen = 1.0
    if (seconds := min(len(run) for run in runs)) >= MIN_SECONDS:
        widen = widening(seconds)
        streams = [random.Random(run.seed) for run in runs]
        for _ in range(RESAMPLES):
            before, after = (run.resampled(stream) for run, stream in zip(runs, streams, strict=True))
            for name, values in differences.items():
                if (b := before[name]) is not None and (a := after[name]) is not None:
                    values.append(a - b)
    changes = []
    for metric in METRICS:
        was, now = points[0][metric.name], points[1][metric.name]
        change = None if was is None or now is None else now - was
        changes.append(Change(metric, was, now, _interval(differences[metric.name], change, widen)))
    return Comparison(
        tuple(changes),
        what_differs(base, new),
        _target_changes(base, new),
    )
