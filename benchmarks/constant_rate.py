"""Constant-rate mode (-R): does it hold the rate, and does it see what coordinated omission hides?

    python benchmarks/constant_rate.py [--rate 2000] [--duration 10]

Three runs of ``loadgen -t2 -R <rate> -d<duration>`` against loadgen's test server
(``python -m loadgen.testing.server``) in its own process, the server pinned to one core and the
client to the other:

1. ``/``, 50 connections: the achieved rate should be within 1% of the asked rate;
2. ``/stall?period_ms=2000&pause_ms=1000``, 10 connections: the whole server stops for 1 s every 2 s. Latency
   from the intended send time (corrected) must show the stall at p99 (>= 500 ms), while the
   latency from the actual write (uncorrected) hides it: requests queued behind the stall were
   not yet written, so they do not count it. Only the requests already written when a stall
   starts (one per connection) wait through it: with 10 connections that is 10 per stall, 0.25%
   of the requests, below p99 (with 50 connections it would be 1.25%, and p99 would catch it);
3. ``/delay?ms=10``, 50 connections: every response takes 10 ms; the corrected p50 should be
   within 1 ms of it. (2000 req/s x 10 ms needs 20 requests in flight: fewer connections would
   cap the rate, queue the schedule and rightly show a growing latency.)

Writes a JSON record under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from record import write_record


def start_server(core: int) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-m", "loadgen.testing.server"], stdout=subprocess.PIPE, text=True
    )
    return server, int(server.stdout.readline())


def paced_run(url: str, rate: int, duration: int, core: int, connections: int) -> dict:
    command = [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        "-m",
        "loadgen",
        "-t2",
        f"-c{connections}",
        f"-R{rate}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--json",
        "-",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise SystemExit(f"loadgen failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    if args.duration < 2:  # a shorter run can fall between two of the server's pauses: a FAIL that measures nothing
        parser.error("--duration must be at least 2 (s): the stalled run must span a 2 s period of the server's pause")

    server, port = start_server(args.server_core)
    try:
        base = f"http://127.0.0.1:{port}"
        steady = paced_run(f"{base}/", args.rate, args.duration, args.client_core, 50)
        stalled = paced_run(
            f"{base}/stall?period_ms=2000&pause_ms=1000", args.rate, args.duration, args.client_core, 10
        )
        delayed = paced_run(f"{base}/delay?ms=10", args.rate, args.duration, args.client_core, 50)
    finally:
        server.kill()
        server.wait()

    achieved = steady["requests"] / args.duration
    checks = {
        "achieved_rate": achieved,
        "rate_error_pct": 100 * (achieved - args.rate) / args.rate,
        "stall_p99_corrected_ms": stalled["latency"]["percentiles"]["99"] / 1000,
        "stall_p99_uncorrected_ms": stalled["latency_uncorrected"]["percentiles"]["99"] / 1000,
        "delay_p50_corrected_ms": delayed["latency"]["percentiles"]["50"] / 1000,
        "delay_p50_uncorrected_ms": delayed["latency_uncorrected"]["percentiles"]["50"] / 1000,
    }
    verdicts = {
        "rate within 1%": abs(checks["rate_error_pct"]) <= 1,
        "stall shows at corrected p99 (>= 500 ms)": checks["stall_p99_corrected_ms"] >= 500,
        "stall hidden at uncorrected p99 (< 500 ms)": checks["stall_p99_uncorrected_ms"] < 500,
        "10 ms delay: corrected p50 within 1 ms": abs(checks["delay_p50_corrected_ms"] - 10) <= 1,
    }
    print(
        f"asked {args.rate} req/s for {args.duration}s: {steady['requests']} responses "
        f"= {achieved:.1f} req/s ({checks['rate_error_pct']:+.2f}%)"
    )
    print(
        f"stall 1s/2s: p99 corrected {checks['stall_p99_corrected_ms']:.1f} ms, "
        f"uncorrected {checks['stall_p99_uncorrected_ms']:.1f} ms"
    )
    print(
        f"fixed 10 ms: p50 corrected {checks['delay_p50_corrected_ms']:.3f} ms, "
        f"uncorrected {checks['delay_p50_uncorrected_ms']:.3f} ms"
    )
    for name, ok in verdicts.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    write_record("constant_rate", {"args": vars(args), "checks": checks, "verdicts": verdicts})
    sys.exit(0 if all(verdicts.values()) else 1)


if __name__ == "__main__":
    main()
