"""A worker's timers (its end, its seconds, its Req/Sec samples, its --stages-connections checks) run on
time while more sockets than one poll takes keep its loop busy.

uvloop's poll goes on, without a look at the timers, for as long as each epoll_wait fills its 1,024
events, 48 times at most: -t2 -c16000 against nginx on two cores counted 49,152 responses in its first
second and none after (a worker's first 2.6 s read in one poll, its end run 0.6 s late). A worker with
1,024 connections or more ticks on its CPU time through a pipe the loop polls with the sockets."""

from __future__ import annotations

import asyncio
import gc
import math
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from time import perf_counter_ns
from typing import Any

import pytest

from loadgen._run.eventloop import Clock, Timer
from loadgen._run.limits import open_file_limit
from loadgen._run.sampling import RECORD_INTERVAL_NS, cpu_seconds
from loadgen._run.spec import WorkerSpec
from loadgen._run.worker import Worker, run_worker
from loadgen.request import Request
from loadgen.stages import level_at
from loadgen.target import Address
from loadgen.testing.nginx import Nginx
from tests.test_h2_servers import needs_nginx

pytestmark = pytest.mark.alone  # nginx and loadgen on their own cores, the loop's timers read: tests/alone.py

CONNECTIONS = 1100  # more than one epoll_wait takes (1,024)
ONE_POLL = 48 * 1024  # the callbacks libuv runs, at most, before it looks at its timers
SAMPLE_S = RECORD_INTERVAL_NS / 1e9  # the Req/Sec samples' period
# a sample's lateness not spent waiting for a CPU: the clock's tick (10 ms of CPU) and the sockets swept before its pipe
LATE_S = 0.05
# a sample the loop's own timer would have run this late shows a loop the ticks had to make up for: twice LATE_S, as
# with no ticks the sample and its shadow run in the same pass over the timers, some milliseconds apart (the CPU's)
HELD_S = 2 * LATE_S


class _Echo(asyncio.Protocol):
    """Each byte read is answered at once by its peer: the socket is never idle."""

    reads = 0

    def __init__(self, peer: socket.socket) -> None:
        self.peer = peer

    def data_received(self, data: bytes) -> None:
        _Echo.reads += 1
        self.peer.send(b"x")


def test_a_ticking_clock_runs_a_timer_that_sockets_keep_the_loops_own_from() -> None:
    uvloop = pytest.importorskip("uvloop")
    open_file_limit()
    loop = uvloop.new_event_loop()
    clock = Clock(loop, CONNECTIONS)
    clock.start()
    pairs = [socket.socketpair() for _ in range(CONNECTIONS)]
    seen: list[int] = []

    def due() -> None:
        seen.append(_Echo.reads)
        loop.stop()

    def begin() -> None:
        _Echo.reads = 0
        for _, peer in pairs:
            peer.send(b"x")
        clock.call_later(0.001, due)

    try:
        for ours, peer in pairs:
            loop.run_until_complete(loop.create_unix_connection(lambda peer=peer: _Echo(peer), sock=ours))
        loop.call_soon(begin)
        loop.run_forever()
    finally:
        clock.stop()
        loop.close()
        for ours, peer in pairs:
            ours.close()
            peer.close()
    # run by a tick (10 ms of CPU, and the sweep of the ready sockets before the pipe), not after the poll
    assert seen[0] < ONE_POLL, seen


def test_a_clock_ticks_from_its_start_to_its_stop_only() -> None:
    """Built, it changes nothing in the process (a worker whose setting-up fails after building it
    leaves SIGPROF as it was); started, it has its handler and its timer; stopped, the ones before."""
    loop = asyncio.new_event_loop()
    before = signal.getsignal(signal.SIGPROF)
    try:
        clock = Clock(loop, CONNECTIONS)
        assert signal.getsignal(signal.SIGPROF) is before
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
        clock.start()
        assert signal.getsignal(signal.SIGPROF) is not before
        assert signal.getitimer(signal.ITIMER_PROF)[1] > 0
        clock.stop()
        assert signal.getsignal(signal.SIGPROF) is before
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    finally:
        loop.close()


