"""TLS for HTTP/2 (RFC 9113 §3.2, §9.2): a client context offering ``h2`` by ALPN, and what the
server chose.

As loadgen's HTTP/1.1 context, it verifies no certificate (a load test is not a security check);
TLS 1.2 is the least HTTP/2 allows, without compression or renegotiation. Offering ``http/1.1``
as well lets a caller fall back when the server does not choose ``h2``.
"""

from __future__ import annotations

import asyncio
import ssl

__all__ = ["H2", "HTTP1", "client_context", "negotiated"]

H2 = "h2"
HTTP1 = "http/1.1"


def client_context(protocols: tuple[str, ...] = (H2,)) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION  # RFC 9113 §9.2.1
    context.set_alpn_protocols(list(protocols))
    return context


def negotiated(transport: asyncio.BaseTransport) -> str | None:
    """The protocol the server chose by ALPN; None on a plain connection or when it chose none."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    return None if ssl_object is None else ssl_object.selected_alpn_protocol()
