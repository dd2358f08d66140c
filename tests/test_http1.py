"""The response parser on its own: every framing, every split point, and what it rejects."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from loadgen._run.http1.responseparser import HttpResponseProtocol
from loadgen._run.http1.rfc9112 import MAX_HEAD, ParseError, parse_head, parse_header_fields


class Recorder(HttpResponseProtocol):
    """Collects what the parser reports; no network involved."""

    def __init__(self, *, head: bool = False) -> None:
        super().__init__()
        self.expect_no_body = head
        self.collect = True
        self.responses: list[tuple[int, bool, bytes]] = []
        self.errors: list[str] = []

    def response_complete(self, status: int, keep_alive: bool) -> bool:
        self.responses.append((status, keep_alive, b"".join(self.body_parts)))
        return True

    def parse_failed(self, reason: str) -> None:
        self.errors.append(reason)


LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"
)
CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
HTTP10 = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"
HTTP10_KEEP = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ny"


class Outcome(Recorder):
    """What a Connection would make of a stream: it stops at the first response that does not keep
    the connection alive and at the first error; at the end of the stream, its verdict."""

    def response_complete(self, status: int, keep_alive: bool) -> bool:
        super().response_complete(status, keep_alive)
        return keep_alive

    def verdict(self) -> tuple[list[tuple[int, bool, bytes]], str]:
        """The responses, and "malformed", "truncated" or "complete" (nothing cut short)."""
        if self.errors:
            return self.responses, "malformed"
        if self.finish_at_eof() or not self.in_response:
            return self.responses, "complete"
        return self.responses, "truncated"


def outcome(pieces: Iterable[bytes], *, head: bool = False) -> tuple[list[tuple[int, bool, bytes]], str]:
    """The responses and verdict of a stream that arrives in these reads, then ends."""
    parser = Outcome(head=head)
    for piece in pieces:
        if parser.errors or (parser.responses and not parser.responses[-1][1]):
            break
        parser.data_received(piece)
    return parser.verdict()


def feed_in_pieces(data: bytes, size: int, **kw) -> Recorder:
    parser = Recorder(**kw)
    for i in range(0, len(data), size):
        parser.data_received(data[i : i + size])
    return parser


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_pipelined_responses_survive_any_split(size: int) -> None:
    stream = LENGTH + CHUNKED + INTERIM + NOT_MODIFIED + HTTP10_KEEP + CLOSE
    parser = feed_in_pieces(stream, size)
    assert parser.errors == []
    assert parser.responses == [
        (200, True, b"hello"),
        (201, True, b"abcdefg"),
        (204, True, b""),
        (304, True, b""),
        (200, True, b"y"),
        (200, False, b"ok"),
    ]
    assert parser.bytes_in == len(stream)


def test_close_delimited_body_ends_at_eof() -> None:
    parser = feed_in_pieces(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 4)
    assert parser.responses == []
    assert parser.finish_at_eof() is True
    assert parser.responses == [(200, False, b"until the end")]


def test_a_connection_closed_before_any_byte_is_not_in_a_response() -> None:
    """No byte came: nothing was cut short (the connection reports it closed, not truncated)."""
    parser = Recorder()
    assert not parser.in_response and parser.finish_at_eof() is False and parser.responses == []


def test_a_parser_that_does_not_collect_keeps_no_body() -> None:
    """A load run's connections skip every body: kept, they would hold all a run reads."""
    parser = Recorder()
    parser.collect = False
    parser.data_received(LENGTH * 3 + CHUNKED)
    assert len(parser.responses) == 4 and parser.body_parts == []


def test_eof_mid_response_is_not_a_response() -> None:
    parser = feed_in_pieces(LENGTH[:-2], 5)
    assert parser.in_response and parser.finish_at_eof() is False and parser.responses == []


def test_head_response_has_no_body() -> None:
    parser = feed_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" * 2, 9, head=True)
    assert [r[:2] for r in parser.responses] == [(200, True), (200, True)]


