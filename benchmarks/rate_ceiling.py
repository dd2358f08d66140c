"""How close the constant-rate mode gets to the closed loop's requests/sec, in one run.

    python benchmarks/rate_ceiling.py [--pairs 5] [--duration 5] [--fraction 0.95]

nginx runs pinned to one core and loadgen to the other. Each pair runs the closed loop
(``-t1 -c50``), then ``-R`` at ``fraction`` of the rate that closed loop just reached, with the
same ``-t`` and ``-c``: the constant-rate mode holds its rate if it achieves at least 98% of it
(the threshold of loadgen's own shortfall warning). Prints each pair, then the medians: the
ratio achieved/asked, the latency the paced run measured from the intended send times, and the
worker's CPU time per request in each mode (the figure a shared core disturbs least: the
constant rate holds 95% of a client-bound closed loop only if it costs at most 1/0.95 of it).
With ``--ceiling``, each pair also runs ``-R`` at 4 times the closed loop's rate, which no
client holds: always behind its schedule, every send comes from a response (no timer), and what
it achieves is the paced mode's own ceiling, as a share of the closed loop just measured (the
figure that says whether 95% can be held, apart from how the machine moved between the two runs).
The package imported is the one first on ``PYTHONPATH`` (to compare two trees, alternate runs
with each).
Needs nginx (``apt-get install nginx-light``). Writes a JSON record under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from precompile import compile_loadgen
from record import write_record

from loadgen.testing.nginx import Nginx


def run(url: str, core: int, duration: int, connections: int, rate: float | None) -> dict:
    flags = ["-t1", f"-c{connections}", f"-d{duration}s", "--json", "-", *([f"-R{rate:.0f}"] if rate else [])]
    done = subprocess.run(
        ["taskset", "-c", str(core), sys.executable, "-m", "loadgen", *flags, url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    if done.returncode != 0:
        raise SystemExit(f"loadgen failed ({done.returncode}): {done.stderr}")
    document = json.loads(done.stdout)
    return {
        "requests_per_sec": document["requests_per_sec"],
        "p50_us": document["latency"]["percentiles"]["50"],
        "p99_us": document["latency"]["percentiles"]["99"],
        "busy": max((w["busy"] for w in document["client_cpu"]["workers"]), default=0.0),
        "cpu_us_per_request": 1e6 * sum(w["cpu_s"] for w in document["client_cpu"]["workers"]) / document["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--fraction", type=float, default=0.95)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument(
        "--ceiling", action="store_true", help="also -R at 4x the closed loop: the paced mode's ceiling"
    )
    args = parser.parse_args()
    compile_loadgen()
    pairs = []
    with Nginx(core=args.server_core) as nginx:
        for pair in range(args.pairs):
            closed = run(nginx.url(), args.client_core, args.duration, args.connections, None)
            asked = args.fraction * closed["requests_per_sec"]
            paced = run(nginx.url(), args.client_core, args.duration, args.connections, asked)
            held = paced["requests_per_sec"] / asked
            pairs.append({"closed": closed, "asked": asked, "paced": paced, "held": held})
            if args.ceiling:
                behind = run(
                    nginx.url(), args.client_core, args.duration, args.connections, 4 * closed["requests_per_sec"]
                )
                pairs[-1]["behind"] = behind
                pairs[-1]["ceiling"] = behind["requests_per_sec"] / closed["requests_per_sec"]
            print(
                f"pair {pair + 1}: closed loop {closed['requests_per_sec']:9.0f} req/s; -R {asked:9.0f}: achieved "
                f"{paced['requests_per_sec']:9.0f} ({held:.3f} of asked), p50 {paced['p50_us'] / 1000:.2f} ms, "
                f"p99 {paced['p99_us'] / 1000:.2f} ms, busy {paced['busy']:.0%}; CPU per request: closed "
                f"{closed['cpu_us_per_request']:.2f} µs, paced {paced['cpu_us_per_request']:.2f} µs"
                + (
                    f"; always behind: {pairs[-1]['ceiling']:.3f} of the closed loop, "
                    f"{pairs[-1]['behind']['cpu_us_per_request']:.2f} µs per request"
                    if args.ceiling
                    else ""
                ),
                flush=True,
            )
    held = [p["held"] for p in pairs]
    cpu_ratio = statistics.median(p["paced"]["cpu_us_per_request"] / p["closed"]["cpu_us_per_request"] for p in pairs)
    print(
        f"\nmedian achieved/asked at {args.fraction:.0%} of the closed loop: {statistics.median(held):.3f} "
        f"(min {min(held):.3f}, max {max(held):.3f}); median paced p99 "
        f"{statistics.median(p['paced']['p99_us'] for p in pairs) / 1000:.2f} ms; median CPU per request: closed "
        f"{statistics.median(p['closed']['cpu_us_per_request'] for p in pairs):.2f} µs, paced "
        f"{statistics.median(p['paced']['cpu_us_per_request'] for p in pairs):.2f} µs (paced / closed, median of "
        f"the pairs: {cpu_ratio:.3f})"
    )
    if args.ceiling:
        ceilings = [p["ceiling"] for p in pairs]
        print(
            f"the paced mode's ceiling (always behind) / the closed loop: median {statistics.median(ceilings):.3f} "
            f"(min {min(ceilings):.3f}, max {max(ceilings):.3f})"
        )
    write_record("rate_ceiling", {"args": vars(args), "pairs": pairs})


if __name__ == "__main__":
    main()
