"""loadgen against wrk on the same nginx, side by side, alternating, medians as ratios.

    python benchmarks/vs_wrk.py [--pairs 5] [--duration 10] [--connections 50]

nginx (one worker, ``return 200``) runs pinned to one core, each client pinned to the other,
so the two clients never compete with the server or each other for a core. Each pair runs wrk
and loadgen back to back, alternating which goes first. For each run it records Requests/sec
and the client's CPU time per request (user + system, the client's whole process tree, from
``wait4``). Then it checks that ``-t2 -c2000`` opens and holds every connection.

Needs wrk and nginx on PATH (``apt-get install wrk nginx-light``). Writes a JSON record under
benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from precompile import compile_loadgen
from record import write_record

from loadgen.testing.nginx import Nginx


@dataclass
class Run:
    client: str
    requests_per_sec: float
    requests: int
    cpu_seconds: float
    wall_seconds: float = 0.0  # from start to exit
    voluntary_switches: int = 0  # the client's process tree: waits (for the network, a timer)
    involuntary_switches: int = 0  # preemptions (another process wanted its core)
    user_seconds: float = 0.0  # the user-space part of cpu_seconds (the rest is the kernel's)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("inf")

    @property
    def user_us_per_request(self) -> float:
        return self.user_seconds / self.requests * 1e6 if self.requests else float("inf")


def wrk_figures(output: str) -> tuple[int, float]:
    """Requests and requests/sec from wrk's report (loadgen's is the same)."""
    requests = int(re.search(r"^\s+(\d+) requests in", output, re.M).group(1))
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))
    return requests, rate


def run_client(
    name: str, command: list[str], core: int, figures: Callable[[str], tuple[int, float]] = wrk_figures
) -> tuple[Run, str]:
    """Run one client pinned to ``core``; CPU time covers its whole process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(["taskset", "-c", str(core), *command], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{name} failed ({process.returncode}):\n{output}")
    requests, rate = figures(output)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, rate, requests, cpu, wall, usage.ru_nvcsw, usage.ru_nivcsw, usage.ru_utime), output


def established(port: int) -> int:
    """Client-side established connections to the port (ss, as an outside witness)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"], capture_output=True, text=True
    ).stdout
    return len(out.splitlines())


def hold_check(url: str, port: int, core: int, duration: int) -> dict:
    """-t2 -c2000: every connection opened and held, no socket errors."""
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        time.sleep(duration / 2)
        if not done.is_set():
            seen.append(established(port))

    watcher = threading.Thread(target=sample)
    watcher.start()
    command = [sys.executable, "-m", "loadgen", "-t2", "-c2000", f"-d{duration}s", "--json", "-", url]
    out = subprocess.run(["taskset", "-c", str(core), *command], capture_output=True, text=True, timeout=duration + 120)
    done.set()
    watcher.join()
    data = json.loads(out.stdout)
    return {
        "established_mid_run": seen[0] if seen else None,
        "peak_open": data["connections"]["peak_open"],
        "opened": data["connections"]["opened"],
        "errors": data["errors"],
        "requests_per_sec": data["requests_per_sec"],
        "report": out.stderr,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--skip-hold", action="store_true", help="skip the -t2 -c2000 check")
    args = parser.parse_args()
    compile_loadgen()
    for tool in ("wrk", "nginx", "taskset", "ss"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")

    with Nginx(core=args.server_core) as nginx:
        port, url = nginx.port, nginx.url("/")
        flags = ["-t1", f"-c{args.connections}", f"-d{args.duration}s"]
        clients = {"wrk": ["wrk", *flags, url], "loadgen": [sys.executable, "-m", "loadgen", *flags, url]}
        runs: list[Run] = []
        for pair in range(args.pairs):
            order = ["wrk", "loadgen"] if pair % 2 == 0 else ["loadgen", "wrk"]
            for name in order:
                run, _ = run_client(name, clients[name], args.client_core)
                runs.append(run)
                print(
                    f"pair {pair + 1} {name:8} {run.requests_per_sec:10.0f} req/s "
                    f"{run.cpu_us_per_request:6.2f} CPU us/request",
                    flush=True,
                )
        hold = None if args.skip_hold else hold_check(url, port, args.client_core, args.duration)

    def median(name: str, key) -> float:
        return statistics.median(key(r) for r in runs if r.client == name)

    rate_ratio = median("loadgen", lambda r: r.requests_per_sec) / median("wrk", lambda r: r.requests_per_sec)
    cpu_ratio = median("loadgen", lambda r: r.cpu_us_per_request) / median("wrk", lambda r: r.cpu_us_per_request)
    print(
        f"\nmedian Requests/sec: wrk {median('wrk', lambda r: r.requests_per_sec):.0f}, "
        f"loadgen {median('loadgen', lambda r: r.requests_per_sec):.0f}  -> ratio {rate_ratio:.3f} (target >= 0.9)"
    )
    print(
        f"median CPU us/request: wrk {median('wrk', lambda r: r.cpu_us_per_request):.2f}, "
        f"loadgen {median('loadgen', lambda r: r.cpu_us_per_request):.2f}  -> ratio {cpu_ratio:.3f} (target <= 1.5)"
    )
    if hold:
        print(
            f"-t2 -c2000: {hold['established_mid_run']} established mid-run (ss), peak open {hold['peak_open']}, "
            f"errors {hold['errors']}"
        )
    record = {
        "args": vars(args),
        "runs": [asdict(r) | {"cpu_us_per_request": r.cpu_us_per_request} for r in runs],
        "rate_ratio": rate_ratio,
        "cpu_ratio": cpu_ratio,
        "hold": hold,
    }
    write_record("vs_wrk", record)


if __name__ == "__main__":
    main()
