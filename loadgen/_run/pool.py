"""A worker's connections and their lifecycle: opened at once, replaced when they close (as wrk
does), each accounted for once when it is done.

The pool is the :class:`~loadgen._run.protocols.Owner` of its connections: it opens them with
the run's protocol (TCP, a Unix socket, or TLS with its handshake timed apart), counts what
goes wrong while connecting, hands a ready connection to the schedule, and takes back a closed
or failed one: its lost requests to the schedule, its account to the tally, a new connection in
its place. When a request is done the connection calls the schedule's ``batch_done`` directly
(the pool's attribute is the schedule's method), since that runs once per response.
"""

from __future__ import annotations

import asyncio
import errno
import math
import socket
import ssl
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from time import monotonic_ns, perf_counter_ns
from typing import Any

from ..measurement import ErrorKind, ErrorReason, Stage, Tally
from ..stages import level_at
from ..target import Address
from .eventloop import Clock
from .protocols import Connection, Exchange, WireProtocol, error_name
from .sampling import HELD_NS
from .schedule import Schedule
from .tlsoptions import TlsOptions, configure

__all__ = ["Pool"]

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


GROWTH_TICK_S = 0.05


class Pool:
    """The open connections of one worker, and those on their way."""

    def __init__(
        self,
        clock: Clock,
        address: Address,
        server_name: str | None,
        protocol: WireProtocol,
        exchange: Exchange,
        schedule: Schedule,
        response_received: Callable[[int, dict[str, str], bytes], None],
        tls_options: TlsOptions | None = None,
    ) -> None:
        self.clock = clock  # its timers (growth checks, the wait at its end, HTTP/2 give-ups): on time, however busy
        self.loop = clock.loop
        self.address = address
        self.server_name = server_name  # TLS (https) when set
        self.tls = protocol.tls_context() if server_name is not None else None
        if self.tls is not None and tls_options is not None:
            configure(self.tls, tls_options)
        self.tally: Tally = schedule.tally
        self.schedule = schedule
        self.batch_done: Callable[[Any], None] = schedule.batch_done
        self.take_due: Callable[[int], int] | None = schedule.take_due
        self.response_received = response_received
        self.protocol = protocol
        self.exchange = exchange
        self.open: set[Connection] = set()
        self.connecting: set[asyncio.Task[None]] = set()  # the tasks opening connections: cancelled at the stop
        # connections on their way: asked for, not yet ready (connect, TLS handshake, HTTP/2 SETTINGS)
        # nor failed. Not ``len(connecting)``: a task ends before an HTTP/2 SETTINGS, and outlives an
        # HTTP/1.1 connection's readiness while the loop is busy (80 tasks for 44 on their way at the
        # end of a -c50 run whose server closed every third request), so --stages-connections counted
        # connections twice and kept 27 of 50 open
        self.opening = 0
        self.bytes_closed = 0  # bytes read by connections that are gone
        self.bytes_before = 0  # bytes read before the measured window (in the warm-up)
        self.carried: dict[Connection, int] = {}  # connections from the warm-up -> their responses then
        self.closing_after = 0  # close each connection after this many responses (0: keep them alive)
        self.growth: tuple[tuple[float, float], ...] = ()  # --stages-connections: how many connections, over time
        self.wanted = 2**62  # the connections to keep open now (all that the worker opens, but with growth)
        self.stagger = 0.0  # with growth: this worker's share of a connection counted ahead
        self.began: dict[Any, int] = {}  # connections that close, not yet ready -> when their connect began
        self.replaced: set[Any] = set()  # open connections already replaced, their last streams ending
        self.retiring: set[Any] = set()  # HTTP/2 connections the stages no longer want, their last streams ending
        self.stopped = False

    def shape(
        self, closes_after: int | None, growth: tuple[tuple[float, float], ...], stagger: Fraction = Fraction(0)
    ) -> None:
        """Close each connection after ``closes_after`` responses (None: keep them alive, as wrk);
        with ``growth`` (--stages-connections), keep as many connections open as its stages say
        at each moment (call :meth:`start_growing` instead of opening them), counted ``stagger``
        of a connection ahead (see WorkerSpec), so that the workers' counts add up to the stages'
        (-t3 and 100: 34 + 33 + 33, not 3 x 33)."""
        self.closing_after = closes_after or 0
        self.growth = growth
        self.stagger = float(stagger)
        if closes_after is not None or growth:
            self.batch_done = self._batch_done_shaped

    def start_growing(self, start_ns: int, tick: int = 0) -> None:
        """Open connections as the stages ask, every 50 ms (at ``tick`` times 50 ms from the start,
        not 50 ms after the last check, which drifts late); extra ones close as their responses
        complete. Each check opens those the stages ask for by the next, so that a last stage that
        grows reaches its target before the run ends with it; one that lowers the count keeps what
        it asks at the check."""
        if self.stopped:
            return
        elapsed_s = (perf_counter_ns() - start_ns) / 1e9
        at_s = max(elapsed_s, tick * GROWTH_TICK_S)
        level = max(level_at(self.growth, at_s), level_at(self.growth, at_s + GROWTH_TICK_S))
        self.wanted = math.floor(level + self.stagger + 1e-9)
        for _ in range(self.wanted - self.in_use - self.opening):
            self.open_connection()
        following = max(tick + 1, math.floor(elapsed_s / GROWTH_TICK_S) + 1)  # a loop held late skips checks
        self.clock.call_later(following * GROWTH_TICK_S - elapsed_s, self.start_growing, start_ns, following)

    def new_connection(self) -> asyncio.Protocol:
        """A connection of the run's protocol, owned by this pool (asyncio's protocol factory)."""
        return self.protocol.connection(self, self.exchange)

    def _new_connection_from(self, began_ns: int) -> asyncio.Protocol:
        """:meth:`new_connection`, remembering when its connect began (connections that close)."""
        conn = self.protocol.connection(self, self.exchange)
        self.began[conn] = began_ns
        return conn

    def _batch_done_shaped(self, conn: Connection) -> None:
        """A request done on a connection that closes after N: the N-th closes it (the server
        kept it open though the request asked it to close); one too many for the stages closes;
        else the schedule sends the next."""
        if conn in self.retiring:
            if not conn.in_flight:
                self.connection_closed(conn, 0)
        elif 0 < self.closing_after <= conn.responses or self.in_use > self.wanted:
            self._retire(conn)
        else:
            self.schedule.batch_done(conn)

    def _retire(self, conn: Connection) -> None:
        """Close a connection the stages no longer want, once no stream is left on it: an HTTP/2 one
        closed at its first stream's end dropped the others, which the server had answered (51 of
        213,908 in --streams 8 --stages-connections 2s:20,2s:20,2s:0, counted nowhere)."""
        if conn.in_flight:
            self.retiring.add(conn)
            self.schedule.forget(conn)
        else:
            self.connection_closed(conn, 0)

    @property
    def in_use(self) -> int:
        """The open connections that take requests: -c's count. One replaced after an HTTP/2 GOAWAY,
        its last streams ending beside its replacement, is counted apart
        (``replaced_while_draining``), else the peak of open connections exceeded -c."""
        return len(self.open) - len(self.replaced) - len(self.retiring)

    def bytes_read(self) -> int:
        """Every byte read so far, by the connections open and gone."""
        return self.bytes_closed + sum(conn.bytes_read for conn in self.open) - self.bytes_before

    def restart(self) -> None:
        """The warm-up is over (the tally restarted): what it read and its responses on the
        connections still open are left out; those connections count as opened in the window."""
        self.bytes_before += self.bytes_read()
        self.carried = {conn: conn.responses for conn in self.open}
        self.tally.connections_opened = len(self.open)
        self.tally.peak_open = self.in_use
        for conn in self.open:
            self._count_stream_limit(conn)

    def close_all(self, now_ns: int) -> None:
        """The run is over: account for every open connection, count what is in flight on it, drop both;
        count those still on their way, which took no part in the run's end."""
        self.stopped = True
        self.tally.opening_at_end = self.opening
        for conn in self.open:
            self.tally.in_flight_at_end += conn.in_flight
            self.tally.begun_at_end += conn.responses_begun
            self.tally.window_blocked_at_end += conn.window_blocked
            if not conn.capacity and conn.sent_ns:  # HTTP/2: the server lowered its stream limit to 0
                self.tally.zero_streams_at_end += 1
            since = conn.waiting_since_ns
            if since and conn.responses and now_ns - since > self.tally.timeout_us * 1000:
                self.tally.stalled_at_end += 1
            self._account(conn, now_ns)
            conn.abort()
        self.open.clear()
        self.replaced.clear()
        self.retiring.clear()
        self.began.clear()
        for task in self.connecting:
            task.cancel()

    # -- opening -------------------------------------------------------------------------------

    def open_connection(self) -> None:
        self.opening += 1
        task = self.loop.create_task(self._connect())
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self) -> None:
        """Open one connection, timing its set-up (and its TLS handshake apart, for https).

        Nagle's algorithm is off on every TCP connection, as in wrk: the event loop turns it off
        (uvloop on every TCP transport, asyncio on a socket of known protocol), and the TLS path
        on the socket it makes itself; nothing more per connection (a run may open 10,000)."""
        address = self.address
        started = perf_counter_ns()
        factory = partial(self._new_connection_from, started) if self.closing_after else self.new_connection
        try:
            if address.family == socket.AF_UNIX:
                await self.loop.create_unix_connection(factory, address.host)
            elif self.tls is None:
                await self.loop.create_connection(factory, address.host, address.port)
            else:
                await self._connect_tls(address, started, factory)
                return
        except OSError as exc:
            self._connect_failed(exc)
            return
        if not self.stopped:
            self.tally.connect[(perf_counter_ns() - started) // 1000] += 1

    async def _connect_tls(self, address: Address, started: int, factory: Callable[[], asyncio.Protocol]) -> None:
        """TCP first, then the handshake on that socket, so the two phases are timed apart."""
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # asyncio's loop sets it only with a proto
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, (address.host, address.port))
        except BaseException:
            sock.close()
            raise
        connected = perf_counter_ns()
        await self.loop.create_connection(factory, sock=sock, ssl=self.tls, server_hostname=self.server_name)
        if not self.stopped:
            self.tally.connect[(connected - started) // 1000] += 1
            self.tally.tls_handshake[(perf_counter_ns() - connected) // 1000] += 1

    def _connect_failed(self, exc: OSError) -> None:
        if self.stopped:
            return
        self.opening -= 1
        reason = error_name(exc)
        if isinstance(exc, ssl.SSLError):  # wrk: a failed TLS handshake is a connect error
            # why the server's certificate was refused (a server restarted with another): OpenSSL's reason
            # alone, CERTIFICATE_VERIFY_FAILED, does not say
            verified = exc.verify_message if isinstance(exc, ssl.SSLCertVerificationError) else ""
            self.tally.count_error(ErrorReason(ErrorKind.CONNECT, Stage.TLS, reason, verified or ""))
            self.open_connection()
        elif exc.errno in ABANDON_ERRNOS:
            self.tally.count_error(ErrorReason(ErrorKind.CONNECT, Stage.CONNECT, reason))
        else:
            self.tally.count_error(ErrorReason(ErrorKind.WRITE, Stage.CONNECT, reason))
            self.open_connection()

    # -- what connections tell their owner ------------------------------------------------------

    def connection_ready(self, conn: Connection) -> None:
        if self.stopped:
            conn.abort()
            return
        self.opening -= 1
        conn.opened_ns = perf_counter_ns()
        self.open.add(conn)
        self.tally.connections_opened += 1
        self.tally.peak_open = max(self.tally.peak_open, self.in_use)
        self._count_stream_limit(conn)
        began = self.began.pop(conn, 0) if self.began else 0
        self.schedule.first(conn)
        if began and conn.pending:  # a connection that closes: its first request waited for the connect too
            conn.sent_ns = began

    def _count_stream_limit(self, conn: Connection) -> None:
        """An HTTP/2 connection whose server capped -m counts where it counts as opened: when it is
        ready (not after the stop), and again at the warm-up's end if it is carried into the window."""
        if conn.stream_limit is not None:
            self.tally.stream_limits[conn.stream_limit] += 1

    def connection_closed(self, conn: Connection, lost: int) -> None:
        """The server closed a connection (or an error did): open a new one, as wrk does."""
        conn.close()
        if conn in self.open:
            self.open.remove(conn)
            self.bytes_closed += conn.bytes_read
            self._account(conn, perf_counter_ns())
        elif not self.stopped:  # failed before it was ready (HTTP/2: before the server's SETTINGS)
            self.opening -= 1
            self.bytes_closed += conn.bytes_read  # read all the same, as h2load and wrk count them
        self.schedule.requeue(conn, lost)
        self.retiring.discard(conn)
        if conn in self.replaced:
            self.replaced.remove(conn)
        else:
            self._replace()

    def connection_replaced(self, conn: Any, lost: int) -> None:
        """An HTTP/2 GOAWAY with streams left below its last id: the connection takes no new request while
        they end (or it closes, or --timeout passes: then they are lost);
        its ``lost`` requests are asked for again and a new connection opens in its place now (one the
        stages were closing was counted apart already: a replacement is opened only if they want one)."""
        self.retiring.discard(conn)
        self.replaced.add(conn)
        self.tally.replaced_while_draining += 1
        self.schedule.forget(conn)
        self.schedule.requeue(conn, lost)
        self._replace()
        if not self.stopped:
            self.clock.call_later(self.tally.timeout_us / 1e6, conn.give_up)

    def _replace(self) -> None:
        """A connection in place of one that closed (or is closing), as wrk does."""
        if not self.stopped and self.in_use + self.opening < self.wanted:
            self.open_connection()

    def end_growth(self, end_ns: int, then: Callable[[], None], on_held: Callable[[int], None] | None) -> None:
        """--stages-connections' end, ``end_ns``. The last check opens those the stages ask for by the end; a
        worker held off its CPU across it runs that check only as it wakes: ``then()`` once they are open
        (within as long again as the hold, 10 ms at least; ``on_held`` tells the parent of the wait), else a
        hold from 1.9 s to 2.15 s ended 1s:10,1s:40 with 38."""
        wait_ns = max(perf_counter_ns() - end_ns, HELD_NS)
        if self.opening and on_held is not None:
            on_held(monotonic_ns() + wait_ns)
        self.once_opened(perf_counter_ns() + wait_ns, then)

    def once_opened(self, deadline_ns: int, then: Callable[[], None]) -> None:
        """``then()`` once no connection is on its way (at once if none is), or at ``deadline_ns``."""
        if self.opening and perf_counter_ns() < deadline_ns:
            self.clock.call_later(0.001, self.once_opened, deadline_ns, then)
        else:
            then()

    def slots_withdrawn(self, conn: Connection) -> None:
        self.schedule.forget(conn)

    def stream_drained(self, conn: Connection) -> None:
        self.schedule.answered()

    def stream_lost(self, conn: Connection, intended_ns: int) -> None:
        self.schedule.stream_lost(intended_ns)

    def connection_failed(self, conn: Connection, reason: ErrorReason) -> None:
        if self.stopped:
            return
        conn.tally.count_error(reason)  # the target's in flight, and the totals (else the totals only)
        conn.abort()
        self.connection_closed(conn, conn.pending)

    def _account(self, conn: Connection, now_ns: int) -> None:
        """Add a connection that is done (closed, or open at the end) to the per-connection account."""
        self.tally.goaways += conn.goaways
        self.tally.pings += conn.pings
        responses = conn.responses - self.carried.pop(conn, 0) if self.carried else conn.responses
        if responses:
            self.tally.count_answered(responses, (conn.first_response_ns - conn.opened_ns) // 1000)
        elif conn.sent_ns:
            self.tally.unanswered[(now_ns - conn.sent_ns) // 1000] += 1
