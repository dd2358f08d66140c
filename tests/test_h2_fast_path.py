"""The static loop's fast path (``Session._same_responses``) does exactly what the general path
does with the same bytes: a session with it and one without it (every frame through
FrameReader's reading and the handlers), fed the same reads at the same times, record the same
tally, write the same bytes and end in the same state, streams, windows and HPACK table
included. The server mixes nginx's static responses with everything that must leave the fast
path: other frames, other blocks, interleaved streams, split or padded DATA, content that
moves the windows, resets, a GOAWAY, a closed stream. No network: bytes in, on a clock the
test sets."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from loadgen._run.http2 import frames as f
from loadgen._run.http2 import session as session_module
from loadgen._run.http2.framereader import FrameReader
from loadgen._run.http2.frames import ErrorCode
from loadgen._run.http2.hpack import dynamic_index, encode_field
from loadgen._run.http2.requestblock import encode_request
from loadgen._run.http2.session import H2Exchange, Stream

from .test_h2_session import REQUEST, Owner, Probe

LAST_ID = 2**31 - 1
DATES = (b"Sun, 06 Dec 2026 06:00:00 GMT", b"Sun, 06 Dec 2026 06:00:01 GMT")


def nginx_block(length: int, date: bytes = DATES[0], status: bytes = b"200") -> bytes:
    """nginx's field block: its fields inserted into the table with every response."""
    fields = [(b"server", b"nginx/1.22.1"), (b"date", date), (b"content-type", b"text/plain")]
    fields.append((b"content-length", b"%d" % length))
    return encode_field(b":status", status) + b"".join(encode_field(name, value, insert=True) for name, value in fields)


class General(Probe):
    """The session without its fast path."""

    def _frames(self, data: bytes, pos: int) -> None:
        FrameReader._frames(self, data, pos)


class Fast(Probe):
    """The session, counting the responses its fast path took."""

    taken = 0

    def _same_responses(self, data: bytes, pos: int) -> int:
        stop = super()._same_responses(data, pos)
        self.taken += (stop - pos) // max(self._same_size, 1)
        return stop


KINDS = (
    *["same"] * 25,  # nginx's response to the static request, again and again
    "date",  # the same with the next second's Date: another block
    "404",
    "stamp",  # a block that inserts its :status (201 or 503) into the table
    "indexed",  # a block that reads the table's newest entry: its meaning changes with the table
    "malformed",  # a field name in capitals: the stream reset
    "unsized",  # no content-length
    "ended",  # a HEADERS frame that ends the stream, then the DATA frame all the same
    "interleaved",
    "crossed",  # one stream's HEADERS, another's DATA
    "head",  # a HEADERS frame alone
    "unfinished",  # a HEADERS frame whose block goes on, without the CONTINUATION that must follow
    "rest",  # a DATA frame that ends its stream, alone
    "split",  # the content in two DATA frames
    "padded",
    "flags",  # an END_STREAM with a flag no one defined
    "big",  # 40,000 bytes of content: WINDOW_UPDATEs with the small window
    "oversized",  # the same in one DATA frame, larger than this side allows
    "short",  # one byte less than its content-length: malformed, the stream reset
    "ping",
    "settings",
    "window",
    "reset",
    "closed",  # a response on a stream that has ended: the connection fails
    "goaway",
)


