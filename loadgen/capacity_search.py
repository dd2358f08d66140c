"""Capacity search (``loadgen capacity``): the highest constant rate whose steps meet every SLO.

Steps run at a constant rate, so latency counts from each request's intended send time and a
server that falls behind cannot hide it (no coordinated omission). A step passes when the server
held its rate (within 2%, as the diagnosis judges a shortfall) and met every SLO. Held means
answered at that rate once the requests in flight had filled up: over the seconds after the first
(``served``), so that a step whose every response takes a little longer (a busy machine) is not
judged short by the requests it had sent but not yet seen answered at its end. Those are not
counted as sent: a server a little above its capacity queues the excess, and the requests in flight
at the end would hide it (at 412 req/s on a server of 400, 28 were: every request sent on
schedule, the queue 60 ms long after 2 s, well within a p99<100ms). A step of one second has no
second second: it counts those in flight on schedule at its end, at most its rate x its quickest
response (the server's time for a request it did not queue), and none it had left waiting past
--timeout, as a run's own rate is judged. The search doubles
the rate from ``start`` until a step fails (halving instead while the first ones fail), then
bisects between the highest rate that passed and the lowest that failed until they are within
``precision`` of each other.

A step in which a client worker was busy 90% of the time or more (running, or waiting for a
CPU) ends the search: from there on the rate is the client's limit, never to be reported as the
server's capacity. So does a lowest failed rate that the connections could not carry: it fell
short while each request took no longer than at the quickest passed step (half as long again at
most: the server did not queue them, see :func:`~loadgen.result.queued`), and at that latency the
connections carry less (one request in flight each, or over HTTP/2 their streams). The quickest,
not the highest, passed step: one just below the capacity may have queued already (a busy
machine), and a server that queues makes every rate above its capacity look like one the
connections could not carry (Little's law: rate x latency reaches what they carry there).
Pure: the command runs the steps, this decides what to run next and what it found; rendering
is :mod:`loadgen.report.capacity_text`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import Result, queued, rate_held
from .thresholds import Verdict

__all__ = ["Bracket", "Outcome", "Step", "connections_bound", "next_rate", "served"]


def served(result: Result) -> tuple[float, float]:
    """The responses by which a step's rate is judged, and the seconds they span: those of every
    second after the first (in which the requests in flight filled up); a step of one second has
    none, and counts its responses and the requests in flight on schedule at its end over its
    window (as a run's rate is judged: see :meth:`~loadgen.result.Result.in_flight_on_schedule`)."""
    later = result.timeline[1:]
    span = sum(second.duration_s for second in later)
    if span:
        return sum(second.requests for second in later), span
    return result.requests + result.in_flight_on_schedule(result.runtime_s, window_end=True), result.runtime_s


@dataclass(frozen=True)
class Step:
    """One constant-rate run of the search, its SLO verdicts, and the run's own exit code when
    the run itself failed (a worker, or the server: see :mod:`loadgen.report.diagnosis`)."""

    rate: int
    result: Result
    verdicts: tuple[Verdict, ...]
    failure: int = 0

    @property
    def achieved(self) -> float:
        """The rate the server answered at, as :func:`served` counts it."""
        responses, span = served(self.result)
        return responses / span if span > 0 else 0.0

    @property
    def held(self) -> bool:
        """The server answered at the rate, within the shortfall the diagnosis tolerates or one
        response (which second a response falls in is the count's own jitter: at 10 req/s, 2% is
        a fifth of one)."""
        responses, span = served(self.result)
        return span > 0 and rate_held((responses + 1) / span, self.rate)

    @property
    def client_busy(self) -> float:
        return self.result.client_cpu.max_busy

    @property
    def client_limited(self) -> bool:
        return self.result.client_cpu.saturated

    @property
    def latency_s(self) -> float:
        """The mean latency from each request's write: how long a connection was busy with it."""
        return self.result.latency_uncorrected.mean / 1_000_000

    @property
    def verdict(self) -> str:
        """``passed``; ``failed`` (the rate or an SLO was missed, or the run failed);
        ``interrupted``; or ``client`` (the client was the limit: not a verdict on the server)."""
        if self.result.interrupted:
            return "interrupted"
        if self.failure:
            return "failed"
        if self.client_limited:
            return "client"
        return "passed" if self.held and all(verdict.passed for verdict in self.verdicts) else "failed"

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


@dataclass(frozen=True)
class Bracket:
    """What the steps so far established: the highest rate that passed, the lowest that failed,
    and the passed step answered quickest (the server's time for a request it did not queue)."""

    passed: Step | None = None
    failed: Step | None = None
    quickest: Step | None = None

    def after(self, step: Step) -> Bracket:
        if step.passed:
            highest = step if self.passed is None or step.rate > self.passed.rate else self.passed
            quickest = step if self.quickest is None or step.latency_s < self.quickest.latency_s else self.quickest
            return Bracket(highest, self.failed, quickest)
        keep = self.failed is None or step.rate < self.failed.rate
        return Bracket(self.passed, step if keep else self.failed, self.quickest)


def connections_bound(bracket: Bracket) -> bool:
    """The lowest failed rate was beyond what the connections carry (see the module's docstring)."""
    quickest, failed = bracket.quickest, bracket.failed
    if quickest is None or failed is None or failed.held:
        return False
    latency = failed.latency_s
    return not queued(latency, quickest.latency_s) and failed.rate * latency > failed.result.in_flight_most


def next_rate(bracket: Bracket, start: int, precision: float, ceiling: int) -> int | None:
    """The rate of the next step, or None when the search is over (see the module's docstring)."""
    passed, failed = bracket.passed, bracket.failed
    if passed is None and failed is None:
        return min(start, ceiling)
    if failed is None:
        assert passed is not None
        return min(passed.rate * 2, ceiling) if passed.rate < ceiling else None
    if passed is None:
        return failed.rate // 2 or None
    if failed.rate - passed.rate <= max(1.0, precision * passed.rate):
        return None
    return (passed.rate + failed.rate) // 2


@dataclass(frozen=True)
class Outcome:
    """What the search found (``ceiling``: the highest rate it was allowed to try); ``stopped``
    says why it ended early: ``client`` (the last step's client was the limit), ``connections``
    (the connections could not carry the lowest failed rate), ``failure`` (a worker or the
    server failed in the last step) or ``interrupted``; ``unmeasured``: the rate of a last step in
    which every worker failed and nothing was measured, which is no step (its 0 requests no verdict)."""

    steps: tuple[Step, ...]
    bracket: Bracket
    ceiling: int
    stopped: str | None = None
    unmeasured: int | None = None

    @property
    def failed_rate(self) -> int:
        """The rate of the step whose run failed (``stopped`` is ``failure``)."""
        return self.unmeasured if self.unmeasured is not None else self.steps[-1].rate

    @property
    def capacity(self) -> int | None:
        """The highest rate that met every SLO, when the search ended on its own."""
        if self.stopped is not None or self.bracket.passed is None:
            return None
        return self.bracket.passed.rate
