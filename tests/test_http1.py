"""The response parser on its own: every framing, every split point, and what it rejects."""

from __future__ import annotations

import pytest

from loadgen._run.http1 import HttpResponseProtocol, ParseError, parse_head


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
CHUNKED = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n")
CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
HTTP10 = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"
HTTP10_KEEP = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ny"


def feed_in_pieces(data: bytes, size: int, **kw) -> Recorder:
    parser = Recorder(**kw)
    for i in range(0, len(data), size):
        parser.data_received(data[i:i + size])
    return parser


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_pipelined_responses_survive_any_split(size: int) -> None:
    stream = LENGTH + CHUNKED + INTERIM + NOT_MODIFIED + HTTP10_KEEP + CLOSE
    parser = feed_in_pieces(stream, size)
    assert parser.errors == []
    assert parser.responses == [(200, True, b"hello"), (201, True, b"abcdefg"), (204, True, b""),
                                (304, True, b""), (200, True, b"y"), (200, False, b"ok")]
    assert parser.bytes_in == len(stream)


def test_close_delimited_body_ends_at_eof() -> None:
    parser = feed_in_pieces(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 4)
    assert parser.responses == []
    assert parser.finish_at_eof() is True
    assert parser.responses == [(200, False, b"until the end")]


def test_eof_mid_response_is_not_a_response() -> None:
    parser = feed_in_pieces(LENGTH[:-2], 5)
    assert parser.in_response and parser.finish_at_eof() is False and parser.responses == []


def test_head_response_has_no_body() -> None:
    parser = feed_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" * 2, 9, head=True)
    assert [r[:2] for r in parser.responses] == [(200, True), (200, True)]


def test_http10_without_keep_alive_closes() -> None:
    assert parse_head(HTTP10.split(b"\r\n\r\n")[0])[3] is False
    assert parse_head(HTTP10_KEEP.split(b"\r\n\r\n")[0])[3] is True


@pytest.mark.parametrize("data", [
    b"this is not http\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"garbage without an end",
])
def test_malformed_responses_are_rejected(data: bytes) -> None:
    parser = feed_in_pieces(data, len(data))
    assert len(parser.errors) == 1 and parser.responses == []
    assert parser.bytes_in == 0  # wrk does not count a chunk its parser rejects


def test_head_larger_than_limit_is_rejected() -> None:
    parser = Recorder()
    parser.data_received(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 70_000)
    assert parser.errors and "larger than" in parser.errors[0]


def test_parse_head_rejects_bad_status_line() -> None:
    with pytest.raises(ParseError):
        parse_head(b"HTTP/2 200 OK")
