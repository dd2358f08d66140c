"""The parent's work after a run at many connections: merging the workers' measurements and wrk's
statistics over a histogram of a hundred thousand distinct latencies.

    PYTHONPATH=<tree> python benchmarks/merge_cost.py [--rounds 5]

Two workers' measurements shaped like a ``-t2 -c10000`` run's on a slow machine: 10 seconds, each
with 15,000 responses at latencies spread over 100 ms to 1 s (so nearly every one a new value of
the histogram), the run's histogram their sum. Times, in this thread's CPU time, ``Measurement.sum``
of the two, then wrk's correction and its statistics (mean, deviation, share within it, p99).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from loadgen._stats.stats import Distribution, add_counts, wrk_corrected
from loadgen.measurement import Interval, Measurement

SECONDS, PER_SECOND = 10, 15_000
EXPECTED_US = 180_000  # wrk's expected interval at 10,000 connections and ~55,000 responses in 10 s


def worker(rng: random.Random) -> Measurement:
    timeline = []
    for _ in range(SECONDS):
        latency: dict[int, int] = {}
        for _ in range(PER_SECOND):
            value = rng.randint(100_000, 1_000_000)
            latency[value] = latency.get(value, 0) + 1
        timeline.append(Interval(1_000_000, PER_SECOND, latency=latency))
    total = add_counts(*(interval.latency for interval in timeline))
    return Measurement(workers=1, requests=SECONDS * PER_SECOND, latency=total, timeline=tuple(timeline))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    parts = [worker(rng), worker(rng)]
    times = []
    for _ in range(args.rounds):
        started = time.thread_time()
        merged = Measurement.sum(parts)
        corrected = wrk_corrected(Distribution(merged.latency), EXPECTED_US)
        _ = corrected.exact_mean, corrected.exact_stdev, corrected.exact_within_stdev, corrected.wrk_percentile(99)
        times.append(time.thread_time() - started)
    print(
        f"merge and statistics: {statistics.median(times) * 1000:.0f} ms CPU "
        f"[{min(times) * 1000:.0f}, {max(times) * 1000:.0f}] ({args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
