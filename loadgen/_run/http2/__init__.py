"""HTTP/2 for loadgen's engine (RFC 9113, RFC 7541): h2c with prior knowledge and h2 over TLS by
ALPN, many streams per connection, in pure Python at a C tool's pace.

The modules, in the order the bytes flow:

- ``frames.py``: the frame types, flags, error codes and settings; each frame built as bytes;
  the control payloads read back with their checks.
- ``framereader.py``: a server's bytes split into frames in one pass per read, whatever the
  split, with every check that does not need the connection's state; it hands each frame to a
  method of its subclass, the session.
- ``huffman.py``, ``hpack.py``: HPACK's Huffman code (a byte-at-a-time decoding table built at
  import) and HPACK itself (a decoder with its dynamic table and every limit, the
  representations the request encoder writes).
- ``responsehead.py``: a response's field block checked as RFC 9113 asks, and cached by its bytes.
- ``requestblock.py``: a request as HTTP/2 sends it, its field blocks encoded once for the run.
- ``session.py``: one connection's protocol state without I/O: SETTINGS, streams, flow control,
  PING, RST_STREAM, GOAWAY; it records into the owner's tally as the HTTP/1.1 connection does.
- ``h2protocol.py``: the session on an asyncio transport; ``alpn.py``: the TLS context.

Why it is fast. A load generator sends one request again and again and mostly gets the same
response headers back, so almost everything is done once: the request's field blocks are
encoded once (a connection's first stream inserts the fields the static table lacks into the
server's HPACK table, every later stream names them by index, and only the stream id changes);
a response's field block is decoded once and reused by its bytes (with its dynamic-
table insertions replayed, since nginx inserts the same fields with every response); a DATA
frame's content is counted, never copied; each read is parsed in one pass and the frames the
session writes in reply (the next streams, WINDOW_UPDATEs) go out in one write per read. In the
static closed loop a finished stream opens the next one right there, as HTTP/1.1's repeat path,
and a response whose frames are the previous one's but for the stream id (nginx's ``return
200``) is recognised by its bytes, without parsing its frames (``Session._same_responses``).

The engine's side (the ``Owner`` of ``_run/protocols.py``, as HTTP/1.1's connections have it):

- it builds an :class:`~loadgen._run.http2.session.H2Exchange` (the encoded request, streams per
  connection, whether the static loop repeats, whether scripts collect responses) and opens
  connections with ``H2Connection(owner, exchange)`` as the protocol (TLS: ``alpn.client_context()``);
- ``owner.connection_ready(conn)``: the server's SETTINGS arrived; ``conn.capacity`` streams may
  be open at once (``conn.capped`` when the server allows fewer than asked): the owner calls
  ``conn.send(request=None, intended_ns=0)`` that many times (False: the connection is closed,
  the request is still the owner's);
- ``owner.batch_done(conn)``: outside the static loop, a stream ended and its slot is free;
- ``owner.response_received(status, fields, body)``: when collecting, each response;
- ``owner.connection_failed(conn, reason)``: ``conn.pending`` streams were lost with it;
- ``owner.connection_closed(conn, lost)``: after a GOAWAY (or when stream ids ran out) every
  stream below the server's last id has ended; ``lost`` streams were never processed, their
  intended send times in ``conn.lost_intended``, to be sent on another connection;
- ``owner.connection_replaced(conn, lost)``: a GOAWAY with streams left below its last id (one with
  an error code counted as an error): a new connection takes its place now and the ``lost``
  streams above its last id are asked again (as above); the old one ends the streams below and
  then calls ``connection_closed``, or the owner calls ``conn.give_up()`` once they have
  outlasted ``--timeout``;
- a stream the server reset counts one error (cause ``stream reset``, detail the code's name),
  a malformed response one ``malformed response`` error, both straight into the tally; the
  connection goes on. ``conn.goaways`` and ``conn.bytes_in`` are there to be summed;
- ``conn.abort()`` on a connection still being made (the run ended while it connected): it
  closes as soon as it connects, having written nothing and told the owner nothing.

The engine reaches this package only through :data:`loadgen._run.protocols.PROTOCOLS`, which
names :data:`HTTP2`.
"""

from __future__ import annotations

import asyncio
import ssl
import threading

from ...errors import SetupError
from ...request import Request
from ...target import Address
from ..protocols import Owner, TlsStart
from .alpn import H2, HTTP1, client_context
from .h2protocol import H2Connection
from .probe import refusal
from .requestblock import EncodedRequest, encode_request, left_out
from .session import H2Exchange

__all__ = ["HTTP2", "TEXT_REFUSED"]

TEXT_REFUSED = "request() returned HTTP/1.1 text, which HTTP/2 does not send: return wrk.request_data(...) instead"


class Http2:
    """The table's entry for ``"h2"``."""

    name = "h2"
    text_refused = TEXT_REFUSED

    def check(self, request: Request | bytes) -> None:
        if isinstance(request, bytes):
            raise SetupError(TEXT_REFUSED)

    def left_out(self, request: Request) -> tuple[str, ...]:
        return tuple(left_out(request.headers))

    def exchange(
        self, request: Request | bytes, *, scheme: str, repeat: bool, collect: bool, streams: int = 1
    ) -> H2Exchange:
        return H2Exchange(self.encode(request, scheme=scheme), streams, repeat, collect)

    def encode(self, request: Request | bytes, *, scheme: str) -> EncodedRequest:
        """A request's field blocks (encoded once for the run's request; for each of a script's)."""
        if isinstance(request, bytes):
            raise SetupError(TEXT_REFUSED)
        return encode_request(request.method, scheme, request.target, request.headers, request.body)

    def connection(self, owner: Owner, exchange: H2Exchange) -> asyncio.Protocol:
        return H2Connection(owner, exchange)

    def tls_context(self) -> ssl.SSLContext:
        """Offering h2, and http/1.1 so that a server without h2 says so rather than failing the handshake."""
        return client_context((H2, HTTP1))

    def refusal(
        self, address: Address, tls: TlsStart | None, stop: threading.Event | None, timeout: float
    ) -> str | None:
        return refusal(address, tls, stop, timeout)


HTTP2 = Http2()
