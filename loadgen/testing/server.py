"""A small HTTP/1.1 server whose behaviour is chosen by the request path, to test load generators.

The path picks the behaviour, so one server covers every case a test or benchmark needs::

    /                     200 "hello world\\n", keep-alive
    /bytes?size=N         N bytes of body
    /status/404?body=1    that status code (with body, a body even after a 1xx, 204 or 304)
    /delay?ms=10          answer after a fixed delay
    /wait?ms=200          the same on the loop's timers (a millisecond late at most), not asleep
                          in threads; ``TestServer.waits`` keeps when each request came and each
                          response left
    /service?ms=10&workers=4
                          a server of that many workers, each busy ms per request (the others
                          queue): it serves at most workers * 1000 / ms requests/sec, in any span;
                          ``TestServer.services[workers]`` keeps when each request came and each
                          response left
    /stall?period_ms=2000&pause_ms=1000
                          answer at once, except that every period the whole server stalls for
                          pause_ms (a stop-the-world pause: the case coordinated omission hides)
    /freeze?ms=1000       from now on, for ms, no response leaves the server (this one does)
    /slow-body?head_ms=50&body_ms=100
                          the head after head_ms, the body after body_ms more
    /hang                 never answer
    /favour?ms=200        answer at once on the first connection that asks, after ms on every
                          other one (a server that starves all connections but one)
    /close                answer with "Connection: close", then close
    /drop                 answer with a length but no "Connection: close", then close
    /idle-close?ms=100    answer, then close the connection when no request follows within ms
                          (a server's keep-alive idle timeout, as uvicorn's 5 s)
    /reset                close with a TCP reset instead of answering
    /chunked?chunks=4&size=100
                          a chunked body
    /eof?size=N           a body delimited by closing the connection (no length)
    /head-ok              for HEAD: headers that announce a body that is not sent
    /malformed?vary=1     a response that is not HTTP (with vary, each one different)
    /truncated?reset=1    a head announcing 100 bytes, 10 bytes of body, then close (with reset, a
                          TCP reset)
    /twice?ms=0&cut=N     two responses to each request (one to no request), in one write, or the
                          second ms after the first (with cut, only its first N bytes, then close)
    /echo                 the request (method, path, headers, body) as JSON

``TestServer(accept=N)`` accepts only its first N connections: the kernel completes the others
and keeps them in the listening socket's accept queue, where nobody reads their requests (what a
busy server's accept queue does to the connections that arrive late). With ``backlog=B`` that
queue holds B + 1 of them: the kernel drops the SYNs of the rest, whose connect() hangs (a server
whose listen backlog is full).

It counts the responses it sent and their bytes, so tests can compare with what a client saw.
Run it alone with ``python -m loadgen.testing.server --port 8080`` (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

RecordT = TypeVar("RecordT", bound="Record")
HELLO = b"hello world\n"
MAX_HEAD = 64 * 1024


@dataclass
class ServerCounters:
    """What the server sent: complete responses and every byte written."""

    responses: int = 0
    bytes_sent: int = 0
    requests_received: int = 0
    connections: int = 0  # accepted
    first_request_at: float | None = None  # time.monotonic() when the first request had arrived
    by_path: dict[str, int] = field(default_factory=dict)
    by_target: dict[str, int] = field(default_factory=dict)  # the request target: path and query
    last_request: tuple[str, str, dict[str, str], bytes] | None = None  # method, target, headers, body


class _Stall:
    """A server-wide pause schedule: during a pause no response leaves the server."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def wait_seconds(self, period: float, pause: float) -> float:
        phase = (time.monotonic() - self.origin) % period
        return pause - phase if phase < pause else 0.0


