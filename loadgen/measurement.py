"""What a worker measures, declared once: the fields, how two workers' values combine, and the
typed reasons for socket errors.

A worker records into a :class:`Tally` (a :class:`Measurement` with the hot-path methods) and
sends back a plain :class:`Measurement`; the parent adds them (``a + b``), and
:class:`loadgen.Result` derives every figure from the sum. A new measurement is one new field
here with its merge rule; the JSON document and its schema are checked against these fields by
the test suite, so one forgotten there fails a test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass, field, fields
from enum import StrEnum
from functools import reduce
from itertools import accumulate, pairwise, zip_longest
from typing import Any, NamedTuple

from ._stats.stats import PackedCounts, add_counts

__all__ = [
    "ErrorKind",
    "ErrorReason",
    "Interval",
    "Measurement",
    "Stage",
    "Tally",
    "TargetMeasurement",
    "TargetTally",
    "WorkerCpu",
    "error_statuses",
    "is_error_status",
]


class ErrorKind(StrEnum):
    """wrk's error counters. A socket error (an :class:`ErrorReason`) adds to one of the first
    three; a response slower than the timeout counts as ``timeout``, one with an error status as
    ``status``."""

    CONNECT = "connect"
    READ = "read"
    WRITE = "write"
    TIMEOUT = "timeout"
    STATUS = "status"


SOCKET_ERRORS = (ErrorKind.CONNECT, ErrorKind.READ, ErrorKind.WRITE)  # the kinds an ErrorReason has


def is_error_status(status: int) -> bool:
    """The one definition of a response that counts as an error (wrk's "Non-2xx or 3xx")."""
    return status > 399


def error_statuses(status_counts: dict[int, int]) -> int:
    """How many of the responses counted by status have an error status."""
    return sum(count for status, count in status_counts.items() if is_error_status(status))


class Stage(StrEnum):
    """Where on a connection the error happened."""

    CONNECT = "connect"
    TLS = "TLS handshake"
    EXCHANGE = "exchange"


class ErrorReason(NamedTuple):
    """One kind of socket error: its counter, where it happened, why (an errno name, OpenSSL's
    reason for a TLS error, or what the server did) and, for a malformed response, what was wrong
    with it."""

    kind: ErrorKind
    stage: Stage
    cause: str
    detail: str = ""

    @property
    def lost_nothing(self) -> bool:
        """The server closed a connection that had no request in flight (counted, as wrk counts it),
        or sent one a malformed response: an error, but no request that ended."""
        return self.cause == CLOSED_WHILE_IDLE or self.detail.endswith(NONE_LOST)

    @property
    def lost_request(self) -> bool:
        """A request in flight ended with it: an error in an exchange that lost some. A connection
        that could not be made (refused, its handshake failed) had sent none, and is opened again."""
        return self.stage is Stage.EXCHANGE and not self.lost_nothing


MALFORMED = "malformed response"
TRUNCATED = "truncated response"
CLOSED_BY_SERVER = "closed by server"
CLOSED_WHILE_IDLE = "closed while idle"  # by the server, with no request in flight: none lost
NONE_LOST = "; it came to an idle connection: no request was lost"  # the end of a malformed response's detail then
STREAM_RESET = "stream reset"  # HTTP/2: a stream the server reset (detail: the error code's name)
GOAWAY_CAUSE = "GOAWAY"  # HTTP/2: a GOAWAY with an error code (detail: the code's name and debug data)
SERVER_FAULTS = (MALFORMED, TRUNCATED)  # a broken server, as opposed to a busy or closing one


@dataclass(frozen=True)
class WorkerCpu:
    """A worker's own CPU time (user + system) over its measured window, that window, the time
    it was ready to run but waited for a CPU (Linux; 0 elsewhere), and the time its script's hooks
    held its event loop (computing, or sleeping or waiting on I/O, which no CPU time shows)."""

    cpu_s: float
    wall_s: float
    waiting_s: float = 0.0
    hooks_s: float = 0.0

    @classmethod
    def between(cls, start: tuple[float, float, float], end: tuple[float, float, float], wall_s: float) -> WorkerCpu:
        """From ``start`` to ``end``: each the CPU, waiting and hooks seconds so far (``sampling.usage``)."""
        return cls(end[0] - start[0], wall_s, end[1] - start[1], end[2] - start[2])

    @property
    def utilization(self) -> float:
        """The share of one core the worker used."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def busy(self) -> float:
        """The share of the window the worker wanted a CPU (running or waiting for one): near
        1.0 its event loop never waited for the network, and the client itself is the limit,
        even when other processes on its core kept its utilization lower. At most 1.0: its
        CPU counts every thread's, and its wait the main thread's, so the sum can pass the window."""
        return min(1.0, (self.cpu_s + self.waiting_s) / self.wall_s) if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class Interval:
    """One second (the last one may be shorter) of a worker's measured window: what completed
    in it. Intervals of workers that started together add up second by second."""

    duration_us: int
    requests: int = 0
    bytes: int = 0
    errors: dict[ErrorKind, int] = field(default_factory=dict)  # every kind of error -> count
    latency: Mapping[int, int] = field(default_factory=dict)  # µs -> count, as ``Measurement.latency`` (packed)
    # the socket errors of ``errors`` by reason; None where they are not known (a document written before the
    # timeline kept them, by kind only), and are taken in the run's shares (:meth:`loadgen.result.Second.errors_where`)
    error_reasons: dict[ErrorReason, int] | None = None

    def __add__(self, other: Interval) -> Interval:
        return _sum_intervals([self, other])


def _sum_timelines(*timelines: tuple[Interval, ...]) -> tuple[Interval, ...]:
    """Second i of every worker that has one, added up (a timeline may be the shorter). It ends
    when the last of theirs did, from each one's start: a second a held worker closed late leaves
    the next as much shorter, as a worker's own timeline does, so that the seconds after it still
    end on whole seconds and add up to the window (as long as each second's longest, they drifted
    later by every hold, and a ramp's rate asked was another second's)."""
    ends = [max(at) for at in zip_longest(*(accumulate(x.duration_us for x in t) for t in timelines), fillvalue=0)]
    return tuple(
        _sum_intervals([x for x in seconds if x is not None], end - start)
        for seconds, (start, end) in zip(zip_longest(*timelines), pairwise([0, *ends]), strict=True)
    )


def _sum_intervals(intervals: list[Interval], duration_us: int | None = None) -> Interval:
    """``a + b + ...``, each histogram added up once, as long as ``duration_us`` (None: the longest).
    The latencies stay packed, as a worker keeps them: as dicts, the parent's timeline took 26 times
    its workers' (a second of 3,300 distinct microseconds: 245 KB, not 9.3 KB)."""
    return Interval(
        max(interval.duration_us for interval in intervals) if duration_us is None else duration_us,
        sum(interval.requests for interval in intervals),
        sum(interval.bytes for interval in intervals),
        add_counts(*(interval.errors for interval in intervals)),
        PackedCounts(add_counts(*(interval.latency for interval in intervals))),
        _sum_reasons([interval.error_reasons for interval in intervals]),
    )


def _sum_reasons(reasons: list[dict[ErrorReason, int] | None]) -> dict[ErrorReason, int] | None:
    """Every interval's socket errors by reason, unknown if any one's are."""
    known = [counts for counts in reasons if counts is not None]
    return add_counts(*known) if len(known) == len(reasons) else None


@dataclass(frozen=True)
class TargetMeasurement:
    """What one target of a run with several (``--targets``) measured, named by its label: its
    share of the run's responses, statuses, errors and latencies, recorded as the totals are."""

    label: str
    requests: int = 0
    timeouts: int = 0
    timed_out_us: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    error_reasons: dict[ErrorReason, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)
    latency_from_write: dict[int, int] = field(default_factory=dict)

    def __add__(self, other: TargetMeasurement) -> TargetMeasurement:
        return TargetMeasurement(
            self.label,
            self.requests + other.requests,
            self.timeouts + other.timeouts,
            self.timed_out_us + other.timed_out_us,
            add_counts(self.status_counts, other.status_counts),
            add_counts(self.error_reasons, other.error_reasons),
            add_counts(self.latency, other.latency),
            add_counts(self.latency_from_write, other.latency_from_write),
        )

    def errors_of(self, kind: ErrorKind) -> int:
        return errors_of(self, kind)


def errors_of(m: Measurement | TargetMeasurement, kind: ErrorKind) -> int:
    """The errors of one counter: socket errors by their reasons, timeouts, error statuses."""
    if kind is ErrorKind.TIMEOUT:
        return m.timeouts
    if kind is ErrorKind.STATUS:
        return error_statuses(m.status_counts)
    return sum(count for reason, count in m.error_reasons.items() if reason.kind is kind)


def _add_targets(a: tuple[TargetMeasurement, ...], b: tuple[TargetMeasurement, ...]) -> tuple[TargetMeasurement, ...]:
    """The targets of both, matched by label, in the order they first appear."""
    merged = {target.label: target for target in a}
    for target in b:
        merged[target.label] = merged[target.label] + target if target.label in merged else target
    return tuple(merged.values())


def _sum(a: Any, b: Any) -> Any:
    return a + b


def _first(a: Any, b: Any) -> Any:
    return a if a else b


def _merged(
    rule: Callable[..., Any],
    default: Any = None,
    factory: Callable[[], Any] | None = None,
    *,
    variadic: bool = False,
) -> Any:
    """A field that merges by ``rule`` (two values); ``variadic``: ``rule`` takes any number, so
    :meth:`Measurement.sum` merges every part in one pass (a fold would copy a growing histogram
    once per part)."""
    metadata: dict[str, Any] = {"merge": rule, "variadic": variadic}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _merge_all(f: Field[Any], empty: Any, parts: list[Measurement]) -> Any:
    """One field of every part merged, as a fold from the field's empty value would."""
    values = [getattr(part, f.name) for part in parts]
    if f.metadata["variadic"]:
        return f.metadata["merge"](empty, *values)
    return reduce(f.metadata["merge"], values, empty)


def _counter() -> Any:
    return _merged(_sum, 0)


def _counts() -> Any:
    return _merged(add_counts, factory=dict, variadic=True)


@dataclass(slots=True)
class Measurement:
    """Counts and exact histograms from one worker, or from several added together.

    Latencies are whole microseconds. ``latency`` is measured from the first write of a batch
    to the end of its last response (from the batch's intended send time in constant-rate mode);
    ``latency_from_write`` is kept in constant-rate mode only, measured from the actual write.

    The latency phases: ``connect`` is each TCP connection's set-up, ``tls_handshake`` its TLS
    handshake after that (https only). The time to the first byte of a response is the same read
    as its last byte for almost every response, so only the batches whose response arrived in
    several reads are kept apart: ``first_byte_split`` and ``latency_split`` (measured from the
    write) hold them, and :attr:`loadgen.Result.first_byte` is derived; the hottest path records
    nothing more.

    Every connection is accounted for when it closes or the run stops: ``connection_responses``
    counts the answered ones by the responses each got, ``first_response`` by the time from their
    opening to the end of their first response; ``unanswered`` counts those that sent a request
    and got no response by how long it had waited (:class:`loadgen.Result` decides which of them
    were never answered, since a request sent just before the end proves nothing).
    ``in_flight_at_end`` counts the requests those open at the stop had written and not yet seen
    answered: sent within the window, though no response counts them. ``stalled_at_end`` counts
    those of the connections open at the stop that the server had answered before and whose request
    in flight had waited longer than ``--timeout``: it stopped answering them, which neither a
    response nor a timeout (a response that came late) shows. ``opening_at_end`` counts the
    connections still on their way at the stop (their connect, TLS handshake or HTTP/2 SETTINGS
    begun and not done): they took no part in the run's end.
    ``timed_out_us`` adds up the latencies counted in ``timeouts`` (measured as ``latency`` is), so
    that the mean of every latency is known.
    """

    workers: int = _counter()
    requests: int = _counter()
    bytes: int = _counter()
    timeouts: int = _counter()  # responses slower than --timeout: counted, not in ``latency``
    timed_out_us: int = _counter()  # their latencies, added up
    status_counts: dict[int, int] = _counts()
    error_reasons: dict[ErrorReason, int] = _counts()
    latency: dict[int, int] = _counts()
    latency_from_write: dict[int, int] = _counts()
    req_per_sec: dict[int, int] = _counts()  # wrk's Req/Sec: rates sampled every 100 ms -> count
    timeline: tuple[Interval, ...] = _merged(_sum_timelines, (), variadic=True)  # second by second
    connect: dict[int, int] = _counts()
    tls_handshake: dict[int, int] = _counts()
    first_byte_split: dict[int, int] = _counts()
    latency_split: dict[int, int] = _counts()
    connections_opened: int = _counter()
    connection_responses: dict[int, int] = _counts()  # responses on one connection -> connections
    first_response: dict[int, int] = _counts()  # µs from a connection's opening to its first response -> connections
    unanswered: dict[int, int] = _counts()  # µs its request waited, on a connection never answered -> connections
    peak_open: int = _counter()  # the most connections open at once taking requests, summed over workers
    opening_at_end: int = _counter()  # connections still on their way when the window ended (see above)
    in_flight_at_end: int = _counter()  # requests written and not yet answered when the window ended
    begun_at_end: int = _counter()  # of those, the ones whose response had begun (its head had arrived)
    stalled_at_end: int = _counter()  # answered connections whose request waited past --timeout at the end
    protocol: str = _merged(_first, "")  # the wire protocol spoken: "http/1.1" or "h2"
    goaways: int = _counter()  # HTTP/2: GOAWAY frames the server sent
    replaced_while_draining: int = _counter()  # HTTP/2: connections replaced after a GOAWAY, streams left
    pings: int = _counter()  # HTTP/2: PING frames the server sent (each answered)
    window_blocked_at_end: int = _counter()  # HTTP/2: of in_flight_at_end, requests whose content waited for window
    stream_limits: dict[int, int] = _counts()  # HTTP/2: a server's stream limit below -m -> connections it capped
    zero_streams_at_end: int = _counter()  # HTTP/2: connections that had sent, held at a stream limit of 0 at the end
    elapsed_us: int = _merged(max, 0)  # workers run side by side: the longest one is the run
    loop: str = _merged(_first, "")
    client_cpu: tuple[WorkerCpu, ...] = _merged(_sum, ())
    script_globals: tuple[dict[str, object], ...] = _merged(_sum, ())  # one per worker, in order
    script_error: str | None = _merged(_first)  # a hook raised: file:line: message
    targets: tuple[TargetMeasurement, ...] = _merged(_add_targets, ())  # --targets: each one's share; else none

    def __repr__(self) -> str:
        """A line, as a Result's (the dataclass's held every histogram: 8,327 characters for a 0.5 s run)."""
        workers = f"{self.workers} worker{'' if self.workers == 1 else 's'}"
        targets = f", {len(self.targets)} targets" if self.targets else ""
        return (
            f"<loadgen.Measurement {self.requests:,} requests in {self.elapsed_us / 1e6:.2f}s, {workers}, "
            f"{self.connections_opened:,} connections opened{targets}>"
        )

    def __add__(self, other: Measurement) -> Measurement:
        return Measurement(
            **{f.name: f.metadata["merge"](getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        )

    @classmethod
    def sum(cls, parts: Iterable[Measurement]) -> Measurement:
        """``cls() + a + b + ...``, each field merged over every part at once."""
        parts = list(parts)
        empty = cls()
        return cls(**{f.name: _merge_all(f, getattr(empty, f.name), parts) for f in fields(cls)})

    def errors_of(self, kind: ErrorKind) -> int:
        return errors_of(self, kind)

    def error_counts(self) -> dict[ErrorKind, int]:
        """Every counter's errors, the kinds with none left out (the timeline's form)."""
        return {kind: count for kind in ErrorKind if (count := self.errors_of(kind))}


class Tally(Measurement):
    """A worker's measurement while it runs: what connections record into, as wrk's connections
    write into their thread's counters. Hot fields count with ``defaultdict``."""

    __slots__ = ("per_target", "target_labels", "timeout_us")

    def __init__(self, timeout_us: int, target_labels: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.timeout_us = timeout_us
        for f in fields(Measurement):
            if isinstance(getattr(self, f.name), dict):
                setattr(self, f.name, defaultdict(int))
        self.target_labels = target_labels
        # A run with several targets gives each target a tally of its own, which records into the
        # totals as well: a connection records into the tally of the target it sent; a run of one
        # request records nothing more.
        self.per_target = tuple(TargetTally(timeout_us, self) for _ in target_labels)

    def restart(self) -> None:
        """Forget every count so far (a warm-up's), in place: the connections hold this tally."""
        for f in fields(Measurement):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                setattr(self, f.name, defaultdict(int))
            elif isinstance(value, int | tuple):
                setattr(self, f.name, type(value)())
        for target in self.per_target:
            target.restart()

    def record(self, status: int, latency_us: int) -> None:
        """One response that completed a batch of one: the common case."""
        self.requests += 1
        self.status_counts[status] += 1
        if latency_us > self.timeout_us:
            self.timeouts += 1
            self.timed_out_us += latency_us
        else:
            self.latency[latency_us] += 1

    def record_batch(self, latency_us: int, from_write_us: int | None = None) -> None:
        """The latency of a batch whose responses were counted with :meth:`count_response`."""
        if latency_us > self.timeout_us:
            self.timeouts += 1
            self.timed_out_us += latency_us
        else:
            self.latency[latency_us] += 1
        if from_write_us is not None and from_write_us <= self.timeout_us:
            self.latency_from_write[from_write_us] += 1

    def record_split(self, from_write_us: int, first_byte_us: int) -> None:
        """A batch whose first byte came in an earlier read than its last (see :class:`Measurement`)."""
        if from_write_us <= self.timeout_us:
            self.latency_split[from_write_us] += 1
            self.first_byte_split[first_byte_us] += 1

    def record_paced(self, status: int, latency_us: int, from_write_us: int) -> None:
        """One response that completed a paced batch of one: latency from its intended send time,
        and from its actual write."""
        self.requests += 1
        self.status_counts[status] += 1
        if latency_us > self.timeout_us:
            self.timeouts += 1
            self.timed_out_us += latency_us
        else:
            # a run behind its schedule makes a new latency every few responses: get() spares them
            # defaultdict's missing-key path (its lookup of __missing__, its int(), a second store)
            self.latency[latency_us] = self.latency.get(latency_us, 0) + 1
        if from_write_us <= self.timeout_us:
            self.latency_from_write[from_write_us] += 1

    def count_response(self, status: int) -> None:
        self.requests += 1
        self.status_counts[status] += 1

    def count_error(self, reason: ErrorReason) -> None:
        self.error_reasons[reason] += 1

    def count_answered(self, responses: int, first_response_us: int) -> None:
        """A connection done after ``responses``, the first ``first_response_us`` after it opened."""
        self.connection_responses[responses] += 1
        self.first_response[first_response_us] += 1

    def measurement(self) -> Measurement:
        """A plain copy to send home (no defaultdicts, nothing the parent cannot compare)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(Measurement)}
        plain: dict[str, Any] = {
            name: dict(value) if isinstance(value, dict) else value for name, value in values.items()
        }
        plain["targets"] = tuple(
            TargetMeasurement(
                label,
                tally.requests,
                tally.timeouts,
                tally.timed_out_us,
                dict(tally.status_counts),
                dict(tally.error_reasons),
                dict(tally.latency),
                dict(tally.latency_from_write),
            )
            for label, tally in zip(self.target_labels, self.per_target, strict=True)
        )
        return Measurement(**plain)


class TargetTally(Tally):
    """One target's tally in a run with several: what a connection records into while that
    target's request is in flight. Each record counts in the target's own fields and in the
    worker's totals, through the same methods, so that the connection's code is the same."""

    __slots__ = ("total",)

    def __init__(self, timeout_us: int, total: Tally) -> None:
        super().__init__(timeout_us)
        self.total = total

    def record(self, status: int, latency_us: int) -> None:
        """:meth:`Tally.record` in both, in one call: a run with targets records every response here."""
        total = self.total
        self.requests += 1
        total.requests += 1
        self.status_counts[status] += 1
        total.status_counts[status] += 1
        if latency_us > self.timeout_us:
            self.timeouts += 1
            self.timed_out_us += latency_us
            total.timeouts += 1
            total.timed_out_us += latency_us
        else:
            self.latency[latency_us] += 1
            total.latency[latency_us] += 1

    def record_batch(self, latency_us: int, from_write_us: int | None = None) -> None:
        Tally.record_batch(self, latency_us, from_write_us)
        self.total.record_batch(latency_us, from_write_us)

    def record_split(self, from_write_us: int, first_byte_us: int) -> None:
        self.total.record_split(from_write_us, first_byte_us)  # the phases are the run's

    def record_paced(self, status: int, latency_us: int, from_write_us: int) -> None:
        Tally.record_paced(self, status, latency_us, from_write_us)
        self.total.record_paced(status, latency_us, from_write_us)

    def count_response(self, status: int) -> None:
        Tally.count_response(self, status)
        self.total.count_response(status)

    def count_error(self, reason: ErrorReason) -> None:
        Tally.count_error(self, reason)
        self.total.count_error(reason)

    def count_answered(self, responses: int, first_response_us: int) -> None:
        self.total.count_answered(responses, first_response_us)  # connections are the run's
