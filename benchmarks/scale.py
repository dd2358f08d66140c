"""loadgen against wrk where the original benchmark lived: many connections, many workers.

    python benchmarks/scale.py [--pairs 5] [--duration 10] [--connections 10000] [--skip-startup]

Two comparisons, each alternating wrk and loadgen (wrk first in odd pairs), medians and spread:

- fan-in: ``-t2 -c10000 -dDs`` against nginx (pinned to one core, both clients to the other);
  requests/sec, socket errors, every connection established mid-run (``ss``), and the client's
  resident memory mid-run (the sum over its process tree, from /proc); then one run of each with
  ``-c20`` as its baseline, so the memory per 1,000 connections is the difference per connection.
- start-up: ``-t20 -c20 -d1s`` against the same nginx; wall time from spawn to exit and the CPU
  time of the client's whole process tree (``wait4``).

Needs wrk, nginx, taskset and ss. Writes a JSON record under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from precompile import compile_loadgen
from record import write_record
from vs_wrk import established

from loadgen.testing.nginx import Nginx

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    client: str
    requests_per_sec: float
    socket_errors: int
    wall_s: float
    cpu_s: float
    established_mid_run: int | None = None
    rss_mb_mid_run: float | None = None


SERVER_FAILED = 3  # loadgen's exit code when the server refused connections during the run (wrk's is 0)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (loadgen's workers are children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e6


def run_client(name: str, command: list[str], core: int, port: int, sample_at: float | None) -> Run:
    """One client pinned to ``core``; optionally sampled mid-run by an outside witness."""
    started = time.monotonic()
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115  # open while the client runs, read only if it fails
    process = subprocess.Popen(["taskset", "-c", str(core), *command], stdout=subprocess.PIPE, stderr=errors, text=True)
    samples: dict[str, float] = {}

    def sample() -> None:
        time.sleep(sample_at or 0)
        if process.poll() is None:
            samples["established"] = established(port)
            samples["rss"] = tree_rss_mb(process.pid)

    watcher = threading.Thread(target=sample) if sample_at else None
    if watcher:
        watcher.start()
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if watcher:
        watcher.join()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, SERVER_FAILED):  # the server's refusals under 10,000 connections are measured, not fatal
        errors.seek(0)
        raise SystemExit(f"{name} failed ({code}):\n{output}{errors.read()}")
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Run(
        name,
        rate,
        sum(map(int, errors.groups())) if errors else 0,
        wall,
        usage.ru_utime + usage.ru_stime,
        int(samples["established"]) if "established" in samples else None,
        samples.get("rss"),
    )


def alternate(commands: dict[str, list[str]], pairs: int, core: int, port: int, sample_at: float | None) -> list[Run]:
    runs = []
    for pair in range(pairs):
        for name in ["wrk", "loadgen"] if pair % 2 == 0 else ["loadgen", "wrk"]:
            run = run_client(name, commands[name], core, port, sample_at)
            runs.append(run)
            mid = (
                f" {run.established_mid_run} established, {run.rss_mb_mid_run:.0f} MB"
                if run.rss_mb_mid_run is not None
                else ""
            )
            print(
                f"pair {pair + 1} {name:8} {run.requests_per_sec:9.0f} req/s  wall {run.wall_s:5.2f} s  "
                f"CPU {run.cpu_s:5.2f} s  socket errors {run.socket_errors}{mid}",
                flush=True,
            )
    return runs


def spread(runs: list[Run], name: str, key: str) -> tuple[float, float, float]:
    """Median, lowest and highest of one figure over one client's runs."""
    values = [getattr(run, key) for run in runs if run.client == name and getattr(run, key) is not None]
    return statistics.median(values), min(values), max(values)


def summary(runs: list[Run], key: str, unit: str) -> str:
    (wrk, wrk_low, wrk_high), (ours, low, high) = spread(runs, "wrk", key), spread(runs, "loadgen", key)
    return (
        f"{key}: wrk {wrk:,.2f} [{wrk_low:,.2f}, {wrk_high:,.2f}] {unit}, loadgen {ours:,.2f} [{low:,.2f}, "
        f"{high:,.2f}] {unit}: ratio {ours / wrk:.3f}, difference {ours - wrk:+,.2f} {unit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--skip-startup", action="store_true", help="only the fan-in comparison")
    parser.add_argument("--skip-fan-in", action="store_true", help="only the start-up comparison")
    args = parser.parse_args()
    if not args.skip_fan_in and args.duration < 3:  # the sample at duration / 2 + 1 s came after such a run
        parser.error("--duration must be at least 3 (s): the fan-in's memory is sampled mid-run, 1 s past its middle")
    compile_loadgen()
    loadgen = [sys.executable, "-m", "loadgen"]
    record: dict[str, object] = {"args": vars(args)}
    with Nginx(core=args.server_core) as nginx:
        url = nginx.url("/")
        if not args.skip_fan_in:
            flags = ["-t2", f"-c{args.connections}", f"-d{args.duration}s"]
            print(f"fan-in: {' '.join(flags)}")
            runs = alternate(
                {"wrk": ["wrk", *flags, url], "loadgen": [*loadgen, *flags, url]},
                args.pairs,
                args.client_core,
                nginx.port,
                sample_at=args.duration / 2 + 1,
            )
            lines = [summary(runs, "requests_per_sec", "req/s"), summary(runs, "rss_mb_mid_run", "MB")]
            per_thousand = {}
            for name, client in (("wrk", ["wrk"]), ("loadgen", loadgen)):
                baseline = run_client(
                    name,
                    [*client, "-t2", "-c20", f"-d{args.duration}s", url],
                    args.client_core,
                    nginx.port,
                    sample_at=args.duration / 2 + 1,
                )
                rss = spread(runs, name, "rss_mb_mid_run")[0]
                per_thousand[name] = (rss - (baseline.rss_mb_mid_run or 0)) / (args.connections - 20) * 1000
                lines.append(
                    f"{name} resident memory: {baseline.rss_mb_mid_run:.1f} MB with -c20, {rss:.1f} MB with "
                    f"-c{args.connections}: {per_thousand[name]:.2f} MB per 1,000 connections"
                )
            ratio = per_thousand["loadgen"] / per_thousand["wrk"]
            lines.append(f"memory per 1,000 connections, loadgen / wrk: {ratio:.2f}")
            print("\n".join(lines))
            record["fan_in"] = {"runs": [asdict(run) for run in runs], "summary": lines}
        if not args.skip_startup:
            flags = ["-t20", "-c20", "-d1s"]
            print(f"start-up: {' '.join(flags)}")
            runs = alternate(
                {"wrk": ["wrk", *flags, url], "loadgen": [*loadgen, *flags, url]},
                args.pairs,
                args.client_core,
                nginx.port,
                sample_at=None,
            )
            lines = [summary(runs, "wall_s", "s"), summary(runs, "cpu_s", "s")]
            print("\n".join(lines))
            record["startup"] = {"runs": [asdict(run) for run in runs], "summary": lines}
    write_record("scale", record)


if __name__ == "__main__":
    main()
