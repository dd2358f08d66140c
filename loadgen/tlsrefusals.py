"""OpenSSL's reasons for a TLS session the server refused, in the user's words: one table for
the check before a run (which names the refusal of one handshake) and the diagnosis after it
(which names the refusals counted during the run)."""

from __future__ import annotations

__all__ = ["CLOSED_AFTER_HANDSHAKE", "SERVER_REFUSED"]

# a server of TLS 1.1 alone, --tls-version not given, was said not to speak "the TLS version asked for (--tls-version)"
NO_VERSION_OFFERED = "the server speaks none of the TLS versions offered (1.2 and 1.3, or the one --tls-version gives)"
SERVER_REFUSED = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "certificate required: the server wants a client certificate (--cert/--key)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake failure (the server may want a client certificate: --cert/--key)",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate (unknown CA)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused the client certificate (bad certificate)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server refused the client certificate: it has expired",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the server refused the client certificate as unsupported (is it a "
    "server's, not made for client authentication?)",
    "TLSV1_ALERT_PROTOCOL_VERSION": NO_VERSION_OFFERED,
    "UNSUPPORTED_PROTOCOL": NO_VERSION_OFFERED,
    "UNEXPECTED_EOF_WHILE_READING": "the server closed the connection during the handshake"
    " (does it want a client certificate, --cert/--key, or another --tls-version?)",
}
# A TLS 1.3 server that closes the connection without an alert once it has refused the client (Python's
# ssl server wanting a client certificate): Python says "EOF occurred in violation of protocol (_ssl.c:2427)".
CLOSED_AFTER_HANDSHAKE = (
    "the server closed the TLS session during or just after the handshake, without saying why"
    " (it likely wants a client certificate: --cert/--key)"
)
