"""A response that another connection of the process parsed whole is taken on the fast path
(issue 26, `-c10000`): when the server's Date changes, only the first connection to meet the new
head parses it, and a new connection's first response is parsed only if no other connection
parsed the same bytes last. It counts what the parser would have counted, and only a whole
response, read between two responses (or before the first), exactly equal to the one parsed, is
taken so. No network: connections fed bytes, as in test_engine_units."""

from __future__ import annotations

from time import perf_counter_ns

from loadgen._run.http1.connection import Connection

from .test_engine_units import REQUEST, FakeOwner, FakeTransport, _connect, fresh_process  # noqa: F401 - autouse

BEFORE = b"HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
AFTER = BEFORE.replace(b"10:00:00", b"10:00:01")  # the next second's head, the same length


def _counts(owner: FakeOwner, conn: Connection, transport: FakeTransport) -> tuple[object, ...]:
    tally = owner.tally
    return (
        tally.requests,
        dict(tally.status_counts),
        sum(tally.latency.values()),
        conn.responses,
        conn.bytes_read,
        len(transport.written),
    )


def test_the_new_head_is_parsed_once_and_taken_as_a_repeat_by_the_other_connections() -> None:
    owner = FakeOwner()
    first, _ = _connect(owner)
    second, second_transport = _connect(owner)
    for conn in (first, second):
        conn.data_received(BEFORE)  # the first connection parses it, the second takes it as a repeat
        conn.data_received(BEFORE)  # then repeated
    first.data_received(AFTER)  # the new Date: the first to meet it parses it...
    assert first.parsed == 3 and first.repeats == 0  # (the repeat before it folded in)
    second.data_received(AFTER)  # ...the other takes it on the fast path
    assert second.parsed == 2 and second.repeats == 1 and second.repeat_len == len(AFTER)
    second.data_received(AFTER)
    assert second.parsed == 2 and second.repeats == 2

    reference_owner = FakeOwner()  # the same reads, each parsed: the same counts
    reference, reference_transport = _connect(reference_owner)
    for data in (BEFORE, BEFORE, AFTER, AFTER):
        reference.repeatable = False  # never the fast path
        reference.data_received(data)
    counts = _counts(owner, second, second_transport)
    assert counts[3:] == _counts(reference_owner, reference, reference_transport)[3:]  # the connection's own
    assert owner.tally.requests == 7 and owner.tally.status_counts == {200: 7}  # the worker's: 3 + 4 responses
    assert sum(owner.tally.latency.values()) == 7 and second_transport.written == [REQUEST] * 5


def test_only_a_whole_response_read_between_responses_and_equal_to_the_latest_is_taken_so() -> None:
    owner = FakeOwner()
    first, _ = _connect(owner)
    first.data_received(AFTER)  # parsed whole: the process's latest
    second, _ = _connect(owner)
    second.data_received(AFTER)  # a connection's first response: the latest, taken as a repeat
    assert second.parsed == 0 and second.repeats == 1
    second.data_received(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(AFTER))
    second.data_received(AFTER)  # the 404's body, byte for byte the latest response: a body still
    assert second.parsed == 2 and second.repeats == 0 and owner.tally.status_counts == {200: 2, 404: 1}
    second.data_received(BEFORE)  # a whole response again: the latest now
    later = AFTER.replace(b"10:00:01", b"10:00:02")
    first.data_received(later)  # between responses, the same length, not the latest: parsed
    assert first.parsed == 2 and first.repeats == 0 and owner.tally.status_counts == {200: 4, 404: 1}


def test_a_first_response_taken_as_a_repeat_is_accounted_as_the_parser_accounts_it() -> None:
    owner = FakeOwner()
    first, _ = _connect(owner)
    first.data_received(AFTER)  # parsed whole: the process's latest
    before = perf_counter_ns()
    second, second_transport = _connect(owner)
    second.data_received(AFTER)
    assert second.parsed == 0 and second.repeats == 1  # not parsed...
    assert before <= second.first_response_ns <= perf_counter_ns()  # ...and its first response noted when it came
    second.data_received(AFTER)

    reference_owner = FakeOwner()
    reference, reference_transport = _connect(reference_owner)
    reference.repeatable = False  # never the fast path
    for data in (AFTER, AFTER):
        reference.data_received(data)
    assert reference.first_response_ns and reference.parsed == 2
    assert _counts(owner, second, second_transport)[3:] == _counts(reference_owner, reference, reference_transport)[3:]


def test_a_first_response_is_parsed_after_an_interim_one_or_when_the_connection_is_not_repeatable() -> None:
    owner = FakeOwner()
    first, _ = _connect(owner)
    first.data_received(AFTER)  # the process's latest
    after_interim, _ = _connect(owner)
    after_interim.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")  # bytes before it: not between responses
    after_interim.data_received(AFTER)
    assert after_interim.parsed == 1 and after_interim.repeats == 0
    for other in (FakeOwner(collect=True), FakeOwner(depth=2)):  # a script's response(); a pipelined batch
        conn, _ = _connect(other)
        conn.data_received(AFTER)  # the latest's bytes, but its connection does not repeat: parsed
        assert conn.parsed == 1 and conn.repeats == 0


def test_a_response_that_closes_its_connection_is_never_taken_as_a_repeat() -> None:
    """A response with "Connection: close" is the last on its connection (RFC 9112, 9.6): it is never the
    latest, so another connection that reads the same bytes parses them and closes as told. Taken as a
    repeat, it would be counted as one that keeps its connection (h231's mutant: -t1 -c4 -d0.5s of the test
    server's /close gave "Socket errors: ... read 1203", none)."""
    closing = BEFORE.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    owner = FakeOwner()
    first, _ = _connect(owner)
    first.data_received(closing)
    assert first.repeat_len == -1 and first.parsed == 1
    second, _ = _connect(owner)
    second.data_received(closing)
    assert second.parsed == 1 and second.repeats == 0 and owner.tally.status_counts == {200: 2}
