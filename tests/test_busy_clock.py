"""A worker's timers (its end, its seconds, its Req/Sec samples) run on time while more sockets than
one poll takes keep its loop busy.

uvloop's poll goes on, without a look at the timers, for as long as each epoll_wait fills its 1,024
events, 48 times at most: -t2 -c16000 against nginx on two cores counted 49,152 responses in its first
second and none after (a worker's first 2.6 s read in one poll, its end run 0.6 s late). A worker with
1,024 connections or more ticks on its CPU time through a pipe the loop polls with the sockets."""

from __future__ import annotations

import asyncio
import socket
from itertools import pairwise

import pytest

from loadgen._run.eventloop import Clock
from loadgen._run.limits import open_file_limit
from loadgen._run.spec import WorkerSpec
from loadgen._run.worker import Worker, run_worker
from loadgen.request import Request
from loadgen.target import Address
from loadgen.testing.nginx import Nginx

CONNECTIONS = 1100  # more than one epoll_wait takes (1,024)
ONE_POLL = 48 * 1024  # the callbacks libuv runs, at most, before it looks at its timers


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


def test_a_worker_with_more_connections_than_one_poll_takes_samples_each_tenth() -> None:
    """Against nginx, which keeps every connection ready: responses between two of the worker's 100 ms
    ticks were a whole poll's, 49,152, with the loop's timers alone."""
    open_file_limit()
    ticks: list[int] = []  # the requests counted at each tick

    def watch(worker: Worker) -> None:
        worker.on_tick = lambda w: ticks.append(w.tally.requests)

    with Nginx() as nginx:
        spec = WorkerSpec(
            index=0,
            address=Address(socket.AF_INET, "127.0.0.1", nginx.port),
            server_name=None,
            connections=CONNECTIONS,
            request=Request("GET", "/", (("Host", "x"),)),
            timeout_us=2_000_000,
            duration_s=1.0,
        )
        measurement = run_worker(spec, until=watch)
    assert measurement.requests > 0
    between = [after - before for before, after in pairwise([0, *ticks, measurement.requests])]
    assert max(between) < ONE_POLL, between
