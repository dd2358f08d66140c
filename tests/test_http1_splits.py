"""The parser's verdict depends on the bytes alone, never on how the reads split them.

Every response the test suite uses (the parser's own cases, the engine's, the benchmark's and what
the test server sends for each of its paths) is fed whole, byte by byte, in random splits, cut
short at every point, and after a complete response in the same read; each way must give the same
responses (status, keep-alive, body) and the same verdict: complete, truncated or malformed. The
detail of a malformed response may quote fewer bytes when they arrive one at a time.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from benchmarks.hot_path import RESPONSE as NGINX_LIKE
from loadgen.testing.server import TestServer
from tests.test_engine_units import CLOSING, NOT_FOUND, OK
from tests.test_http1 import (
    BARE_LF,
    CHUNK_LINES,
    CHUNKED,
    CLOSE,
    EMPTY_LINES,
    FRAMING,
    HTTP10,
    HTTP10_KEEP,
    INTERIM,
    LENGTH,
    MALFORMED,
    NOT_MODIFIED,
    STATUS_LINES,
    chunked_with_size_line,
    outcome,
    with_fields,
    with_status_line,
)

CANNED = [
    LENGTH,
    CHUNKED,
    CLOSE,
    INTERIM,
    NOT_MODIFIED,
    HTTP10,
    HTTP10_KEEP,
    OK,
    NOT_FOUND,
    CLOSING,
    NGINX_LIKE,
    b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
    *MALFORMED,
    *BARE_LF,
    *EMPTY_LINES,
    *(with_fields(fields, body) for fields, body, _ in FRAMING),
    *(chunked_with_size_line(line) for line, _ in CHUNK_LINES),
    *(with_status_line(line) for line, _ in STATUS_LINES),
]

# What the test server sends for a request to each path (then for GET /close, which ends the
# stream when the first response does not): the statuses in it and its verdict, read in one go.
SERVER_PATHS = {
    ("GET", "/"): ([200, 200], "complete"),
    ("GET", "/bytes?size=3000"): ([200, 200], "complete"),
    ("GET", "/status/404"): ([404, 200], "complete"),
    ("GET", "/status/204"): ([204, 200], "complete"),
    ("GET", "/status/304"): ([304, 200], "complete"),
    ("GET", "/status/100"): ([200], "complete"),  # an interim response, then /close's
    ("GET", "/status/103"): ([200], "complete"),
    ("GET", "/status/101"): ([101], "complete"),  # HTTP/1 ends there
    ("GET", "/close"): ([200], "complete"),
    ("GET", "/drop"): ([200], "complete"),
    ("GET", "/chunked?chunks=3&size=10"): ([200, 200], "complete"),
    ("GET", "/eof?size=50"): ([200], "complete"),
    ("GET", "/malformed"): ([], "malformed"),
    ("GET", "/truncated"): ([], "truncated"),
    ("GET", "/echo"): ([200, 200], "complete"),
    ("GET", "/slow-body?head_ms=1&body_ms=1"): ([200, 200], "complete"),
    ("HEAD", "/head-ok"): ([200, 200], "complete"),
    ("HEAD", "/"): ([200, 200], "complete"),
}


@pytest.fixture(scope="module")
def server_streams() -> dict[tuple[str, str], bytes]:
    """The bytes the test server sends for each path, read from a socket until it closes."""
    streams = {}
    with TestServer() as server:
        for method, path in SERVER_PATHS:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(
                    f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n{method} /close HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                )
                streams[method, path] = b"".join(iter(lambda: sock.recv(65536), b""))
    return streams


def splits(data: bytes, rng: random.Random) -> Iterator[list[bytes]]:
    """The ways to deliver ``data`` that are compared with one read."""
    yield [data[i : i + 1] for i in range(len(data))]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
        yield [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def assert_split_invariant(data: bytes, *, head: bool = False, seed: int = 0) -> None:
    rng = random.Random(seed)
    whole = outcome([data], head=head)
    for pieces in splits(data, rng):
        assert outcome(pieces, head=head) == whole, pieces
    for cut in range(1, len(data)):  # cut short: one read, or two
        middle = rng.randint(0, cut)
        assert outcome([data[:cut]], head=head) == outcome([data[:middle], data[middle:cut]], head=head), cut
    first = LENGTH.removesuffix(b"hello") if head else LENGTH  # a response to HEAD has no body
    after = outcome([first + data], head=head)
    assert after[0][:1] == [(200, True, b"" if head else b"hello")] and (after[0][1:], after[1]) == whole


@pytest.mark.parametrize("index", range(len(CANNED)))
def test_every_canned_response_gives_one_verdict_however_it_arrives(index: int) -> None:
    assert_split_invariant(CANNED[index], seed=index)
    assert_split_invariant(CANNED[index], head=True, seed=index)


def test_pipelined_canned_responses_give_one_verdict_however_they_arrive() -> None:
    keep_alive = [
        data
        for data in CANNED
        if outcome([data])[1] == "complete" and outcome([data])[0] and all(alive for _, alive, _ in outcome([data])[0])
    ]
    assert len(keep_alive) > 20
    assert_split_invariant(b"".join(keep_alive))


@pytest.mark.parametrize(("method", "path"), list(SERVER_PATHS))
def test_every_test_server_response_gives_one_verdict_however_it_arrives(
    server_streams: dict[tuple[str, str], bytes], method: str, path: str
) -> None:
    data = server_streams[method, path]
    responses, verdict = outcome([data], head=method == "HEAD")
    assert ([status for status, _, _ in responses], verdict) == SERVER_PATHS[method, path]
    assert_split_invariant(data, head=method == "HEAD")
