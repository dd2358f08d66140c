"""A small asyncio driver for the HTTP/2 session, standing in for loadgen's worker so that the
session is tested apart from the engine: it opens connections, owns their sessions (the worker's side of the
``SessionOwner`` interface), replaces a connection that closes, and stops at a deadline or
after a number of responses. Each run is bounded in time and stops by itself.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from loadgen._run.http2.alpn import client_context
from loadgen._run.http2.frames import MAX_WINDOW
from loadgen._run.http2.h2protocol import H2Connection
from loadgen._run.http2.requestblock import EncodedRequest, encode_request
from loadgen._run.http2.session import H2Exchange, Session
from loadgen.measurement import ErrorKind, ErrorReason, Stage, Tally


@dataclass
class Driven:
    """What a drive saw."""

    tally: Tally
    opened: int = 0
    lost: int = 0  # streams handed back unprocessed (GOAWAY) or lost with a failed connection
    refused: int = 0  # sends a connection refused, closed since they were asked for (``deferred``)
    goaways: int = 0
    failures: list[ErrorReason] = field(default_factory=list)
    capacities: list[int] = field(default_factory=list)  # each connection's stream limit
    capped: int = 0  # connections whose server allowed fewer streams than asked
    most_in_flight: int = 0  # the most streams open at once on one connection
    responses: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    timed_out: bool = False


class Driver:
    """The owner of every session of a drive."""

    def __init__(
        self,
        port: int,
        exchange: H2Exchange,
        *,
        tls: ssl.SSLContext | None,
        quota: int | None,
        window: int,
        deferred: bool,
    ) -> None:
        self.port = port
        self.deferred = deferred
        self.exchange = exchange
        self.tls = tls
        self.quota = quota
        self.window = window
        self.unsent = quota or 0
        self.tally = Tally(timeout_us=10_000_000)
        self.seen = Driven(self.tally)
        self.open: set[Session] = set()
        self.made: list[H2Connection] = []  # every connection, ready or not: stop() ends them all
        self.stopping = False
        self.done = asyncio.get_running_loop().create_future()

    # -- SessionOwner ------------------------------------------------------------------------

    def connection_ready(self, conn: Session) -> None:
        self.open.add(conn)
        self.seen.opened += 1
        self.seen.capacities.append(conn.capacity)
        self.seen.capped += conn.capped
        for _ in range(conn.capacity):
            self._send(conn)

    def batch_done(self, conn: Session) -> None:
        if self.quota is not None and self.tally.requests >= self.quota:
            self.stop()
        elif self.deferred:  # as a timer sends (constant rate, a script's delay): outside the read
            asyncio.get_running_loop().call_soon(self._send, conn)
        else:
            self._send(conn)

    def response_received(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.seen.responses.append((status, headers, body))

    def connection_failed(self, conn: Session, reason: ErrorReason) -> None:
        self.seen.failures.append(reason)
        conn.abort()
        self.connection_closed(conn, conn.pending)

    def stream_lost(self, conn: Session, intended_ns: int) -> None:
        self.unsent += 1  # as the worker's -n asks it again

    def connection_closed(self, conn: Session, lost: int) -> None:
        conn.close()
        self.open.discard(conn)
        self.seen.lost += lost
        self.seen.goaways += conn.goaways
        self.unsent += lost
        if not self.stopping and not conn.replaced:
            self.connect()

    def slots_withdrawn(self, conn: Session) -> None:
        pass  # every send is made at once: no free slot is held

    def stream_drained(self, conn: Session) -> None:
        if self.quota is not None and self.tally.requests >= self.quota:
            self.stop()

    def connection_replaced(self, conn: Session, lost: int) -> None:
        self.seen.lost += lost
        self.unsent += lost
        if not self.stopping:
            self.connect()

    # -- the drive ---------------------------------------------------------------------------

    def _send(self, conn: Session) -> None:
        if self.stopping or (self.quota is not None and self.unsent <= 0):
            return
        if not conn.send():
            self.seen.refused += 1
        elif self.quota is not None:
            self.unsent -= 1
        self.seen.most_in_flight = max(self.seen.most_in_flight, len(conn.streams))

    def connect(self) -> None:
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(self._made, "127.0.0.1", self.port, ssl=self.tls)
        except ssl.SSLError as exc:  # as the worker counts a failed handshake: no retry here
            self.seen.failures.append(ErrorReason(ErrorKind.CONNECT, Stage.TLS, exc.reason or str(exc.strerror)))

    def _made(self) -> H2Connection:
        conn = H2Connection(self, self.exchange, self.window)
        self.made.append(conn)
        if self.stopping:  # made after the drive ended: aborted, so it closes as soon as it connects
            conn.abort()
        return conn

    def goaways_so_far(self) -> int:
        return self.seen.goaways + sum(conn.goaways for conn in self.open)

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        for conn in list(self.open):
            self.seen.goaways += conn.goaways
        # a connection made but not yet ready (still connecting, or the server's SETTINGS on the way, as on a
        # busy machine) is not in ``open``: left to the loop's end, its close would read as the server
        # closing it. Aborted before its transport exists, it closes as soon as it has one (H2Connection).
        for conn in self.made:
            conn.abort()
        if not self.done.done():
            self.done.set_result(None)


def request(path: str = "/", *, tls: bool = False, method: str = "GET", body: bytes | None = None) -> EncodedRequest:
    return encode_request(method, "https" if tls else "http", path, [("Host", "127.0.0.1")], body)


def drive(
    port: int,
    *,
    connections: int = 2,
    streams: int = 4,
    duration: float = 1.0,
    quota: int | None = None,
    path: str = "/",
    method: str = "GET",
    body: bytes | None = None,
    tls: bool = False,
    collect: bool = False,
    window: int = MAX_WINDOW,
    offer: tuple[str, ...] = ("h2",),
    deferred: bool = False,
    limit: float = 60.0,
    goaways: int = 0,
) -> Driven:
    """Run ``connections`` connections of ``streams`` streams each for ``duration`` seconds, or
    (with ``quota``) until that many responses, through the engine's other path (the owner sends
    each request, from the next loop turn if ``deferred``); ``offer``: the protocols offered by
    ALPN; ``goaways``: go on past ``duration`` until the servers said GOAWAY that many times (a busy
    machine serves fewer requests a second); ``limit`` bounds a quota run and that wait."""

    async def run() -> Driven:
        exchange = H2Exchange(request(path, tls=tls, method=method, body=body), streams, quota is None, collect)
        tls_context = client_context(offer) if tls else None
        driver = Driver(port, exchange, tls=tls_context, quota=quota, window=window, deferred=deferred)
        for _ in range(connections):
            driver.connect()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + limit

        def deadline() -> None:
            if driver.goaways_so_far() < goaways and loop.time() < give_up:
                loop.call_later(0.05, deadline)
            else:
                driver.stop()

        loop.call_later(limit if quota is not None else duration, deadline)
        await driver.done
        driver.seen.timed_out = quota is not None and driver.tally.requests < quota
        await asyncio.sleep(0)
        return driver.seen

    return asyncio.run(run())
