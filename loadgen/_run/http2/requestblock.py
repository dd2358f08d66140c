"""A request as HTTP/2 sends it (RFC 9113 §8.3.1), encoded once for the whole run.

The method, scheme, authority (the Host header's value) and path become pseudo-header fields;
the other fields are lowercased, and those HTTP/2 forbids (the connection-specific ones, and TE
other than "trailers") are left out. The field block uses only representations that leave the
dynamic table alone, so it is valid whatever state the server's decoder is in: opening a stream
costs one frame header in front of the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .hpack import encode_field

__all__ = ["EncodedRequest", "encode_request", "left_out"]

CONNECTION_SPECIFIC = frozenset(
    ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host")
)
SENSITIVE = frozenset(("authorization", "proxy-authorization", "cookie"))


@dataclass(frozen=True, eq=False)
class EncodedRequest:
    """A request's field block, its content, and whether its response has no content (HEAD)."""

    block: bytes
    body: bytes = b""
    no_content: bool = False


def left_out(headers: Sequence[tuple[str, str]]) -> list[str]:
    """The names of the fields HTTP/2 does not carry (Host becomes :authority), for a notice."""
    return [
        name
        for name, value in headers
        if name.lower() in CONNECTION_SPECIFIC - {"host"} or (name.lower() == "te" and value.lower() != "trailers")
    ]


def encode_request(
    method: str, scheme: str, path: str, headers: Sequence[tuple[str, str]], body: bytes | None = None
) -> EncodedRequest:
    """The request encoded; ``headers`` as HTTP/1.1 would send them (Host among them)."""
    authority = next((value for name, value in headers if name.lower() == "host"), None)
    pseudo = [(":method", method), (":scheme", scheme)]
    if authority is not None:
        pseudo.append((":authority", authority))
    pseudo.append((":path", path))
    skipped = set(left_out(headers))
    fields = [(name.lower(), value) for name, value in headers if name.lower() != "host" and name not in skipped]
    if body and not any(name == "content-length" for name, _ in fields):
        fields.append(("content-length", str(len(body))))
    block = b"".join(
        encode_field(name.encode("latin-1"), value.encode("latin-1"), name in SENSITIVE)
        for name, value in pseudo + fields
    )
    return EncodedRequest(block, body or b"", method == "HEAD")
