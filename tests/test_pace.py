"""The constant rate's cost cuts (issue 26) decide exactly what the general steps decided: the
due batches taken oldest first at their own due times however far behind the schedule is, the
HTTP/1.1 fast path recording what the parser records, and one timer wake-up for the earliest
deadline however many connections asked for it. No network: a Worker fed bytes, as in
test_engine_units."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from time import perf_counter_ns

import pytest

from loadgen._run import pacer as pacer_module
from loadgen._run import schedule as schedule_module
from loadgen._run.http1 import connection
from loadgen._run.pacer import Pacer
from loadgen._run.schedule import NEVER, Paced, PacedStatic, interval_ns, offsets

from .test_engine_units import OK, _attach, _by_hand, _worker, due_untaken, fresh_process  # noqa: F401 - autouse


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_a_schedule_far_behind_takes_each_due_batch_in_turn_and_queues_none(loop: asyncio.AbstractEventLoop) -> None:
    worker = _worker(loop, rate=1000.0)  # one batch every millisecond
    schedule = _by_hand(worker, perf_counter_ns() - 1_000_000_000)  # a second behind: 1,000 batches due
    assert isinstance(schedule, PacedStatic)
    conn, transport = _attach(worker)
    intended = [conn.intended_ns]
    for _ in range(20):
        conn.data_received(OK)  # the first through the parser, then the fast path
        intended.append(conn.intended_ns)
    assert intended == [schedule.start_ns + i * 1_000_000 for i in range(21)]  # oldest first, each at its due time
    assert len(transport.written) == 21 and schedule.issued == 21 and not schedule.owed and not schedule.idle
    assert len(due_untaken(schedule, perf_counter_ns())) >= 979  # still due, and held in no queue
    assert schedule.lag_ns(perf_counter_ns()) == 0  # no connection waited idle for them: no hold of the worker's own
    worker.stop()


@pytest.mark.parametrize("rate", [95_000.0, 28_123.0, 1_234.567, 3e6, 0.5])
@pytest.mark.parametrize("depth", [1, 3])
def test_the_due_times_added_up_are_the_rates_own(rate: float, depth: int) -> None:
    """The offsets, made by additions, are the formula's, and within a nanosecond of the rate's
    exact due times (``batch * depth / rate`` seconds, rounded down to a nanosecond) over 100,000 batches."""
    interval = interval_ns(rate, depth)
    made = offsets(interval)
    for batch in range(1, 100_001):
        offset = next(made)
        assert offset == batch * interval.numerator // interval.denominator
        assert -1.01 < offset - batch * depth * 10**9 / rate < 0.01  # rounded down, as before


@pytest.mark.parametrize("first", [1, 2, 19, 12_345])
def test_the_due_times_from_any_batch_on_are_the_formulas(first: int) -> None:
    """The due times made whole from batch ``first`` on (a start set, or moved by hand with batches
    taken): ``start + batch * interval // 1``, and NEVER from the window's last batch on."""
    interval = interval_ns(95_000.0, 1)  # 200000/19 ns: a period of 19 differences
    start = 10**13 + 7
    made = offsets(interval, 20_000, first, start)
    for batch in range(first, 20_000):
        assert next(made) == start + batch * interval.numerator // interval.denominator
    assert next(made) == next(made) == NEVER


@pytest.mark.parametrize("quota", [None, 1000], ids=["PacedStatic", "Paced"])
def test_no_batch_is_due_at_or_after_the_windows_end(loop: asyncio.AbstractEventLoop, quota: int | None) -> None:
    """-R 1000 -d 10ms asks for 10 requests: batches 0-9. A schedule past its window takes no more
    (a response just before the stop fired took batch 10 now and then: -R100 -d1s made 101)."""
    worker = _worker(loop, rate=1000.0, duration_s=0.01, quota=quota)
    schedule = _by_hand(worker, perf_counter_ns() - 1_000_000_000)  # a second behind: the window is over
    assert type(schedule) is (PacedStatic if quota is None else Paced)  # PacedStatic counts no -n
    conn, transport = _attach(worker)
    for _ in range(10):  # each request's response: the first nine take the next batch, the tenth none
        conn.data_received(OK)
    assert len(transport.written) == 10 and schedule.issued == 10 and list(schedule.idle) == [conn]
    assert [conn.intended_ns - schedule.start_ns] == [9_000_000]  # the last, batch 9, at its own due time
    assert due_untaken(schedule, perf_counter_ns()) == []
    worker.stop()


