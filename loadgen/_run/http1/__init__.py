"""HTTP/1.1 for loadgen's engine, as wrk speaks it: keep-alive connections, one request or a
pipelined batch in flight on each, the same bytes written again and again.

- ``rfc9112.py``: RFC 9112's response grammar (status line, fields, chunk lines), strict.
- ``responseparser.py``: the incremental response parser, as an ``asyncio.Protocol`` base.
- ``connection.py``: one connection: writes, times, records, and the fast path that recognises
  a response seen before without parsing it.

The engine reaches this package only through :data:`loadgen._run.protocols.PROTOCOLS`, which
names :data:`HTTP1`.
"""

from __future__ import annotations

import asyncio
import ssl
import threading

from ...request import Request, RequestBatch, format_request, verify_batch
from ...target import Address
from ..protocols import Owner, TlsStart
from .connection import Connection, Exchange

__all__ = ["HTTP1"]


def _batch(request: Request | bytes) -> RequestBatch:
    """A script's bytes, checked and counted as wrk does; a request given as data, written out."""
    if isinstance(request, bytes):
        return verify_batch(request)
    data = format_request(request.method, request.target, request.headers, request.body)
    return RequestBatch(data, (request.method,))


class Http1:
    """The table's entry for ``"http/1.1"``."""

    name = "http/1.1"
    text_refused = None

    def check(self, request: Request | bytes) -> None:
        """wrk's check of a request before the run, in wrk's words."""
        verify_batch(self.encode(request, scheme=""))

    def left_out(self, request: Request) -> tuple[str, ...]:
        return ()  # every field is sent as given

    def exchange(
        self, request: Request | bytes, *, scheme: str, repeat: bool, collect: bool, streams: int = 1
    ) -> Exchange:
        batch = _batch(request)
        return Exchange(
            request=batch.data,
            depth=batch.depth,
            head_requests=all(method == "HEAD" for method in batch.methods),
            repeat=repeat,
            collect=collect,
        )

    def encode(self, request: Request | bytes, *, scheme: str = "") -> bytes:
        """A script's request as it goes on the wire: its own bytes unchecked (as wrk's), data written out."""
        if isinstance(request, bytes):
            return request
        return format_request(request.method, request.target, request.headers, request.body)

    def connection(self, owner: Owner, exchange: Exchange) -> asyncio.Protocol:
        return Connection(owner, exchange)

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def refusal(
        self, address: Address, tls: TlsStart | None, stop: threading.Event | None, timeout: float
    ) -> str | None:
        return None  # the test connection before the run is HTTP/1.1's (loadgen.target.resolve)


HTTP1 = Http1()
