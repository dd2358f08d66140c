"""Requests as data, and their HTTP/1.1 text as wrk's scripts know it.

A run's request travels to the workers as a :class:`Request` (method, target, headers, body):
each wire protocol encodes it once, its own way (``loadgen/_run/http1/``, ``loadgen/_run/http2/``).
A script may also write HTTP/1.1 text itself, as wrk's do (``wrk.format``); such a string may
hold several requests back to back, which wrk then pipelines, so the string is parsed once to
count them (``script_verify_request``), with wrk's ``<error> at <line>:<column>`` message when
it is not a valid request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import SetupError, UsageError, excerpt

_TOKEN_TEXT = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110's token: a header's name, a method
_TOKEN = re.compile(_TOKEN_TEXT.encode())  # in a request's bytes
TOKEN = re.compile(_TOKEN_TEXT)


# http_parser's overflow check: a Content-Length is refused once the digits read so far exceed it
LONGEST_CONTENT_LENGTH = (2**64 - 1 - 10) // 10


def is_latin1(text: str) -> bool:
    """Whether a header can carry ``text`` (HTTP/1.1 sends header bytes as Latin-1)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def method_problem(method: str) -> str | None:
    """Why ``method`` cannot begin a request line (None: it can): a token (RFC 9110) that begins with a letter, as
    http_parser (wrk's) and every server take one. A token without a letter first (``123``, ``*``) was refused only
    by the check of the request's text, in its words (``invalid HTTP method at 1:1``)."""
    if not TOKEN.fullmatch(method):
        return f"invalid method {excerpt(method)}"
    if not method[0].isalpha():
        return f"invalid method {excerpt(method)}: a method starts with a letter (GET, M-SEARCH)"
    return None


def header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent as a header, in one line (None: it can). A header given
    as a pair (the API's, a target's) is checked as ``-H``'s text is: a line break in its value was
    sent, the rest of the line a header of its own, and a name that is no token was refused only by
    the check of the request's text, in its words (``invalid character in header at 3:1``). A NUL or another
    control character in a value was sent: no field value (RFC 9110 5.5) holds one, and nginx answers a NUL 400."""
    if not TOKEN.fullmatch(name):
        return f"invalid header name {excerpt(name)}: a name is letters, digits and !#$%&'*+-.^_`|~"
    if "\r" in value or "\n" in value:
        return f"invalid header {name}: {excerpt(value)}: line breaks are not allowed in a value"
    if any((char < " " and char != "\t") or char == "\x7f" for char in value):  # NUL, ESC, DEL: were sent
        return f"invalid header {name}: {excerpt(value)}: a value holds no control character but the tab (RFC 9110)"
    if not is_latin1(value):
        return f"invalid header {name}: {excerpt(value)}: a header can carry only Latin-1 characters"
    return None


def parse_header(text: str) -> tuple[str, str]:
    """``Name: value`` from ``-H``, its value as wrk takes it: all that follows ``": "``, as typed
    (more spaces, tabs, trailing spaces: the server sees what the user wrote). Unlike wrk,
    ``Name:value`` is accepted rather than dropped, its value as typed too."""
    name, sep, value = text.partition(":")
    if not sep:
        raise UsageError(f"invalid header {excerpt(text)}: expected 'Name: value'")
    value = value.removeprefix(" ")
    if (problem := header_problem(name, value)) is not None:  # in the words a pair's is refused (the API's, a target's)
        raise UsageError(problem)
    return name, value


def request_headers(
    implied: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]], body: bytes | None
) -> list[tuple[str, str]]:
    """Host first, the user's if given (RFC 9110 7.2: a user agent SHOULD send it first; one given
    with ``-H`` after another header was sent where given, after the URL's Authorization too), then
    the URL's other implied headers (its credentials'), each unless given, then the user's headers
    (a later name replaces an earlier one, ignoring case), then Content-Length when there is a body."""
    chosen: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        chosen[name.lower()] = (name, value)
    result = [(name, value) for name, value in implied if name.lower() not in chosen]
    result += chosen.values()
    result.sort(key=lambda field: field[0].lower() != "host")  # stable: the others keep their order
    if body is not None and "content-length" not in chosen:
        result.append(("Content-Length", str(len(body))))
    return result


@dataclass(frozen=True)
class Request:
    """One request as data: what every protocol sends, before any of them encodes it."""

    method: str
    target: str  # the path and query
    headers: tuple[tuple[str, str], ...]  # as sent: Host first, Content-Length with a body (request_headers)
    body: bytes | None = None


def check_request(request: Request) -> None:
    """wrk's check before a run, in wrk's words: the request, written out, must parse."""
    verify_batch(format_request(request.method, request.target, request.headers, request.body))


def format_request(method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes | None = None) -> bytes:
    """``wrk.format``: the request line, one line per header, an empty line, then the body."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1") + (body or b"")