@needs_nginx
def test_a_worker_with_more_connections_than_one_poll_takes_samples_each_tenth() -> None:
    """Against nginx, which keeps every connection ready: responses between two of the worker's 100 ms
    ticks were a whole poll's, 49,152, with the loop's timers alone. A loaded machine's nginx may never fill a
    whole poll (with no ticks, the test passed 1 to 2 runs of 3 there): the loop's own timers beside the samples
    (:class:`_Shadows`) say whether it did, and the test skips, saying so, when it did not."""
    open_file_limit()
    ticks: list[int] = []  # the requests counted at each tick
    shadows: list[_Shadows] = []

    def watch(worker: Worker) -> None:
        worker.on_tick = lambda w: ticks.append(w.tally.requests)
        shadows.append(_Shadows.beside(worker))

    with Nginx() as nginx, _inheritance_frozen():
        measurement = run_worker(_against(nginx, CONNECTIONS, duration_s=1.0), until=watch)
    assert measurement.requests > 0
    between = [after - before for before, after in pairwise([0, *ticks, measurement.requests])]
    alone = [after - before for before, after in pairwise([0, *(requests for _, _, requests, _ in shadows[0].ran)])]
    if max(alone, default=0) < ONE_POLL:  # nothing the tick had to do: no assertion could fail without it
        pytest.skip(f"nginx never held the loop's own timers for a whole poll (responses between them {alone})")
    assert max(between) < ONE_POLL, (between, alone)


@needs_nginx
def test_stages_connections_past_one_poll_are_checked_on_time() -> None:
    """A worker whose --stages-connections grow from 1,150 to 1,300 connections over 0.8 s: at each
    Req/Sec sample (the clock's, due at the next tenth of a second after the one before) the count
    asked for is the stages' at the sample before, at least: the growth check due between them, on
    the same clock, asked for it. With the loop's timers the checks waited out whole polls: the count
    stayed at 1,159 from 0.3 s to 0.62 s (1,206 due), and the end, waiting for the connections on
    their way, came 0.17 to 0.42 s late. Each sample came on time, but for the worker's wait for a CPU:
    a loaded machine keeps it off its CPU for tenths of a second (four CPU hogs: 0.66 s of its 1 s, 2 samples
    of 9), which no clock makes up; the worker's own time (its tick, the sockets swept before the pipe) is
    all the clock may add. Unless the loop's own timers beside the samples (:class:`_Shadows`) came later than
    HELD_S, no sample could have been late without the ticks (a loaded machine's nginx keeps no poll going
    that long): the test skips, saying so."""
    open_file_limit()
    growth = ((0.2, 1150.0), (0.8, 1300.0))
    seen: list[tuple[float, int, float]] = []  # at each sample: seconds from the start, the count asked for, waited
    checks: list[tuple[float, int]] = []  # when each growth check ran, and its tick: said when the test fails
    waited_s = [0.0]  # the worker's wait for a CPU so far, when it starts
    shadows: list[_Shadows] = []

    def watch(worker: Worker) -> None:
        waited_s[0] = cpu_seconds()[1]
        shadows.append(_Shadows.beside(worker))
        worker.on_tick = lambda w: seen.append(
            ((perf_counter_ns() - w.start_ns) / 1e9, w.pool.wanted, cpu_seconds()[1])
        )
        check = worker.pool.start_growing

        def checked(start_ns: int, tick: int = 0) -> None:
            checks.append((round((perf_counter_ns() - start_ns) / 1e9, 3), tick))
            check(start_ns, tick)

        worker.pool.start_growing = checked

    with Nginx() as nginx, _inheritance_frozen():
        measurement = run_worker(_against(nginx, 1300, duration_s=1.0, growth=growth), until=watch)
    behind = [
        (round(at_s, 3), wanted, math.floor(level_at(growth, before_s)))
        for (before_s, _, _), (at_s, wanted, _) in pairwise(seen)
        if wanted < math.floor(level_at(growth, before_s))
    ]
    assert measurement.peak_open + measurement.opening_at_end == 1300, measurement  # open, or on their way
    late = _late_but_for_the_wait(seen, waited_s[0])
    alone = shadows[0].late(waited_s[0])
    if max(alone, default=0.0) <= HELD_S:  # the ticks had nothing to make up: no assertion could fail without them
        pytest.skip(f"nginx never held the loop's own timers past a sample's due time by over {HELD_S} s ({alone})")
    assert seen and max(late) <= LATE_S and not behind, (late, alone, behind, seen, checks)


