"""The parser against h11, on generated streams of responses, valid and slightly broken.

Each stream is fed to both in the same random reads (and to loadgen in one read too); both must
find the same responses (status and body, in order) and agree on whether the stream ended in an
error (malformed or cut short). Like a Connection, both stop reading after a response that does
not keep the connection alive.

The generator avoids the cases where loadgen deliberately differs from h11 (each is pinned by a
test in test_http1.py):

- a bare LF ending a line of a head or a trailer: h11 accepts it, loadgen refuses CRLF's absence
  everywhere (rfc9112.py says why);
- a Transfer-Encoding other than one field saying ``chunked`` (``gzip, chunked``, ``gzip``, two
  fields, empty list items): h11 refuses it; loadgen frames by RFC 9112 (6.3), chunked when it is
  the last coding, else until the connection closes;
- ``HTTP/1.0`` with ``Connection: keep-alive``: h11 closes after it, loadgen keeps it open (as wrk);
- a version other than 1.x (``HTTP/2.0``, ``HTTP/0.9``): h11 accepts it, loadgen refuses it;
- Content-Length values are compared as numbers (``5, 05`` agree for loadgen, conflict for h11),
  and have at most 18 digits (h11: 20);
- chunk lines: at most 16 hex digits (h11: 20); whitespace before ``;`` is accepted (RFC 9112's
  BWS; h11 refuses it); extensions must follow RFC 9112's grammar (h11 takes anything after ``;``);
- a 101 to a request that asked no upgrade: h11 refuses it, loadgen counts a response and closes
  the connection (what follows is another protocol);
- Content-Length or Transfer-Encoding among trailer fields: h11 validates them as in a head,
  loadgen checks trailer fields' syntax only;
- heads up to 80 KiB (h11: 16 KiB).
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_http1 import outcome

# One byte mutation of a part marked mutable: never removing a CR (which would leave a bare LF)
# nor adding an LF, a ";" (chunk extensions) or a "1" (which could make a 101 or a 1xx).
MUTATION_BYTES = b"\r \t0x:,\x005a"

Part = tuple[bytes, bool]  # bytes, and whether a mutation may touch them
FIXED_HEADERS = [
    b"Server: h\xe9",
    b"X-A:",
    b"X-A:v",
    b"x_y.z~!: a b",
    b"X-B: \t padded \t",
    b"X-C: \x01\x7f\xff",
    b"X-D: folded\r\n  over\r\n\tlines",
]
BROKEN_HEADERS = [b"X-A : v", b"X A: v", b"X-A v", b": v", b"X-A: \x00", b"X-A: a\x0bb", b"X-A: a\rb", b"X-(A): v"]
REASONS = [b" OK", b" ", b"", b" Not Found", b" tab\there", b" \xe9t\xe9", b" ctl\x01\x7f"]
BROKEN_STATUSES = [b" 099", b" 20", b" 2000", b" 20x", b"  200", b"\t200"]
BROKEN_VERSIONS = [b"HTTP/1.x", b"http/1.1", b"HTTP/1", b"HTTP/11", b"HTTP /1.1"]
EXTENSIONS = [b"", b";a", b";a=b", b';a="q \\" x"', b";a;b=c", b" ", b";a ", b";a = b"]
BROKEN_SIZES = [b"0x", b"+", b" ", b"-", b"_"]  # prefixes of a size
BROKEN_DATA_ENDS = [b"", b"\r", b"xx", b"\n", b"\r\r\n"]
BROKEN_LENGTHS = [
    b"Content-Length: {n}, {m}",
    b"Content-Length: {n}\r\nContent-Length: {m}",
    b"Content-Length: +{n}",
    b"Content-Length: {n},",
    b"Content-Length: -{n}",
    b"Content-Length: {n}x",
    b"Content-Length: 0x{n}",
]


@st.composite
def broken(draw: st.DrawFn, choices: list[bytes]) -> bytes | None:
    """Now and then, one of these broken forms instead of the valid one."""
    return draw(st.sampled_from(choices)) if draw(st.integers(0, 40)) == 0 else None


@st.composite
def headers(draw: st.DrawFn) -> list[Part]:
    parts: list[Part] = []
    for value in draw(st.lists(st.sampled_from(FIXED_HEADERS), max_size=3)):
        parts += [(value, True), (b"\r\n", True)]
    if bad := draw(broken([*BROKEN_HEADERS, b" X-A: v"])):
        parts[:0] = [(bad, True), (b"\r\n", True)]  # first: " X-A" is a fold with nothing to continue
    return parts


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> list[Part]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=3))) if len(body) > 1 else []
    chunks = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True) if body[i:j]]
    parts: list[Part] = []
    for chunk in [*chunks, b""]:
        size = b"0" * draw(st.integers(0, 2)) + (b"%x" if draw(st.booleans()) else b"%X") % len(chunk)
        extension = draw(st.sampled_from(EXTENSIONS))  # its CRLF too is left alone: h11 takes anything after ";"
        parts += [((draw(broken(BROKEN_SIZES)) or b"") + size, True), (extension, False)]
        parts += [(b"\r\n", not extension), (chunk, True)]
        if chunk:
            parts.append((draw(broken(BROKEN_DATA_ENDS)) or b"\r\n", True))
        elif draw(st.integers(0, 15)):  # the last chunk: trailers, and the end (now and then missing)
            trailers = draw(st.lists(st.sampled_from([b"X-T: 1", b"X-T: a\r\n b"]), max_size=2))
            trailers += [bad] if (bad := draw(broken([b"bad trailer", b" X-T: 1"]))) else []
            parts += [(trailer + b"\r\n", True) for trailer in trailers] + [(b"\r\n", True)]
    return parts


@st.composite
def response(draw: st.DrawFn, *, last: bool, head: bool) -> list[Part]:
    """A response, maybe after interim ones; ``last``: a body may end with the stream; ``head``:
    it answers a HEAD request."""
    parts: list[Part] = []
    for status in draw(st.lists(st.sampled_from([100, 102, 103, 199]), max_size=1)):
        parts += [
            (b"HTTP/1.1", False),
            (b" %d" % status, True),
            (draw(st.sampled_from(REASONS)), True),
            (b"\r\n", True),
            *draw(headers()),
            (b"\r\n", True),
        ]
    version = draw(broken(BROKEN_VERSIONS)) or draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 304, 404, 500, 599, 600, 999]))
    parts += [
        (version, False),
        (draw(broken(BROKEN_STATUSES)) or b" %d" % status, True),
        (draw(st.sampled_from(REASONS)), True),
        (b"\r\n", True),
        *draw(headers()),
    ]
    if version == b"HTTP/1.1" and draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from([b"close", b"keep-alive", b"Keep-Alive, x", b"Close"]))
        parts += [(b"Connection: " + value, True), (b"\r\n", True)]
    body = draw(st.binary(max_size=30))
    framing = draw(st.sampled_from(["length", "chunked", "both"] + (["close"] if last else [])))
    if framing == "length":
        again = draw(st.integers(0, 7)) == 0  # the same value again: they agree
        if template := draw(broken(BROKEN_LENGTHS)):
            parts.append((template.replace(b"{n}", b"%d" % len(body)).replace(b"{m}", b"%d" % (len(body) + 1)), False))
        else:  # repeated, its digits are kept whole: a "0" inserted beside one ("0, 00") agrees for loadgen alone
            parts.append((b"Content-Length: %d" % len(body), not again))
        if again:
            parts.append((b"\r\nContent-Length: %d, %d\r\n" % (len(body), len(body)), False))
        else:
            parts.append((b"\r\n", True))
    elif framing in ("chunked", "both"):
        te = draw(st.sampled_from([b"chunked", b"Chunked", b"CHUNKED", b" chunked "]))
        length = b"Content-Length: %d\r\n" % draw(st.integers(0, 99)) if framing == "both" else b""
        parts.append((length + b"Transfer-Encoding:" + te + b"\r\n", False))
    parts.append((b"\r\n", True))
    no_body = (head or status in (204, 304)) and not draw(broken([b"a body all the same"]))
    if framing in ("chunked", "both"):
        parts += [] if no_body else draw(chunked_body(body))
    elif not no_body:
        parts.append((body, True))
    return parts


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int], bool]:
    """The bytes of one to three responses, maybe with one byte mutated or cut short; where reads
    end; whether they answer HEAD requests."""
    head = draw(st.booleans())
    count = draw(st.integers(1, 3))
    parts = [part for i in range(count) for part in draw(response(last=i == count - 1, head=head))]
    if draw(st.integers(0, 3)) == 0:
        mutable = [i for i, (data, ok) in enumerate(parts) if ok and data]
        index = draw(st.sampled_from(mutable))
        data = parts[index][0]
        at = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from([bytes([b]) for b in MUTATION_BYTES]))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        if operation == "insert":
            data = data[:at] + byte + data[at:]
        elif data[at : at + 1] != b"\r":
            data = data[:at] + (byte if operation == "replace" else b"") + data[at + 1 :]
        parts[index] = (data, True)
    data = b"".join(part for part, _ in parts)
    if draw(st.integers(0, 7)) == 0:
        data = data[: draw(st.integers(1, len(data)))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    return data, cuts, head


def h11_outcome(pieces: list[bytes], *, head: bool) -> tuple[list[tuple[int, bytes]], bool]:
    """The responses h11 finds in these reads followed by the end of the stream, and whether it
    found an error."""
    conn = h11.Connection(h11.CLIENT)
    method = b"HEAD" if head else b"GET"

    def ask() -> None:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())

    ask()
    responses: list[tuple[int, bytes]] = []
    status, body = 0, b""
    try:
        for piece in [*pieces, b""]:  # b"": the end of the stream
            conn.receive_data(piece)
            while (event := conn.next_event()) is not h11.NEED_DATA:
                if event is h11.PAUSED:  # the next response begins: it answers the next request
                    conn.start_next_cycle()
                    ask()
                elif isinstance(event, h11.Response):
                    status, body = event.status_code, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    responses.append((status, body))
                    if conn.their_state is h11.MUST_CLOSE:
                        return responses, False
                elif isinstance(event, h11.ConnectionClosed):
                    return responses, False
    except h11.RemoteProtocolError:
        return responses, True
    return responses, False


# 500 streams: a quarter mutated (a third each inserted, deleted, replaced), an eighth cut short, every framing in
# each; about 18 ms apiece. Each run draws new ones, and a failure is replayed from the example database.
@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(streams())
def test_loadgen_and_h11_agree(stream: tuple[bytes, list[int], bool]) -> None:
    data, cuts, head = stream
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    responses, verdict = outcome(pieces, head=head)
    assert outcome([data], head=head) == (responses, verdict)
    assert h11_outcome(pieces, head=head) == ([(status, body) for status, _, body in responses], verdict != "complete")
