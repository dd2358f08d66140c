"""The outcome of a run, as an immutable value: what the workers measured and wrk's statistics.

A Result keeps the raw measurement and derives everything else on demand, so two results merge
exactly (add the measurements) and the statistics of the merge are those of the union of
samples. It renders nothing: the reports in :mod:`loadgen.report` take a Result.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, reduce
from itertools import accumulate
from typing import Any

from ._stats.stats import (
    Distribution,
    add_counts,
    in_flight_most,
    subtract_counts,
    wrk_corrected,
    wrk_expected_interval,
)
from .measurement import (
    SERVER_FAULTS,
    SOCKET_ERRORS,
    STREAM_RESET,
    ErrorKind,
    ErrorReason,
    Interval,
    Measurement,
    TargetMeasurement,
    WorkerCpu,
)
from .settings import Settings
from .target import parse_url

__all__ = [
    "BUSY",
    "NEVER_ANSWERED_SHARE",
    "RATE_SHORTFALL",
    "STARVED_SHARE",
    "ClientCpu",
    "ConnectionAccount",
    "Counts",
    "Errors",
    "Host",
    "Result",
    "Second",
    "TargetStats",
    "WorkerFailure",
    "check_result",
    "merge",
    "new_run_id",
    "one_target",
    "queued",
    "rate_held",
]

BUSY = 0.9  # a worker this busy (running, or waiting for a CPU) may be the bottleneck itself
# A window shorter than this is mostly the CPU of its start (connecting, the first requests): too
# short to call its worker the bottleneck (a -n1 run of a millisecond was "90% busy")
SHORTEST_JUDGED_S = 0.25
RATE_SHORTFALL = 0.02  # constant rate: achieved this much below the asked rate is worth a word
QUEUED = 1.5  # a request this many times as long as one the server did not queue (and 1 ms more): it queued
NEVER_ANSWERED_SHARE = 0.01  # this share of the connections without a response is worth a word
# Starvation: the busiest tenth of the answered connections got at least this share of the responses
# (a fair server gives them about a tenth), judged from 10 answered connections up.
BUSIEST_FRACTION = 0.1
STARVED_SHARE = 0.5
STARVED_MIN_CONNECTIONS = 10


class Counts(Mapping[Any, int]):
    """A read-only mapping of counts (status code -> responses, reason -> errors, ...)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[Any, int] | Iterable[tuple[Any, int]] = ()) -> None:
        self._data = {key: count for key, count in dict(data).items() if count}

    def __getitem__(self, key: Any) -> int:
        return int(self._data[key])

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Counts({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))


@dataclass(frozen=True)
class Errors:
    """wrk's error counters: socket errors, responses slower than the timeout, status > 399."""

    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0
    status: int = 0

    @property
    def socket(self) -> int:
        """What wrk's "Socket errors" line adds up."""
        return self.connect + self.read + self.write + self.timeout

    @classmethod
    def of(cls, m: Measurement | TargetMeasurement) -> Errors:
        """The counters of a run's measurement, or of one target's."""
        return cls(**{kind.value: m.errors_of(kind) for kind in ErrorKind})


@dataclass(frozen=True)
class WorkerFailure:
    """A worker process that could not finish: which one, and what happened to it."""

    index: int
    pid: int | None
    what: str  # "was killed by SIGKILL", "did not stop within 1s and was killed", ...
    lost: bool = False  # its measurement never came (it died with it): no figure of the run has it
    lost_requests: int | None = None  # then the requests it had counted, if known (not of a Dask worker that left)

    def __str__(self) -> str:
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        lost = f"; the {self.lost_requests:,} requests it had counted are lost with it" if self.lost_requests else ""
        return f"worker {self.index}{pid} {self.what}{lost}"


@dataclass(frozen=True)
class Host:
    """Where one worker of a run across a Dask cluster ran, and its share of the counts: the
    merged measurement cannot say which machine did what, or whether they started together."""

    worker: int
    address: str  # the Dask worker's address
    host: str  # its machine's host name
    requests: int
    errors: int  # socket errors, timeouts and statuses > 399, as the timeline counts them
    client_cpu: WorkerCpu
    start_offset_s: float  # its window began this long after the earliest worker's: the start skew


