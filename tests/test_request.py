"""Request bytes as wrk builds them, and wrk's check of a request before a run."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

import loadgen
from loadgen._run.plan import prepare
from loadgen.errors import SetupError, UsageError
from loadgen.request import Request, check_request, format_request, parse_header, request_headers, verify_batch
from loadgen.target import parse_url

from .conftest import run_loadgen


def test_url_rules_match_wrk() -> None:
    url = parse_url("http://127.0.0.1:8080/echo?x=1#frag")
    assert (url.host, url.port, url.path, url.host_header, url.service) == (
        "127.0.0.1",
        8080,
        "/echo?x=1#frag",
        "127.0.0.1:8080",
        "8080",
    )
    bare = parse_url("https://example.com")
    assert (bare.path, bare.host_header, bare.service, bare.effective_port) == ("/", "example.com", "https", 443)
    assert parse_url("http://[::1]:9/").host_header == "[::1]:9"
    assert parse_url("http://example.com/").effective_port == 80  # the scheme's: a targets file's same server
    with pytest.raises(ValueError, match=r"^host 'a\.\.b' is not a valid domain name \(a label is empty or over 63"):
        parse_url("http://a..b/")  # a targets file's line says why (the command: 'invalid URL: http://a..b/')
    # what a request line cannot carry, percent-encoded from UTF-8: a space, DEL, anything not ASCII
    assert parse_url("http://h/a b\x7f\u00e9~").path == "/a%20b%7F%C3%A9~"
    for text in ("http://[::1]x/", "http://x[::1]:9/"):  # urlsplit dropped the x: the run went to ::1
        with pytest.raises(ValueError, match=r"^text outside the brackets of an IPv6 address: "):
            parse_url(text)


def test_credentials_in_the_url_are_basic_authentication() -> None:
    url = parse_url("http://us%40er:p%3Ass@127.0.0.1:9/x")
    assert url.credentials == ("us@er", "p:ss") and url.host_header == "127.0.0.1:9" and url.path == "/x"
    assert url.implied_headers == [("Host", "127.0.0.1:9"), ("Authorization", "Basic dXNAZXI6cDpzcw==")]
    assert parse_url("http://user@h/").credentials == ("user", "")
    assert parse_url("http://h/").implied_headers == [("Host", "h")]
    given = request_headers(url.implied_headers, [("authorization", "Bearer t")], None)
    assert given == [("Host", "127.0.0.1:9"), ("authorization", "Bearer t")]  # -H wins


def test_request_bytes() -> None:
    headers = request_headers([("Host", "h:1")], [("X-A", "1"), ("x-a", "2")], b"body")
    assert format_request("POST", "/p", headers, b"body") == (
        b"POST /p HTTP/1.1\r\nHost: h:1\r\nx-a: 2\r\nContent-Length: 4\r\n\r\nbody"
    )
    # Host first, one given too (RFC 9110 7.2: a user agent SHOULD send it first), then the URL's
    # credentials, then the others as given: -H "X-A: 1" -H "host: o" sent X-A first, and the URL's
    # Authorization before a Host given
    implied = parse_url("http://u:p@h:1/").implied_headers
    given = request_headers(implied, [("X-A", "1"), ("host", "o")], None)
    assert given == [("host", "o"), ("Authorization", "Basic dTpw"), ("X-A", "1")]


def test_header_without_space_is_accepted() -> None:
    assert parse_header("X-B:2") == ("X-B", "2")
    assert parse_header("X-B:\t2 ") == ("X-B", "\t2 ")
    assert parse_header("Host: other") == ("Host", "other")
    with pytest.raises(UsageError):
        parse_header(": no name")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no colon", "invalid header 'no colon': expected 'Name: value'"),
        # the text quoted in the line is cut to its first 80 characters: a line a terminal shows
        ("x" * 100, f"invalid header '{'x' * 80}'...: expected 'Name: value'"),
        ("X: \u20ac", "invalid header X: '\u20ac': a header can carry only Latin-1 characters"),
        ("X: caf\xe9", None),  # Latin-1: HTTP/1.1 sends it as its one byte
        ("X: a\nb", "invalid header X: 'a\\nb': line breaks are not allowed in a value"),
        ("X: a\rb", "invalid header X: 'a\\rb': line breaks are not allowed in a value"),
        ("X: a\x00b", "invalid header X: 'a\\x00b': a value holds no control character but the tab (RFC 9110)"),
        ("X: a\x1bb", "invalid header X: 'a\\x1bb': a value holds no control character but the tab (RFC 9110)"),
        ("X: a\x7fb", "invalid header X: 'a\\x7fb': a value holds no control character but the tab (RFC 9110)"),
        ("X: a\tb", None),  # the tab is a value's whitespace
    ],
)
def test_a_header_http_cannot_carry_is_refused_in_one_line(text: str, message: str | None) -> None:
    """README: a header without a colon is refused in one line (exit 1), and so is a value with a
    line break (the rest would be a header of its own), another control character but the tab, or a character
    Latin-1 has not."""
    if message is None:
        assert parse_header(text) == tuple(text.split(": "))
        return
    with pytest.raises(UsageError) as refused:
        parse_header(text)
    assert str(refused.value) == message


def test_pipelined_batch_is_counted() -> None:
    one = format_request("GET", "/", [("Host", "h")])
    head = format_request("HEAD", "/", [("Host", "h")])
    batch = verify_batch(one + head + one)
    assert batch.depth == 3 and batch.methods == ("GET", "HEAD", "GET")


CONTENT_LENGTH_AT_2_16 = "invalid character in content-length header at 2:16"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n", "incomplete request at 3:1"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", "incomplete request at 5:3"),
        (b"G@T / HTTP/1.1\r\n\r\n", "invalid HTTP method at 1:1"),
        (b"", "incomplete request at 1:1"),
        # a body longer than its Content-Length: its rest is read as the next request, as wrk reads it
        # (was 'incomplete request at 4:11', which said the body was short)
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n0123456789", "invalid HTTP method at 4:6"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "incomplete request at 5:3"),
        # the last chunk without the empty line that ends the body
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", "incomplete request at 5:1"),
        # a length past http_parser's overflow check, as it refuses it: was "incomplete request" (20 digits),
        # and of more digits than int() converts (-H Content-Length:999...) a ValueError's traceback
        (b"GET / HTTP/1.1\r\nContent-Length: 18446744073709551610\r\n\r\n", CONTENT_LENGTH_AT_2_16),
        pytest.param(
            b"GET / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", CONTENT_LENGTH_AT_2_16, id="5000-nines"
        ),
        # the longest it takes, and leading zeros, which it reads past
        (b"GET / HTTP/1.1\r\nContent-Length: 18446744073709551609\r\n\r\n", "incomplete request at 4:1"),
        pytest.param(
            b"GET / HTTP/1.1\r\nContent-Length: " + b"0" * 5000 + b"1\r\n\r\n",
            "incomplete request at 4:1",
            id="1-after-5000-zeros",
        ),
    ],
)
def test_invalid_requests_give_wrk_style_errors(data: bytes, message: str) -> None:
    with pytest.raises(SetupError, match=f"^{message}$"):
        verify_batch(data)


def test_a_chunked_body_ends_at_its_last_chunk() -> None:
    """A chunked request ends past its empty last chunk, and only Transfer-Encoding says chunked (a
    header of another name whose value is 'chunked' leaves the body to Content-Length, here none)."""
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert verify_batch(chunked + b"GET / HTTP/1.1\r\nX-Mode: chunked\r\n\r\n").methods == ("POST", "GET")


def test_the_check_before_a_run_is_wrks_on_the_request_written_out() -> None:
    """wrk's check of the request (README: a -H 'Content-Length: N' without a body of that length is
    refused before the run, in wrk's words)."""
    check_request(Request("GET", "/", (("Host", "h"),)))
    with pytest.raises(SetupError, match=r"^incomplete request at 5:1$"):
        check_request(Request("GET", "/", (("Host", "h"), ("Content-Length", "5"))))
    # a run's own request, over HTTP/1.1, which sends every -H: a field HTTP/2 leaves out is checked too, before
    # anything is resolved or connected to (port 1 refuses: another message)
    chunked = loadgen.Settings("http://127.0.0.1:1/", headers={"Transfer-Encoding": "chunked"})
    with pytest.raises(SetupError, match=r"^incomplete request at 5:1$"):
        prepare(chunked)


