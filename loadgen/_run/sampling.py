"""What a worker samples over time: wrk's Req/Sec every 100 ms, the timeline, one interval per
second of what completed in it, and its own CPU time.

Both run on the worker's clock (:class:`~loadgen._run.eventloop.Clock`), never per response: the
connections record into the tally, and these read it.
"""

from __future__ import annotations

import resource
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, TypeVar

from .._stats.stats import PackedCounts
from ..measurement import ErrorKind, ErrorReason, Interval, Tally
from .eventloop import Clock, Timer

if TYPE_CHECKING:
    from ..script import WorkerScript

__all__ = ["HELD_NS", "RateSampler", "Timeline", "cpu_seconds", "usage", "usage_at"]

RECORD_INTERVAL_NS = 100_000_000  # wrk's RECORD_INTERVAL_MS
MAX_RATE_SAMPLE = 10_000_000  # wrk's MAX_THREAD_RATE_S: its Req/Sec array's last bin; a sample above is dropped
# a timer this late: the worker was held off its CPU (its timers fire within a millisecond); a second closed
# up to this late counts at most 1% of its rate in the wrong second
HELD_NS = 10_000_000
AFTER_A_POLL_S = 0.001  # a timer this far off runs after the loop's next poll, in uvloop and asyncio alike


SCHEDSTAT = Path("/proc/self/schedstat")
Usage = tuple[float, float, float]  # a worker's CPU, waiting and hooks seconds so far (see usage)


def cpu_seconds() -> tuple[float, float]:
    """This process's CPU time so far (user and system), and the time it spent ready to run but
    waiting for a CPU (from the scheduler's statistics, where Linux keeps them)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        waiting_ns = int(SCHEDSTAT.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        waiting_ns = 0
    return usage.ru_utime + usage.ru_stime, waiting_ns / 1e9


def usage(script: WorkerScript | None) -> Usage:
    """:func:`cpu_seconds`, and the time the script's hooks have held the loop so far."""
    return (*cpu_seconds(), script.hook_time.held if script is not None else 0.0)


def usage_at(at_ns: int, before: tuple[int, Usage], script: WorkerScript | None) -> Usage:
    """The :func:`usage` at ``at_ns`` (perf_counter_ns), between a reading ``before`` (when, what) and one
    now, at the rate between them: a window that a held loop opened late begins when it was due, and what
    the worker used in the hold is the window's. Read when the loop got to it, the hold's CPU and wait were
    left out of the window they are in: a worker busy from its start to its end, its window opened 0.63 s
    late, read 71% busy, and a capacity step it limited was put on the server."""
    (before_ns, was), after_ns, now = before, perf_counter_ns(), usage(script)
    share = (at_ns - before_ns) / (after_ns - before_ns) if after_ns > before_ns else 1.0
    cpu, waiting, hooks = (then + (later - then) * share for then, later in zip(was, now, strict=True))
    return cpu, waiting, hooks


@dataclass(frozen=True)
class _Totals:
    """What a worker had counted at one moment, for the timeline's differences."""

    requests: int = 0
    bytes: int = 0
    errors: dict[ErrorKind, int] = field(default_factory=dict)
    error_reasons: dict[ErrorReason, int] = field(default_factory=dict)


_Counted = TypeVar("_Counted", ErrorKind, ErrorReason)


def _difference(now: dict[_Counted, int], before: dict[_Counted, int]) -> dict[_Counted, int]:
    """The counts added since ``before`` (counts only grow)."""
    return {key: count - before.get(key, 0) for key, count in now.items() if count != before.get(key, 0)}


