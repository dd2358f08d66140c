"""The constant rate's cost cuts (issue 26) decide exactly what the general steps decided: the
due batches taken oldest first at their own due times however far behind the schedule is, the
HTTP/1.1 fast path recording what the parser records, and one timer wake-up for the earliest
deadline however many connections asked for it. No network: a Worker fed bytes, as in
test_engine_units."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from time import perf_counter_ns

import pytest

from loadgen._run.pacer import Pacer
from loadgen._run.schedule import PacedStatic

from .test_engine_units import OK, _attach, _by_hand, _worker


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
    assert intended == [int(schedule.start_ns + i * schedule.interval_ns) for i in range(21)]  # oldest first
    assert len(transport.written) == 21 and schedule.issued == 21 and not schedule.owed and not schedule.idle
    assert len(schedule.waiting(perf_counter_ns())) >= 979  # still due, and held in no queue
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


def test_a_deadline_asked_for_by_many_wakes_once_and_the_earliest_wins(loop: asyncio.AbstractEventLoop) -> None:
    fired: list[int] = []
    pacer = Pacer(loop, lambda: fired.append(perf_counter_ns()))
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
    pacer.close()