def test_http10_without_keep_alive_closes() -> None:
    assert parse_head(HTTP10.split(b"\r\n\r\n")[0])[3] is False
    assert parse_head(HTTP10_KEEP.split(b"\r\n\r\n")[0])[3] is True


MALFORMED = [
    b"this is not http\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"garbage without an end",
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_responses_are_rejected(data: bytes) -> None:
    parser = feed_in_pieces(data, len(data))
    assert len(parser.errors) == 1 and parser.responses == []
    assert parser.bytes_in == 0  # wrk does not count a chunk its parser rejects


def test_a_malformed_head_is_reported_by_its_bad_line() -> None:
    """The reason names the line that is not a field line (RFC 9112 5: field-name ":" field-value),
    not the obs-fold before it, which continues the line before (5.2)."""
    parser = feed_in_pieces(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nbroken header\r\n\r\n", 100)
    assert parser.errors == ["invalid header line b'broken header'"]


def test_head_larger_than_limit_is_rejected() -> None:
    parser = Recorder()
    parser.data_received(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 90_000)
    assert parser.errors and "larger than" in parser.errors[0]


def test_parse_head_rejects_bad_status_line() -> None:
    with pytest.raises(ParseError):
        parse_head(b"HTTP/2 200 OK")


# -- RFC 9112 framing ---------------------------------------------------------------------------

CHUNKED_BODY = b"3\r\nabc\r\n0\r\n\r\n"


FRAMING = [
    # a Transfer-Encoding whose last coding is chunked overrides Content-Length
    (b"Transfer-Encoding: chunked\r\nContent-Length: 3", CHUNKED_BODY, ([(200, True, b"abc")], "complete")),
    (b"Content-Length: 3\r\nTransfer-Encoding: gzip, chunked", CHUNKED_BODY, ([(200, True, b"abc")], "complete")),
    (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED", CHUNKED_BODY, ([(200, True, b"abc")], "complete")),
    (b"Transfer-Encoding: chunked,", CHUNKED_BODY, ([(200, True, b"abc")], "complete")),  # empty items ignored
    # any other final coding: the body ends with the connection, whatever Content-Length says
    (b"Transfer-Encoding: gzip\r\nContent-Length: 1", b"zipped", ([(200, False, b"zipped")], "complete")),
    (b"Transfer-Encoding: chunked, gzip", CHUNKED_BODY, ([(200, False, CHUNKED_BODY)], "complete")),
    # Content-Length values must agree, repeated or listed
    (b"Content-Length: 3, 3\r\nContent-Length: 3", b"abc", ([(200, True, b"abc")], "complete")),
    (b"Content-Length: 3, 03", b"abc", ([(200, True, b"abc")], "complete")),  # the same number
    (b"Content-Length: 3, 4", b"abcd", ([], "malformed")),
    (b"Content-Length: 3\r\nContent-Length: 4", b"abcd", ([], "malformed")),
    (b"Content-Length: 3,", b"abc", ([], "malformed")),
    (b"Content-Length: +3", b"abc", ([], "malformed")),
    (b"Content-Length: 1000000000000000000", b"", ([], "malformed")),  # 19 digits
    (b"Transfer-Encoding: chunked\r\nContent-Length: 3, 4", CHUNKED_BODY, ([], "malformed")),
    # an obs-fold is read as a space
    (b"Content-Length:\r\n 3", b"abc", ([(200, True, b"abc")], "complete")),
    (b"X-A: 1\r\n\tand 2\r\nContent-Length: 3", b"abc", ([(200, True, b"abc")], "complete")),
    (b" X-A: 1\r\nContent-Length: 3", b"abc", ([], "malformed")),  # a fold with no field to continue
    (b"X-A : 1\r\nContent-Length: 3", b"abc", ([], "malformed")),
    (b"X-A: \x001\r\nContent-Length: 3", b"abc", ([], "malformed")),
]


def with_fields(fields: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n\r\n" + body


@pytest.mark.parametrize(("fields", "body", "expected"), FRAMING)
def test_framing_follows_rfc_9112(fields: bytes, body: bytes, expected: tuple[object, str]) -> None:
    data = with_fields(fields, body)
    assert outcome([data]) == expected
    assert outcome(data[i : i + 1] for i in range(len(data))) == expected


CHUNK_LINES = [
    (b"3", True),
    (b"0003", True),
    (b"3 ", True),
    (b"3;name", True),
    (b"3 ; name = value", True),
    (b'3;name="quoted \\" value"', True),
    (b"3;a;b=c", True),
    (b"0x3", False),
    (b"+3", False),
    (b"-3", False),
    (b" 3", False),
    (b"1_0", False),
    (b"3 3", False),
    (b"", False),
    (b"3;", False),
    (b"3;a=", False),
    (b"3;a=b c", False),
    (b"3;a\rb", False),
    (b"0" * 16 + b"3", False),  # more than 16 hex digits, leading zeros or not
]


def chunked_with_size_line(line: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line + b"\r\nabc\r\n0\r\n\r\n"


@pytest.mark.parametrize(("line", "valid"), CHUNK_LINES)
def test_chunk_size_lines_are_strict(line: bytes, valid: bool) -> None:
    expected = ([(200, True, b"abc")], "complete") if valid else ([], "malformed")
    assert outcome([chunked_with_size_line(line)]) == expected


STATUS_LINES = [
    (b"HTTP/1.1 200 OK", (200, True)),
    (b"HTTP/1.1 200 ", (200, True)),
    (b"HTTP/1.1 200", (200, True)),  # no reason and no SP before it: sent by some servers, accepted by h11
    (b"HTTP/1.1 999 Whatever \x01\xe9", (999, True)),
    (b"HTTP/1.2 200 OK", (200, True)),  # a later 1.x is read as 1.1 (RFC 9110 2.5)
    (b"HTTP/1.0 200 OK", (200, False)),
    (b"HTTP/1.x 200 OK", None),
    (b"HTTP/2.0 200 OK", None),
    (b"HTTP/1.1 099 Low", None),
    (b"HTTP/1.1 20 OK", None),
    (b"HTTP/1.1  200 OK", None),
    (b"HTTP/1.1 200\tOK", None),
    (b"HTTP/1.1 200 O\x00K", None),
    (b"HTTP/1.1 200 O\x0bK", None),
    (b"http/1.1 200 OK", None),
]


def with_status_line(status_line: bytes) -> bytes:
    return status_line + b"\r\nContent-Length: 1\r\n\r\nx"


@pytest.mark.parametrize(("status_line", "expected"), STATUS_LINES)
def test_status_lines_are_strict(status_line: bytes, expected: tuple[int, bool] | None) -> None:
    result = outcome([with_status_line(status_line)])
    assert result == (([(*expected, b"x")], "complete") if expected else ([], "malformed"))


BARE_LF = [
    b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\nx",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\n\r\n\r\n",
]


@pytest.mark.parametrize("data", BARE_LF)
def test_a_bare_lf_is_refused_everywhere(data: bytes) -> None:
    """CRLF only (the choice is explained in rfc9112.py): in a head, a chunk line, after chunk data
    and in a trailer, however the bytes arrive."""
    assert outcome([data]) == ([], "malformed")
    assert outcome(data[i : i + 1] for i in range(len(data))) == ([], "malformed")


def test_a_head_with_a_bare_lf_is_refused_before_it_ends() -> None:
    """A keep-alive server that ends lines with LF alone would otherwise leave the client waiting
    for a CRLF CRLF until its timeout."""
    parser = Recorder()
    parser.data_received(b"HTTP/1.1 200 OK\nServer: lf")
    assert parser.errors == ["bare LF in the response head (CRLF is required)"]


EMPTY_LINES = [
    b"\r\n\r\n" + LENGTH,  # an empty head: was skipped in one read, refused when split
    b"\r\n" + LENGTH,
    LENGTH + b"\r\n" + LENGTH,
]


@pytest.mark.parametrize("data", EMPTY_LINES)
def test_empty_lines_before_a_response_are_refused(data: bytes) -> None:
    expected = ([(200, True, b"hello")] if data.startswith(LENGTH) else [], "malformed")
    assert outcome([data]) == expected
    assert outcome(data[i : i + 1] for i in range(len(data))) == expected


def test_a_response_cut_short_is_truncated_however_the_reads_fall() -> None:
    """A complete response and the start of the next in one read: was "closed by server"."""
    data = LENGTH + LENGTH[:20]
    assert outcome([data]) == outcome([LENGTH, LENGTH[:20]]) == ([(200, True, b"hello")], "truncated")
    assert outcome([INTERIM[:25]]) == ([], "truncated")  # an interim response, and no final one


@pytest.mark.parametrize("size", [MAX_HEAD, MAX_HEAD + 1])
def test_the_head_size_limit_does_not_depend_on_the_reads(size: int) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: "
    data = head + b"x" * (size - len(head)) + b"\r\n\r\n"
    expected = ([(200, True, b"")], "complete") if size == MAX_HEAD else ([], "malformed")
    for cut in (len(data), len(data) - 1, len(data) - 2, len(data) - 3, 1000):
        assert outcome([data[:cut], data[cut:]]) == expected


def test_a_head_wrk_takes_is_taken() -> None:
    """wrk 4.1.0 took a 81,911-byte head and refused 81,912 (its parser's 80 KiB, by its count);
    a 70,000-byte one was refused here as larger than 64 KiB."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: "
    assert outcome([head + b"x" * (81_911 - 4 - len(head)) + b"\r\n\r\n"]) == ([(200, True, b"")], "complete")
    parser = Recorder()
    parser.data_received(head + b"x" * 82_000)
    assert parser.errors == ["response head larger than 80 KiB"]


@pytest.mark.parametrize("size", [MAX_HEAD, MAX_HEAD + 1])
def test_a_chunk_line_is_limited_like_a_head(size: int) -> None:
    """A chunk line as long as the longest head is taken, one byte more refused, wherever the reads
    end (also just after its CR, when its end is not known yet)."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + b"1;x=" + b"y" * (size - 4) + b"\r\nx\r\n0\r\n\r\n"
    expected = ([(200, True, b"x")], "complete") if size == MAX_HEAD else ([], "malformed")
    for cut in (len(data), len(head), len(head) + size, len(head) + size + 1):
        assert outcome([data[:cut], data[cut:]]) == expected
    # ended after the CR that follows it: as long as the longest head and its CR could still end it,
    # a byte more is already past the limit, whatever would have followed
    ended = ([], "truncated") if size == MAX_HEAD else ([], "malformed")
    assert outcome([data[: len(head) + size + 1]]) == ended


def test_trailer_fields_are_checked_for_syntax_only() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: x\r\n\tfolded\r\n\r\n"
    assert outcome([data]) == ([(200, True, b"")], "complete")


def test_a_101_is_the_last_response_on_its_connection() -> None:
    """loadgen never asks for an upgrade; a server that switches anyway speaks another protocol
    after the 101, which must not be read as HTTP/1 (nor as a malformed response)."""
    upgraded = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    for after in (LENGTH, b"\x81\x05hello", b""):
        assert outcome([upgraded + after]) == ([(101, False, b"")], "complete")
        assert outcome([upgraded[:20], upgraded[20:] + after]) == ([(101, False, b"")], "complete")


@pytest.mark.parametrize(
    ("connection", "keep_alive"),
    [(b"keep-alive", True), (b"keep-alive, close", False), (b"close, keep-alive", False), (b"Close", False)],
)
def test_close_wins_over_keep_alive_in_http_1_0(connection: bytes, keep_alive: bool) -> None:
    head = b"HTTP/1.0 200 OK\r\nConnection: " + connection + b"\r\nContent-Length: 1"
    assert parse_head(head)[3] is keep_alive


def test_script_header_fields_are_unfolded() -> None:
    fields = parse_header_fields(b"HTTP/1.1 200 OK\r\nX-A:  1\r\n  2 \r\nX-B:\t3")
    assert fields == {"X-A": "1 2", "X-B": "3"}
