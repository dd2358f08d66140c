"""A worker: one event loop driving its share of the connections until told to stop.

This is wrk's thread: it opens its connections at once, keeps one request (or pipelined batch)
in flight on each, samples its own request rate every 100 ms, and stops at its deadline,
dropping what is in flight. :func:`run_worker` is the whole contract: a picklable spec in, a
picklable result out; the process plumbing lives in :mod:`loadgen.workerproc`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections import defaultdict, deque
from collections.abc import Callable
from time import perf_counter_ns

from .connection import Connection, error_name
from .http1 import parse_header_fields
from .pacer import Pacer
from .spec import WorkerResult, WorkerSpec
from .target import Address

RECORD_INTERVAL_S = 0.1  # wrk's RECORD_INTERVAL_MS
MAX_RATE_SAMPLE = 10_000_000  # wrk drops Req/Sec samples at or above its array size

# connect() failures that wrk sees synchronously: it counts a connect error and never retries.
# Anything else (refused, unreachable) surfaces on wrk's first write: a write error, then a retry.
ABANDON_ERRNOS = {errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                  errno.EACCES, errno.EPERM, errno.EAFNOSUPPORT}


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when it is installed, else asyncio's default loop; and which one it is."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def tls_context() -> ssl.SSLContext:
    """Like wrk: TLS without certificate verification (a load test is not a security check)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Worker:
    """Event-loop state for one worker; connections call back into it."""

    def __init__(self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop, loop_name: str, script=None) -> None:
        self.spec = spec
        self.loop = loop
        self.loop_name = loop_name
        self.script = script
        self.address: Address = script.thread_addr if script is not None else spec.address
        self.tls = tls_context() if spec.server_name is not None else None
        self.timeout_us = spec.timeout_us
        batch = script.request_batch if script is not None else spec.batch
        self.request = batch.data
        self.depth = batch.depth
        self.head_requests = all(method == "HEAD" for method in batch.methods)
        self.dynamic = script is not None and script.request is not None
        self.delay_hook = script.delay if script is not None else None
        self.response_hook = script.response if script is not None else None
        self.collect_responses = self.response_hook is not None
        self.paced = spec.rate is not None
        self.static_closed_loop = not (self.dynamic or self.delay_hook or self.paced or spec.quota)
        # hot counters
        self.complete = 0
        self.timeouts = 0
        self.status_counts: defaultdict[int, int] = defaultdict(int)
        self.latency: defaultdict[int, int] = defaultdict(int)
        self.latency_uncorrected: defaultdict[int, int] = defaultdict(int)
        # cold counters
        self.errors = {"connect": 0, "read": 0, "write": 0}
        self.error_reasons: defaultdict[str, int] = defaultdict(int)
        self.failures: defaultdict[str, int] = defaultdict(int)
        self.req_per_sec: defaultdict[int, int] = defaultdict(int)
        self.bytes_closed = 0  # bytes read by connections that are gone
        self.open: set[Connection] = set()
        self.connecting: set[asyncio.Task] = set()
        self.connections_opened = 0
        self.peak_open = 0
        self.unsent = spec.quota if spec.quota is not None else 0  # responses still to ask for
        self.idle: deque[Connection] = deque()  # paced mode: connections waiting for their turn
        self.backlog: deque[int] = deque()  # paced mode: due send times with no free connection
        self.issued = 0  # paced mode: batches released so far
        self.interval_ns = 1e9 * self.depth / spec.rate if spec.rate else 0.0  # paced mode: between batches
        self.pacer: Pacer | None = None
        self.start_ns = 0
        self.elapsed_ns = 0
        self.stopping = False
        self._sampled = 0
        self._sample_ns = 0
        self.on_progress: Callable[[Worker], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open every connection at once and start the timers (call with the loop running)."""
        self.start_ns = self._sample_ns = perf_counter_ns()
        for _ in range(self.spec.connections):
            self.open_connection()
        self.loop.call_later(RECORD_INTERVAL_S, self._sample_rate)
        if self.spec.duration_s is not None:
            self.loop.call_later(self.spec.duration_s, self._deadline)
        if self.paced:
            self.pacer = Pacer(self.loop, self._pace)
            self._pace()
        if self.on_progress and self.spec.progress_interval_s:
            self.loop.call_later(self.spec.progress_interval_s, self._report_progress)

    def _deadline(self) -> None:
        """Stop at the duration, measured on the precise clock: loop timers may fire early."""
        remaining = self.spec.duration_s - (perf_counter_ns() - self.start_ns) / 1e9
        if remaining > 0:
            self.loop.call_later(remaining + 0.0005, self._deadline)
        else:
            self.stop()

    def stop(self) -> None:
        """End the run now: in-flight requests are dropped, as wrk drops them."""
        if self.stopping:
            return
        self.stopping = True
        self.elapsed_ns = perf_counter_ns() - self.start_ns
        for conn in self.open:
            conn.closed = True
            conn.transport.abort()
        for task in self.connecting:
            task.cancel()
        if self.pacer is not None:
            self.pacer.close()
        self.loop.stop()

    def result(self) -> WorkerResult:
        return WorkerResult(
            complete=self.complete,
            bytes=self.bytes_closed + sum(conn.bytes_in for conn in self.open),
            connect_errors=self.errors["connect"],
            read_errors=self.errors["read"],
            write_errors=self.errors["write"],
            timeouts=self.timeouts,
            status_counts=dict(self.status_counts),
            error_reasons=dict(self.error_reasons),
            failures=dict(self.failures),
            latency=dict(self.latency),
            latency_uncorrected=dict(self.latency_uncorrected),
            req_per_sec=dict(self.req_per_sec),
            connections_opened=self.connections_opened,
            peak_open=self.peak_open,
            elapsed_us=self.elapsed_ns // 1000,
            loop=self.loop_name,
            script_globals=[self.script.exported_globals()] if self.script is not None else [],
            script_error=self.script.error if self.script is not None else None,
        )

    # -- connections -------------------------------------------------------------------------

    def open_connection(self) -> None:
        task = self.loop.create_task(self._connect())
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self) -> None:
        factory = lambda: Connection(self)  # noqa: E731
        address = self.address
        try:
            if address.family == socket.AF_UNIX:
                await self.loop.create_unix_connection(factory, address.host)
            else:
                await self.loop.create_connection(factory, address.host, address.port, ssl=self.tls,
                                                  server_hostname=self.spec.server_name)
        except OSError as exc:
            if self.stopping:
                return
            reason = error_name(exc)
            if isinstance(exc, ssl.SSLError):  # wrk: a failed TLS handshake is a connect error
                self._count("connect", f"TLS handshake: {exc.reason or reason}")
                self.open_connection()
            elif exc.errno in ABANDON_ERRNOS:
                self._count("connect", reason)
            else:
                self._count("write", f"connect: {reason}")
                self.open_connection()

    def connection_ready(self, conn: Connection) -> None:
        if self.stopping:
            conn.closed = True
            conn.transport.abort()
            return
        sock = conn.transport.get_extra_info("socket")
        if sock is not None and self.address.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open.add(conn)
        self.connections_opened += 1
        self.peak_open = max(self.peak_open, len(self.open))
        if self.paced:
            self.batch_done(conn)
        elif self.static_closed_loop:
            conn.send(self.request, self.depth)
        else:
            self.batch_done(conn)

    def replace(self, conn: Connection, lost: int = 0) -> None:
        """Close a connection (server's choice or an error) and open a new one, as wrk does."""
        conn.closed = True
        self.open.discard(conn)
        self.bytes_closed += conn.bytes_in
        conn.transport.close()
        if self.spec.quota is not None:
            self.unsent += lost  # requests lost in flight are asked for again
        if conn.intended_ns and lost:
            self.backlog.appendleft(conn.intended_ns)
        if not self.stopping:
            self.open_connection()

    def connection_failed(self, conn: Connection, kind: str, reason: str, failure: str | None = None) -> None:
        if self.stopping or conn.closed:
            return
        self._count(kind, reason)
        if failure:
            self.failures[failure] += 1
        conn.transport.abort()
        self.replace(conn, lost=conn.pending)

    def _count(self, kind: str, reason: str) -> None:
        self.errors[kind] += 1
        self.error_reasons[f"{kind}: {reason}"] += 1

    # -- what a connection does after a batch ------------------------------------------------

    def batch_done(self, conn: Connection) -> None:
        """A keep-alive connection is free: give it the next batch, per the run's mode."""
        if self.stopping:
            return
        quota = self.spec.quota
        if quota is not None:
            if self.complete >= quota:
                self.stop()
                return
            if self.unsent <= 0:
                return
            self.unsent -= self.depth
        if self.paced:
            if self.backlog:
                self._send(conn, self.backlog.popleft())
            else:
                self.idle.append(conn)
        elif self.delay_hook is not None:
            self.loop.call_later(self.delay_hook() / 1000, self._send_if_open, conn)
        else:
            self._send(conn)

    def _send_if_open(self, conn: Connection) -> None:
        if not conn.closed and not self.stopping:
            self._send(conn)

    def _send(self, conn: Connection, intended_ns: int = 0) -> None:
        data = self.script.request() if self.dynamic else self.request
        conn.send(data, self.depth, intended_ns)
        if self.script is not None and self.script.stop_requested:
            self.stop()

    def call_response_hook(self, conn: Connection, status: int) -> None:
        self.response_hook(status, parse_header_fields(conn.head), b"".join(conn.body_parts))
        if self.script.stop_requested:
            self.stop()

    # -- constant rate -----------------------------------------------------------------------

    def record_paced(self, now: int, conn: Connection) -> None:
        """Latency from the intended send time (corrected) and from the actual write."""
        corrected = (now - conn.intended_ns) // 1000
        if corrected > self.timeout_us:
            self.timeouts += 1
        else:
            self.latency[corrected] += 1
        uncorrected = (now - conn.sent_ns) // 1000
        if uncorrected <= self.timeout_us:
            self.latency_uncorrected[uncorrected] += 1

    def _pace(self) -> None:
        """Release every batch whose send time has come, then sleep until the next one."""
        if self.stopping:
            return
        now = perf_counter_ns()
        while self.start_ns + self.issued * self.interval_ns <= now:
            if self.spec.quota is not None and self.issued * self.depth >= self.spec.quota:
                return
            intended = int(self.start_ns + self.issued * self.interval_ns)
            self.issued += 1
            if self.idle:
                self._send(self.idle.popleft(), intended)
            else:
                self.backlog.append(intended)
        self.pacer.at(int(self.start_ns + self.issued * self.interval_ns))

    # -- Req/Sec and progress ----------------------------------------------------------------

    def _sample_rate(self) -> None:
        """wrk's record_rate: requests per second since the last sample with any requests."""
        if self.stopping:
            return
        now = perf_counter_ns()
        done = self.complete - self._sampled
        if done > 0:
            elapsed_ms = (now - self._sample_ns) // 1_000_000
            if elapsed_ms:
                rate = int(done / elapsed_ms * 1000)
                if rate < MAX_RATE_SAMPLE:
                    self.req_per_sec[rate] += 1
            self._sampled = self.complete
            self._sample_ns = now
        self.loop.call_later(RECORD_INTERVAL_S, self._sample_rate)

    def _report_progress(self) -> None:
        if self.stopping:
            return
        self.on_progress(self)
        self.loop.call_later(self.spec.progress_interval_s, self._report_progress)


def run_worker(spec: WorkerSpec, *, until: Callable[[Worker], None] | None = None, script=None) -> WorkerResult:
    """Run one worker to its deadline (or until ``until`` arranges a stop) and return its result.

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
        return worker.result()
    finally:
        loop.close()
