"""loadgen's HTTP/2 against h2load (nghttp2's load generator, C) on the same nginx, side by side,
alternating, medians and spread; and against pywrkr's ``--http2`` (httpx) in the same run.

    python benchmarks/vs_h2load.py [--pairs 5] [--duration 5] [--connections 50] [--streams 10 1]

nginx (one worker, ``return 200``, h2c with prior knowledge) runs pinned to one core, each client
pinned to the other. For each ``-m`` asked, each pair runs h2load and loadgen back to back,
alternating which goes first; each run records requests/sec and the client's CPU time per request
(user + system, its whole process tree, from ``wait4``; for loadgen also its workers' own CPU
over the measured window, from its JSON, which leaves out the start-up). Then pywrkr runs once
per ``-m`` with the same connections, for the requests/sec ratio. Writes a JSON record under
benchmarks/out/.

Needs h2load and nginx (``apt-get install nghttp2-client nginx-light``); pywrkr is optional
(``pip install 'pywrkr[http2]'``), left out when it is not installed.
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
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from record import write_record

from loadgen.testing.nginx import Nginx

TARGET_CPU_RATIO = 2.5  # loadgen's CPU time per request at most 2.5x h2load's
TARGET_RATE_RATIO = 10.0  # loadgen's requests/sec at least 10x pywrkr's


@dataclass
class Run:
    client: str
    streams: int
    requests_per_sec: float
    requests: int
    cpu_seconds: float  # the whole process tree's, start-up included
    window_cpu_seconds: float | None = None  # loadgen: its workers' own, over the measured window

    @property
    def window_cpu_us_per_request(self) -> float | None:
        return self.window_cpu_seconds / self.requests * 1e6 if self.window_cpu_seconds and self.requests else None

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("inf")


def timed(command: list[str], core: int) -> tuple[str, float]:
    """Run ``command`` pinned to ``core``: its output and its process tree's CPU seconds."""
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed ({os.waitstatus_to_exitcode(status)}):\n{output[-2000:]}")
    return output, usage.ru_utime + usage.ru_stime


def h2load(url: str, connections: int, streams: int, duration: int, core: int) -> Run:
    output, cpu = timed(["h2load", f"-c{connections}", f"-m{streams}", "-t1", f"-D{duration}", url], core)
    rate = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", output).group(1))  # type: ignore[union-attr]
    return Run("h2load", streams, rate, done, cpu)


def loadgen(url: str, connections: int, streams: int, duration: int, core: int) -> Run:
    flags = ["--http2", "--streams", str(streams), "-t1", f"-c{connections}", f"-d{duration}s", "--json", "-"]
    output, cpu = timed([sys.executable, "-m", "loadgen", *flags, url], core)
    document = json.loads(output)
    assert document["connections"]["protocol"] == "h2", "loadgen did not speak HTTP/2"
    window = sum(worker["cpu_s"] for worker in document["client_cpu"]["workers"])
    return Run("loadgen", streams, document["requests_per_sec"], document["requests"], cpu, window)


def pywrkr(url: str, connections: int, streams: int, duration: int, core: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pywrkr.json"
        _, cpu = timed(["pywrkr", "--http2", f"-c{connections}", f"-d{duration}", "--json", str(out), url], core)
        document = json.loads(out.read_text())
    return Run("pywrkr", streams, float(document["requests_per_sec"]), int(document["total_requests"]), cpu)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--streams", type=int, nargs="+", default=[10, 1])
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    for tool in ("h2load", "nginx", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    with_pywrkr = shutil.which("pywrkr") is not None
    runs: list[Run] = []
    summary: dict[str, dict[str, float]] = {}
    with Nginx(core=args.server_core, http2=True) as nginx:
        url = nginx.url("/")
        common = (url, args.connections)
        for streams in args.streams:
            for pair in range(args.pairs):
                order = (h2load, loadgen) if pair % 2 == 0 else (loadgen, h2load)
                for client in order:
                    run = client(*common, streams, args.duration, args.client_core)
                    runs.append(run)
                    print(
                        f"-m{streams} pair {pair + 1} {run.client:8} {run.requests_per_sec:10.0f} req/s "
                        f"{run.cpu_us_per_request:6.2f} CPU us/request",
                        flush=True,
                    )
            if with_pywrkr:
                run = pywrkr(*common, streams, args.duration, args.client_core)
                runs.append(run)
                print(f"-m{streams} pywrkr --http2 {run.requests_per_sec:10.0f} req/s", flush=True)

            def of(client: str, key: str, streams: int = streams) -> list[float]:
                return [getattr(r, key) for r in runs if r.client == client and r.streams == streams]

            cpu_ratio = statistics.median(of("loadgen", "cpu_us_per_request")) / statistics.median(
                of("h2load", "cpu_us_per_request")
            )
            windows = [
                r.window_cpu_us_per_request or 0.0 for r in runs if r.client == "loadgen" and r.streams == streams
            ]
            window_ratio = statistics.median(windows) / statistics.median(of("h2load", "cpu_us_per_request"))
            figures = {"cpu_ratio": cpu_ratio, "window_cpu_ratio": window_ratio}
            label = f"-c{args.connections} -m{streams}"
            print(
                f"{label}: CPU us/request h2load {spread(of('h2load', 'cpu_us_per_request'))}, "
                f"loadgen {spread(of('loadgen', 'cpu_us_per_request'))} -> ratio {cpu_ratio:.2f} "
                f"(target <= {TARGET_CPU_RATIO})"
            )
            print(f"{label}: loadgen's workers over their window alone {spread(windows)} -> ratio {window_ratio:.2f}")
            print(
                f"-c{args.connections} -m{streams}: req/s h2load {spread(of('h2load', 'requests_per_sec'))}, "
                f"loadgen {spread(of('loadgen', 'requests_per_sec'))}"
            )
            if with_pywrkr:
                rate_ratio = statistics.median(of("loadgen", "requests_per_sec")) / of("pywrkr", "requests_per_sec")[0]
                figures["pywrkr_rate_ratio"] = rate_ratio
                print(
                    f"-c{args.connections} -m{streams}: loadgen / pywrkr --http2 req/s {rate_ratio:.1f} "
                    f"(target >= {TARGET_RATE_RATIO:.0f})"
                )
            summary[f"m{streams}"] = figures
    record = {
        "args": vars(args),
        "runs": [
            asdict(r)
            | {"cpu_us_per_request": r.cpu_us_per_request, "window_cpu_us_per_request": r.window_cpu_us_per_request}
            for r in runs
        ],
        "summary": summary,
    }
    write_record("vs_h2load", record)


if __name__ == "__main__":
    main()