def test_no_batch_is_due_past_the_quota(loop: asyncio.AbstractEventLoop) -> None:
    """-R 1000 -n 5, a second behind: once three are sent, two more are due, not the rest of the second's 1,000."""
    worker = _worker(loop, rate=1000.0, quota=5)
    schedule = _by_hand(worker, perf_counter_ns() - 1_000_000_000)
    conn, transport = _attach(worker)
    conn.data_received(OK)
    conn.data_received(OK)
    assert len(transport.written) == 3 and len(due_untaken(schedule, perf_counter_ns())) == 2
    worker.stop()


@pytest.mark.parametrize("fast_path", [True, False])
def test_the_paced_fast_path_records_what_the_parser_records(loop: asyncio.AbstractEventLoop, fast_path: bool) -> None:
    worker = _worker(loop, rate=1000.0)
    schedule = _by_hand(worker, perf_counter_ns() - 50_000_000)  # 50 batches due
    conn, transport = _attach(worker)
    conn.repeatable = fast_path
    for _ in range(30):
        conn.data_received(OK)
    tally = worker.tally
    assert tally.requests == 30 and tally.status_counts == {200: 30} and conn.responses == 30
    assert sum(tally.latency.values()) == sum(tally.latency_from_write.values()) == 30
    assert min(tally.latency) >= 20_000  # from the due times: the last 20 ms or more behind
    assert conn.bytes_read == 30 * len(OK) and len(transport.written) == 31 and schedule.issued == 31
    assert (conn.repeats > 0) == fast_path  # the path taken
    worker.stop()


# µs from each write to its response, some repeated, the first ones about a batch apart (their latencies
# from the due times repeat too), the last at the timeout (2 s) and over it (those from the due times over it)
FROM_WRITE_US = [333] * 6 + [1_000, 2_000, 40_000, 7, 1, 2_000, 2_000, 7, 1_000, 2_000_000, 3_000_000, 5_000_000]
# requests, statuses, timeouts, their µs; the histograms from the due times and from the writes; the due times
# sent (from the start); the requests written
Recorded = tuple[tuple[int, dict[int, int], int, int], dict[int, int], dict[int, int], list[int], int]


def _paced_on_a_clock(monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop, fast_path: bool) -> Recorded:
    """-R 3000 (due times 1e6/3 ns apart: a period of 3 differences) 0.5 s behind its schedule, a
    response per latency of FROM_WRITE_US, on a clock the test sets: what it recorded and sent."""
    now_ns = [10**12]
    monkeypatch.setattr(connection, "perf_counter_ns", lambda: now_ns[0])
    monkeypatch.setattr(schedule_module, "perf_counter_ns", lambda: now_ns[0])
    worker = _worker(loop, rate=3000.0)
    schedule = _by_hand(worker, now_ns[0] - 500_000_000)
    conn, transport = _attach(worker)  # batch 0, due 0.5 s ago
    intended = [conn.intended_ns - schedule.start_ns]
    for latency_us in FROM_WRITE_US:
        now_ns[0] += latency_us * 1000 + 999  # a few ns short of the next µs: the divisions floor
        conn.repeatable = fast_path
        conn.data_received(OK)
        intended.append(conn.intended_ns - schedule.start_ns)
    tally = worker.tally
    recorded = (tally.requests, dict(tally.status_counts), tally.timeouts, tally.timed_out_us)
    return recorded, dict(tally.latency), dict(tally.latency_from_write), intended, len(transport.written)


