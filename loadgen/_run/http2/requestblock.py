"""A request as HTTP/2 sends it (RFC 9113 §8.3.1), encoded once for the whole run.

The method, scheme, authority (the Host header's value) and path become pseudo-header fields;
the other fields are lowercased, and those HTTP/2 forbids (the connection-specific ones, and TE
other than "trailers") are left out.

Three field blocks, each encoded once, so that opening a stream costs one frame header in front
of the same bytes. ``block`` leaves the dynamic table alone: it is valid whatever state the
server's decoder is in (a script's requests, and every request once the server has shrunk its
table). For the request a connection sends again and again, ``inserting`` (its first stream)
puts the fields the static table lacks into the server's dynamic table, and ``indexed`` (every
stream after) names them by index, a byte each. Only this side inserts into that table, and no
more than half of its default size, so the entries are never evicted while the server keeps the
size it started with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .hpack import dynamic_index, encode_field, entry_size, static_index

__all__ = ["EncodedRequest", "encode_request", "left_out"]

CONNECTION_SPECIFIC = frozenset(
    ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host")
)
SENSITIVE = frozenset(("authorization", "proxy-authorization", "cookie"))


INSERTED_AT_MOST = 2048  # bytes of dynamic table (RFC 7541 §4.1 sizes): half the default 4,096


@dataclass(frozen=True, eq=False)
class EncodedRequest:
    """A request's field blocks (see the module's docstring), its content, and whether its
    response has no content (HEAD)."""

    block: bytes
    inserting: bytes
    indexed: bytes
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
    authority = next((value.strip(" \t") for name, value in headers if name.lower() == "host"), None)
    pseudo = [(":method", method), (":scheme", scheme)]
    if authority is not None:
        pseudo.append((":authority", authority))
    pseudo.append((":path", path))
    skipped = set(left_out(headers))
    # RFC 9113 (8.2.1): no value begins or ends with whitespace there, as HTTP/1.1's servers strip it
    fields = [
        (name.lower(), value.strip(" \t")) for name, value in headers if name.lower() != "host" and name not in skipped
    ]
    if body and not any(name == "content-length" for name, _ in fields):
        fields.append(("content-length", str(len(body))))
    encoded = [(name.encode("latin-1"), value.encode("latin-1"), name in SENSITIVE) for name, value in pseudo + fields]
    block = b"".join(encode_field(*field) for field in encoded)
    inserted = 0
    insert = []  # which fields go into the dynamic table
    for name, value, sensitive in encoded:
        size = entry_size(name, value)
        insert.append(not sensitive and static_index(name, value) is None and inserted + size <= INSERTED_AT_MOST)
        inserted += size if insert[-1] else 0
    inserting = b"".join(encode_field(*field, insert=chosen) for field, chosen in zip(encoded, insert, strict=True))
    newer = sum(insert)
    indexed = []
    for field, chosen in zip(encoded, insert, strict=True):
        if chosen:
            newer -= 1
            indexed.append(dynamic_index(newer))
        else:
            indexed.append(encode_field(*field))
    return EncodedRequest(block, inserting, b"".join(indexed), body or b"", method == "HEAD")
