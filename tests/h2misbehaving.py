"""A small h2c server on 127.0.0.1 for the tests of servers that misbehave in ways nginx cannot be
made to (a GOAWAY with an error code, a PING flood, DATA that trickles): it speaks the frames
itself, one thread per connection, and answers each request with the bytes its ``answer`` returns.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable
from types import TracebackType

import hpack

from loadgen._run.http2 import frames as f

Answer = Callable[["Exchange", int], None]
POLITE = ((f.MAX_CONCURRENT_STREAMS, 100),)  # the server's SETTINGS


class Exchange:
    """One connection's side of the server: its socket, HPACK encoder, and requests so far."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.encoder = hpack.Encoder()
        self.requests = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, stream: int, body: bytes = b"ok\n") -> bytes:
        block = self.encoder.encode([(":status", "200"), ("content-length", str(len(body)))])
        return f.headers_frame(stream, block) + f.data_frame(stream, body, end_stream=True)

    def head(self, stream: int, length: int) -> bytes:
        return f.headers_frame(stream, self.encoder.encode([(":status", "200"), ("content-length", str(length))]))


class MisbehavingH2:
    """``with MisbehavingH2(answer) as server: server.url``; ``answer(exchange, stream_id)`` writes
    the answer to each request (a stream whose HEADERS ended it: one with content is never
    answered); ``settings``: the server's SETTINGS on each connection; ``settling``: how many
    connections get them (None: all), the others none (a server too busy to answer their preface)."""

    def __init__(
        self, answer: Answer, settings: tuple[tuple[int, int], ...] = POLITE, settling: int | None = None
    ) -> None:
        self.answer = answer
        self.settings = settings
        self.settling = settling
        self.connections = 0  # that sent their preface
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def _serve(self, sock: socket.socket) -> None:
        exchange = Exchange(sock, self.stopping)
        try:
            if _read(sock, len(f.PREFACE)) != f.PREFACE:
                return
            with self.lock:
                self.connections += 1
                silent = self.settling is not None and self.connections > self.settling
            if silent:
                while sock.recv(65536):  # until the client closes it
                    pass
                return
            exchange.send(f.settings_frame(self.settings))
            while not self.stopping.is_set():
                header = _read(sock, 9)
                length, kind, flags, stream = int.from_bytes(header[:3]), header[3], header[4], header[5:9]
                payload = _read(sock, length)
                if kind == f.SETTINGS and not flags & f.ACK:
                    exchange.send(f.settings_frame(ack=True))
                elif kind == f.PING and not flags & f.ACK:
                    exchange.send(f.ping_frame(payload, ack=True))
                elif kind == f.HEADERS and flags & f.END_STREAM:
                    exchange.requests += 1
                    self.answer(exchange, int.from_bytes(stream) & f.STREAM_ID_MASK)
        except OSError:  # the client closed the connection (or the server did, in answer())
            pass

    def __enter__(self) -> MisbehavingH2:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data