def test_empty_lines_between_requests_are_skipped_as_wrk_skips_them() -> None:
    """wrk runs a body that ends in CRLF past its Content-Length (its parser skips CR and LF before a
    request); it was refused, 'invalid HTTP method at 4:6'."""
    batch = verify_batch(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n")
    assert batch.methods == ("POST", "GET")


class _Recorder(socketserver.BaseRequestHandler):
    """Keeps the bytes of each request as they came, and answers it."""

    requests: list[bytes]

    def handle(self) -> None:
        data = self.request.recv(65536)
        if data:
            self.requests.append(data)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[bytes]]]:
    """A server on 127.0.0.1 that records each request's raw bytes: its port and the list."""
    requests: list[bytes] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.server_address[1], requests
        server.shutdown()


def test_header_values_reach_the_server_as_typed_as_wrk_sends_them(recorder: tuple[int, list[bytes]]) -> None:
    """wrk sends all that follows ": " (measured with a server printing the raw bytes); loadgen
    stripped the value, so that ``X:  two`` arrived as ``X: two`` and trailing spaces were lost."""
    port, requests = recorder
    headers = ["X-Two:  two", "X-Trail: a  ", "X-Tab: \tv", "X-Empty: ", "X-Bare:b"]
    done = run_loadgen("-t1", "-c1", "-n1", *(f"-H{h}" for h in headers), f"http://127.0.0.1:{port}/")
    assert done.returncode == 0, done.stderr
    sent = "X-Two:  two\r\nX-Trail: a  \r\nX-Tab: \tv\r\nX-Empty: \r\nX-Bare: b\r\n"
    assert requests[0] == f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{sent}\r\n".encode()