def server_bytes(kind: str, open_streams: list[int], pick: int, body: int) -> bytes:
    """What the server sends for one event, on the open stream ``pick`` chooses."""
    stream = open_streams[pick % len(open_streams)] if open_streams else 1
    other = open_streams[(pick + 1) % len(open_streams)] if open_streams else 3
    head = f.headers_frame(stream, nginx_block(body))
    end = f.data_frame(stream, bytes(body), end_stream=True)
    if kind == "date":
        return f.headers_frame(stream, nginx_block(body, DATES[1])) + end
    if kind == "404":
        return f.headers_frame(stream, nginx_block(9, status=b"404")) + f.data_frame(stream, bytes(9), True)
    if kind == "stamp":
        block = encode_field(b":status", b"503" if pick % 2 else b"201", insert=True)
        return f.headers_frame(stream, block + encode_field(b"content-length", b"%d" % body)) + end
    if kind == "indexed":
        return f.headers_frame(stream, dynamic_index(0) + encode_field(b"content-length", b"%d" % body)) + end
    if kind == "malformed":
        block = encode_field(b":status", b"200") + encode_field(b"content-length", b"12") + encode_field(b"X-Up", b"1")
        return f.headers_frame(stream, block) + f.data_frame(stream, bytes(12), True)
    if kind == "ended":
        return f.frame(f.HEADERS, f.END_HEADERS | f.END_STREAM, stream, nginx_block(body, DATES[1])) + end
    if kind == "unsized":
        return f.headers_frame(stream, encode_field(b":status", b"200")) + end
    if kind == "interleaved":
        return head + f.headers_frame(other, nginx_block(body)) + end + f.data_frame(other, bytes(body), True)
    if kind == "crossed":
        return head + f.data_frame(other, bytes(body), True) + f.headers_frame(other, nginx_block(body)) + end
    if kind == "head":
        return head
    if kind == "unfinished":
        return f.frame(f.HEADERS, 0, stream, nginx_block(body))
    if kind == "rest":
        return end
    if kind == "split":
        return head + f.data_frame(stream, bytes(body // 2)) + f.data_frame(stream, bytes(body - body // 2), True)
    if kind == "padded":
        return head + f.data_frame(stream, bytes(body), True, padding=3)
    if kind == "flags":
        return head + f.frame(f.DATA, f.END_STREAM | 0x20, stream, bytes(body))
    if kind == "big":
        parts = [f.headers_frame(stream, nginx_block(40_000)), f.data_frame(stream, bytes(16_000))]
        return b"".join(parts) + f.data_frame(stream, bytes(16_000)) + f.data_frame(stream, bytes(8_000), True)
    if kind == "oversized":
        return f.headers_frame(stream, nginx_block(40_000)) + f.data_frame(stream, bytes(40_000), True)
    if kind == "short":
        return head + f.data_frame(stream, bytes(body - 1), end_stream=True)
    if kind == "ping":
        return f.ping_frame(b"%08d" % pick)
    if kind == "settings":
        return f.settings_frame([(f.MAX_CONCURRENT_STREAMS, 1 + pick % 4), (f.INITIAL_WINDOW_SIZE, 60_000 + pick)])
    if kind == "window":
        return f.window_update_frame(stream if pick % 2 else 0, 1_000 + pick)
    if kind == "reset":
        return f.rst_stream_frame(stream, ErrorCode.CANCEL)
    if kind == "closed":  # stream 1 answered first: it has ended by now
        return f.headers_frame(1, nginx_block(body)) + f.data_frame(1, bytes(body), True)
    if kind == "goaway":
        return f.goaway_frame(max(open_streams, default=1), ErrorCode.NO_ERROR)
    return head + end


def new_session(kind: type[Probe], streams: int, window: int, first_id: int) -> Probe:
    probe = kind(Owner(), H2Exchange(REQUEST, streams, True, False), window)
    probe.start()
    probe.next_id = first_id
    return probe


def conversation(events: list[tuple[str, int]], body: int, streams: int, window: int, first_id: int) -> list[bytes]:
    """The events as bytes (the server's SETTINGS first), each on a stream open at that point:
    a session (without the fast path) is told them one at a time, and says which are open."""
    server = new_session(General, streams, window, first_id)
    parts = [f.settings_frame([(f.MAX_CONCURRENT_STREAMS, 100)])]
    server.receive(parts[0])
    for kind, pick in events:
        parts.append(server_bytes(kind, sorted(server.streams), pick, body))
        server.receive(parts[-1])
    return parts


def state(probe: Probe, owner: Owner) -> dict[str, object]:
    """Everything the session and its owner hold that a run's outcome could depend on."""
    own = {
        name: value
        for name, value in vars(probe).items()
        if name not in ("owner", "tally", "heads", "exchange", "out", "streams", "blocked", "_pack_headers")
        and not name.startswith("_same")
        and name != "taken"
    }
    streams = {sid: [getattr(stream, slot) for slot in Stream.__slots__] for sid, stream in probe.streams.items()}
    decoder = probe.heads.decoder
    return {
        **own,
        "streams": streams,
        "stream order": list(probe.streams),
        "blocked": [stream.id for stream in probe.blocked],
        "written": b"".join(bytes(part) for part in probe.out),
        "table": (decoder.table, decoder.version, decoder.table_size, decoder.used),
        "tally": owner.tally.measurement(),
        "owner": {name: value for name, value in vars(owner).items() if name != "tally"},
    }


def run_both(
    reads: list[bytes],
    steps_ns: list[int],
    streams: int,
    window: int,
    first_id: int = 1,
    before: Callable[[Probe, int], None] | None = None,
) -> tuple[dict[str, object], dict[str, object], Fast]:
    """Both sessions given the same reads, each read at the same time on both (and ``before``
    called on each before each read, with its index): their states, and the session with the
    fast path."""
    now = [10**15]
    with mock.patch.object(session_module, "perf_counter_ns", lambda: now[0]):
        fast = new_session(Fast, streams, window, first_id)
        general = new_session(General, streams, window, first_id)
        for index, read in enumerate(reads):
            now[0] += steps_ns[index % len(steps_ns)]
            for probe in (fast, general):
                if before is not None:
                    before(probe, index)
                probe.receive(read)
    assert isinstance(fast, Fast) and isinstance(fast.owner, Owner) and isinstance(general.owner, Owner)
    return state(fast, fast.owner), state(general, general.owner), fast


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 9), st.booleans()), min_size=4, max_size=40),
    st.sampled_from([12, 1_000]),
    st.sampled_from([1, 3, 10]),
    st.sampled_from([f.MAX_WINDOW, 65_535]),
    st.sampled_from([1, LAST_ID - 2 * 12, LAST_ID - 2 * 30]),  # or near the last stream id
    st.lists(st.integers(0, 60_000), max_size=4),
    st.lists(st.integers(0, 12_000_000_000), min_size=1, max_size=4),  # past the 10 s timeout at times
)
def test_the_fast_path_does_what_the_general_path_does(
    events: list[tuple[str, int, bool]],
    body: int,
    streams: int,
    window: int,
    first_id: int,
    cuts: list[int],
    steps_ns: list[int],
) -> None:
    """Reads that end after some of the events (where the fast path may start), and anywhere."""
    parts = conversation([(kind, pick) for kind, pick, _ in events], body, streams, window, first_id)
    ends = itertools.accumulate(len(part) for part in parts)
    read_ends = [end for end, (*_, ends_read) in zip(ends, [("", 0, True), *events], strict=True) if ends_read]
    data = b"".join(parts)
    pieces = [0, *sorted({cut for cut in [*cuts, *read_ends] if cut < len(data)}), len(data)]
    reads = [data[start:stop] for start, stop in itertools.pairwise(pieces)]
    fast, general, probe = run_both(reads, steps_ns, streams, window, first_id)
    event(f"responses taken by the fast path: {'some' if probe.taken else 'none'}")
    assert fast == general