class Timeline:
    """The worker's window second by second; the last second is closed by :meth:`close`."""

    def __init__(
        self,
        clock: Clock,
        tally: Tally,
        bytes_read: Callable[[], int],
        second_closed: Callable[[], None],
    ) -> None:
        self.clock = clock
        self.tally = tally
        self.bytes_read = bytes_read
        self.second_closed = second_closed  # each second closed on time: the live views
        self.intervals: list[Interval] = []
        self.closed_us = 0  # the closed seconds' lengths added up: where the last one ended, from the start
        self.start_ns = 0
        self.end_ns: int | None = None  # the window's end, when it has one
        self._interval_ns = 0  # when the current second began
        self._counted = _Totals()  # the totals when it began
        self.stopped = False

    def start(self, start_ns: int, end_ns: int | None) -> None:
        """Second by second from ``start_ns``, on the clock: opening the connections took time since."""
        self.start_ns = self._interval_ns = start_ns
        self.end_ns = end_ns
        self._arm()

    def close(self, now: int) -> tuple[Interval, ...]:
        """The window ends at ``now``: its last interval closed, all of them."""
        self.stopped = True
        self._close_interval(now)
        return tuple(self.intervals)

    def _totals(self) -> _Totals:
        tally = self.tally
        return _Totals(tally.requests, self.bytes_read(), tally.error_counts(), dict(tally.error_reasons))

    def _close_interval(self, now: int) -> None:
        """Add what completed since the current second began to the timeline, as one interval.

        The connections record latencies into ``tally.latency``, which holds the current
        second's only: closing a second takes that histogram and gives the tally a fresh one, in
        constant time whatever its size (the run's histogram is their sum, added at the end)."""
        if now <= self._interval_ns:
            return
        totals, before = self._totals(), self._counted
        latency, self.tally.latency = self.tally.latency, defaultdict(int)
        duration_us = (now - self._interval_ns) // 1000
        self.closed_us += duration_us
        self.intervals.append(
            Interval(
                duration_us=duration_us,
                requests=totals.requests - before.requests,
                bytes=totals.bytes - before.bytes,
                errors=_difference(totals.errors, before.errors),
                latency=PackedCounts(latency),
                error_reasons=_difference(totals.error_reasons, before.error_reasons),
            )
        )
        self._interval_ns, self._counted = now, totals

    def _next_second(self) -> None:
        """Close a second on time, on the precise clock. A worker held off its CPU across a second's
        end has the responses that came meanwhile waiting to be read: that second counts them, so it
        ends when the hold did, once they were read (uvloop runs an overdue timer before it polls,
        asyncio after), the next one on time (counted in the next second, that one answers more than
        it could, a second with them less, and a rate judged on the later seconds, as ``loadgen
        capacity`` judges a step's, is wrong: a server of 400 req/s read as 407 at -R412)."""
        due = self._second_due()
        if self.stopped or (self.end_ns is not None and due >= self.end_ns):
            return
        now = perf_counter_ns()
        if now < due:
            self._arm()
        elif self._held(due, now):
            self.clock.call_later(AFTER_A_POLL_S, self._close_second, now)
        else:
            self._close_second(due)

    def _close_second(self, end_ns: int) -> None:
        if not self.stopped:
            self._close_interval(end_ns)
            self.second_closed()
            self._arm()

    def _second_due(self) -> int:
        """When the current second ends: a whole number of seconds from the start, on the clock (a
        second closed late does not move the ones after it)."""
        return self.start_ns + (len(self.intervals) + 1) * 1_000_000_000

    def _arm(self) -> None:
        self.clock.call_later(max(0.0, (self._second_due() - perf_counter_ns()) / 1e9), self._next_second)

    def _held(self, due: int, now: int) -> bool:
        """The worker was held across the second ending at ``due``, for less than a second more and
        not past the window's end (a run held across its end is measured for -d)."""
        return HELD_NS <= now - due < 1_000_000_000 and (self.end_ns is None or now < self.end_ns)


class RateSampler:
    """wrk's record_rate: requests per second since the last sample with any requests, every
    100 ms of the window, and once more when it ends (wrk's last sample is the tick that sees
    its stop: 10 or 11 of them at -d1s, as its run lasts up to 0.1 s longer; here 10, the window's
    ten tenths); and a tick for whoever watches the worker."""

    def __init__(self, clock: Clock, tally: Tally, tick: Callable[[], None]) -> None:
        self.clock = clock
        self.tally = tally
        self.tick = tick
        self._sampled = 0
        self._sample_ns = 0
        self._start_ns = 0
        self._ticks = 0
        self._end_ns: int | None = None
        self._next: Timer | None = None
        self.stopped = False

    def start(self, start_ns: int, end_ns: int | None = None) -> None:
        """Sample every 100 ms from ``start_ns`` (on the clock, not 100 ms after the last tick),
        before ``end_ns``, the window's end, whose sample :meth:`stop` takes."""
        self._sample_ns = self._start_ns = start_ns
        self._end_ns = end_ns
        self._ticks = 0
        self._arm()

    def restart(self, now_ns: int) -> None:
        """The tally was restarted (after a warm-up): sample from zero, every 100 ms from now."""
        if self._next is not None:
            self._next.cancel()
        self._sampled = 0
        self.start(now_ns, self._end_ns)

    def stop(self, now_ns: int) -> None:
        """The window ends: its last sample, since the one before (wrk's tick that sees the stop)."""
        if not self.stopped:
            self.stopped = True
            self._record(now_ns)

    def _arm(self) -> None:
        """The next tick, unless it would fall at or after the window's end (the stop samples then).
        Ticks a busy loop missed are not made up, as wrk's timer does not make them up: a tick
        at once would sample a millisecond."""
        now = perf_counter_ns()
        self._ticks = max(self._ticks + 1, (now - self._start_ns) // RECORD_INTERVAL_NS + 1)
        due_ns = self._start_ns + self._ticks * RECORD_INTERVAL_NS
        if self._end_ns is None or due_ns < self._end_ns:
            self._next = self.clock.call_later((due_ns - now) / 1e9, self._sample)

    def _sample(self) -> None:
        if self.stopped:
            return
        self._record(perf_counter_ns())
        self.tick()
        self._arm()

    def _record(self, now: int) -> None:
        done = self.tally.requests - self._sampled
        if done > 0:
            elapsed_ms = (now - self._sample_ns) // 1_000_000
            if elapsed_ms:
                rate = int(done / elapsed_ms * 1000)
                if rate <= MAX_RATE_SAMPLE:
                    self.tally.req_per_sec[rate] += 1
            self._sampled = self.tally.requests
            self._sample_ns = now
