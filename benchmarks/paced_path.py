"""The constant rate's Python per response against the closed loop's, on HTTP/1.1's fast path.

    PYTHONPATH=TREE python benchmarks/paced_path.py [--responses 50000] [--rounds 9]

Feeds the same nginx-like response to ``Connection.data_received`` with a transport whose
``write`` does nothing (as hot_path.py), alternately for the static closed loop and for a static
``-R`` whose schedule is held about 1 ms behind (a batch is always due, as in a run at the
client's limit, and the latencies from the due times spread over the same few thousand
microseconds from round to round instead of growing). Timed in this thread's CPU time, in
chunks of 1,000 responses: the lowest and the median of the rounds per mode, ns per response.
What the paced mode adds here is its own per-response Python; the timer's wake-ups of a
client ahead of its schedule are not in it (``rate_ceiling.py`` measures the whole).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time

from hot_path import RESPONSE, DiscardingTransport, NoTimer

from loadgen._run.schedule import Paced
from loadgen._run.spec import WorkerSpec
from loadgen._run.worker import Worker
from loadgen.request import Request
from loadgen.target import Address

LAG_NS = 1_000_000  # how far behind its schedule the paced mode is held
CHUNK = 1_000


def ns_per_response(paced: bool, responses: int) -> float:
    spec = WorkerSpec(
        index=0,
        address=Address(socket.AF_INET, "127.0.0.1", 1),
        server_name=None,
        connections=1,
        request=Request("GET", "/", (("Host", "x"),)),
        timeout_us=2_000_000,
        duration_s=10,
        rate=1e6 if paced else None,
    )
    loop = asyncio.new_event_loop()
    worker = Worker(spec, loop, "asyncio")
    schedule = worker.schedule
    now = time.perf_counter_ns()
    if isinstance(schedule, Paced):
        schedule.start_ns = schedule.next_due_ns = now - LAG_NS
        schedule.pacer = NoTimer()  # type: ignore[assignment]
    conn = worker.pool.new_connection()
    conn.transport = DiscardingTransport()  # type: ignore[attr-defined]
    conn.pending = 1  # type: ignore[attr-defined]
    conn.intended_ns = now if paced else 0  # type: ignore[attr-defined]
    receive = conn.data_received  # type: ignore[attr-defined]
    cpu_ns = 0
    for _ in range(responses // CHUNK):
        if isinstance(schedule, Paced):  # the schedule moved so that its next batch fell due LAG_NS ago
            now = time.perf_counter_ns()
            schedule.start_ns += now - LAG_NS - schedule.next_due_ns
            schedule.next_due_ns = now - LAG_NS
        started = time.thread_time_ns()
        for _ in range(CHUNK):
            receive(RESPONSE)
        cpu_ns += time.thread_time_ns() - started
    loop.close()
    assert worker.tally.requests == responses // CHUNK * CHUNK
    return cpu_ns / (responses // CHUNK * CHUNK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"closed": [], "paced": []}
    for _ in range(args.rounds):  # alternate
        runs["closed"].append(ns_per_response(False, args.responses))
        runs["paced"].append(ns_per_response(True, args.responses))
    for mode, values in runs.items():
        print(f"{mode}: lowest {min(values):.0f} ns/response, median {statistics.median(values):.0f}")
    print(f"paced - closed: lowest {min(runs['paced']) - min(runs['closed']):.0f} ns/response")


if __name__ == "__main__":
    main()