def test_the_fast_path_takes_nginx_responses_and_gives_back_the_window() -> None:
    """Reads of ten nginx responses, 1,000 bytes of content apiece with a 65,535-byte window (a
    WINDOW_UPDATE every 33 responses, from the fast path), another Date, a 404 and a PING on the
    way: the fast path takes most of them, and both paths agree."""
    events = [("same", 0)] * 120 + [("date", 0), ("404", 0), ("ping", 0)] + [("same", 0)] * 117
    settings_frame, *parts = conversation(events, 1_000, 10, 65_535, 1)
    reads = [settings_frame] + [b"".join(parts[start : start + 10]) for start in range(0, len(parts), 10)]
    fast, general, probe = run_both(reads, [1_000_000, 3_000_000], 10, 65_535)
    assert fast == general
    assert probe.owner.tally.requests == 239 and not probe.owner.tally.error_reasons
    assert probe.taken >= 200
    assert fast["written"].count(f.window_update_frame(0, 33_000)) == 6  # type: ignore[attr-defined]


SAME = [("same", 0)] * 3
SCENARIOS = {
    "the connection's first response": [("head", 0), ("same", 1), ("rest", 0)],
    "a block that reads the table, which changes": [("stamp", 0), *[("indexed", 0)] * 3, ("stamp", 1), ("indexed", 0)],
    "a stream's send window, moved": [*SAME, ("window", 1), *SAME],
    "the stream's initial send window, changed": [*SAME, ("settings", 9), *SAME],
    "a header block left open": [*SAME, ("unfinished", 0), *SAME],
    "a DATA frame larger than announced": [*SAME, ("big", 0), ("oversized", 0)],
    "the connection's limit, lowered": [*SAME, ("settings", 0), *SAME],
    "one stream's HEADERS, another's DATA": [*SAME, ("crossed", 0), *SAME],
    "a response whose head came before": [*SAME, ("head", 0), ("same", 0)],
    "a malformed head, again": [*SAME, *[("malformed", 0)] * 3],
    "no content-length, again": [*SAME, *[("unsized", 0)] * 3],
    "a head that ends its stream, again": [*SAME, *[("ended", 0)] * 3],
}


