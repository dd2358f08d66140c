"""What the exact histogram costs a constant rate that runs behind its schedule, in Python.

    PYTHONPATH=TREE python benchmarks/paced_behind.py [--responses 300000] [--rounds 5]

Behind its schedule (``rate_ceiling.py``: ``-R`` at 95% of a client-bound closed loop falls
behind and stays there), every latency from a due time is a new value: the second's histogram
gains a key per response (a dict that grows from empty each second, its int keys kept). This
feeds hot_path.py's offline connection on a clock that advances 10 µs per reading (100,000
responses a simulated second, each second closed as ``Timeline`` closes it), in three modes: the
static closed loop; ``-R`` with its lag held at 1 ms (the latencies repeat, as paced_path.py
holds them); ``-R`` behind, asked 1.5x what the clock answers (its lag grows 3.3 µs a response:
every latency a new value). Prints each mode's thread CPU per response (rounds alternating: the
lowest and the median) and its count of latency values, so that ``behind - lag held`` is what the
new keys cost. Under ``valgrind --tool=cachegrind --cache-sim=yes`` with two ``--responses --rounds 1
--mode M``, the difference of the totals is the instructions and cache misses per response.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from hot_path import RESPONSE, offline_connection

import loadgen._run.http1.connection as connection_module
import loadgen._run.pool as pool_module
import loadgen._run.schedule as schedule_module

STEP_NS = 10_000  # the clock's advance per reading: one response's
SECOND = 1_000_000_000 // STEP_NS  # responses per simulated second
RATES = {"closed": None, "lag held": 1e9 / STEP_NS, "behind": 1.5e9 / STEP_NS}
START_NS = 10**15


def ns_per_response(mode: str, responses: int) -> tuple[float, int]:
    """Thread CPU per response, and the latency values the seconds' histograms held."""
    clock = itertools.count(START_NS, STEP_NS).__next__
    connection_module.perf_counter_ns = clock  # type: ignore[attr-defined]
    schedule_module.perf_counter_ns = clock  # type: ignore[attr-defined]
    pool_module.perf_counter_ns = clock  # type: ignore[attr-defined]
    rate = RATES[mode]
    loop, worker, conn = offline_connection(rate, START_NS - (1_000_000 if mode == "lag held" else 0))
    conn.intended_ns = START_NS if rate else 0
    conn.sent_ns = START_NS
    timeline = worker.timeline
    timeline.start_ns = timeline._interval_ns = START_NS
    receive = conn.data_received
    reads = [bytes(bytearray(RESPONSE)) for _ in range(1024)]
    started = time.thread_time_ns()
    for done, data in enumerate(itertools.islice(itertools.cycle(reads), responses), 1):
        receive(data)
        if done % SECOND == 0:
            timeline._close_interval(START_NS + done * STEP_NS)
    timeline._close_interval(START_NS + responses * STEP_NS + 1)
    elapsed = time.thread_time_ns() - started
    loop.close()
    assert worker.tally.requests == responses
    return elapsed / responses, sum(len(interval.latency) for interval in timeline.intervals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=sorted(RATES), action="append", help="only these modes (default: all)")
    args = parser.parse_args()
    modes = args.mode or list(RATES)
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    values: dict[str, int] = {}
    for _ in range(args.rounds):  # alternate
        for mode in modes:
            ns, values[mode] = ns_per_response(mode, args.responses)
            runs[mode].append(ns)
    for mode, ns in runs.items():
        print(
            f"{mode}: lowest {min(ns):.0f} ns/response, median {statistics.median(ns):.0f}; "
            f"{values[mode]:,} latency values in {args.responses:,} responses"
        )


if __name__ == "__main__":
    main()
