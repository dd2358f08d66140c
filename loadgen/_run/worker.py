"""A worker: one event loop driving its share of the connections until told to stop.

This is wrk's thread: it opens its connections at once, keeps one request (or pipelined batch)
in flight on each, samples its own request rate every 100 ms, and stops at its deadline,
dropping what is in flight. :func:`run_worker` is the whole contract: a picklable spec in, a
picklable :class:`~loadgen.measurement.Measurement` out; the process plumbing lives in
:mod:`loadgen._run.workerproc`.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import ssl
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic_ns, perf_counter_ns
from typing import Any

from .._stats.stats import add_counts
from ..measurement import ErrorKind, ErrorReason, Interval, Measurement, Stage, Tally, WorkerCpu
from ..script import WorkerScript, load_worker_script
from ..target import Address, parse_url
from .connection import Connection, Exchange, error_name
from .pacer import Pacer
from .rfc9112 import parse_header_fields
from .spec import WorkerSpec

try:  # imported here, not per worker: a worker forked from a process that has it costs no import
    import uvloop
except ImportError:
    uvloop = None  # type: ignore[assignment]

__all__ = ["Worker", "load_spec_script", "new_event_loop", "run_worker"]

RECORD_INTERVAL_S = 0.1  # wrk's RECORD_INTERVAL_MS
NEVER = 2**63  # a due time that never comes (the -n quota is all sent)
TIMELINE_INTERVAL_S = 1.0
MAX_RATE_SAMPLE = 10_000_000  # wrk drops Req/Sec samples at or above its array size

# connect() failures that wrk sees synchronously: it counts a connect error and never retries.
# Anything else (refused, unreachable) surfaces on wrk's first write: a write error, then a retry.
ABANDON_ERRNOS = {
    errno.EADDRNOTAVAIL,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOBUFS,
    errno.ENOMEM,
    errno.EACCES,
    errno.EPERM,
    errno.EAFNOSUPPORT,
}


@dataclass(frozen=True)
class _Totals:
    """What a worker had counted at one moment, for the timeline's differences."""

    requests: int = 0
    bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _difference(now: dict[Any, int], before: dict[Any, int]) -> dict[Any, int]:
    """The counts added since ``before`` (counts only grow)."""
    return {key: count - before.get(key, 0) for key, count in now.items() if count != before.get(key, 0)}


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when it is installed, else asyncio's default loop; and which one it is."""
    if uvloop is None:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def tls_context() -> ssl.SSLContext:
    """Like wrk: TLS without certificate verification (a load test is not a security check)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


SCHEDSTAT = Path("/proc/self/schedstat")


def cpu_seconds() -> tuple[float, float]:
    """This process's CPU time so far (user and system), and the time it spent ready to run but
    waiting for a CPU (from the scheduler's statistics, where Linux keeps them)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        waiting_ns = int(SCHEDSTAT.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        waiting_ns = 0
    return usage.ru_utime + usage.ru_stime, waiting_ns / 1e9


class Worker:
    """Event-loop state for one worker: the :class:`~loadgen._run.connection.Owner` of its
    connections."""

    def __init__(
        self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop, loop_name: str, script: WorkerScript | None = None
    ) -> None:
        self.spec = spec
        self.loop = loop
        self.loop_name = loop_name
        self.script = script
        self.address: Address = script.thread_addr if script is not None else spec.address
        self.tls = tls_context() if spec.server_name is not None else None
        batch = script.request_batch if script is not None else spec.batch
        self.request_hook = script.request if script is not None else None
        self.delay_hook = script.delay if script is not None else None
        self.response_hook = script.response if script is not None else None
        self.paced = spec.rate is not None
        self.exchange = Exchange(
            request=batch.data,
            depth=batch.depth,
            head_requests=all(m == "HEAD" for m in batch.methods),
            repeat=not (self.request_hook or self.delay_hook or self.paced or spec.quota),
            collect=self.response_hook is not None,
        )
        self.tally = Tally(spec.timeout_us)
        self.bytes_closed = 0  # bytes read by connections that are gone
        self.open: set[Connection] = set()
        self.connecting: set[asyncio.Task[None]] = set()
        self.unsent = spec.quota if spec.quota is not None else 0  # responses still to ask for
        self.idle: deque[Connection] = deque()  # paced mode: connections waiting for their turn
        self.backlog: deque[int] = deque()  # paced mode: due send times with no free connection
        self.issued = 0  # paced mode: batches released so far
        self.next_due_ns = 0  # paced mode: when the next batch is due
        self.interval_ns = 1e9 * batch.depth / spec.rate if spec.rate else 0.0  # paced mode: between batches
        self.pacer: Pacer | None = None
        if self.paced and spec.quota is None and script is None:
            self.batch_done = self._paced_batch_done  # type: ignore[method-assign]
        self.start_ns = 0
        self.start_cpu = (0.0, 0.0)
        self.stopping = False
        self._sampled = 0
        self._sample_ns = 0
        self.timeline: list[Interval] = []
        self._interval_ns = 0  # when the current second of the timeline began
        self._counted = _Totals()  # the totals when it began
        self.on_tick: Callable[[Worker], None] | None = None  # every 100 ms: the progress board
        self.on_second: Callable[[Worker], None] | None = None  # each second closed on time: the live views
        self.on_opened: Callable[[int | None], None] | None = None  # connects issued: release the next worker
        self.ends_at: int | None = None  # time.monotonic_ns() when the run ends (None: -d after its own start)
        self.end_ns: int | None = None  # the same on this worker's clock (perf_counter_ns)
        self.failure: str | None = None  # an unexpected error in the engine, as one line
        loop.set_exception_handler(self._loop_error)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open every connection at once and start the timers (call with the loop running).

        As in wrk's thread_main, every connect() is issued before the first request is written:
        the tasks' first steps issue them (the address is numeric: no lookup to wait for), in
        this loop iteration, before ``on_opened`` runs; each connection writes its first request
        once it is established. The window ends at ``ends_at`` when the run gave one (the workers
        of a run stop together, as wrk's threads do), else ``-d`` after this start."""
        self.start_ns = self._sample_ns = perf_counter_ns()
        self.start_cpu = cpu_seconds()
        if self.spec.duration_s is not None:
            ends_in_ns = self.ends_at - monotonic_ns() if self.ends_at is not None else int(self.spec.duration_s * 1e9)
            self.end_ns = self.start_ns + ends_in_ns
            self.loop.call_later(ends_in_ns / 1e9, self._deadline)
        for _ in range(self.spec.connections):
            self.open_connection()
        if self.on_opened is not None:
            ends_at = None if self.end_ns is None else monotonic_ns() + self.end_ns - perf_counter_ns()
            self.loop.call_soon(self.on_opened, ends_at)
        self.loop.call_later(RECORD_INTERVAL_S, self._sample_rate)
        self._interval_ns = self.start_ns
        self.loop.call_later(TIMELINE_INTERVAL_S, self._next_second)
        if self.paced:
            self.pacer = Pacer(self.loop, self._pace)
            self.next_due_ns = self.start_ns
            self._pace()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """What the loop would log. Socket and TLS errors are already counted by the connection
        that saw them; anything else is a bug, which stops the worker and is reported in one line."""
        exc = context.get("exception")
        if isinstance(exc, OSError):
            return
        if self.failure is None:
            self.failure = f"{type(exc).__name__}: {exc}" if exc is not None else str(context.get("message"))
        self.stop()

    def _deadline(self) -> None:
        """Stop at the end of the window, measured on the precise clock: loop timers may fire early."""
        assert self.end_ns is not None
        remaining = (self.end_ns - perf_counter_ns()) / 1e9
        if remaining > 0:
            self.loop.call_later(remaining + 0.0005, self._deadline)
        else:
            self.stop()

    def stop(self) -> None:
        """End the run now: in-flight requests are dropped, as wrk drops them."""
        if self.stopping:
            return
        self.stopping = True
        tally = self.tally
        elapsed_ns = perf_counter_ns() - self.start_ns
        tally.elapsed_us = elapsed_ns // 1000
        cpu_s, waiting_s = cpu_seconds()
        tally.client_cpu = (WorkerCpu(cpu_s - self.start_cpu[0], elapsed_ns / 1e9, waiting_s - self.start_cpu[1]),)
        tally.bytes = self.bytes_closed + sum(conn.bytes_read for conn in self.open)
        self._close_interval(self.start_ns + elapsed_ns)
        tally.timeline = tuple(self.timeline)
        tally.latency = add_counts(*(interval.latency for interval in self.timeline), tally.latency)
        for conn in self.open:
            self._account(conn, self.start_ns + elapsed_ns)
            conn.abort()
        self.open.clear()
        for task in self.connecting:
            task.cancel()
        if self.pacer is not None:
            self.pacer.close()
        self.loop.stop()

    def measurement(self) -> Measurement:
        tally = self.tally
        tally.workers = 1
        tally.loop = self.loop_name
        if self.script is not None:
            tally.script_globals = (self.script.exported_globals(),)
            tally.script_error = self.script.error
        return tally.measurement()

    # -- connections -------------------------------------------------------------------------

    def open_connection(self) -> None:
        task = self.loop.create_task(self._connect())
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self) -> None:
        """Open one connection, timing its set-up (and its TLS handshake apart, for https)."""
        address = self.address
        started = perf_counter_ns()
        try:
            if address.family == socket.AF_UNIX:
                await self.loop.create_unix_connection(lambda: Connection(self), address.host)
            elif self.tls is None:
                await self.loop.create_connection(lambda: Connection(self), address.host, address.port)
            else:
                await self._connect_tls(address, started)
                return
        except OSError as exc:
            self._connect_failed(exc)
            return
        if not self.stopping:
            self.tally.connect[(perf_counter_ns() - started) // 1000] += 1

    async def _connect_tls(self, address: Address, started: int) -> None:
        """TCP first, then the handshake on that socket, so the two phases are timed apart."""
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, (address.host, address.port))
        except BaseException:
            sock.close()
            raise
        connected = perf_counter_ns()
        await self.loop.create_connection(
            lambda: Connection(self), sock=sock, ssl=self.tls, server_hostname=self.spec.server_name
        )
        if not self.stopping:
            self.tally.connect[(connected - started) // 1000] += 1
            self.tally.tls_handshake[(perf_counter_ns() - connected) // 1000] += 1

    def _connect_failed(self, exc: OSError) -> None:
        if self.stopping:
            return
        reason = error_name(exc)
        if isinstance(exc, ssl.SSLError):  # wrk: a failed TLS handshake is a connect error
            self._count(ErrorReason(ErrorKind.CONNECT, Stage.TLS, exc.reason or reason))
            self.open_connection()
        elif exc.errno in ABANDON_ERRNOS:
            self._count(ErrorReason(ErrorKind.CONNECT, Stage.CONNECT, reason))
        else:
            self._count(ErrorReason(ErrorKind.WRITE, Stage.CONNECT, reason))
            self.open_connection()

    def _count(self, reason: ErrorReason) -> None:
        self.tally.count_error(reason)

    def connection_ready(self, conn: Connection) -> None:
        if self.stopping:
            conn.abort()
            return
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None and self.address.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.opened_ns = perf_counter_ns()
        self.open.add(conn)
        self.tally.connections_opened += 1
        self.tally.peak_open = max(self.tally.peak_open, len(self.open))
        if self.exchange.repeat:
            conn.send(self.exchange.request, self.exchange.depth)
        else:
            self.batch_done(conn)

    def connection_closed(self, conn: Connection, lost: int) -> None:
        """The server closed a connection (or an error did): open a new one, as wrk does."""
        conn.close()
        if conn in self.open:
            self.open.remove(conn)
            self.bytes_closed += conn.bytes_read
            self._account(conn, perf_counter_ns())
        if self.spec.quota is not None:
            self.unsent += lost  # requests lost in flight are asked for again
        if conn.intended_ns and lost:
            self.backlog.appendleft(conn.intended_ns)
        if not self.stopping:
            self.open_connection()

    def _account(self, conn: Connection, now_ns: int) -> None:
        """Add a connection that is done (closed, or open at the end) to the per-connection account."""
        responses = conn.responses
        if responses:
            self.tally.count_answered(responses, (conn.first_response_ns - conn.opened_ns) // 1000)
        elif conn.sent_ns:
            self.tally.unanswered[(now_ns - conn.sent_ns) // 1000] += 1

    def connection_failed(self, conn: Connection, reason: ErrorReason) -> None:
        if self.stopping:
            return
        self._count(reason)
        conn.abort()
        self.connection_closed(conn, conn.pending)

    # -- what a connection does after a batch ------------------------------------------------

    def batch_done(self, conn: Connection) -> None:
        """A keep-alive connection is free: give it the next batch, per the run's mode."""
        if self.stopping:
            return
        quota = self.spec.quota
        if quota is not None:
            if self.tally.requests >= quota:
                self.stop()
                return
            if self.unsent <= 0:
                return
            self.unsent -= self.exchange.depth
        if self.paced:
            self._release_due(perf_counter_ns())
            if self.backlog:
                self._send(conn, self.backlog.popleft())
            else:
                self.idle.append(conn)
                self._wake_at_next_due()
        elif self.delay_hook is not None:
            self.loop.call_later(self.delay_hook() / 1000, self._send_if_open, conn)
        else:
            self._send(conn)

    def _send_if_open(self, conn: Connection) -> None:
        if not conn.closed and not self.stopping:
            self._send(conn)

    def _send(self, conn: Connection, intended_ns: int = 0) -> None:
        data = self.request_hook() if self.request_hook is not None else self.exchange.request
        conn.send(data, self.exchange.depth, intended_ns)
        if self.script is not None and self.script.stop_requested:
            self.stop()

    def response_received(self, status: int, head: bytes, body: bytes) -> None:
        assert self.response_hook is not None and self.script is not None
        self.response_hook(status, parse_header_fields(head), body)
        if self.script.stop_requested:
            self.stop()

    # -- constant rate -----------------------------------------------------------------------

    def _release_due(self, now: int) -> None:
        """Every batch whose send time has come joins the backlog, oldest first. Done lazily,
        when a connection frees or the timer fires: while every connection is busy, nothing
        needs to wake up at each send time."""
        quota = self.spec.quota
        while self.next_due_ns <= now:
            if quota is not None and self.issued * self.exchange.depth >= quota:
                self.next_due_ns = NEVER
                return
            self.backlog.append(self.next_due_ns)
            self.issued += 1
            self.next_due_ns = int(self.start_ns + self.issued * self.interval_ns)

    def _paced_batch_done(self, conn: Connection) -> None:
        """:meth:`batch_done` for the common constant-rate run (no script, no -n): the same
        decisions on fewer steps, since it runs once per response at the highest rates."""
        if self.stopping:
            return
        now = perf_counter_ns()
        if self.next_due_ns <= now:
            self._release_due(now)
        if self.backlog:
            conn.send(self.exchange.request, self.exchange.depth, self.backlog.popleft())
        else:
            self.idle.append(conn)
            self.pacer.at(self.next_due_ns)  # type: ignore[union-attr]  # no -n here: a due time always comes

    def _pace(self) -> None:
        """The timer, armed only while a connection waits idle: give it what has come due, and
        sleep until the next send time if any connection is still idle. A connection the server
        closed while it waited is dropped here, not searched for when it closes: its replacement
        joins the queue when it is ready."""
        if self.stopping:
            return
        self._release_due(perf_counter_ns())
        while self.idle and self.backlog:
            conn = self.idle.popleft()
            if not conn.closed:
                self._send(conn, self.backlog.popleft())
        if self.idle:
            self._wake_at_next_due()

    def _wake_at_next_due(self) -> None:
        """Arm the timer for the next send time, if one is to come."""
        assert self.pacer is not None
        if self.next_due_ns != NEVER:
            self.pacer.at(self.next_due_ns)

    # -- the timeline ------------------------------------------------------------------------

    def _totals(self) -> _Totals:
        tally = self.tally
        errors: dict[str, int] = {
            "timeout": tally.timeouts,
            "status": sum(n for status, n in tally.status_counts.items() if status > 399),
        }
        for reason, count in tally.error_reasons.items():
            errors[reason.kind] = errors.get(reason.kind, 0) + count
        return _Totals(tally.requests, self.bytes_closed + sum(conn.bytes_read for conn in self.open), errors)

    def _close_interval(self, now: int) -> None:
        """Add what completed since the current second began to the timeline, as one interval.

        The connections record latencies into ``tally.latency``, which holds the current
        second's only: closing a second takes that histogram and gives the tally a fresh one, in
        constant time whatever its size (the run's histogram is their sum, added at the end)."""
        if now <= self._interval_ns:
            return
        totals, before = self._totals(), self._counted
        latency, self.tally.latency = self.tally.latency, defaultdict(int)
        self.timeline.append(
            Interval(
                duration_us=(now - self._interval_ns) // 1000,
                requests=totals.requests - before.requests,
                bytes=totals.bytes - before.bytes,
                errors=_difference(totals.errors, before.errors),
                latency=dict(latency),
            )
        )
        self._interval_ns, self._counted = now, totals

    def _next_second(self) -> None:
        """Close a second of the timeline on time, on the precise clock; the last second is
        closed by :meth:`stop`, at the end of the window."""
        due = self.start_ns + (len(self.timeline) + 1) * 1_000_000_000
        if self.stopping or (self.end_ns is not None and due >= self.end_ns):
            return
        now = perf_counter_ns()
        if now >= due:
            self._close_interval(due)
            due += 1_000_000_000
            if self.on_second is not None:
                self.on_second(self)
        self.loop.call_later(max(0.0, (due - now) / 1e9), self._next_second)

    # -- Req/Sec and progress ----------------------------------------------------------------

    def _sample_rate(self) -> None:
        """wrk's record_rate: requests per second since the last sample with any requests; and a tick
        for whoever watches the worker."""
        if self.stopping:
            return
        now = perf_counter_ns()
        done = self.tally.requests - self._sampled
        if done > 0:
            elapsed_ms = (now - self._sample_ns) // 1_000_000
            if elapsed_ms:
                rate = int(done / elapsed_ms * 1000)
                if rate < MAX_RATE_SAMPLE:
                    self.tally.req_per_sec[rate] += 1
            self._sampled = self.tally.requests
            self._sample_ns = now
        if self.on_tick is not None:
            self.on_tick(self)
        self.loop.call_later(RECORD_INTERVAL_S, self._sample_rate)


def load_spec_script(spec: WorkerSpec) -> WorkerScript | None:
    """The worker's script, loaded from the text in its spec, with its request checked: before
    the run starts, so that a broken script stops it with one line (a SetupError)."""
    script = spec.script
    if script is None:
        return None
    addr = script.thread_addr or spec.address
    loaded = load_worker_script(
        script.path,
        script.source,
        script.args,
        parse_url(script.url),
        spec.index,
        addr,
        script.thread_globals,
        script.method,
        script.headers,
        script.body,
    )
    loaded.verify_request()
    return loaded


def run_worker(
    spec: WorkerSpec, *, until: Callable[[Worker], None] | None = None, script: WorkerScript | None = None
) -> Measurement:
    """Run one worker to its deadline (or until ``until`` arranges a stop) and return what it measured.

    ``until`` is called with the worker before the loop starts, so a caller can wire a stop
    signal or progress reports into the loop.
    """
    loop, loop_name = new_event_loop()
    try:
        worker = Worker(spec, loop, loop_name, script)
        if until is not None:
            until(worker)
        loop.call_soon(worker.start)
        loop.run_forever()
        return worker.measurement()
    finally:
        loop.close()
