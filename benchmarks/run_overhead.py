"""What a ``loadgen.run()`` from the API costs outside its window: with a fresh fork server (each run
starts one, as before ``loadgen.Workers``) and with one ``loadgen.Workers`` kept across runs.

    python benchmarks/run_overhead.py [--runs 30] [--duration 0.25] [--connections 8] [--client-core 0]
        [--server-core 1]

The test server (``python -m loadgen.testing.server``) runs in its own process pinned to
``--server-core``, this script and everything it starts to ``--client-core``. Each round runs one
of each, alternating which goes first; a run's overhead is its wall time (the call, start to
return) minus its window (``Result.runtime_us``). Then ``--runs`` fork servers started alone
(``ForkServer`` and its "ready"): the start-up a pool saves. Medians [quartiles] (lowest, highest),
milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from precompile import compile_loadgen
from spread import spread_ms

import loadgen
from loadgen._run import WORKER_MAIN
from loadgen._run.forkserver import ForkServer


def timed_run(url: str, duration: float, connections: int, workers: loadgen.Workers | None) -> float:
    """Seconds the call took beyond its window."""
    started = time.monotonic()
    result = loadgen.run(url, threads=1, connections=connections, duration=duration, workers=workers)
    wall = time.monotonic() - started
    if not result.requests:  # a starved core: the call's cost still counts
        print(f"a run without a response from {url}", file=sys.stderr)
    return wall - result.runtime_us / 1e6


def fork_server_start() -> float:
    """Seconds from starting a fork server to its "ready" (it imported the engine)."""
    started = time.monotonic()
    server = ForkServer(WORKER_MAIN)
    try:
        server.ready()
        return time.monotonic() - started
    finally:
        server.close()


def summary(name: str, seconds: list[float]) -> str:
    ms = spread_ms(seconds)
    return (
        f"{name:28} {ms.median:7.1f} ms [{ms.q1:.1f}, {ms.q3:.1f}] ({ms.lowest:.1f}, {ms.highest:.1f}), {ms.count} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--duration", type=float, default=0.25)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    options = parser.parse_args()
    compile_loadgen()
    os.sched_setaffinity(0, {options.client_core})  # before anything starts: every process inherits it
    server = subprocess.Popen(
        ["taskset", "-c", str(options.server_core), sys.executable, "-m", "loadgen.testing.server"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/"
        fresh: list[float] = []
        pooled: list[float] = []
        with loadgen.Workers() as workers:
            timed_run(url, options.duration, options.connections, workers)  # the pool's own start, not counted
            for index in range(options.runs):
                sides = [(fresh, None), (pooled, workers)]
                for seconds, side in sides if index % 2 == 0 else sides[::-1]:
                    seconds.append(timed_run(url, options.duration, options.connections, side))
        starts = [fork_server_start() for _ in range(options.runs)]
    finally:
        server.kill()
        server.wait()
    print(f"loadgen.run(-t1 -c{options.connections} -d{options.duration:g}s), beyond the window:")
    print(summary("a fresh fork server per run", fresh))
    print(summary("one loadgen.Workers", pooled))
    print(f"{'saved per run (medians)':28} {(statistics.median(fresh) - statistics.median(pooled)) * 1000:7.1f} ms")
    print(summary("a fork server's start alone", starts))


if __name__ == "__main__":
    main()
