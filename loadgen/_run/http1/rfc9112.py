"""RFC 9112's response grammar: the status line, header and trailer fields, chunk lines.

Apart from the incremental parser (http1.py) because none of it runs per response when a server
repeats its head (the parser caches the last one), so being strict costs nothing on the hot path.

Line endings are CRLF only: a bare LF, or a bare CR, anywhere in a head, a chunk line or a
trailer makes the response malformed. RFC 9112 (2.2) lets a recipient accept a bare LF in a
head; refusing it everywhere gives one rule for heads and chunked framing alike, and a server
that sends one is reported at once rather than left waiting for a CRLF CRLF that never comes.
"""

from __future__ import annotations

import re

# wrk's parser (http_parser, HTTP_MAX_HEADER_SIZE) refuses a head of 80 KiB, a few bytes less
# by its own counting; also the longest chunk or trailer line
MAX_HEAD = 80 * 1024
MAX_LENGTH_DIGITS = 18  # a Content-Length below 10**18 bytes: an exabyte
MAX_SIZE_DIGITS = 16  # a chunk size that fits in 64 bits, as llhttp's

# Body framings a head announces
LENGTH, CHUNKED, UNTIL_CLOSE = range(1, 4)

_HEXDIGITS = b"0123456789abcdefABCDEF"
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# A reason phrase or field value: any byte but NUL, CR, LF, VT and FF (RFC 9110 5.5 allows
# keeping the other controls; VT and FF are whitespace to many parsers, and h11 refuses them).
_TEXT = rb"[^\x00\n\r\x0b\x0c]*"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) [1-9][0-9][0-9](?: " + _TEXT + rb")?")  # the SP + reason may be absent
_FIELDS = re.compile(rb"(?:\r\n" + _TOKEN + rb":" + _TEXT + rb"(?:\r\n[ \t]" + _TEXT + rb")*)*")
_FIELD_LINE = re.compile(_TOKEN + rb":" + _TEXT)
_FOLD_LINE = re.compile(rb"[ \t]" + _TEXT)  # an obs-fold: continues the field line before it
_FOLD = re.compile(rb"\r\n[ \t]+")
_FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding|connection):([^\r]*)", re.IGNORECASE)
# chunk-size [ chunk-ext ], with the whitespace RFC 9112 calls BWS, and trailing whitespace as h11
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,%d})[ \t]*(?:;[ \t]*" % MAX_SIZE_DIGITS
    + _TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?[ \t]*)*"
)


class ParseError(Exception):
    """The bytes are not a valid HTTP/1.x response."""


def check_head_start(rest: bytes) -> None:
    """Refuse the start of a head that no further bytes could make valid, so that a server that
    sends garbage and waits is reported at once; what this refuses, the complete head is refused for."""
    if len(rest) > MAX_HEAD + 3:  # its end, CRLF CRLF, could begin at the last three bytes
        raise ParseError(f"response head larger than {MAX_HEAD // 1024} KiB")
    if not (rest.startswith(b"HTTP/") if len(rest) >= 5 else b"HTTP/".startswith(rest)):
        line = rest.partition(b"\r\n")[0]
        raise ParseError(f"invalid status line {line[:60]!r}{_another_protocol(rest)}")
    if rest.count(b"\n") != rest.count(b"\r\n"):
        raise ParseError("bare LF in the response head (CRLF is required)")


def _another_protocol(start: bytes) -> str:
    """What a response that is not HTTP/1.x is, when its first bytes tell: an HTTP/2 server's
    first frame, SETTINGS on stream 0 (h2c only: it answers an HTTP/1.1 request with it)."""
    if len(start) >= 9 and start[3:5] == b"\x04\x00" and start[5:9] == b"\x00\x00\x00\x00":
        return ": the server speaks HTTP/2 (h2c), add --http2"
    return ""