class _Shadows:
    """Beside each of a worker's Req/Sec samples, one of its loop's own timers due at the same time: when the
    sample would have come without the clock's ticks. A test of the ticks holds only if these came late (a
    loaded machine's nginx may never keep the loop busy for a whole poll); with no ticks, they come with the
    samples, in the same pass over the loop's timers, and count what they count."""

    def __init__(self, worker: Worker, clock: Clock) -> None:
        self.worker = worker
        self.clock = clock
        self.ran: list[tuple[float, float, int, float]] = []  # each: due, ran (s from the start), requests, waited

    @classmethod
    def beside(cls, worker: Worker) -> _Shadows:
        """Shadow the timers ``worker``'s sampler asks its clock for from now on."""
        shadows = cls(worker, worker.sampler.clock)
        worker.sampler.clock = shadows  # type: ignore[assignment]  # its only use of its clock: call_later
        return shadows

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: object) -> Timer:
        """The clock's timer, then the loop's own with the same delay: after it in the same pass, if due in it."""
        timer = self.clock.call_later(delay_s, callback, *args)
        self.clock.loop.call_later(delay_s, self._ran, perf_counter_ns() + int(delay_s * 1e9))
        return timer

    def late(self, waited_s: float) -> list[float]:
        """How late each came past its due time, less the worker's wait for a CPU since the one before."""
        late = []
        for due_s, at_s, _, waited_until_s in self.ran:
            late.append(round(at_s - due_s - (waited_until_s - waited_s), 3))
            waited_s = waited_until_s
        return late

    def _ran(self, due_ns: int) -> None:
        start_ns = self.worker.start_ns
        now_s = (perf_counter_ns() - start_ns) / 1e9
        self.ran.append(((due_ns - start_ns) / 1e9, now_s, self.worker.tally.requests, cpu_seconds()[1]))


@contextmanager
def _inheritance_frozen() -> Iterator[None]:
    """The worker run in this process as in its own: what the process held before it (pytest's, and the tests'
    run so far) out of its garbage collections, as a forked worker's inheritance is (``gc.freeze`` in forkserver's
    ``_run_child``). Else a full collection visits all of it, the loop held meanwhile: 0.11 to 0.2 s with the test
    modules imported (0.001 s frozen), as likely the whole suite's first sample 0.109 s late with no wait for a CPU."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _late_but_for_the_wait(samples: list[tuple[float, int, float]], waited_s: float) -> list[float]:
    """How late each sample (seconds from the start, the wait for a CPU so far) came past when it was due, less
    the worker's wait for a CPU since the sample before: the sampler's next is due at the next tenth of a second
    after the one before, or at the tenth after it ran when it ran later than that (a tick missed is not made up)."""
    late, due_s = [], SAMPLE_S
    for at_s, _, waited_until_s in samples:
        late.append(round(at_s - due_s - (waited_until_s - waited_s), 3))
        due_s, waited_s = max(due_s + SAMPLE_S, (math.floor(at_s / SAMPLE_S) + 1) * SAMPLE_S), waited_until_s
    return late


def _against(nginx: Nginx, connections: int, **shape: Any) -> WorkerSpec:
    """One worker's spec for ``connections`` to the test nginx, shaped by ``shape`` (WorkerSpec's fields)."""
    return WorkerSpec(
        index=0,
        address=Address(socket.AF_INET, "127.0.0.1", nginx.port),
        server_name=None,
        connections=connections,
        request=Request("GET", "/", (("Host", "x"),)),
        timeout_us=2_000_000,
        **shape,
    )
