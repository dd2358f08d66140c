"""The static closed loop's fast path records into the tally exactly what the parser's path
records: the same requests, statuses, latency histogram and timeouts, response by response. No
network: a connection fed bytes, as in test_engine_units, on a clock the test sets (the latencies
are then exact on both paths)."""

from __future__ import annotations

import pytest

from loadgen._run.http1 import connection
from loadgen._run.http1.connection import Connection
from loadgen.measurement import Tally

from .test_engine_units import FakeOwner, FakeTransport, _connect, fresh_process  # noqa: F401 - autouse

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
TIMEOUT_US = 2_000_000
# µs from each write to its response: two over the timeout, one at it, one of a µs, some repeated
LATENCIES_US = [1_000, 3_000_000, 2_000, 40_000, 5_000_000, 7, 1_000, TIMEOUT_US, 1, 2_000]


def _fed(monkeypatch: pytest.MonkeyPatch, fast_path: bool) -> tuple[Connection, FakeTransport, Tally]:
    """A connection fed one response per latency; the third is a 404 (the parser runs for it)."""
    now_ns = [10**12]
    monkeypatch.setattr(connection, "perf_counter_ns", lambda: now_ns[0])
    owner = FakeOwner()
    owner.tally = Tally(TIMEOUT_US)
    conn, transport = _connect(owner)  # the first request written at now_ns
    for index, latency_us in enumerate(LATENCIES_US):
        now_ns[0] += latency_us * 1000 + 999  # a few ns short of the next µs: the division floors
        conn.repeatable = fast_path
        conn.data_received(NOT_FOUND if index == 2 else OK)
    return conn, transport, owner.tally


def test_the_fast_path_counts_what_the_parser_counts_timeouts_included(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, fast_transport, fast_tally = _fed(monkeypatch, True)
    parsed, parsed_transport, parsed_tally = _fed(monkeypatch, False)
    assert fast.repeats == 6 and parsed.repeats == 0  # the repeats after the OK that followed the 404
    assert fast_tally.requests == parsed_tally.requests == len(LATENCIES_US)
    assert fast_tally.status_counts == parsed_tally.status_counts == {200: 9, 404: 1}
    assert fast_tally.timeouts == parsed_tally.timeouts == 2
    assert fast_tally.timed_out_us == parsed_tally.timed_out_us == 8_000_000
    expected = {1_000: 2, 2_000: 2, 40_000: 1, 7: 1, TIMEOUT_US: 1, 1: 1}
    assert fast_tally.latency == parsed_tally.latency == expected
    assert fast.responses == parsed.responses and fast.bytes_read == parsed.bytes_read
    assert fast_transport.written == parsed_transport.written  # the next request written after each


def test_the_previous_response_again_after_part_of_one_is_parsed_not_repeated() -> None:
    """The fast path takes a read equal to the previous response's bytes only between responses: after
    part of a response (``OK``'s first 10 bytes, kept by the parser) the same bytes are its continuation,
    here a malformed status line, not a second response."""
    owner = FakeOwner()
    conn, _ = _connect(owner)
    conn.data_received(OK)  # parsed whole: the next OK alone is recognised
    conn.data_received(OK)
    assert conn.repeats == 1
    conn.data_received(OK[:10])
    conn.data_received(OK)
    assert owner.tally.requests == 2 and conn.repeats == 0
    assert [event[0] for event in owner.events].count("failed") == 1, owner.events
