"""Incremental HTTP/1.x response parsing for one connection, as an ``asyncio.Protocol`` base.

Bodies may be delimited by Content-Length, by chunked transfer-encoding or by the end of the
connection; HEAD requests and 1xx/204/304 responses carry none. The parser only turns bytes into
"a response with this status completed"; what to do then is the subclass's job.

Speed matters here (this runs once per response, in Python). A server usually repeats the same
response head, so the last parsed head is cached and compared as bytes; a body that arrived with
its head is skipped without being copied.
"""

from __future__ import annotations

import asyncio

MAX_HEAD = 64 * 1024

# Body modes
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)
# Chunked sub-states: a size line, the CRLF after a chunk's data, the trailer section
_SIZE, _DATA_END, _TRAILER = range(3)


class ParseError(Exception):
    """The bytes are not a valid HTTP/1.x response."""


def parse_head(head: bytes) -> tuple[int, int, int, bool]:
    """(status, body mode, content length, keep-alive) from a response head without its CRLFCRLF."""
    line_end = head.find(b"\r\n")
    status_line = head if line_end < 0 else head[:line_end]
    if (
        len(status_line) < 12
        or not status_line.startswith(b"HTTP/1.")
        or status_line[8:9] != b" "
        or not status_line[9:12].isdigit()
        or (len(status_line) > 12 and status_line[12:13] != b" ")
    ):
        raise ParseError(f"invalid status line {status_line[:60]!r}")
    status = int(status_line[9:12])
    length = -1
    chunked = False
    connection = b""
    if line_end >= 0:
        for line in head[line_end + 2:].split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in b" \t" or name[:1] in b" \t":
                raise ParseError(f"invalid header line {line[:60]!r}")
            name = name.lower()
            if name == b"content-length":
                value = value.strip()
                if not value.isdigit() or (length >= 0 and int(value) != length):
                    raise ParseError(f"invalid Content-Length {value[:30]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.strip().lower().rsplit(b",", 1)[-1].strip() == b"chunked"
                if not chunked:
                    length = -1
            elif name == b"connection":
                connection += b"," + value.lower()
    tokens = {token.strip() for token in connection.split(b",")}
    keep_alive = b"close" not in tokens if status_line[7:8] == b"1" else b"keep-alive" in tokens
    mode = _CHUNKED if chunked else _LENGTH if length >= 0 else _UNTIL_CLOSE
    return status, mode, max(length, 0), keep_alive


def parse_header_fields(head: bytes) -> dict[str, str]:
    """The header fields of a head as name -> value (a repeated name keeps the last, as wrk)."""
    fields: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.decode("latin-1")] = value.strip().decode("latin-1")
    return fields


