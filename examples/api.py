"""The programmatic API: run, read the figures, print wrk's report, merge, and a JSON round trip.

python examples/api.py http://127.0.0.1:8080/
"""

import asyncio
import sys

import loadgen


def main(url: str) -> None:
    result = loadgen.run(url, threads=2, connections=20, duration=2)
    print(loadgen.wrk_report(result, latency=True))
    print(
        f"{result.requests_per_sec:.0f} req/s, p99 {result.latency.percentile(99)} us, "
        f"statuses {dict(result.status_counts)}, loop {result.loop}"
    )

    # Constant rate, latency measured from each request's intended send time:
    paced = loadgen.run(url, threads=1, connections=10, duration=2, rate=500)
    print(
        f"paced: p99 {paced.latency.percentile(99)} us corrected, "
        f"{paced.latency_uncorrected.percentile(99)} us uncorrected"
    )

    # The awaitable twin leaves the running event loop free:
    second = asyncio.run(loadgen.run_async(url, threads=1, connections=10, duration=1))

    # Results merge exactly, and survive a JSON round trip:
    both = loadgen.merge([result, second])
    assert loadgen.from_json(loadgen.to_json(both)) == both
    print(f"merged: {both.requests} requests, p50 {both.latency_uncorrected.percentile(50)} us")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/")
