"""A response's field block as the session uses it: decoded, checked against RFC 9113's rules for
responses (§8.1, §8.2, §8.3.2), reduced to what the session needs, and cached by its bytes.

A server mostly sends the same header block again (nginx's changes once a second, with its
Date), so :class:`ResponseHeads` keeps each decoded block by its bytes. A block that read nothing
from the dynamic table means the same whatever the table holds; what it inserted there (nginx
inserts its Server, Date and Content-Type with every response) is replayed when it comes again,
which the decoder does in a queue. A block that read the dynamic table and changed nothing is
reused while the table is unchanged (the decoder's ``version``). A block that read the table
and changed it, or resized it, is decoded every time. The checks run once per distinct block.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .hpack import Decoder

__all__ = ["ResponseHead", "ResponseHeads"]

# Distinct blocks kept per connection, the oldest dropped first. A block with a Date is stale a
# second later: at 256 (cleared when full) each nginx connection kept one more block (1.3 kB) a
# second for four minutes, and a worker of 500 connections (--http2 -c1000) grew 40 MB a minute.
MAX_CACHED = 16
_NAME = re.compile(rb"[^\x00-\x20A-Z\x7f-\xff:]+")  # lowercase, no controls, no colon (§8.2.1)
_BAD_VALUE = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
_CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
_STATUS = re.compile(rb"[0-9]{3}")


class ResponseHead(NamedTuple):
    """What a field block says: ``status`` (0 without a ``:status``, as trailers are), the
    content length to expect (-1 without a content-length, or for 204 and 304, which have no
    content), the fields (None past the header list limit), what makes it malformed ("" if
    nothing does), whether it is a well-formed final response head (``status`` 200 or more, no
    problem), the decoder version it holds for (-1: any), and what the block inserted into the
    dynamic table (to replay when it comes again)."""

    status: int
    expected: int
    fields: list[tuple[bytes, bytes]] | None
    problem: str
    final: bool
    version: int
    inserted: tuple[tuple[bytes, bytes], ...]


def _check(fields: list[tuple[bytes, bytes]]) -> tuple[int, int, str]:
    """(status, content length, problem) of a decoded block."""
    status, length = 0, -1
    regular = False
    for name, value in fields:
        if name[:1] == b":":
            if regular:
                return status, length, f"pseudo-header {name.decode('latin-1')} after a regular field"
            if name != b":status":
                return status, length, f"pseudo-header {name.decode('latin-1')!r} in a response"
            if status:
                return status, length, "two :status pseudo-headers"
            if not _STATUS.fullmatch(value):
                return status, length, f":status {value[:20]!r} is not three digits"
            status = int(value)
            continue
        regular = True
        if not _NAME.fullmatch(name):
            return status, length, f"invalid field name {name[:40]!r}"
        if _BAD_VALUE.search(value):
            return status, length, f"invalid value of field {name[:40].decode('latin-1')}"
        if name in _CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
            return status, length, f"connection-specific field {name.decode('latin-1')}"
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18:
                return status, length, f"content-length {value[:20]!r}"
            if length not in (-1, int(value)):
                return status, length, "two different content-length values"
            length = int(value)
    return status, length, ""


class ResponseHeads:
    """The decoder of one connection, with its cache of decoded blocks."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.cache: dict[bytes, ResponseHead] = {}

    def decode(self, block: bytes) -> ResponseHead:
        """The block decoded (raises :class:`~loadgen._run.http2.hpack.HpackError`), cached when
        it can be."""
        decoder = self.decoder
        decoded = decoder.decode(block)
        version = decoder.version if decoded.read_table else -1
        if decoded.fields is None:
            status, length, problem = 0, -1, f"header list larger than {decoder.max_list_size} bytes"
        else:
            status, length, problem = _check(decoded.fields)
        expected = -1 if status in (204, 304) else length
        final = status >= 200 and not problem
        head = ResponseHead(status, expected, decoded.fields, problem, final, version, decoded.inserted)
        if not decoded.resized and not (decoded.read_table and decoded.inserted):
            if len(self.cache) >= MAX_CACHED:
                del self.cache[next(iter(self.cache))]
            self.cache[block] = head
        return head