class HttpResponseProtocol(asyncio.Protocol):
    """Feeds received bytes through the response parser and reports each completed response.

    Subclasses implement :meth:`response_complete`; ``expect_no_body`` is set for HEAD
    requests; ``collect`` keeps each response's head and body for :meth:`response_complete`.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._mode = _HEAD
        self._remaining = 0
        self._chunk_state = _SIZE
        self._status = 0
        self._keep_alive = True
        self._cached_head = b""
        self._cached = (0, _HEAD, 0, True)
        self.expect_no_body = False
        self.collect = False
        self.head = b""
        self.body_parts: list[bytes] = []
        self.in_response = False  # some bytes of a response arrived, and it is not complete yet
        self.bytes_in = 0  # bytes the parser accepted (wrk does not count a chunk it rejects)
        # A read holding exactly the previous response again (same head, same length) can be
        # recognised without parsing: see Connection.data_received. Only when ``repeatable``.
        self.repeatable = False
        self.repeat_head = b""
        self.repeat_len = -1
        self.repeat_status = 0

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
        self.in_response = True
        self.repeat_len = -1
        pos = 0
        end = len(data)
        while pos < end:
            mode = self._mode
            if mode == _HEAD:
                start = pos
                head_end = data.find(b"\r\n\r\n", pos)
                if head_end < 0:
                    self._keep(data, pos)
                    return
                head = data[pos:head_end]
                if head == self._cached_head:
                    status, body_mode, length, keep_alive = self._cached
                else:
                    status, body_mode, length, keep_alive = self._cached = parse_head(head)
                    self._cached_head = head
                pos = head_end + 4
                if status < 200 and status != 101:
                    continue  # an interim response: the real one follows
                if self.collect:
                    self.head = head
                    self.body_parts = []
                if self.expect_no_body or status in (101, 204, 304):
                    pass
                elif body_mode == _LENGTH:
                    if length > end - pos:
                        self._remaining = length - (end - pos)
                        self._mode = _LENGTH
                        self._status, self._keep_alive = status, keep_alive
                        self._collect_body(data, pos, end)
                        return
                    self._collect_body(data, pos, pos + length)
                    pos += length
                else:
                    self._mode = body_mode
                    self._chunk_state = _SIZE
                    self._status, self._keep_alive = status, keep_alive
                    continue
                if start == 0 and pos == end and keep_alive and self.repeatable:
                    self.repeat_head, self.repeat_len, self.repeat_status = data[:head_end + 4], end, status
                if not self._complete(status, keep_alive):
                    return
            elif mode == _LENGTH:
                take = min(self._remaining, end - pos)
                self._collect_body(data, pos, pos + take)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._mode = _HEAD
                    if not self._complete(self._status, self._keep_alive):
                        return
            elif mode == _CHUNKED:
                pos = self._feed_chunked(data, pos, end)
                if pos < 0:
                    return
            else:  # _UNTIL_CLOSE: everything up to the end of the connection is body
                self._collect_body(data, pos, end)
                return
        if self._mode == _HEAD and not self._buffer:
            self.in_response = False

    def _keep(self, data: bytes, pos: int) -> None:
        """Hold an incomplete head, failing early on bytes that cannot start a response."""
        rest = data[pos:]
        if len(rest) > MAX_HEAD:
            raise ParseError(f"response head larger than {MAX_HEAD // 1024} KiB")
        if not (rest.startswith(b"HTTP/") if len(rest) >= 5 else b"HTTP/".startswith(rest)):
            raise ParseError(f"invalid status line {rest[:60]!r}")
        self._buffer = rest

    def _collect_body(self, data: bytes, start: int, stop: int) -> None:
        if self.collect and stop > start:
            self.body_parts.append(data[start:stop])

    def _complete(self, status: int, keep_alive: bool) -> bool:
        self.in_response = False
        return self.response_complete(status, keep_alive)

    def _feed_chunked(self, data: bytes, pos: int, end: int) -> int:
        """Consume chunked framing and data; the new position, or -1 to stop parsing."""
        while pos < end:
            if self._remaining:
                take = min(self._remaining, end - pos)
                self._collect_body(data, pos, pos + take)
                pos += take
                self._remaining -= take
                continue
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                if end - pos > MAX_HEAD:
                    raise ParseError("chunk header line too long")
                self._buffer = data[pos:]
                return -1
            line = data[pos:line_end]
            pos = line_end + 2
            state = self._chunk_state
            if state == _DATA_END:
                if line:
                    raise ParseError("chunk data not followed by CRLF")
                self._chunk_state = _SIZE
            elif state == _SIZE:
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ParseError(f"invalid chunk size {line[:30]!r}") from None
                if size < 0:
                    raise ParseError(f"invalid chunk size {line[:30]!r}")
                self._remaining = size
                self._chunk_state = _DATA_END if size else _TRAILER
            elif not line:  # the empty line that ends the trailer section
                self._mode = _HEAD
                if not self._complete(self._status, self._keep_alive):
                    return -1
                return pos
        return pos

    def finish_at_eof(self) -> bool:
        """At the end of the connection: complete a close-delimited body; False if a response
        was cut short or none had started."""
        if self._mode == _UNTIL_CLOSE:
            self._mode = _HEAD
            self._complete(self._status, False)
            return True
        return False