@dataclass(frozen=True)
class RequestBatch:
    """Bytes to write at once, and what they hold: the pipeline depth and which are HEAD."""

    data: bytes
    methods: tuple[str, ...]

    @property
    def depth(self) -> int:
        return len(self.methods)


class _Invalid(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _position(data: bytes, offset: int) -> str:
    """wrk's line:column of the first byte it could not parse (both counted from 1)."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def _parse_one(data: bytes, pos: int) -> tuple[str, int]:
    """Parse one request at ``pos``; return its method and where the next one starts."""
    method, pos = _request_line(data, pos)
    length, pos = _header_lines(data, pos)
    return method, _chunked_end(data, pos) if length is None else _sized_end(data, pos, length)


def _line_end(data: bytes, pos: int) -> int:
    """Where the line at ``pos`` ends (its CRLF)."""
    line_end = data.find(b"\r\n", pos)
    if line_end < 0:
        raise _Invalid("incomplete request", len(data))
    return line_end


def _request_line(data: bytes, pos: int) -> tuple[str, int]:
    """The method of the request line at ``pos``, and where its headers start."""
    if pos < len(data) and not data[pos : pos + 1].isalpha():  # http_parser's: a method begins with a letter
        raise _Invalid("invalid HTTP method", pos)
    line_end = _line_end(data, pos)
    method, _, rest = data[pos:line_end].partition(b" ")
    if not _TOKEN.fullmatch(method):
        raise _Invalid("invalid HTTP method", pos)
    target, _, version = rest.partition(b" ")
    if not target or b" " in target or version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _Invalid("invalid request line", pos + len(method) + 1)
    return method.decode(), line_end + 2


def _header_lines(data: bytes, pos: int) -> tuple[int | None, int]:
    """The body's length as the header lines at ``pos`` give it (None: chunked), and where it starts."""
    length: int | None = 0
    chunked = False
    while (line_end := _line_end(data, pos)) != pos:
        name, sep, value = data[pos:line_end].partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _Invalid("invalid character in header", pos)
        lowered = name.lower()
        if lowered == b"content-length":
            length = _content_length(value)
            if length is None:
                raise _Invalid("invalid character in content-length header", pos + len(name) + 1)
        elif lowered == b"transfer-encoding" and value.strip().lower() == b"chunked":
            chunked = True
        pos = line_end + 2
    return None if chunked else length, pos + 2


def _content_length(value: bytes) -> int | None:
    """A Content-Length header's value as http_parser reads it, or None where it refuses it: not
    digits, or past its overflow check (20 digits and more; of 4,301, int() raised, a traceback for
    ``-H Content-Length:999...``, and of fewer the check said "incomplete request")."""
    digits = value.strip()
    significant = digits.lstrip(b"0")
    if not digits.isdigit() or len(significant) > 20:
        return None
    length = int(significant or b"0")
    return None if length // 10 > LONGEST_CONTENT_LENGTH else length


def _chunked_end(data: bytes, pos: int) -> int:
    """Where a chunked body at ``pos`` ends: past its last, empty chunk."""
    while True:
        line_end = _line_end(data, pos)
        try:
            size = int(data[pos:line_end].split(b";")[0], 16)
        except ValueError:
            raise _Invalid("invalid character in chunk size header", pos) from None
        pos = line_end + 2 + size + 2
        if pos > len(data):
            raise _Invalid("incomplete request", len(data))
        if size == 0:
            return pos


def _sized_end(data: bytes, pos: int, length: int) -> int:
    if pos + length > len(data):
        raise _Invalid("incomplete request", len(data))
    return pos + length


def _past_empty_lines(data: bytes, pos: int) -> int:
    """Where the next request begins: http_parser (wrk's check) skips CR and LF before one, as
    RFC 9112 2.2 asks a server to; so a body that ends in CRLF past its Content-Length is no error."""
    while data[pos : pos + 1] in (b"\r", b"\n"):
        pos += 1
    return pos


def verify_batch(data: bytes) -> RequestBatch:
    """The requests in ``data`` (at least one), or wrk's error for the first invalid byte."""
    methods: list[str] = []
    pos = _past_empty_lines(data, 0)
    try:
        while pos < len(data) or not methods:
            method, pos = _parse_one(data, pos)
            methods.append(method)
            pos = _past_empty_lines(data, pos)
    except _Invalid as exc:
        raise SetupError(f"{exc} at {_position(data, exc.offset)}", wrk_message=True) from None
    return RequestBatch(data, tuple(methods))