def new_run_id() -> str:
    """A run's id: random, so that two runs never share one (``loadgen merge`` refuses a run twice)."""
    return uuid.uuid4().hex


def rate_held(achieved: float, asked: float) -> bool:
    """A constant rate was held: achieved within the shortfall worth no word."""
    return achieved >= asked * (1 - RATE_SHORTFALL)


def queued(latency_s: float, unqueued_s: float) -> bool:
    """Requests that took ``latency_s`` each from their write waited in the server's queue, against
    ``unqueued_s`` for one that did not: a server at its capacity answers the connections' requests
    one after another, rate x latency reaching the connections (Little's law), which then look too
    few. Below a millisecond, half as long again is the machine's jitter."""
    return latency_s > max(QUEUED * unqueued_s, unqueued_s + 0.001)


@dataclass(frozen=True)
class ClientCpu:
    """How busy loadgen's own workers were: a worker near 100% means the numbers are the
    client's limit, not the server's."""

    workers: tuple[WorkerCpu, ...]

    @property
    def max_utilization(self) -> float:
        return max((worker.utilization for worker in self.workers), default=0.0)

    @property
    def busiest(self) -> int | None:
        """The index of the busiest worker (None when no worker reported)."""
        if not self.workers:
            return None
        return max(range(len(self.workers)), key=lambda i: self.workers[i].busy)

    @property
    def max_busy(self) -> float:
        """The busiest worker's share of the run spent running or waiting for a CPU."""
        return max((worker.busy for worker in self.workers), default=0.0)

    @property
    def saturated(self) -> bool:
        """A worker was busy enough, long enough, to be the bottleneck itself: the numbers may be the client's."""
        return any(worker.busy >= BUSY and worker.wall_s >= SHORTEST_JUDGED_S for worker in self.workers)


@dataclass(frozen=True)
class ConnectionAccount:
    """Every connection of a run accounted for: how many opened, how many the server answered,
    how evenly, how soon; and the concurrency the server really saw.

    A closed-loop client keeps one request in flight per connection, so ``-c`` is the load it
    means to offer; a server that leaves connections in its accept queue (or never reads them)
    serves fewer, and the figures describe only those. A connection that sent a request and got
    no response is *never answered* when its request waited longer than ``patience_us``: the
    timeout (a response that late would have been a timeout), or half the run when that is
    shorter; one that waited less was merely in flight when it closed or the run ended, and is
    neither answered nor never answered (nor is one never asked, in constant-rate mode).
    ``responses`` counts the answered and the never answered connections by the responses each
    got (0 for the latter); ``mean_in_flight`` is the mean number of requests the server had in
    hand, by Little's law: requests/sec x the mean latency.
    """

    opened: int
    responses: Distribution  # responses per connection -> connections
    first_response: Distribution  # µs from a connection's opening to its first response -> connections
    unanswered: Distribution  # µs its request waited, per connection without a response -> connections
    patience_us: int  # a longer wait without a response is "never answered"
    mean_in_flight: float
    # answered connections whose request had waited past the timeout at the end; none when no response
    # came under the timeout: each waited that long, the server's usual time, not a sign it stopped answering
    stalled: int = 0

    @property
    def answered(self) -> int:
        return self.responses.count - self.never_answered

    @property
    def never_answered(self) -> int:
        return self.responses.counts.get(0, 0)

    @property
    def never_answered_worth_a_word(self) -> bool:
        """1% or more of the connections never got a response while others did (with none answered at all,
        the server did not answer, which is said otherwise)."""
        return self.answered > 0 and self.never_answered >= NEVER_ANSWERED_SHARE * self.opened

    @property
    def stalled_worth_a_word(self) -> bool:
        """1% or more of the connections were answered, then left waiting past the timeout."""
        return self.stalled > 0 and self.stalled >= NEVER_ANSWERED_SHARE * self.opened

    @cached_property
    def busiest(self) -> tuple[int, float]:
        """The busiest tenth of the answered connections (how many) and their share of the responses."""
        answered = [(value, count) for value, count in self.responses.bins if value]
        total = sum(value * count for value, count in answered)
        take = math.ceil(BUSIEST_FRACTION * self.answered)
        left, got = take, 0
        for value, count in reversed(answered):
            used = min(count, left)
            got, left = got + used * value, left - used
            if not left:
                break
        return take, got / total if total else 0.0

    @property
    def starved(self) -> bool:
        """A few connections got almost every response: the busiest tenth of the answered ones got
        half or more (about a tenth on a fair server)."""
        return self.answered >= STARVED_MIN_CONNECTIONS and self.busiest[1] >= STARVED_SHARE