@pytest.mark.parametrize("events", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_what_the_fast_path_must_leave_to_the_general_path(events: list[tuple[str, int]]) -> None:
    """Each case after responses that the fast path took, one read per event, three streams."""
    reads = conversation(events, 12, 3, f.MAX_WINDOW, 1)
    fast, general, probe = run_both(reads, [1_000], 3, f.MAX_WINDOW)
    assert probe.taken and fast == general


def test_the_fast_path_stops_before_the_last_stream_id() -> None:
    reads = conversation([("same", 0)] * 12, 12, 1, f.MAX_WINDOW, LAST_ID - 2 * 8)
    fast, general, probe = run_both(reads, [1_000], 1, f.MAX_WINDOW, LAST_ID - 2 * 8)
    assert probe.taken and fast == general
    assert probe.owner.closed == [0] and probe.owner.tally.requests == 9


def test_streams_sent_paced_or_with_content_left_to_send_are_the_general_paths() -> None:
    """The static loop's streams are the exchange's request, unpaced; streams sent otherwise
    (by a caller of ``send``) are left to the general path."""
    posting = encode_request("POST", "http", "/", [("Host", "127.0.0.1")], bytes(100_000))  # beyond the window

    def send(probe: Probe, read: int) -> None:
        if read == 0:
            probe.owner.sends_on_ready = False  # type: ignore[attr-defined]
        elif read == 1:
            probe.send()  # stream 1
            probe.send(None, intended_ns=5)  # stream 3
            probe.send(posting)  # stream 5, its content waiting for the server's window

    def response(stream: int) -> bytes:
        return f.headers_frame(stream, nginx_block(12)) + f.data_frame(stream, bytes(12), True)

    reads = [f.settings_frame([(f.MAX_CONCURRENT_STREAMS, 100)]), *[response(stream) for stream in (1, 3, 5, 7, 9)]]
    fast, general, probe = run_both(reads, [1_000], 3, f.MAX_WINDOW, before=send)
    assert probe.taken == 1 and fast == general  # stream 7's response
    assert probe.owner.tally.requests == 4 and 5 in probe.answered_early


def test_a_content_longer_than_one_frame_is_left_to_the_general_path() -> None:
    """A content-length of 2**24 (nginx's 20 MB file) is never one DATA frame: the fast path does
    not learn its head (it crashed the worker, packing a frame header whose length took 25 bits),
    and both paths take the two responses, each in 1,024 frames of 16 KiB."""
    length, chunk = 2**24, 16_384

    def response(stream: int) -> bytes:
        content = [
            f.data_frame(stream, bytes(chunk), end_stream=sent + chunk == length) for sent in range(0, length, chunk)
        ]
        return f.headers_frame(stream, nginx_block(length)) + b"".join(content)

    reads = [f.settings_frame([(f.MAX_CONCURRENT_STREAMS, 100)]), response(1), response(3)]
    fast, general, probe = run_both(reads, [1_000], 1, f.MAX_WINDOW)
    assert fast == general
    assert probe.owner.tally.requests == 2 and not probe.owner.tally.error_reasons