def test_the_paced_fast_path_records_the_parsers_histograms_exactly(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> None:
    """Both latencies of every response, from its due time and from its write, in the same
    microsecond as the parser's and the formula's, timeouts included (either can pass --timeout)."""
    fast = _paced_on_a_clock(monkeypatch, loop, True)
    parsed = _paced_on_a_clock(monkeypatch, loop, False)
    assert fast == parsed
    dues = [batch * 1_000_000 // 3 for batch in range(len(FROM_WRITE_US) + 1)]
    ends = [500_000_000 + sum(FROM_WRITE_US[: k + 1]) * 1000 + 999 * (k + 1) for k in range(len(FROM_WRITE_US))]
    from_due = [(end - due) // 1000 for end, due in zip(ends, dues[:-1], strict=True)]
    timed_out = [us for us in from_due if us > 2_000_000]
    recorded, latency, from_write, intended, written = fast
    assert recorded == (len(FROM_WRITE_US), {200: len(FROM_WRITE_US)}, len(timed_out), sum(timed_out))
    assert len(timed_out) == 3 and latency == Counter(us for us in from_due if us <= 2_000_000)
    assert max(latency.values()) == 2  # a latency from the due times counted twice
    assert from_write == Counter(us for us in FROM_WRITE_US if us <= 2_000_000) and 5_000_000 not in from_write
    assert intended == dues and written == len(FROM_WRITE_US) + 1  # each response took the next due batch


@pytest.fixture(params=["timerfd", "loop's timer"])
def clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The pacer's two clocks: Linux's timerfd, and the loop's own timer where there is none."""
    if request.param != "timerfd":
        monkeypatch.setattr(pacer_module, "_timerfd", lambda: None)
    elif pacer_module._timerfd() is None:
        pytest.skip("no timerfd here")
    return str(request.param)


class CountingPacer(Pacer):
    """A Pacer that counts the loop's wake-ups for its timerfd (each readiness the loop reports)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.wakes = 0
        super().__init__(loop, callback)

    def _expired(self) -> None:
        self.wakes += 1
        super()._expired()


def test_a_deadline_asked_for_by_many_wakes_once_and_the_earliest_wins(
    loop: asyncio.AbstractEventLoop, clock: str
) -> None:
    fired: list[int] = []
    pacer = CountingPacer(loop, lambda: fired.append(perf_counter_ns()))
    soon = perf_counter_ns() + 3_000_000
    for _ in range(10):
        pacer.at(soon)  # ten connections idle for the same send time
    pacer.at(soon + 50_000_000)  # a later one changes nothing
    loop.run_until_complete(asyncio.sleep(0.03))
    assert len(fired) == 1 and fired[0] >= soon
    earlier = perf_counter_ns() + 2_000_000
    pacer.at(earlier + 40_000_000)
    pacer.at(earlier)  # an earlier deadline than the one armed is armed instead
    loop.run_until_complete(asyncio.sleep(0.02))
    assert len(fired) == 2 and earlier <= fired[1] < earlier + 40_000_000
    loop.run_until_complete(asyncio.sleep(0.03))
    assert len(fired) == 2  # the later deadline it replaced never fires
    # on Linux the loop polls a timerfd on perf_counter's clock, armed at the deadline: it is woken once
    # for each deadline, when it comes (README: precise to microseconds), not at once and again until then
    assert pacer.wakes == (2 if clock == "timerfd" else 0)
    pacer.close()


def test_on_linux_the_pacer_waits_on_a_timerfd_and_a_failed_arming_says_so(loop: asyncio.AbstractEventLoop) -> None:
    """README: the pacing uses a timerfd on Linux. One that cannot be armed raises, rather than
    leaving the idle connections waiting for a wake-up that never comes."""
    timerfd = pacer_module._timerfd()
    if timerfd is None:
        pytest.skip("no timerfd here")
    pacer = Pacer(loop, lambda: None)
    assert os.readlink(f"/proc/self/fd/{pacer._fd}") == "anon_inode:[timerfd]"
    pacer.close()
    with pytest.raises(OSError):
        timerfd.arm(pacer._fd, perf_counter_ns())  # closed


class RecordingTimer:
    """A schedule's timer that records what it was asked to do (fired by hand)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def at(self, deadline_ns: int) -> None:
        self.calls.append(("at", deadline_ns))

    def move(self, deadline_ns: int) -> None:
        self.calls.append(("move", deadline_ns))

    def close(self) -> None:
        pass


def _one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


@pytest.mark.parametrize("quota", [None, 1000], ids=["PacedStatic", "Paced"])
def test_a_response_that_takes_the_timers_batch_feeds_the_idle_and_moves_the_timer(
    loop: asyncio.AbstractEventLoop, quota: int | None
) -> None:
    worker = _worker(loop, rate=1.0, connections=3, quota=quota)  # one batch a second
    schedule = _by_hand(worker, perf_counter_ns())
    timer = RecordingTimer()
    schedule.pacer = timer  # type: ignore[assignment]
    first, first_transport = _attach(worker)  # takes batch 0, due now
    second, second_transport = _attach(worker)  # nothing due: both wait for batch 1, in a second
    third, third_transport = _attach(worker)
    assert list(schedule.idle) == [second, third] and timer.calls[-1] == ("at", schedule.next_due_ns)

    def behind(seconds: float) -> None:  # the schedule started that much earlier: its batches fall due
        schedule.move_start(schedule.start_ns - int(seconds * 1e9))
        schedule.next_due_ns = schedule._due_time(schedule.issued)

    behind(1.5)  # batch 1 is due, batch 2 in half a second
    due_1, due_2 = schedule.next_due_ns, schedule._due_time(2)
    timer.calls.clear()
    first.data_received(OK)  # through the parser: the first's response takes batch 1...
    assert first.intended_ns == due_1 and len(first_transport.written) == 2
    assert not second_transport.written and not third_transport.written  # ...nothing else is due
    assert timer.calls == []  # the timer is moved once per loop iteration, before the loop polls
    _one_iteration(loop)
    assert timer.calls == [("move", due_2)]  # the timer armed for batch 1 would find nothing: moved to batch 2

    behind(3.0)  # batches 2, 3 and 4 are due, 5 in half a second
    due_2, due_3, due_4 = (schedule._due_time(batch) for batch in (2, 3, 4))
    timer.calls.clear()
    first.data_received(OK)  # the fast path (PacedStatic) or the parser (Paced) takes batch 2...
    assert first.intended_ns == due_2
    assert second.intended_ns == due_3 and second_transport.written == [first_transport.written[0]]
    assert third.intended_ns == due_4 and len(third_transport.written) == 1  # ...and the idle ones get 3 and 4
    assert max(due_2, due_3, due_4) <= perf_counter_ns()  # none sent before its due time
    _one_iteration(loop)
    assert not schedule.idle and timer.calls == [("move", 0)]  # no one waits: the timer is disarmed
    assert first.repeats == 1  # the fast path: it took the batch itself (PacedStatic) or asked (Paced)
    worker.stop()


@pytest.mark.parametrize("quota", [None, 1000], ids=["PacedStatic", "Paced"])
def test_the_timer_gives_the_idle_what_fell_due_and_waits_for_the_next_for_the_rest(
    loop: asyncio.AbstractEventLoop, quota: int | None
) -> None:
    """Two connections wait idle, one batch falls due: the timer sends it on the one idle longest,
    and is armed again for the next due time, for which the other still waits."""
    worker = _worker(loop, rate=1.0, connections=3, quota=quota)  # one batch a second
    schedule = _by_hand(worker, perf_counter_ns())
    timer = RecordingTimer()
    schedule.pacer = timer  # type: ignore[assignment]
    _attach(worker)  # takes batch 0, due now
    second, second_transport = _attach(worker)
    third, third_transport = _attach(worker)
    schedule.move_start(schedule.start_ns - 1_500_000_000)  # 1.5 s behind: batch 1 is due, batch 2 in 0.5 s
    schedule.next_due_ns = due_1 = schedule._due_time(1)
    timer.calls.clear()
    schedule._pace()  # the timer fires
    assert second.intended_ns == due_1 and len(second_transport.written) == 1 and not third_transport.written
    assert list(schedule.idle) == [third] and timer.calls == [("at", schedule._due_time(2))]
    worker.stop()


def test_stages_send_each_request_when_the_stages_have_asked_for_it(loop: asyncio.AbstractEventLoop) -> None:
    """--stages 1s:1000,1s:1000 (k6's ramping arrival rate): from 0 to 1,000 req/s in the first
    second, request n (from 0) is due when the ramp has asked for n, at sqrt(2n / 1000) s; each
    sent at its due time, oldest first, by a schedule far behind."""
    worker = _worker(loop, ramp=((1.0, 1000.0), (1.0, 1000.0)))
    schedule = worker.schedule
    start = perf_counter_ns() - 2_000_000_000
    schedule.start(start)
    conn, transport = _attach(worker)
    intended = [conn.intended_ns - start]
    for _ in range(10):
        conn.data_received(OK)
        intended.append(conn.intended_ns - start)
    assert intended == [int((2 * n / 1000) ** 0.5 * 1e9) for n in range(11)]
    assert len(transport.written) == 11 and min(worker.tally.latency) >= 1_800_000  # latency from those times
    worker.stop()
    assert schedule.pacer is not None and schedule.pacer._fd == -1  # the stop closed its timer


def test_a_workers_share_due_at_its_windows_end_is_never_sent(loop: asyncio.AbstractEventLoop) -> None:
    """-t2 -R1 -d1s asks for one request (the rate times the duration): worker 0's share of the rate,
    0.5/s, is due at the start; worker 1's, staggered by half its interval, at 1 s, the window's end,
    where none is due: it sends nothing, though its loop got there before its stop did."""
    sent = []
    for stagger in (Fraction(0), Fraction(1, 2)):
        worker = _worker(loop, rate=0.5, duration_s=1.0, stagger=stagger)
        worker.schedule.start(perf_counter_ns() - 2_000_000_000)  # 2 s ago: the end's stop not run yet
        _, transport = _attach(worker)
        sent.append(len(transport.written))
        worker.stop()
    assert sent == [1, 0]


def _run_until(loop: asyncio.AbstractEventLoop, done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = perf_counter_ns() + int(timeout_s * 1e9)
    while not done() and perf_counter_ns() < deadline:
        loop.run_until_complete(asyncio.sleep(0.002))


def test_a_moved_timer_wakes_at_its_new_deadline_and_a_disarmed_one_never(
    loop: asyncio.AbstractEventLoop, clock: str
) -> None:
    fired: list[int] = []
    pacer = CountingPacer(loop, lambda: fired.append(perf_counter_ns()))
    pacer.at(perf_counter_ns() - 1)  # expired already: the loop would be woken at once...
    later = perf_counter_ns() + 30_000_000
    pacer.move(later)  # ...but its batch was taken: it wakes at the next due time instead
    _run_until(loop, lambda: bool(fired))
    assert len(fired) == 1 and fired[0] >= later
    pacer.at(perf_counter_ns() + 3_000_000)
    pacer.move(0)  # no connection waits any more
    loop.run_until_complete(asyncio.sleep(0.03))
    assert len(fired) == 1
    pacer.at(perf_counter_ns() + 2_000_000)  # armed again after a disarm, it fires
    _run_until(loop, lambda: len(fired) == 2)
    assert len(fired) == 2
    assert pacer.wakes == (2 if clock == "timerfd" else 0)  # the expired, moved and disarmed deadlines woke nothing
    pacer.close()