@dataclass(frozen=True)
class Second:
    """One second of the timeline, every worker's added together."""

    index: int
    interval: Interval
    end_us: int = 0  # from the window's start: (index + 1) s, but around a second a held worker closed late

    @property
    def start_s(self) -> float:
        return (self.end_us - self.interval.duration_us) / 1_000_000

    @property
    def requests(self) -> int:
        return self.interval.requests

    @property
    def duration_s(self) -> float:
        return self.interval.duration_us / 1_000_000

    @property
    def requests_per_sec(self) -> float:
        return self.interval.requests / self.duration_s if self.interval.duration_us else 0.0

    @property
    def errors(self) -> int:
        return sum(self.interval.errors.values())

    @property
    def bytes(self) -> int:
        return self.interval.bytes

    def errors_where(self, predicate: Callable[[ErrorReason], bool], shares: Mapping[ErrorKind, float]) -> float:
        """Its socket errors whose reason ``predicate`` accepts. A second read from a document written
        before the timeline kept reasons has their kinds only: each kind's errors taken in ``shares``
        (:meth:`Result.shares_of`, of the same predicate) then."""
        reasons = self.interval.error_reasons
        if reasons is None:
            return sum(count * shares.get(kind, 0.0) for kind, count in self.interval.errors.items())
        return sum(count for reason, count in reasons.items() if predicate(reason))

    @property
    def latency(self) -> Distribution:
        """Latencies of the responses completed in this second (measured, not corrected: wrk's
        correction is a property of the whole run; from the intended send time in -R mode).
        Built anew each time, not kept: kept, every second read (the JSON, the diagnosis of a -R
        run) held its own copy as long as the result, 95 bytes a distinct microsecond, 20 times the
        packed second (600 s at -R2000: 53 MB)."""
        return Distribution(self.interval.latency)


class _Counted:
    """What a measurement counted by status, by error reason and by kind: a run's and a
    target's alike."""

    measured: Measurement | TargetMeasurement

    @cached_property
    def status_counts(self) -> Counts:
        return Counts(self.measured.status_counts)

    @cached_property
    def error_reasons(self) -> Counts:
        """:class:`loadgen.measurement.ErrorReason` -> count."""
        return Counts(self.measured.error_reasons)

    @cached_property
    def errors(self) -> Errors:
        return Errors.of(self.measured)

    @cached_property
    def lost_nothing(self) -> int:
        """Socket errors that cost no request: a close of an idle connection (as wrk counts it), a
        malformed response to an idle one (-R)."""
        return sum(count for reason, count in self.measured.error_reasons.items() if reason.lost_nothing)

    def shares_of(self, predicate: Callable[[ErrorReason], bool]) -> dict[ErrorKind, float]:
        """Each socket kind's share of its errors whose reason ``predicate`` accepts: how a second
        that kept the kinds of its errors only (a document written before the timeline kept their
        reasons) is apportioned (exact over the whole run)."""
        return {kind: self._share_of(kind, predicate) for kind in SOCKET_ERRORS}

    def _share_of(self, kind: ErrorKind, predicate: Callable[[ErrorReason], bool]) -> float:
        of_kind = [(reason, count) for reason, count in self.measured.error_reasons.items() if reason.kind is kind]
        total = sum(count for _, count in of_kind)
        return sum(count for reason, count in of_kind if predicate(reason)) / total if total else 0.0

    @property
    def ended(self) -> int:
        """The requests that ended: responses, and requests lost to a socket error. An error that
        lost none is no request: counted as one, errors and responses added up to more than was sent."""
        errors = self.errors
        return self.measured.requests + errors.connect + errors.read + errors.write - self.lost_nothing

    @property
    def ended_in_error(self) -> int:
        """The requests of :attr:`ended` that ended in an error: socket errors, timeouts and
        statuses > 399, less the errors that cost no request (the ``errors`` threshold's share)."""
        errors = self.errors
        return errors.socket + errors.status - self.lost_nothing


