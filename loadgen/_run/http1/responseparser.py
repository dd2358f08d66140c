"""Incremental HTTP/1.x response parsing for one connection, as an ``asyncio.Protocol`` base.

Bodies may be delimited by Content-Length, by chunked transfer-encoding or by the end of the
connection; HEAD requests and 1xx/204/304 responses carry none. A 101 (Switching Protocols)
ends HTTP/1 on the connection: it counts as a response, and nothing after it is parsed. The parser only turns bytes into
"a response with this status completed"; what to do then is the subclass's job. What it accepts
is RFC 9112's grammar (rfc9112.py), and its verdict depends only on the bytes, never on how the
reads split them.

Speed matters here (this runs once per response, in Python). A server usually repeats the same
response head, so the last parsed head is cached and compared as bytes (and what a head means is
remembered for the process's last few heads: every connection meets the same new one when the
server's Date changes); a body that arrived with its head is skipped without being copied.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from .rfc9112 import (
    CHUNKED,
    LENGTH,
    MAX_HEAD,
    UNTIL_CLOSE,
    ParseError,
    check_head_start,
    chunk_size,
    is_field_line,
    parse_head,
)

# Parser modes: a head is awaited, or the body of a framing from rfc9112 is being read
_HEAD = 0
# What a cached head means for this connection: a body framing, or an interim (1xx) response
_INTERIM = 4
# Chunked sub-states: a size line, the CRLF after a chunk's data, the trailer section (before
# and after its first field line)
_SIZE, _DATA_END, _TRAILER, _TRAILER_FIELDS = range(4)


@lru_cache(maxsize=16)
def _frame(head: bytes, expect_no_body: bool) -> tuple[int, int, int, bool]:
    """What a head means on a connection: (status, framing or _INTERIM, length, keep-alive).
    A 101 is the last HTTP/1 on the connection: what follows is another protocol's.

    Remembered for the last few heads of the process: a server's head changes with its Date
    every second, and each connection meets the new one in turn (at 10,000 connections, 10,000
    parses a second of the same head). A head that is refused raises again each time."""
    status, framing, length, keep_alive = parse_head(head)
    if status == 101:
        return status, LENGTH, 0, False
    if status < 200:
        return status, _INTERIM, 0, keep_alive
    if expect_no_body or status in (204, 304):
        return status, LENGTH, 0, keep_alive
    return status, framing, length, keep_alive


class HttpResponseProtocol(asyncio.Protocol):
    """Feeds received bytes through the response parser and reports each completed response.

    Subclasses implement :meth:`response_complete`; ``expect_no_body`` is set for HEAD
    requests (before the first byte arrives); ``collect`` keeps each response's head and body
    for :meth:`response_complete`. Slots, not a ``__dict__``: a run may hold 10,000 of these.
    """

    __slots__ = (
        "_buffer",
        "_cached",
        "_cached_head",
        "_chunk_state",
        "_interim",
        "_keep_alive",
        "_mode",
        "_remaining",
        "_status",
        "body_parts",
        "bytes_in",
        "collect",
        "expect_no_body",
        "head",
        "repeat_data",
        "repeat_head",
        "repeat_len",
        "repeat_status",
        "repeatable",
    )

    def __init__(self) -> None:
        self._buffer = b""
        self._mode = _HEAD
        self._remaining = 0
        self._chunk_state = _SIZE
        self._status = 0
        self._keep_alive = True
        self._interim = False  # an interim response arrived, its final response has not begun
        self._cached_head: bytes | None = None
        self._cached = (0, _HEAD, 0, True)
        self.expect_no_body = False
        self.collect = False
        self.head = b""
        self.body_parts: list[bytes] = []
        self.bytes_in = 0  # bytes the parser accepted (wrk does not count a chunk it rejects)
        # A read holding exactly the previous response again (same head, same length) can be
        # recognised without parsing: see Connection.data_received. Only when ``repeatable``.
        self.repeatable = False
        self.repeat_data = b""  # that response's bytes, whole (b"": none, as repeat_len -1)
        self.repeat_head = b""
        self.repeat_len = -1
        self.repeat_status = 0

    @property
    def in_response(self) -> bool:
        """Some bytes of a response arrived, and it is not complete yet."""
        return self._mode != _HEAD or bool(self._buffer) or self._interim

    # -- hooks -------------------------------------------------------------------------------

    def response_complete(self, status: int, keep_alive: bool) -> bool:
        """Called once per response; return False to stop parsing this connection's data."""
        raise NotImplementedError

    def parse_failed(self, reason: str) -> None:
        """Called when the bytes received are not a valid response."""
        raise NotImplementedError

    # -- parsing -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        try:
            self._parse(data)
        except ParseError as exc:
            self.bytes_in -= len(data)
            self.parse_failed(str(exc))

    def _parse(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        self.repeat_len = -1
        self.repeat_data = b""
        collect = self.collect
        pos = 0
        end = len(data)
        while pos < end:
            mode = self._mode
            if mode == _HEAD:
                start = pos
                head_end = data.find(b"\r\n\r\n", pos)
                if head_end < 0:
                    rest = data[pos:]
                    check_head_start(rest)
                    self._buffer = rest
                    return
                head = data[pos:head_end]
                if head == self._cached_head:
                    status, framing, length, keep_alive = self._cached
                else:
                    status, framing, length, keep_alive = self._cached = _frame(head, self.expect_no_body)
                    self._cached_head = head
                pos = head_end + 4
                if framing == _INTERIM:
                    self._interim = True
                    continue
                self._interim = False
                if collect:
                    self.head = head
                    self.body_parts = []
                if framing != LENGTH:
                    self._mode = framing
                    self._chunk_state = _SIZE
                    self._status, self._keep_alive = status, keep_alive
                    continue
                if length > end - pos:
                    self._remaining = length - (end - pos)
                    self._mode = LENGTH
                    self._status, self._keep_alive = status, keep_alive
                    if collect and end > pos:
                        self.body_parts.append(data[pos:])
                    return
                if collect and length:
                    self.body_parts.append(data[pos : pos + length])
                pos += length
                if start == 0 and pos == end and keep_alive and self.repeatable:
                    self.repeat_head, self.repeat_len, self.repeat_status = data[: head_end + 4], end, status
                    self.repeat_data = data
                if not self.response_complete(status, keep_alive):
                    return
            elif mode == LENGTH:
                take = min(self._remaining, end - pos)
                if collect:
                    self.body_parts.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._mode = _HEAD
                    if not self.response_complete(self._status, self._keep_alive):
                        return
            elif mode == CHUNKED:
                pos = self._feed_chunked(data, pos, end, collect)
                if pos < 0:
                    return
            else:  # UNTIL_CLOSE: everything up to the end of the connection is body
                if collect:
                    self.body_parts.append(data[pos:])
                return

    def _feed_chunked(self, data: bytes, pos: int, end: int, collect: bool) -> int:
        """Consume chunked framing and data; the new position, or -1 to stop parsing."""
        while pos < end:
            if self._remaining:
                take = min(self._remaining, end - pos)
                if collect:
                    self.body_parts.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                continue
            state = self._chunk_state
            if state == _DATA_END:  # exactly CRLF, refused as soon as a byte differs
                crlf = data[pos : pos + 2]
                if crlf != b"\r\n":
                    if crlf != b"\r":
                        raise ParseError(f"chunk data not followed by CRLF but {crlf!r}")
                    self._buffer = crlf
                    return -1
                pos += 2
                self._chunk_state = _SIZE
                continue
            line_end = data.find(b"\r\n", pos, pos + MAX_HEAD + 2)
            if line_end < 0:
                if end - pos > MAX_HEAD + 1:  # its CRLF could begin at the last byte
                    raise ParseError(f"chunk or trailer line longer than {MAX_HEAD // 1024} KiB")
                self._buffer = data[pos:]
                return -1
            line = data[pos:line_end]
            pos = line_end + 2
            if state == _SIZE:
                self._remaining = size = chunk_size(line)
                self._chunk_state = _DATA_END if size else _TRAILER
            elif line:
                if not is_field_line(line, after_field=state == _TRAILER_FIELDS):
                    raise ParseError(f"invalid trailer line {line[:60]!r}")
                self._chunk_state = _TRAILER_FIELDS
            else:  # the empty line that ends the trailer section
                self._mode = _HEAD
                return pos if self.response_complete(self._status, self._keep_alive) else -1
        return pos

    def finish_at_eof(self) -> bool:
        """At the end of the connection: complete a close-delimited body; False if a response
        was cut short or none had started."""
        if self._mode == UNTIL_CLOSE:
            self._mode = _HEAD
            self.response_complete(self._status, False)
            return True
        return False
