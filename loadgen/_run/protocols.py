"""The seam between the engine and a wire protocol: what a worker and a connection ask of each
other, and the table that names each protocol's implementation.

A worker never imports a protocol's package: it looks the run's protocol up here by name
(``"http/1.1"``, ``"h2"``), as uvicorn's config maps names to classes, and talks to it through
:class:`WireProtocol` (encode the run's request once, make connections) and to each connection
through :class:`Connection` (send the next request or batch, close). A connection tells its
owner, through :class:`Owner`, only what the owner must decide: it is ready, a request or batch
is done, a response arrived for the script, it failed, it was closed. What a response measures
(its status, its latency) a connection records straight into the owner's tally, as wrk's
connections write into their thread's counters, because that runs once per response.
A new protocol is a package with one class implementing :class:`WireProtocol`, and a line in
:data:`PROTOCOLS`.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import threading

    from ..measurement import ErrorReason, Tally
    from ..request import Request
    from ..target import Address

__all__ = [
    "DEFAULT",
    "PROTOCOLS",
    "Connection",
    "Exchange",
    "Owner",
    "TlsStart",
    "WireProtocol",
    "error_name",
    "protocol_named",
]

DEFAULT = "http/1.1"
# protocol name -> "module:attribute" of its WireProtocol, imported when a run asks for it
PROTOCOLS: dict[str, str] = {
    "http/1.1": "loadgen._run.http1:HTTP1",
    "h2": "loadgen._run.http2:HTTP2",
}


class Exchange(Protocol):
    """What every connection of a worker sends, encoded once by the protocol."""

    @property
    def depth(self) -> int:
        """Responses that complete one send (a pipelined batch's length; 1 for a stream)."""

    @property
    def repeat(self) -> bool:
        """The static closed loop: a connection sends the request again itself, without its owner."""


class Connection(Protocol):
    """What the engine uses of a connection, whatever its protocol. A connection keeps its own
    account (responses, bytes, when it opened and first answered), which the owner reads once,
    when it is done."""

    capacity: int  # requests that may be in flight at once (1 for HTTP/1.1; -m streams, capped, for h2)
    tally: Tally  # what its responses record into: the owner's, or (--targets) the tally of the target in flight
    previous_tally: Tally  # --targets: the tally of the request before the one in flight (see Schedule._next_target)
    closed: bool  # closed by this side: whatever the transport reports next is expected
    pending: int  # requests lost with it when it failed
    opened_ns: int  # when it was established
    first_response_ns: int  # when its first response completed (0: none yet)
    sent_ns: int  # when the request (or batch) in flight was written
    goaways: int  # GOAWAY frames the server sent on it (HTTP/2)
    pings: int  # PING frames the server sent on it (HTTP/2)
    stream_limit: int | None  # HTTP/2: the server's stream limit that capped -m when it was ready (None: none did)

    @property
    def transport(self) -> asyncio.BaseTransport | None: ...

    @property
    def responses(self) -> int: ...

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered (read once, when the run stops)."""

    @property
    def responses_begun(self) -> int:
        """Responses in flight of which a part (the head) has arrived (read once, when the run stops)."""

    @property
    def window_blocked(self) -> int:
        """HTTP/2: requests in flight whose content waits for the server's flow-control window."""

    @property
    def waiting_since_ns(self) -> int:
        """When the oldest request in flight was written; 0 with none (read once, when the run stops)."""

    @property
    def bytes_read(self) -> int: ...

    def lost_due(self) -> list[int]:
        """The intended send times (constant-rate mode) of requests lost with the connection."""

    def send(self, request: Any = None, intended_ns: int = 0) -> bool:
        """Write ``request`` (the protocol's encoded form; None: the exchange's static one);
        ``intended_ns``: when a paced request was due. False: the connection is closed, the
        request is still the owner's."""

    def close(self) -> None: ...

    def abort(self) -> None: ...


class Owner(Protocol):
    """What a connection needs from the worker's pool of connections."""

    tally: Tally
    # A request (or batch) is done and the connection free, outside the static loop: the schedule's.
    batch_done: Callable[[Any], None]
    # The constant rate's fast path (None in other runs): given the time a batch of one completed,
    # the due time of the oldest batch due by then, taken by the caller, which sends it at once;
    # 0 when none is due (or the case is not the fast one): then the caller calls batch_done.
    take_due: Callable[[int], int] | None
    # Each response (status, header fields, body), when a script's response() wants them.
    response_received: Callable[[int, dict[str, str], bytes], None]

    def connection_ready(self, conn: Any) -> None: ...

    def connection_failed(self, conn: Any, reason: ErrorReason) -> None: ...

    def connection_closed(self, conn: Any, lost: int) -> None: ...

    def connection_replaced(self, conn: Any, lost: int) -> None:
        """HTTP/2: a GOAWAY with an error code; the connection ends its last streams while a new
        one takes its place, and calls ``connection_closed`` when it is done."""

    def slots_withdrawn(self, conn: Any) -> None:
        """HTTP/2, outside the static loop: the server lowered its stream limit; the free slots of
        ``conn`` the schedule holds are dropped (those still free are offered again at once)."""

    def stream_drained(self, conn: Any) -> None:
        """HTTP/2, outside the static loop: a stream ended on a connection that takes no new one
        (after a GOAWAY), which asks the schedule for nothing: the run stops if -n is answered."""

    def stream_lost(self, conn: Any, intended_ns: int) -> None:
        """HTTP/2, outside the static loop: a request whose stream ended without a response (the
        server reset it, or its response was malformed), counted as an error; -n asks it again."""


@dataclass(frozen=True)
class TlsStart:
    """How a test connection before the run starts TLS: the run's server name, and the run's TLS
    options applied to the protocol's context (None: none given). A refused handshake is
    ssl.SSLError, the TLS check's to name, not the protocol's (a server that wants a client
    certificate was said not to speak HTTP/2, and ``--http2=auto`` fell back to HTTP/1.1, whose
    connections then failed the same handshake)."""

    server_name: str
    context: ssl.SSLContext | None = None


class WireProtocol(Protocol):
    """A protocol's implementation, as the table names it."""

    name: str
    # Why a script's request() may not return HTTP/1.1 text, before or during the run (None: it may).
    text_refused: str | None

    def check(self, request: Request | bytes) -> None:
        """Refuse a request this protocol cannot send, before the run (SetupError, one line)."""

    def left_out(self, request: Request) -> tuple[str, ...]:
        """The names of the request's header fields this protocol does not send (HTTP/2's
        connection-specific ones), for a notice before the run."""

    def exchange(self, request: Request | bytes, *, scheme: str, repeat: bool, collect: bool, streams: int) -> Exchange:
        """The run's request, encoded once, and what connections do when a request is done."""

    def encode(self, request: Request | bytes, *, scheme: str) -> Any:
        """One request of a script's ``request()``, in the form :meth:`Connection.send` takes."""

    def connection(self, owner: Owner, exchange: Any) -> asyncio.Protocol:
        """A new connection (an asyncio protocol implementing :class:`Connection`)."""

    def tls_context(self) -> ssl.SSLContext:
        """The client's TLS context (no certificate verification: a load test is not a security check)."""

    def refusal(
        self, address: Address, tls: TlsStart | None, stop: threading.Event | None, timeout: float
    ) -> str | None:
        """Why the server will not speak this protocol, found by one test connection before the
        run (TLS when ``tls`` is set), which ``stop`` ends (Interrupted); None when it will;
        TimeoutError when the server has not answered within ``timeout`` seconds."""


def protocol_named(name: str) -> WireProtocol:
    """The implementation of protocol ``name``, imported on first use."""
    module, _, attribute = PROTOCOLS[name].partition(":")
    found: WireProtocol = getattr(importlib.import_module(module), attribute)
    return found


def error_name(exc: BaseException) -> str:
    """A short, stable name for a socket error: OpenSSL's reason for a TLS error (its errno is
    OpenSSL's error type, not the system's: SSL_ERROR_SSL, 1, would read EPERM), else the errno
    symbol when there is one."""
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    code = getattr(exc, "errno", None)
    if code is not None and code in errno.errorcode:
        return errno.errorcode[code]
    return type(exc).__name__