@dataclass(frozen=True)
class TargetStats(_Counted):
    """One target of a run with several (``--targets``): its figures, derived as the run's are.

    ``latency`` is its responses' latency: in the closed loop as measured, from each write; in
    constant-rate mode from each request's intended send time, as :attr:`Result.latency`. wrk's
    correction is the run's alone: its synthetic samples stand for requests a stalled connection
    did not send, which would have gone to whichever target came next, so charged to the slow
    target they made its percentiles lower than any response it gave (and, hidden below its
    minimum as wrk hides them, 0 µs). The targets' histograms add up to the run's measured ones."""

    measured: TargetMeasurement
    runtime_us: int
    paced: bool

    @property
    def label(self) -> str:
        return self.measured.label

    @property
    def requests(self) -> int:
        return self.measured.requests

    @property
    def requests_per_sec(self) -> float:
        return self.requests / (self.runtime_us / 1_000_000) if self.runtime_us else 0.0

    def __repr__(self) -> str:
        """A line, not every histogram (the dataclass's repr of a 3 s run's target ran to kilobytes)."""
        return f"<loadgen.TargetStats {self.label}: {self.requests:,} requests, {self.requests_per_sec:,.1f} req/s>"

    @cached_property
    def latency_uncorrected(self) -> Distribution:
        return Distribution(self.measured.latency_from_write) if self.paced else self.latency

    @cached_property
    def latency(self) -> Distribution:
        return Distribution(self.measured.latency)