def _response(
    status: int,
    body: bytes = b"",
    *,
    reason: str = "OK",
    headers: dict[str, str] | None = None,
    length: bool = True,
    close: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", "Server: loadgen-testserver"]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Record:
    """When each request came and each response left, by ``time.monotonic()`` (a client's
    ``perf_counter`` on Linux), and when each connection that asked was seen closed: what tests
    judge a client's count against."""

    def __init__(self) -> None:
        self.arrived: list[float] = []  # when each request was taken
        self.written: list[float] = []  # when each response was written
        self.connections = 0  # that asked
        self.closed: list[float] = []  # when each of them was seen closed


class Service(Record):
    """/service's workers, each busy for a request's time: a request takes the first one free, or
    waits for it; and its record, which tests judge a client's count against.

    Kept as the times each worker is next free, so that a late wake-up of this server's loop (a
    busy machine) delays that response but not the next one. A stall of the whole server, though,
    loses its time as a real server's CPU does: a response leaves at most one response's share of
    a worker's time (``ms / workers``) after the one before, one share early at most, so that in
    any span the server writes at most ``workers * 1000 / ms`` a second and two more. Booked times
    alone let every response overdue after a stall leave at once (stopped 0.6 s at -R412: 80 left
    within 50 ms, against 21 paced), and beside two CPU hogs a server of 400 a second wrote 409 a
    second over the 0.93 s a step at 412 was judged on: it passed."""

    def __init__(self, workers: int) -> None:
        super().__init__()
        self.free_at = [0.0] * workers  # time.monotonic() when each worker is next free
        self.workers = workers
        self.leaves_at = 0.0  # when the next response is due to leave, at its share's pace

    def book(self, busy_s: float) -> float:
        """When a request arriving now is done: on the first worker free, after its current work."""
        now = time.monotonic()
        self.arrived.append(now)
        worker = min(range(len(self.free_at)), key=self.free_at.__getitem__)
        self.free_at[worker] = max(now, self.free_at[worker]) + busy_s
        return self.free_at[worker]

    def leave(self, busy_s: float) -> float:
        """0 when a done response may be written now (then it is counted as written: write it at
        once), else how long it waits for its turn."""
        share = busy_s / self.workers
        now = time.monotonic()
        wait = self.leaves_at - share - now
        if wait > 0:
            return wait
        self.leaves_at = max(self.leaves_at, now) + share
        self.written.append(now)
        return 0.0


@dataclass(frozen=True)
class _Asked:
    """One request as the paths read it: the path picks the behaviour, the query tunes it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    path: str
    query: dict[str, str]

    @classmethod
    def of(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> _Asked:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        return cls(method, target, headers, body, url.path, query)

    def seconds(self, name: str, default_ms: str) -> float:
        """A query value given in milliseconds, in seconds."""
        return float(self.query.get(name, default_ms)) / 1000


class _Handler(asyncio.Protocol):
    """One client connection: parse requests in order, answer each by its path."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.buffer = b""
        self.queue: asyncio.Queue[tuple[str, str, dict[str, str], bytes] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.idle_timeout_s: float | None = None  # /idle-close: how long the connection may wait
        self.record: Record | None = None  # /service's or /wait's, which its close joins

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.counters.connections += 1
        self.task = asyncio.ensure_future(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.record is not None:
            self.record.closed.append(time.monotonic())
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            method, target, _ = [*head[0].split(" "), "", ""][:3]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            size = int(headers.get("content-length", "0") or 0)
            if len(self.buffer) < end + 4 + size:
                return
            body = self.buffer[end + 4 : end + 4 + size]
            self.buffer = self.buffer[end + 4 + size :]
            counters = self.server.counters
            counters.requests_received += 1
            if counters.first_request_at is None:
                counters.first_request_at = time.monotonic()
            self.server.counters.last_request = (method, target, headers, body)
            self.queue.put_nowait((method, target, headers, body))

    def _join(self, record: RecordT) -> RecordT:
        """``record``, as this connection's: its close is recorded there."""
        if self.record is None:
            record.connections += 1
        self.record = record
        return record

    def _send(self, data: bytes, *, complete: bool = True) -> None:
        """Count, then write: the write sends at once, releasing the GIL in its send(), and a client
        could have the response and a test read the counters before it was counted (6,921 read by
        loadgen, 6,920 counted, beside CPU hogs)."""
        if self.transport.is_closing():
            return
        counters = self.server.counters
        counters.bytes_sent += len(data)
        if complete:
            counters.responses += 1
        self.transport.write(data)

    def _reset(self) -> None:
        """Close with a TCP reset, not a FIN."""
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.transport.abort()

    async def _serve(self) -> None:
        while (item := await self._next_request()) is not None:
            method, target, headers, body = item
            if not await self._answer(method, target, headers, body):
                return

    async def _next_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        """The next request, or None when the connection is gone or was idle too long (closed then)."""
        try:
            return await asyncio.wait_for(self.queue.get(), self.idle_timeout_s)
        except TimeoutError:
            self.transport.close()
            return None

    async def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        """Send the response for one request; False once the connection is finished."""
        asked = _Asked.of(method, target, headers, body)
        counters = self.server.counters
        counters.by_path[asked.path] = counters.by_path.get(asked.path, 0) + 1
        counters.by_target[target] = counters.by_target.get(target, 0) + 1
        frozen = self.server.frozen_until - time.monotonic()
        if frozen > 0 and asked.path != "/freeze":
            await asyncio.sleep(frozen)
        if asked.path.startswith("/status/"):
            return await self._at_status(asked)
        return await _PATHS.get(asked.path, _Handler._hello)(self, asked)

    def _reply(self, asked: _Asked, status: int = 200, payload: bytes = HELLO, **kw: Any) -> None:
        """A response of this status and payload (its head alone to a HEAD)."""
        data = _response(status, payload, **kw)
        self._send(data[: len(data) - len(payload)] if asked.method == "HEAD" else data)

    async def _hello(self, asked: _Asked) -> bool:
        self._reply(asked)
        return True

    async def _at_hang(self, asked: _Asked) -> bool:
        await asyncio.sleep(3600)
        return False

    async def _at_favour(self, asked: _Asked) -> bool:
        if self.server.favourite is None:
            self.server.favourite = self
        if self.server.favourite is not self:
            await asyncio.sleep(asked.seconds("ms", "200"))
        return await self._hello(asked)

    async def _at_delay(self, asked: _Asked) -> bool:
        """Slept in a thread: the loop's own timers are only ms-precise."""
        await asyncio.get_running_loop().run_in_executor(self.server.sleepers, time.sleep, asked.seconds("ms", "10"))
        return await self._hello(asked)

    async def _at_service(self, asked: _Asked) -> bool:
        workers = int(asked.query.get("workers", "4"))
        service = self._join(self.server.services.setdefault(workers, Service(workers)))
        # on the loop's timers (a millisecond late at most), not asleep in a hundred threads that take
        # the GIL from the loop that reads the requests and keeps the record
        busy_s = asked.seconds("ms", "10")
        await asyncio.sleep(max(0.0, service.book(busy_s) - time.monotonic()))
        while not self.transport.is_closing() and (turn := service.leave(busy_s)):
            await asyncio.sleep(turn)
        return await self._hello(asked)

    async def _at_wait(self, asked: _Asked) -> bool:
        """On the loop's timers: beside CPU hogs, 180 of /delay's threads asleep at once stalled this
        server 0.25-0.6 s."""
        record = self._join(self.server.waits)
        record.arrived.append(time.monotonic())
        await asyncio.sleep(asked.seconds("ms", "10"))
        if not self.transport.is_closing():
            record.written.append(time.monotonic())
        return await self._hello(asked)

    async def _at_stall(self, asked: _Asked) -> bool:
        wait = self.server.stall.wait_seconds(asked.seconds("period_ms", "2000"), asked.seconds("pause_ms", "1000"))
        if wait:
            await asyncio.sleep(wait)
        return await self._hello(asked)

    async def _at_status(self, asked: _Asked) -> bool:
        status = int(asked.path.rsplit("/", 1)[1])
        bodyless = (status < 200 or status in (204, 304)) and not asked.query.get("body")  # these never carry one
        self._reply(asked, status, b"" if bodyless else b"status\n", reason="Status", length=not bodyless)
        return True

    async def _at_bytes(self, asked: _Asked) -> bool:
        self._reply(asked, payload=b"x" * int(asked.query.get("size", "1024")))
        return True

    async def _at_close(self, asked: _Asked) -> bool:
        self._reply(asked, close=True)
        self.transport.close()
        return False

    async def _at_idle_close(self, asked: _Asked) -> bool:
        self.idle_timeout_s = asked.seconds("ms", "100")
        return await self._hello(asked)

    async def _at_drop(self, asked: _Asked) -> bool:
        self._reply(asked)
        self.transport.close()
        return False

    async def _at_reset(self, asked: _Asked) -> bool:
        self._reset()
        return False

    async def _at_chunked(self, asked: _Asked) -> bool:
        size, chunks = int(asked.query.get("size", "100")), int(asked.query.get("chunks", "4"))
        data = _response(200, headers={"Transfer-Encoding": "chunked"}, length=False)
        for _ in range(chunks):
            data += f"{size:x}\r\n".encode() + b"c" * size + b"\r\n"
        self._send(data + b"0\r\n\r\n")
        return True

    async def _at_eof(self, asked: _Asked) -> bool:
        self._send(_response(200, b"e" * int(asked.query.get("size", "1000")), length=False, close=True))
        self.transport.close()
        return False

    async def _at_head_ok(self, asked: _Asked) -> bool:
        self._send(
            _response(200, b"", headers={"X-Body": "omitted"}, length=False).replace(
                b"\r\n\r\n", b"\r\nContent-Length: 1000\r\n\r\n"
            )
        )
        return True

    async def _at_malformed(self, asked: _Asked) -> bool:
        number = f" {self.server.counters.by_path[asked.path]}" if asked.query.get("vary") else ""
        self._send(f"this is not http{number}\r\n\r\n".encode(), complete=False)
        self.transport.close()
        return False

    async def _at_truncated(self, asked: _Asked) -> bool:
        self._send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"t" * 10, complete=False)
        if asked.query.get("reset"):
            self._reset()
        else:
            self.transport.close()
        return False

    async def _at_twice(self, asked: _Asked) -> bool:
        data, pause_ms = _response(200, HELLO), float(asked.query.get("ms", "0"))
        second = data[: int(asked.query["cut"])] if "cut" in asked.query else data
        if pause_ms:
            self._send(data)
            await asyncio.sleep(pause_ms / 1000)
        self._send(second if pause_ms else data + second)
        if "cut" in asked.query:
            self.transport.close()
            return False
        return True

    async def _at_freeze(self, asked: _Asked) -> bool:
        self.server.frozen_until = time.monotonic() + asked.seconds("ms", "1000")
        return await self._hello(asked)

    async def _at_slow_body(self, asked: _Asked) -> bool:
        data = _response(200, HELLO)
        await asyncio.sleep(asked.seconds("head_ms", "50"))
        self._send(data[: -len(HELLO)], complete=False)
        await asyncio.sleep(asked.seconds("body_ms", "100"))
        self._send(HELLO)
        return True

    async def _at_echo(self, asked: _Asked) -> bool:
        echoed = {
            "method": asked.method,
            "path": asked.target,
            "headers": asked.headers,
            "body": asked.body.decode("latin-1"),
        }
        self._reply(asked, payload=json.dumps(echoed).encode(), headers={"Content-Type": "application/json"})
        return True


# What each path does (the module's docstring tells it); any other path: 200 "hello world\n"
_PATHS: dict[str, Callable[[_Handler, _Asked], Awaitable[bool]]] = {
    "/hang": _Handler._at_hang,
    "/favour": _Handler._at_favour,
    "/delay": _Handler._at_delay,
    "/service": _Handler._at_service,
    "/wait": _Handler._at_wait,
    "/stall": _Handler._at_stall,
    "/bytes": _Handler._at_bytes,
    "/close": _Handler._at_close,
    "/idle-close": _Handler._at_idle_close,
    "/drop": _Handler._at_drop,
    "/reset": _Handler._at_reset,
    "/chunked": _Handler._at_chunked,
    "/eof": _Handler._at_eof,
    "/head-ok": _Handler._at_head_ok,
    "/malformed": _Handler._at_malformed,
    "/truncated": _Handler._at_truncated,
    "/twice": _Handler._at_twice,
    "/freeze": _Handler._at_freeze,
    "/slow-body": _Handler._at_slow_body,
    "/echo": _Handler._at_echo,
}


class TestServer:
    """The server on 127.0.0.1 (or a Unix socket), run on its own event loop in a thread."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        port: int = 0,
        unix_path: str | None = None,
        tls: ssl.SSLContext | None = None,
        accept: int | None = None,
        backlog: int = 4096,
    ) -> None:
        self.counters = ServerCounters()
        self.accept = accept  # accept only this many connections (None: all)
        self.backlog = backlog  # the listening socket's accept queue, with ``accept``
        self.favourite: _Handler | None = None  # /favour: the connection answered at once
        self.frozen_until = 0.0  # /freeze: monotonic time until which no response leaves
        self.stall = _Stall()
        self.services: dict[int, Service] = {}  # /service: the workers, by their number
        self.waits = Record()  # /wait's
        self.sleepers = ThreadPoolExecutor(max_workers=512, thread_name_prefix="delay")
        self._port = port
        self.unix_path = unix_path
        self.tls = tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._listener: socket.socket | None = None  # with ``accept``: the listening socket, accepted from by hand
        self._accepting: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.out_of_descriptors = False  # said once: accepting waits until connections close

    async def start_serving(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        loop.set_exception_handler(self._on_loop_error)
        if self.unix_path:
            self._server = await loop.create_unix_server(lambda: _Handler(self), self.unix_path)
        elif self.accept is not None:
            self._listener = socket.create_server(("127.0.0.1", self._port), backlog=self.backlog)
            self._listener.setblocking(False)
            self.port = self._listener.getsockname()[1]
            self._accepting = asyncio.ensure_future(self._accept_some(self._listener, self.accept))
        else:
            self._server = await loop.create_server(
                lambda: _Handler(self), "127.0.0.1", self._port, backlog=4096, reuse_address=True, ssl=self.tls
            )
            self.port = self._server.sockets[0].getsockname()[1]

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of file descriptors, one line once: asyncio logged each failed accept with its
        traceback (49,000 lines in a second of 60 connections at ``ulimit -n 40``), and tries again."""
        error = context.get("exception")
        if not (isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE)):
            loop.default_exception_handler(context)
        elif not self.out_of_descriptors:
            self.out_of_descriptors = True
            print(
                f"loadgen.testing.server: out of file descriptors ({error.strerror}): new connections wait in "
                "the accept queue until others close (raise ulimit -n)",
                file=sys.stderr,
                flush=True,
            )

    async def _accept_some(self, listener: socket.socket, count: int) -> None:
        """Accept ``count`` connections, then no more: the listening socket stays open."""
        loop = asyncio.get_running_loop()
        for _ in range(count):
            sock, _ = await loop.sock_accept(listener)
            await loop.connect_accepted_socket(lambda: _Handler(self), sock)

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def start(self) -> TestServer:
        """Serve from a background thread until :meth:`stop`."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.start_serving())
            ready.set()
            loop.run_forever()
            if self._server is not None:
                self._server.close()
            if self._listener is not None:
                self._listener.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=serve, name="loadgen-testserver", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A controllable HTTP/1.1 test server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one; it is printed)")
    parser.add_argument("--unix-socket", help="serve on this Unix socket path instead")
    args = parser.parse_args()
    server = TestServer(port=args.port, unix_path=args.unix_socket)

    async def serve() -> None:
        await server.start_serving()
        print(args.unix_socket or server.port, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
