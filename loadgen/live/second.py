"""One second of a run as it happens, every worker's added together: what the views and the
exporters are given. Derived figures are computed on first use, by whoever uses them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .._stats.stats import Distribution
from ..measurement import ErrorKind, ErrorReason, Interval, WorkerCpu
from ..result import BUSY
from ..settings import Settings

__all__ = ["LiveSecond", "LiveWorker", "LostWorker"]


@dataclass(frozen=True)
class LiveWorker:
    """One worker at the end of a second: where it runs, its CPU since its window began, and how
    busy it was in that second (the share of it spent running or waiting for a CPU)."""

    index: int
    host: str
    cpu: WorkerCpu
    busy: float
    requests_per_sec: float

    @property
    def client_bound(self) -> bool:
        return self.busy >= BUSY


@dataclass(frozen=True)
class LostWorker:
    """A worker whose measurement never came (it died): what it had posted live, in ``seconds``
    seconds, which the final second's counts keep though the run's result has none of it (a count
    that went down at the end read as a counter reset to Prometheus)."""

    index: int
    host: str
    seconds: int
    requests: int


@dataclass(frozen=True)
class LiveSecond:
    """Second ``second`` of the run (0 is the first), as it ended: ``interval`` is what completed in
    it; the counts beside it are the run's so far. The last one a sink sees (``final``) is taken
    from the run's result: it holds everything measured, the end's partial second too; and, as
    counts never go down, what the workers that died had posted before (``lost`` names them)."""

    settings: Settings
    second: int
    elapsed_s: float
    interval: Interval
    history: tuple[int, ...]  # requests completed in each second so far
    requests: int
    bytes: int
    errors: dict[ErrorKind, int]  # connect, read, write, timeout, status -> count so far
    status_counts: dict[int, int]
    error_reasons: dict[ErrorReason, int]
    latency: dict[int, int]  # µs -> count so far, to three significant digits (exact in the final one)
    # the latencies so far added up, exactly: from the rounded-up ``latency`` it overshot, and the
    # final one, exact, went down (a counter reset to Prometheus: increase() over the run doubled)
    latency_sum_us: int
    connections_open: int
    connections_opened: int
    workers: tuple[LiveWorker, ...]
    final: bool = False
    lost: tuple[LostWorker, ...] = ()  # in the final second: the workers that died, whose posts it keeps
    # the workers this second was given out without, alive but not heard from for two seconds: held
    # stopped, or their loop blocked; their figures in it are none, their counts so far are those shown before
    behind: tuple[int, ...] = ()

    def __repr__(self) -> str:
        """A line, not the latency histogram so far (the dataclass's repr ran to 8.6 kB)."""
        final = " (final)" if self.final else ""
        return (
            f"<loadgen.LiveSecond {self.second}{final}: {self.interval.requests:,} requests, "
            f"{self.requests_per_sec:,.1f} req/s, {self.requests:,} so far>"
        )

    @classmethod
    def before(cls, settings: Settings) -> LiveSecond:
        """The state before the first second: nothing yet."""
        return cls(settings, -1, 0.0, Interval(0), (), 0, 0, {}, {}, {}, {}, 0, 0, 0, ())

    @cached_property
    def distribution(self) -> Distribution:
        return Distribution(self.latency)

    def percentile_us(self, p: float) -> int:
        return self.distribution.percentile(p)

    @property
    def requests_per_sec(self) -> float:
        """Achieved in this second."""
        duration_s = self.interval.duration_us / 1e6
        return self.interval.requests / duration_s if duration_s > 0 else 0.0

    @property
    def asked_rate(self) -> float | None:
        """The rate asked in this second (-R's, or --stages' as they ramp), if any: the
        timeline's ``asked_per_sec`` for the same second."""
        start = (round(self.elapsed_s * 1_000_000) - self.interval.duration_us) / 1_000_000
        return self.settings.asked_per_sec(start, start + self.interval.duration_us / 1_000_000)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())
