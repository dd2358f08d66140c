"""The workers' seconds, merged second by second into :class:`LiveSecond` s, in order.

Second n is given out once every worker has posted it (a worker whose window ended, or that died,
is not waited for), or once it has waited :data:`WAIT_S` for the others since its first record
came: one whose loop is blocked, or that is held stopped, does not hold the view back; the second
is the others', and names it ``behind``. The wait is judged when the reader has read all there
was (:class:`Caught`), so that a record the parent had no time to read is not taken for one that
never came: a second is exact unless a worker was that far behind. A record that comes after its
second was given out is left out of the view (the final second has it), and a second that every worker
waited for has posted past (dropped on its way) is skipped. The rule was "once some
worker is two seconds ahead": in a 3 s run, the other's last seconds put none ahead, and a worker
held stopped left the views waiting for the first second until it was killed, 15 s past the end.

The last one is built from the run's result, so that the view ends on exactly what the report
says; but for a worker that died, whose measurement the result has not, the seconds it posted are
kept in its counts (and named), so that no count goes down at the end.

The latencies so far are kept to three significant digits, rounded up (see :func:`coarse`): a
long run's exact histogram grows to hundreds of thousands of values, which the merge would copy
and every scrape sort each second (a fifth of a core at 100,000; see benchmarks/README.md);
three digits bound it to a few thousand, and a bucket bound of three digits or fewer (every
Prometheus bucket and every bar of the view) still counts exactly the values at or below it.
Their sum is added up exactly, beside: the final second's is exact, and a counter must never go down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from .._stats.stats import add_counts
from ..measurement import ErrorKind, Interval, WorkerCpu
from ..result import Result
from ..settings import Settings
from .record import Caught, LivePost, WorkerGone, WorkerSecond
from .second import LiveSecond, LiveWorker, LostWorker

__all__ = ["Collator"]

WAIT_S = 2.0  # how long a second waits for a worker's record before it is given out without it


class Collator:
    """Records in (from any thread), merged seconds out through ``emit``."""

    def __init__(self, settings: Settings, workers: int, emit: Callable[[LiveSecond], None]) -> None:
        self.settings = settings
        self.workers = workers
        self.emit = emit
        self.lock = threading.Lock()
        self.pending: dict[int, dict[int, WorkerSecond]] = {}  # second -> worker -> its record
        self.latest: dict[int, WorkerSecond] = {}  # worker -> its newest record given out
        self.next = 0
        self.arrived: dict[int, float] = {}  # second -> when its first record came (time.monotonic)
        self.history: list[int] = []
        self.elapsed_us = 0  # where the latest second merged ended, from the window's start
        self.newest: dict[int, int] = {}  # worker -> the newest second it posted
        self.requests = 0
        self.bytes = 0
        self.errors: dict[ErrorKind, int] = {}
        self.latency: dict[int, int] = {}
        self.latency_sum_us = 0
        self.hosts: dict[int, str] = {}
        self.ends: dict[int, WorkerSecond] = {}  # worker -> its window's last second, kept for :meth:`final`
        self.gone: set[int] = set()  # the workers whose channel closed before their last second: dead
        self.posted: dict[int, _Posted] = {}  # worker -> its seconds given out, added up, should it die
        self.last: LiveSecond | None = None

    def add(self, post: LivePost) -> None:
        with self.lock:
            now = time.monotonic()
            if isinstance(post, WorkerGone):
                if post.index not in self.ends:
                    self.gone.add(post.index)
            elif isinstance(post, WorkerSecond):
                self.hosts[post.index] = post.host
                if post.last:  # not waited for any more: its window is over
                    self.ends[post.index] = post
                else:
                    self._pend(post, now)
            waited = isinstance(post, Caught)
            while self._due(now, waited) or self._dropped():
                if self.next in self.pending:
                    del self.arrived[self.next]
                    self.emit(self._merged(self.pending.pop(self.next)))
                self.next += 1

    def _pend(self, post: WorkerSecond, now: float) -> None:
        """A worker's next second, to wait for the others' (unless too late: its second was given out without it)."""
        self.newest[post.index] = post.second
        if post.second >= self.next:
            self.pending.setdefault(post.second, {})[post.index] = post
            self.arrived.setdefault(post.second, now)

    def _due(self, now: float, waited: bool) -> bool:
        """Whether the next second is given out: every worker waited for posted it, or it waited :data:`WAIT_S`."""
        return self.next in self.pending and (
            len(self.pending[self.next].keys() | self.gone | self.ends.keys()) >= self.workers
            or (waited and now - self.arrived[self.next] >= WAIT_S)
        )

    def _dropped(self) -> bool:
        """Whether the next second will never come, later ones having come: every worker waited for posted a
        later one (it was dropped on the way: the worker's backlog full, or Dask's queue refused it). Waited
        for, it held every second after it back to the end: a -t1 run's view froze there."""
        waiting = set(range(self.workers)) - self.gone - self.ends.keys()
        later = all(self.newest.get(index, -1) > self.next for index in waiting)
        return bool(self.pending) and self.next not in self.pending and later

    def _merged(self, records: dict[int, WorkerSecond]) -> LiveSecond:
        """The records of the next second, which starts where the latest of the seconds before them ended and
        ends where the latest of them did, as the run's timeline has it
        (:func:`loadgen.measurement._sum_timelines`): not as long as the longest, which a second a worker closed
        late made the next one too (it ends on time, shorter); and after a second dropped on its way, not from
        where the second before that one ended (it was as long as both, and every later end that much early)."""
        interval = Interval(0, error_reasons={})  # the workers' seconds added to it, their reasons too
        workers = []
        latencies = []
        for index, record in sorted(records.items()):
            interval = interval + record.interval
            workers.append(_worker(record, self.latest.get(index)))
            self.latest[index] = record
            kept, sum_us = coarse(record.interval.latency), latency_sum_us(record.interval.latency)
            self.posted.setdefault(index, _Posted()).add(record.interval, kept, sum_us)
            latencies.append(kept)
            self.latency_sum_us += sum_us
        start_us = max(self.elapsed_us, *(record.end_us - record.interval.duration_us for record in records.values()))
        end_us = max(record.end_us for record in records.values())
        interval = replace(interval, duration_us=end_us - start_us)
        self.history.append(interval.requests)
        self.elapsed_us = end_us
        self.requests += interval.requests
        self.bytes += interval.bytes
        self.errors = add_counts(self.errors, interval.errors)
        self.latency = add_counts(self.latency, *latencies)
        latest = self.latest.values()
        self.last = LiveSecond(
            settings=self.settings,
            second=self.next,
            elapsed_s=self.elapsed_us / 1_000_000,
            interval=interval,
            history=tuple(self.history),
            requests=self.requests,
            bytes=self.bytes,
            errors=self.errors,
            status_counts=add_counts(*(record.status_counts for record in latest)),
            error_reasons=add_counts(*(record.error_reasons for record in latest)),
            latency=self.latency,
            latency_sum_us=self.latency_sum_us,
            # a dead or lost worker's connections are gone with it: its last count is a count of then
            connections_open=sum(record.connections_open for record in latest if record.index not in self.gone),
            connections_opened=sum(record.connections_opened for record in latest),
            workers=tuple(workers),
            behind=tuple(sorted(set(range(self.workers)) - records.keys() - self.gone - self.ends.keys())),
        )
        return self.last

    def final(self, result: Result) -> LiveSecond:
        """The run as its result has it: everything measured, the end's partial second too; and
        the seconds posted by the workers whose measurement was lost, which the views counted."""
        measured = result.measured
        timeline = measured.timeline
        errors = result.errors
        with self.lock:
            hosts = dict(self.hosts) | {host.worker: host.host for host in result.hosts}
            last = self._last_seen()
            lost = sorted({failure.index for failure in result.lost_workers} & self.posted.keys())
            posted = [self.posted[index] for index in lost]
            states = [self.latest[index] for index in lost]
        workers = _final_workers(result, hosts, last)
        return LiveSecond(
            settings=self.settings,
            second=len(timeline) - 1,
            elapsed_s=result.runtime_s,
            interval=timeline[-1] if timeline else Interval(0),
            history=tuple(interval.requests for interval in timeline),
            requests=measured.requests + sum(kept.requests for kept in posted),
            bytes=measured.bytes + sum(kept.bytes for kept in posted),
            errors=add_counts({kind: getattr(errors, kind) for kind in ErrorKind}, *(kept.errors for kept in posted)),
            status_counts=add_counts(measured.status_counts, *(state.status_counts for state in states)),
            error_reasons=add_counts(measured.error_reasons, *(state.error_reasons for state in states)),
            latency=add_counts(measured.latency, *(kept.latency for kept in posted)),
            latency_sum_us=latency_sum_us(measured.latency) + sum(kept.latency_sum_us for kept in posted),
            connections_open=0,
            connections_opened=measured.connections_opened + sum(state.connections_opened for state in states),
            workers=workers,
            final=True,
            lost=tuple(
                LostWorker(index, hosts.get(index, ""), kept.seconds, kept.requests)
                for index, kept in zip(lost, posted, strict=True)
            ),
        )

    def _last_seen(self) -> dict[int, LiveWorker]:
        """Each worker as in its last second: its window's last, or else the last it was seen in."""
        seen = {worker.index: worker for worker in self.last.workers} if self.last is not None else {}
        return seen | {index: _worker(end, self.latest.get(index)) for index, end in self.ends.items()}


