"""Does the server speak HTTP/2? One test connection before the run, so that a server that does
not is refused in one line (or, with ``--http2=auto``, the run falls back to HTTP/1.1) rather than
every connection of the run failing the same way.

Over TLS the answer is ALPN's: the protocol the server chose among ``h2`` and ``http/1.1`` (on
``h2``, the server's first bytes are read too, for a TLS 1.3 refusal that only a read gets). In
clear text (h2c with prior knowledge) it is the server's first bytes after the client preface: a
SETTINGS frame, or an HTTP/1.1 response (a server without h2c answers the preface as a bad request).

What no fallback to HTTP/1.1 would mend is a SetupError instead (TimeoutError for a server that
does not answer within the wait its caller gives, which it names; ssl.SSLError for a refused TLS
handshake, which the TLS check names: a server that wants a client certificate): an ``https://`` URL on a plain
port, an ``http://`` URL on a TLS port (seen by a ClientHello on a second connection, only when
the preface was refused: a TLS server's answer to it, an HTTP/1.1 400 from nginx or a closed
connection from OpenSSL, says nothing reliable). The test
connections end at once on a stop (:mod:`loadgen._run.prerun`).
"""

from __future__ import annotations

import ssl
import threading

from ...errors import SetupError
from ...prerun import PRE_RUN_TIMEOUT_S, PreRunConnection
from ...target import NOT_TLS, NOT_TLS_REASON, Address
from ..protocols import TlsStart
from .alpn import H2, HTTP1, client_context
from .frames import PREFACE, SETTINGS, settings_frame

__all__ = ["refusal"]

# A TLS record's first bytes: a handshake message (the ServerHello) or an alert, then version 3.x
TLS_RECORDS = (0x16, 0x15)
# After the ClientHello, an empty line: a plain server waiting for a request head has a whole (bad)
# one, which it answers (a 400) or closes on at once; a TLS server answers the hello before it reads on
HEAD_END = b"\r\n\r\n"


def refusal(
    address: Address, tls: TlsStart | None, stop: threading.Event | None, timeout: float = PRE_RUN_TIMEOUT_S
) -> str | None:
    """Why the server at ``address`` will not speak HTTP/2 (TLS when ``tls`` is set), or None; a
    SetupError for what no fallback mends (see the module), ssl.SSLError for a refused handshake
    (the TLS check's to name: no fallback mends it), TimeoutError when it has not answered within
    ``timeout`` seconds, Interrupted on ``stop``."""
    if tls is not None:
        return _alpn_refusal(PreRunConnection(address, stop, timeout), tls)
    why = _h2c_refusal(PreRunConnection(address, stop, timeout))
    if why is not None and _speaks_tls(PreRunConnection(address, stop, timeout)):
        raise SetupError(f"{address} speaks TLS, not h2c: use https://")
    return why


def _failed(exc: OSError) -> str:
    return f"the test connection failed: {exc.strerror or type(exc).__name__}"


def _alpn_refusal(connection: PreRunConnection, tls: TlsStart) -> str | None:
    try:
        with connection:
            session = connection.start_tls(tls.context or client_context((H2, HTTP1)), tls.server_name)
            chosen = session.selected_alpn_protocol()
            if chosen == H2:
                _first_answer(connection)
    except ssl.SSLError as exc:
        if exc.reason == NOT_TLS_REASON:
            raise SetupError(f"{connection.address}: {NOT_TLS}") from None
        raise  # the TLS check's to name: HTTP/1.1's connections would fail the same handshake
    except TimeoutError:
        raise
    except OSError as exc:
        return _failed(exc)
    if chosen == H2:
        return None
    return f"ALPN chose {chosen}" if chosen else "ALPN chose no protocol"


def _first_answer(connection: PreRunConnection) -> None:
    """The preface sent and the server's first bytes awaited, for the refusal that only a read
    gets: a TLS 1.3 server that wants a client certificate refuses it after the client's side of
    the handshake is done, by an alert on the first read (an ssl.SSLError, raised; the run went
    on, and every connection failed it). Anything else, as no answer in time, is the run's to
    see, as the TLS check leaves it."""
    try:
        connection.send(PREFACE + settings_frame())
        connection.recv(9)
    except ssl.SSLError:
        raise
    except OSError:
        pass


def _h2c_refusal(connection: PreRunConnection) -> str | None:
    try:
        with connection:
            connection.send(PREFACE + settings_frame())
            first = b""
            while len(first) < 9 and (chunk := connection.recv(9 - len(first))):
                first += chunk
    except TimeoutError:
        raise
    except OSError as exc:
        return _failed(exc)
    if first.startswith(b"HTTP/1."):
        return "it answered the HTTP/2 preface in HTTP/1.1: no h2c"
    if len(first) < 9 or first[3] != SETTINGS:
        return "its answer to the HTTP/2 preface is not SETTINGS"
    return None


def _speaks_tls(connection: PreRunConnection) -> bool:
    """Whether the port answers a ClientHello in TLS. Every kind of server answers at once (see
    HEAD_END), so no wait decides: a plain server was taken to be one that had not answered within
    0.25 s, and so was a TLS server slow to answer on a loaded machine ('does not speak HTTP/2'
    instead of 'speaks TLS, not h2c: use https://')."""
    try:
        with connection:
            connection.send(_client_hello() + HEAD_END)
            first = b""
            while len(first) < 2 and (chunk := connection.recv(2 - len(first))):
                first += chunk
    except OSError:  # a closed or reset connection, or no answer within the wait
        return False
    return len(first) == 2 and first[0] in TLS_RECORDS and first[1] == 3


def _client_hello() -> bytes:
    """The first flight of a TLS handshake, as the run's connections send it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context((H2, HTTP1)).wrap_bio(incoming, outgoing, server_hostname=None)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:  # the hello written, the server's answer awaited
        pass
    return outgoing.read()