@dataclass(frozen=True)
class Result(_Counted):
    """What a run measured: ``runs`` are the settings of the run (several when results made
    apart were added), ``measured`` the workers' measurements added up, ``runtime_us`` the
    measured window. Latencies are integer microseconds.

    ``latency`` is what the report shows: in the default closed-loop mode wrk's correction for
    coordinated omission applied to the measured latencies (``latency_uncorrected``); in
    constant-rate mode the latency from each request's intended send time, while
    ``latency_uncorrected`` counts from the actual write.

    ``run_ids`` has one id per entry of ``runs`` (None for a run read from a document that had
    none); a Result made without them is a new run, and gets new ones.
    """

    runs: tuple[Settings, ...]
    measured: Measurement
    runtime_us: int
    interrupted: bool = False
    worker_failures: tuple[WorkerFailure, ...] = ()
    hosts: tuple[Host, ...] = ()  # one per worker of a run across a Dask cluster; none for a local run
    run_ids: tuple[str | None, ...] = ()

    def __repr__(self) -> str:
        """A line (the dataclass's repr of a 3 s run held every histogram: 92,408 characters) that
        names what was loaded as the report's first line does: a run of targets by its server and
        their count, not by the first target's URL alone."""
        workers = f"{self.workers} worker{'' if self.workers == 1 else 's'}"
        interrupted = ", interrupted" if self.interrupted else ""
        return (
            f"<loadgen.Result {self.requests:,} requests in {self.runtime_s:.2f}s, {self.requests_per_sec:,.1f} req/s, "
            f"{workers}{interrupted}, {self.title}>"
        )

    @property
    def title(self) -> str:
        """What the report's first line says was loaded: the first run's URL, or its targets' server
        and how many targets this result holds (runs of other targets merged by ``--force`` hold
        them all: their count was the first run's)."""
        return self.runs[0].title_of(len(self.measured.targets))

    def __hash__(self) -> int:
        """Its run ids, which equal results share: hashable as a frozen dataclass is expected to be
        (a key, in a set), though its measurement, a mutable record, is not (the dataclass's hash of
        every field raised TypeError naming Measurement)."""
        return hash(self.run_ids)

    def __post_init__(self) -> None:
        if not self.run_ids:
            object.__setattr__(self, "run_ids", tuple(new_run_id() for _ in self.runs))
        elif len(self.run_ids) != len(self.runs):
            raise ValueError(f"{len(self.run_ids)} run ids for {len(self.runs)} runs")

    # -- what was run ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.runs[0].url

    @property
    def threads(self) -> int:
        """Worker processes asked for, over every run added in."""
        return sum(run.threads for run in self.runs)

    @property
    def connections(self) -> int:
        return sum(run.connections for run in self.runs)

    @property
    def protocol(self) -> str:
        """The wire protocol the run spoke, ``http/1.1`` or ``h2`` (a document from before HTTP/2 has
        none: HTTP/1.1)."""
        return self.measured.protocol or "http/1.1"

    @property
    def streams_capped(self) -> int | None:
        """HTTP/2: the largest stream limit a server set below -m (None: it capped none), which
        each connection's streams then carried at most."""
        return max(self.measured.stream_limits, default=None)

    @property
    def in_flight_most(self) -> int:
        """The most requests the connections carry at once: -c, times the streams each keeps open
        over HTTP/2 (as the server's limit capped them). A rate needs rate x latency of them
        (Little's law): against -c alone, -m10 read as ten times too few."""
        return in_flight_most(((run.connections, run.streams) for run in self.runs), self.streams_capped)

    @property
    def duration(self) -> float | None:
        """The longest duration asked for (None when every run was bounded by a count only)."""
        return max((run.duration for run in self.runs if run.duration is not None), default=None)

    @property
    def rate(self) -> float | None:
        """The total constant rate asked for (constant-rate runs only)."""
        return sum(run.rate for run in self.runs if run.rate is not None) if self.paced else None

    @property
    def paced(self) -> bool:
        """Constant-rate (open model) run."""
        return self.runs[0].paced

    @property
    def lost_workers(self) -> tuple[WorkerFailure, ...]:
        """The failures of workers that took their measurement with them (killed, died): the figures
        have nothing of theirs."""
        return tuple(failure for failure in self.worker_failures if failure.lost)

    @property
    def reported_workers(self) -> int:
        """The workers whose figures came: all but those lost with their measurement."""
        return max(0, self.threads - len(self.lost_workers))

    @property
    def reported_share(self) -> float:
        """The share of the load asked that the figures describe: each worker is asked -R / -t (and
        --stages / -t), so a worker that died with its measurement took its share out of them (a run
        judged against the whole rate read as a server that answered half of it)."""
        return self.reported_workers / self.threads if self.lost_workers and self.threads else 1.0

    def worker_at(self, position: int) -> int:
        """The index of the worker whose figures are at ``position`` among the measured workers'
        (``client_cpu.workers``, in the workers' order): one lost with its measurement has none, so
        that -t2's position 0 is worker 1's when worker 0 died (its line named the dead one busy).
        The one mapping: the diagnosis's, the live view's final second's, the JSON document's."""
        lost = {failure.index for failure in self.lost_workers}
        reported = [index for index in range(self.threads) if index not in lost]
        return reported[position] if position < len(reported) else position

    # -- counts ------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self.measured.requests

    @property
    def bytes(self) -> int:
        return self.measured.bytes

    @property
    def workers(self) -> int:
        """Workers whose measurement arrived."""
        return self.measured.workers

    @property
    def loop(self) -> str:
        return self.measured.loop

    @property
    def connections_opened(self) -> int:
        return self.measured.connections_opened

    @property
    def peak_open_connections(self) -> int:
        return self.measured.peak_open

    @property
    def script_globals(self) -> tuple[dict[str, object], ...]:
        return self.measured.script_globals

    @property
    def script_error(self) -> str | None:
        return self.measured.script_error

    @cached_property
    def failures(self) -> Counts:
        """The server's faults: ``malformed`` and ``truncated`` responses."""
        return Counts({cause.split()[0]: self.errors_with(cause) for cause in SERVER_FAULTS})

    @property
    def streams_reset(self) -> int:
        """HTTP/2: streams the server reset (each one read error)."""
        return self.errors_with(STREAM_RESET)

    def errors_with(self, cause: str) -> int:
        return sum(count for reason, count in self.measured.error_reasons.items() if reason.cause == cause)

    def reasons(self, predicate: Any, seconds: Iterable[Second] | None = None) -> list[tuple[ErrorReason, int]]:
        """The error reasons ``predicate`` accepts, most frequent first (equal counts in the reasons' order): the
        run's, or over ``seconds`` of its timeline (a stage's), those it had none of there left out."""
        if seconds is not None:
            counted = self._reasons_over(predicate, seconds)
        else:
            counted = [(reason, count) for reason, count in self.measured.error_reasons.items() if predicate(reason)]
        return sorted(counted, key=lambda pair: (-pair[1], pair[0]))

    def _reasons_over(self, predicate: Any, seconds: Iterable[Second]) -> list[tuple[ErrorReason, int]]:
        """The errors of each reason ``predicate`` accepts over these seconds, in one pass over them (see
        :meth:`Second.errors_where`: a second that kept its kinds only has each reason's share of them)."""
        reasons = [reason for reason in self.measured.error_reasons if predicate(reason)]
        shares = [self.shares_of(reason.__eq__) for reason in reasons]
        over = [0.0] * len(reasons)
        for second in seconds:
            over = [
                count + second.errors_where(reason.__eq__, share)
                for count, reason, share in zip(over, reasons, shares, strict=True)
            ]
        return [(reason, round(count)) for reason, count in zip(reasons, over, strict=True) if round(count)]

    @cached_property
    def client_cpu(self) -> ClientCpu:
        return ClientCpu(self.measured.client_cpu)

    # -- statistics --------------------------------------------------------------------------

    @cached_property
    def latency_uncorrected(self) -> Distribution:
        """Latency as measured from the actual write of each request."""
        return Distribution(self.measured.latency_from_write if self.paced else self.measured.latency)

    @cached_property
    def latency(self) -> Distribution:
        """Latency corrected for coordinated omission (see the class docstring)."""
        if self.paced:
            return Distribution(self.measured.latency)
        return wrk_corrected(Distribution(self.measured.latency), self._expected_interval_us)

    @property
    def _expected_interval_us(self) -> int | None:
        """wrk's interval between requests on one connection (over HTTP/2, one stream), for its
        correction (closed loop)."""
        return wrk_expected_interval(self.runtime_us, self.requests, self.in_flight_most)

    @cached_property
    def connect(self) -> Distribution:
        """Each connection's TCP set-up, µs."""
        return Distribution(self.measured.connect)

    @cached_property
    def tls_handshake(self) -> Distribution:
        """Each connection's TLS handshake after its TCP set-up, µs (https only)."""
        return Distribution(self.measured.tls_handshake)

    @cached_property
    def first_byte(self) -> Distribution:
        """From the write of a batch to the first byte of its response, µs: the latency itself
        where the response came in one read, the time of its first read where it came in several."""
        m = self.measured
        base = m.latency_from_write if self.paced else m.latency
        return Distribution(add_counts(subtract_counts(base, m.latency_split), m.first_byte_split))

    @cached_property
    def per_connection(self) -> ConnectionAccount:
        """Every connection accounted for (``connections`` is the count asked for)."""
        m = self.measured
        patience = min(round(max(run.timeout for run in self.runs) * 1_000_000), self.runtime_us // 2)
        never = sum(count for waited, count in m.unanswered.items() if waited > patience)
        return ConnectionAccount(
            m.connections_opened,
            Distribution(add_counts(m.connection_responses, {0: never})),
            Distribution(m.first_response),
            Distribution(m.unanswered),
            patience,
            self.requests_per_sec * self._mean_latency_us / 1_000_000,
            m.stalled_at_end if self.latency_uncorrected.count else 0,
        )

    @property
    def _mean_latency_us(self) -> float:
        """The mean latency from the write of every response that completed, the timeouts too
        (constant rate: those under the timeout, as ``latency_uncorrected`` keeps them; when none came
        under it, the timeouts' mean from the intended send time, all that is kept of them, as
        :attr:`quickest_s` takes it: 3 s responses at --timeout 2s and -R 5 were "0 requests in
        flight on average")."""
        m = self.measured
        if self.paced and not m.latency_from_write and m.timeouts:
            return self.timeouts_mean_us
        if self.paced:
            latency, timeouts, timed_out_us = m.latency_from_write, 0, 0
        else:
            latency, timeouts, timed_out_us = m.latency, m.timeouts, m.timed_out_us
        samples = sum(latency.values()) + timeouts
        total = sum(value * count for value, count in latency.items()) + timed_out_us
        return total / samples if samples else 0.0

    @cached_property
    def targets(self) -> tuple[TargetStats, ...]:
        """Each target of a run with several (``--targets``), in the order given; none otherwise."""
        return tuple(TargetStats(target, self.runtime_us, self.paced) for target in self.measured.targets)

    def target(self, label: str) -> TargetStats | None:
        """The target named ``label``, or None (by a table: ``compare`` and the HTML report look
        every target up, which a search made quadratic: 29 s for two runs of 10,000 targets)."""
        return self._targets_by_label.get(label)

    @cached_property
    def _targets_by_label(self) -> dict[str, TargetStats]:
        by_label: dict[str, TargetStats] = {}
        for target in self.targets:
            by_label.setdefault(target.label, target)
        return by_label

    @cached_property
    def timeline(self) -> tuple[Second, ...]:
        """The measured window second by second (the last second may be shorter)."""
        intervals = self.measured.timeline
        ends = accumulate(interval.duration_us for interval in intervals)
        return tuple(Second(index, *pair) for index, pair in enumerate(zip(intervals, ends, strict=True)))

    def errors_by_second(self, predicate: Callable[[ErrorReason], bool]) -> tuple[float, ...]:
        """Each second's socket errors whose reason ``predicate`` accepts, second i at index i
        (:meth:`Second.errors_where`): the idle closes a comparison leaves out of the error rate, the
        requests a diagnosis says the server failed. Taken in the run's shares (one request lost in a
        run of idle closes, a part of it in every second that had one), a second it was not lost in
        looked like one it was, and compare called one lost request of 161 a significant regression."""
        shares = self.shares_of(predicate)
        return tuple(second.errors_where(predicate, shares) for second in self.timeline)

    @property
    def quickest_s(self) -> float:
        """How long a request the server did not queue took, from its write: the quickest response
        under --timeout; when none came under it (all counted as timeouts, in no latency figure),
        their mean, from the intended send time under -R (all that is kept of them)."""
        if self.latency_uncorrected.count:
            return self.latency_uncorrected.min / 1_000_000
        return self.timeouts_mean_us / 1_000_000

    @property
    def timeouts_mean_us(self) -> float:
        """The mean time of the responses counted as timeouts (from the intended send time under -R), in
        no latency figure: all that is kept of them; 0 when there were none."""
        m = self.measured
        return m.timed_out_us / m.timeouts if m.timeouts else 0.0

    def in_flight_on_schedule(self, at_s: float, *, window_end: bool = False) -> float:
        """The requests in flight ``at_s`` seconds into the window that were sent on schedule and
        had not yet had the server's time to come back: no rate counts them (wrk2's leaves them out,
        as the report does), so a rate is judged with them. By Little's law, those asked in the
        :attr:`quickest_s` before it, the server's time for a request it did not queue, so that a
        queue is never taken for them; none at the window's start. At its end (``window_end``), no
        more than were measured in flight, less one for each connection the server had left waiting
        past --timeout (it stopped answering them: those stay short)."""
        latency = min(self.quickest_s, at_s)
        if latency <= 0:
            return 0.0
        due = sum((run.asked_per_sec(at_s - latency, at_s) or 0.0) * latency for run in self.runs)
        due *= self.reported_share
        if not window_end:
            return due
        return min(due, max(0, self.measured.in_flight_at_end - self.per_connection.stalled))

    def asked_per_sec(self, second: Second) -> float | None:
        """The rate asked for during a second of the timeline (-R, or as --stages ramps it);
        None in a closed loop."""
        if not self.paced or not second.duration_s:
            return None
        start, end = second.start_s, second.start_s + second.duration_s
        return sum(run.asked_per_sec(start, end) or 0.0 for run in self.runs)

    @cached_property
    def req_per_sec(self) -> Distribution:
        """Per-worker request rates sampled every 100 ms (wrk's Req/Sec)."""
        return Distribution(self.measured.req_per_sec)

    @property
    def runtime_s(self) -> float:
        return self.runtime_us / 1_000_000

    @property
    def requests_per_sec(self) -> float:
        return self.requests / self.runtime_s if self.runtime_us else 0.0

    @property
    def transfer_per_sec(self) -> float:
        """Bytes read per second."""
        return self.bytes / self.runtime_s if self.runtime_us else 0.0

    # -- merging -----------------------------------------------------------------------------

    def __radd__(self, other: object) -> Result:
        """``sum(results)``: its start, 0, and the first result are that result."""
        if other == 0:
            return self
        return NotImplemented

    def __add__(self, other: Result) -> Result:
        """Two runs (or two machines' shares of one) as one: measurements add, runtimes overlap."""
        if not isinstance(other, Result):
            return NotImplemented
        if self.paced != other.paced:
            raise ValueError("a constant-rate result and a closed-loop one measure different latencies")
        return Result(
            runs=self.runs + other.runs,
            measured=self._as_targets(other) + other._as_targets(self),
            runtime_us=max(self.runtime_us, other.runtime_us),
            interrupted=self.interrupted or other.interrupted,
            # numbered across the runs, as their workers' figures are (a failure named by its own run's index
            # took -t2 + -t2's worker 1 for the first run's: the busy line and client_cpu's names went wrong)
            worker_failures=self.worker_failures
            + tuple(replace(failure, index=failure.index + self.threads) for failure in other.worker_failures),
            hosts=self.hosts + tuple(replace(host, worker=host.worker + self.threads) for host in other.hosts),
            run_ids=self.run_ids + other.run_ids,
        )

    def _as_targets(self, other: Result) -> Measurement:
        """The measurement, a run of one URL's made its one target when ``other`` ran several (as
        ``loadgen merge`` sees it): else the targets of the sum would not add up to its requests."""
        if self.measured.targets or not other.measured.targets:
            return self.measured
        m = self.measured
        reasons = {reason: count for reason, count in m.error_reasons.items() if reason.kind is not ErrorKind.CONNECT}
        target = TargetMeasurement(
            one_target(self),
            m.requests,
            m.timeouts,
            m.timed_out_us,
            m.status_counts,
            reasons,
            m.latency,
            m.latency_from_write,
        )
        return replace(m, targets=(target,))


def merge(results: Iterable[Result]) -> Result:
    """Several results as one (see :meth:`Result.__add__`); at least one."""
    results = list(results)
    if not results:
        raise ValueError("merge needs at least one result")
    for result in results:
        check_result(result, "each of merge(results) must be")
    return reduce(lambda a, b: a + b, results)


def one_target(result: Result) -> str:
    """The label of a run of one URL as a target, as a targets file would name it (``GET /a``)."""
    return f"{result.runs[0].method} {parse_url(result.url).path}"


def check_result(given: object, takes: str) -> None:
    """The TypeError a public function given something else than a Result raises at once, naming
    itself and its argument (``takes``: "to_json(result) takes"), as Python's own functions do:
    not an AttributeError from deep inside."""
    if not isinstance(given, Result):
        raise TypeError(f"{takes} a loadgen Result, not {type(given).__name__}")
