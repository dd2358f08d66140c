"""The Python cost of one response, fast path against the general parser, in one run.

    python benchmarks/hot_path.py [--responses 1000000]

Feeds an nginx-like response to ``Connection.data_received`` a million times (1,024 copies of
it in turn, each its own bytes object as each socket read is: one object again would compare
equal by identity, at no cost), with a
transport whose ``write`` does nothing, so only loadgen's own per-response Python is timed:
once through the fast path (a read holding exactly the previous response again) and once with
the fast path disabled, through the incremental parser. No network: this isolates CPU cost; the
end-to-end comparison with wrk is vs_wrk.py.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
from itertools import cycle, islice

from loadgen._run.http1.connection import Connection
from loadgen._run.schedule import Paced
from loadgen._run.spec import WorkerSpec
from loadgen._run.worker import Worker
from loadgen.request import Request
from loadgen.target import Address

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 24 Nov 2026 11:48:10 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
    b"hello world\n"
)


CALIBRATION_RATE = 2_000_000.0  # more than this rig answers: a batch is always due
CALIBRATION_RESPONSES = 100_000  # at least: the worker's set-up (a millisecond) and a preemption weigh little


class DiscardingTransport:
    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        """A paced connection fed a response with no request in flight: its -R was too low."""
        raise SystemExit(
            "hot_path.py: the constant rate's connection ran ahead of its schedule (a response came with no "
            "request in flight): the -R it was given is below what this tree answers; give a higher --paced-rate"
        )


class NoTimer:
    """The pacer of a schedule that is never idle for long: a connection that ran ahead of the
    schedule waits for its next response instead (there is no event loop here)."""

    def at(self, deadline_ns: int) -> None:
        pass

    def move(self, deadline_ns: int) -> None:
        pass


def paced_rate(responses: int) -> float:
    """Twice the rate the constant-rate mode answers here: a batch is almost always due (the
    client at its limit), and the lag behind the schedule grows by half a response's time per
    response, not by more than the response takes (as at a rate far above the client's limit,
    where every latency would be a new value of the histogram). Timed on the wall clock, which
    the schedule runs on."""
    started = time.perf_counter_ns()
    ns_per_response(True, responses, CALIBRATION_RATE)
    return 2e9 * responses / (time.perf_counter_ns() - started)


def offline_connection(rate: float | None, due_ns: int) -> tuple[asyncio.AbstractEventLoop, Worker, Connection]:
    """A one-connection worker that never touches the network, for feeding responses by hand: its
    writes discarded, its request in flight since ``due_ns``; at a constant ``rate`` its schedule's
    next batch due then, with no timer."""
    spec = WorkerSpec(
        index=0,
        address=Address(socket.AF_INET, "127.0.0.1", 1),
        server_name=None,
        connections=1,
        request=Request("GET", "/", (("Host", "x"),)),
        timeout_us=2_000_000,
        duration_s=10,
        rate=rate,
    )
    loop = asyncio.new_event_loop()
    worker = Worker(spec, loop, "asyncio")
    schedule = worker.schedule
    if isinstance(schedule, Paced):
        schedule.move_start(due_ns)
        schedule.next_due_ns = due_ns
        schedule.pacer = NoTimer()  # type: ignore[assignment]
    conn = worker.pool.new_connection()
    assert isinstance(conn, Connection)
    conn.transport = DiscardingTransport()
    conn.pending = 1
    conn.intended_ns = due_ns if rate else 0
    return loop, worker, conn


def ns_per_response(fast_path: bool, responses: int, rate: float | None = None) -> float:
    """Python time per response on one connection; ``rate``: constant-rate mode, with a batch
    always due, so each response sends the next due batch at once."""
    started_ns = time.perf_counter_ns()
    loop, worker, conn = offline_connection(rate, started_ns)
    worker.start_ns = started_ns
    conn.repeatable = fast_path
    receive = conn.data_received
    reads = [bytes(bytearray(RESPONSE)) for _ in range(1024)]
    started = time.perf_counter()
    for data in islice(cycle(reads), responses):
        receive(data)
    elapsed = time.perf_counter() - started
    loop.close()
    assert conn.tally.requests == responses
    return elapsed / responses * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cpu-time", action="store_true", help="time in this thread's CPU time, for a core shared with other work"
    )
    parser.add_argument(
        "--paced-rate", type=float, help="the constant rate's -R (default: twice what this tree answers)"
    )
    args = parser.parse_args()
    if args.cpu_time:
        time.perf_counter = time.thread_time  # what ns_per_response reads (loadgen's own clock is apart)
    fast, parsed, paced = [], [], []
    for _ in range(args.rounds):  # alternate, and keep the median of each
        fast.append(ns_per_response(True, args.responses))
        parsed.append(ns_per_response(False, args.responses))
        rate = args.paced_rate or paced_rate(max(args.responses // 5, CALIBRATION_RESPONSES))
        paced.append(ns_per_response(True, args.responses, rate=rate))
    fast_ns, parsed_ns, paced_ns = statistics.median(fast), statistics.median(parsed), statistics.median(paced)
    print(
        f"fast path: {fast_ns:.0f} ns/response; general parser: {parsed_ns:.0f} ns/response; "
        f"ratio {fast_ns / parsed_ns:.2f}; constant rate (fast path): {paced_ns:.0f} ns/response"
    )


if __name__ == "__main__":
    main()