class _Posted:
    """One worker's seconds given out, added up: what the views counted of it, kept in the final
    second's counts should it die (its latencies to three significant digits, as the views had them)."""

    def __init__(self) -> None:
        self.seconds = 0
        self.requests = 0
        self.bytes = 0
        self.errors: dict[ErrorKind, int] = {}
        self.latency: dict[int, int] = {}
        self.latency_sum_us = 0

    def add(self, interval: Interval, kept: dict[int, int], sum_us: int) -> None:
        """Its next second in, with its latencies as kept (:func:`coarse`) and added up."""
        self.seconds += 1
        self.requests += interval.requests
        self.bytes += interval.bytes
        self.errors = add_counts(self.errors, interval.errors)  # five kinds at most
        latency = self.latency  # a few thousand values: added in place, not copied each second
        for value, count in kept.items():
            latency[value] = latency.get(value, 0) + count
        self.latency_sum_us += sum_us


def latency_sum_us(latency: Mapping[int, int]) -> int:
    """µs -> count, added up."""
    return sum(value * count for value, count in latency.items())


def coarse(latency: Mapping[int, int]) -> dict[int, int]:
    """µs -> count with each value rounded up to three significant digits (exact below 1 ms)."""
    kept: dict[int, int] = {}
    for value, count in latency.items():
        key = value
        if value >= 1000:
            step = 10
            while value >= step * 1000:
                step *= 10
            key = -(-value // step) * step
        kept[key] = kept.get(key, 0) + count
    return kept


def _final_workers(result: Result, hosts: Mapping[int, str], last: Mapping[int, LiveWorker]) -> tuple[LiveWorker, ...]:
    """The workers of the final second, in the result's order (:meth:`Result.worker_at`)."""
    cpus = result.measured.client_cpu
    indexes = map(result.worker_at, range(len(cpus)))
    return tuple(
        _final_worker(index, hosts.get(index, ""), cpu, last.get(index))
        for index, cpu in zip(indexes, cpus, strict=True)
    )


def _final_worker(index: int, host: str, cpu: WorkerCpu, last: LiveWorker | None) -> LiveWorker:
    """A worker in the final second: its CPU as the result has it; its rate and how busy it was in
    its last second as it posted them (its window's last, or else the last it was seen in)."""
    if last is None:  # never seen: nothing is known of its seconds
        return LiveWorker(index, host, cpu, cpu.busy, 0.0)
    return LiveWorker(index, host, cpu, last.busy, last.requests_per_sec)


def _worker(record: WorkerSecond, before: WorkerSecond | None) -> LiveWorker:
    """The worker's figures in its latest second: differences from its record before."""
    cpu = record.cpu
    was = before.cpu if before is not None else WorkerCpu(0.0, 0.0)
    wall_s = cpu.wall_s - was.wall_s
    busy = (cpu.cpu_s - was.cpu_s + cpu.waiting_s - was.waiting_s) / wall_s if wall_s > 0 else 0.0
    duration_s = record.interval.duration_us / 1e6
    rate = record.interval.requests / duration_s if duration_s > 0 else 0.0
    return LiveWorker(record.index, record.host, cpu, busy, rate)