def parse_head(head: bytes) -> tuple[int, int, int, bool]:
    """(status, framing, content length, keep-alive) from a response head without its CRLF CRLF.

    The framing is RFC 9112's (6.3): a Transfer-Encoding whose last coding is chunked overrides
    Content-Length; any other Transfer-Encoding means a body delimited by the connection's end;
    Content-Length values, repeated or in a list, must agree. Status and request method (1xx,
    204, 304, HEAD) are the caller's to apply.
    """
    line_end = head.find(b"\r\n")
    if line_end < 0:
        line_end = len(head)
    status_line = _STATUS_LINE.fullmatch(head, 0, line_end)
    if status_line is None or len(head) > MAX_HEAD or not _FIELDS.fullmatch(head, line_end):
        raise ParseError(_head_error(head, line_end))
    length = -1
    codings: list[bytes] = []
    connection: list[bytes] = []
    for name, value in _FRAMING.findall(unfold(head), line_end):
        field = name.lower()
        if field == b"content-length":
            for item in value.split(b","):
                digits = item.strip(b" \t")
                if not digits.isdigit() or len(digits) > MAX_LENGTH_DIGITS:
                    raise ParseError(f"invalid Content-Length {value.strip()[:40]!r}")
                if 0 <= length != int(digits):
                    raise ParseError(f"conflicting Content-Length values ({length} and {int(digits)})")
                length = int(digits)
        elif field == b"transfer-encoding":
            codings.extend(coding.strip(b" \t") for coding in value.lower().split(b","))
        else:
            connection.extend(token.strip(b" \t") for token in value.lower().split(b","))
    if status_line[1] == b"0":  # kept alive only when asked, and close wins over keep-alive
        keep_alive = b"keep-alive" in connection and b"close" not in connection
    else:  # HTTP/1.1, and a later 1.x read as 1.1 (RFC 9110 2.5)
        keep_alive = b"close" not in connection
    last_coding = next((coding for coding in reversed(codings) if coding), b"")  # empty list items do not count
    framing = CHUNKED if last_coding == b"chunked" else LENGTH if length >= 0 and not last_coding else UNTIL_CLOSE
    return int(head[9:12]), framing, max(length, 0), keep_alive


def _head_error(head: bytes, line_end: int) -> str:
    """Why a complete head is invalid: the same words as check_head_start for what it catches."""
    try:
        check_head_start(head)
    except ParseError as exc:
        return str(exc)
    if not _STATUS_LINE.fullmatch(head, 0, line_end):
        return f"invalid status line {head[:line_end][:60]!r}"
    if len(head) > MAX_HEAD:
        return f"response head larger than {MAX_HEAD // 1024} KiB"
    lines = head[line_end + 2 :].split(b"\r\n")
    bad = next(line for i, line in enumerate(lines) if not is_field_line(line, after_field=i > 0))
    return f"invalid header line {bad[:60]!r}"


def unfold(head: bytes) -> bytes:
    """The head with each obs-fold replaced by a space, as RFC 9112 (5.2) asks of a user agent."""
    return _FOLD.sub(b" ", head) if b"\r\n " in head or b"\r\n\t" in head else head


def parse_header_fields(head: bytes) -> dict[str, str]:
    """The header fields of a valid head as name -> value (a repeated name keeps the last, as wrk)."""
    fields: dict[str, str] = {}
    for line in unfold(head).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.decode("latin-1")] = value.strip(b" \t").decode("latin-1")
    return fields


def chunk_size(line: bytes) -> int:
    """The size a chunk line (without its CRLF) announces; its extensions are checked, then ignored."""
    if line and not line.strip(_HEXDIGITS) and len(line) <= MAX_SIZE_DIGITS:  # hex digits alone: the usual line
        return int(line, 16)
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise ParseError(f"invalid chunk size line {line[:40]!r}")
    return int(match[1], 16)


def is_field_line(line: bytes, after_field: bool) -> bool:
    """A header or trailer field line, or (``after_field``) an obs-fold continuing the one before."""
    return bool(_FIELD_LINE.fullmatch(line) or (after_field and _FOLD_LINE.fullmatch(line)))
