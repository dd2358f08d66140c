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
import statistics
import time

from hot_path import RESPONSE, offline_connection

from loadgen._run.schedule import Paced

LAG_NS = 1_000_000  # how far behind its schedule the paced mode is held
CHUNK = 1_000


def ns_per_response(paced: bool, responses: int) -> float:
    now = time.perf_counter_ns()
    loop, worker, conn = offline_connection(1e6 if paced else None, now - LAG_NS)
    conn.intended_ns = now if paced else 0  # its request in flight since now, its batch due LAG_NS before
    schedule = worker.schedule
    receive = conn.data_received
    cpu_ns = 0
    for _ in range(responses // CHUNK):
        if isinstance(schedule, Paced):  # the schedule moved so that its next batch fell due LAG_NS ago
            now = time.perf_counter_ns()
            schedule.move_start(schedule.start_ns + now - LAG_NS - schedule.next_due_ns)
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
