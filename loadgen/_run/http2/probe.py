"""Does the server speak HTTP/2? One test connection before the run, so that a server that does
not is refused in one line (or, with ``--http2=auto``, the run falls back to HTTP/1.1) rather than
every connection of the run failing the same way.

Over TLS the answer is ALPN's: the protocol the server chose among ``h2`` and ``http/1.1``. In
clear text (h2c with prior knowledge) it is the server's first bytes after the client preface: a
SETTINGS frame, or an HTTP/1.1 response (a server without h2c answers the preface as a bad request).
"""

from __future__ import annotations

import socket
import ssl

from ...target import Address
from .alpn import H2, HTTP1, client_context
from .frames import PREFACE, SETTINGS, settings_frame

__all__ = ["refusal"]

PROBE_TIMEOUT_S = 5.0


def refusal(address: Address, server_name: str | None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the server at ``address`` will not speak HTTP/2 (TLS when ``server_name`` is set), or None."""
    try:
        with socket.socket(address.family, socket.SOCK_STREAM) as raw:
            raw.settimeout(timeout)
            raw.connect(address.host if address.family == socket.AF_UNIX else (address.host, address.port))
            if server_name is None:
                return _h2c_refusal(raw)
            with client_context((H2, HTTP1)).wrap_socket(raw, server_hostname=server_name) as tls:
                chosen = tls.selected_alpn_protocol()
                if chosen == H2:
                    return None
                return f"ALPN chose {chosen}" if chosen else "ALPN chose no protocol"
    except ssl.SSLError as exc:
        return f"the TLS handshake failed: {exc.reason or exc}"
    except OSError as exc:
        return f"the test connection failed: {exc.strerror or type(exc).__name__}"


def _h2c_refusal(sock: socket.socket) -> str | None:
    sock.sendall(PREFACE + settings_frame())
    first = b""
    while len(first) < 9:
        chunk = sock.recv(9 - len(first))
        if not chunk:
            break
        first += chunk
    if first.startswith(b"HTTP/1."):
        return "it answered the HTTP/2 preface in HTTP/1.1: no h2c"
    if len(first) < 9 or first[3] != SETTINGS:
        return "its answer to the HTTP/2 preface is not SETTINGS"
    return None
