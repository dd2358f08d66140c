"""What watching a run costs: ``loadgen -t1 -c50`` with no view, with ``--metrics-listen`` (scraped
every second, as Prometheus would), and with ``--metrics-listen`` and ``--otlp-endpoint`` together
(pushing every second), side by side on the same nginx, in rotating order; medians and spread.

    python benchmarks/live_overhead.py [--rounds 7] [--duration 10] [--connections 50]

nginx (one worker, ``return 200``) runs pinned to one core, the client pinned to the other, as
in vs_wrk.py. For each run: Requests/sec (the report's) and the client's CPU time per request
(user + system of its whole process tree, from ``wait4``: the workers, and the parent where the
merge, the endpoint and the OTLP SDK run). The scraper and the OTLP receiver run in this
process, on no pinned core. Needs nginx and taskset. Writes a JSON record under benchmarks/out/.
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
import urllib.request
from pathlib import Path

from record import OUT, write_record
from turns import in_turn

from loadgen.testing.launch import free_port
from loadgen.testing.nginx import Nginx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.otlp_receiver import OtlpReceiver  # noqa: E402 - the tests' receiver, from the repository's root


def scrape_every_second(url: str, done: threading.Event) -> None:
    while not done.wait(1.0):
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                answer.read()
        except OSError:
            pass


def run_client(command: list[str], core: int, scrape: str | None) -> tuple[float, int, float, float]:
    """Requests/sec, requests, CPU seconds of the client's process tree, and CPU seconds of its
    workers over the measured window (the hot path's own share, from --json)."""
    done = threading.Event()
    scraper = threading.Thread(target=scrape_every_second, args=(scrape, done)) if scrape else None
    process = subprocess.Popen(["taskset", "-c", str(core), *command], stdout=subprocess.PIPE, text=True)
    if scraper is not None:
        scraper.start()
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    if scraper is not None:
        scraper.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}")
    requests = int(re.search(r"^\s+(\d+) requests in", output, re.M).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))  # type: ignore[union-attr]
    document = json.loads(Path(command[command.index("--json") + 1]).read_text())
    workers_s = sum(worker["cpu_s"] for worker in document["client_cpu"]["workers"])
    return rate, requests, usage.ru_utime + usage.ru_stime, workers_s


def post_cost(distinct: int) -> float:
    """Milliseconds a worker spends each second posting its second when watched: the record
    built and framed (pickled) for a second whose latencies took ``distinct`` values, and its
    CPU clock read. The send itself is one non-blocking write."""
    import timeit

    from loadgen._run.sampling import cpu_seconds
    from loadgen.live.framing import frame
    from loadgen.live.record import WorkerSecond
    from loadgen.measurement import Interval, WorkerCpu

    interval = Interval(1_000_000, 50_000, 4_000_000, {}, {200 + i: 25 for i in range(distinct)})

    def post() -> bytes:
        cpu_seconds()
        record = WorkerSecond(0, "host", 3, interval, {200: 200_000}, {}, 50, 50, WorkerCpu(1.0, 1.0))
        return frame(record)

    runs = 200
    return min(timeit.repeat(post, number=runs, repeat=5)) / runs * 1e3


def parent_cost(distinct: int, so_far: int) -> float:
    """Milliseconds the parent spends each second on a watched run of one worker: the worker's
    second merged (its latencies taking ``distinct`` values, the run's so far ``so_far``) and
    the exposition formatted once, for one scrape."""
    import timeit

    from loadgen.export.openmetrics import exposition
    from loadgen.live.collate import Collator, coarse
    from loadgen.live.record import WorkerSecond
    from loadgen.measurement import Interval, WorkerCpu
    from loadgen.settings import Settings

    interval = Interval(1_000_000, 50_000, 4_000_000, {}, {200 + 7 * i: 25 for i in range(distinct)})
    merged = []
    collator = Collator(Settings("http://127.0.0.1/", threads=1), 1, merged.append)
    collator.latency = coarse({100 + 37 * i: 3 for i in range(so_far)})  # a long run's, as the merge keeps it
    second = 0

    def once() -> str:
        nonlocal second
        collator.add(WorkerSecond(0, "host", second, interval, {200: 200_000}, {}, 50, 50, WorkerCpu(1.0, 1.0)))
        second += 1
        return exposition(merged[-1])

    runs = 20
    return min(timeit.repeat(once, number=runs, repeat=5)) / runs * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rate", type=int, default=None, help="-R: the same work each second in every variant")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    for distinct in (1_000, 10_000, 50_000):
        print(f"a worker's post each second, latencies of {distinct:,} distinct values: {post_cost(distinct):.3f} ms")
    for distinct, so_far in ((1_000, 10_000), (10_000, 100_000)):
        print(
            f"the parent's merge and one scrape each second, {distinct:,} distinct values in the second, "
            f"{so_far:,} so far: {parent_cost(distinct, so_far):.3f} ms"
        )
    for tool in ("nginx", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")

    port = free_port()
    OUT.mkdir(exist_ok=True)
    runs: dict[str, list[dict[str, float]]] = {"off": [], "metrics": [], "metrics+otlp": []}
    with Nginx(core=args.server_core) as nginx, OtlpReceiver() as receiver:
        flags = ["-t1", f"-c{args.connections}", f"-d{args.duration}s", *(["-R", str(args.rate)] if args.rate else [])]
        listen = ["--metrics-listen", f"127.0.0.1:{port}"]
        variants = {
            "off": [],
            "metrics": listen,
            "metrics+otlp": [*listen, "--otlp-endpoint", receiver.endpoint, "--export-interval", "1s"],
        }
        names = list(variants)
        for round_ in range(args.rounds):
            order = in_turn(names, round_)
            for name in order:
                json_path = OUT / "live_overhead-run.json"
                command = [
                    *[sys.executable, "-m", "loadgen", *flags, *variants[name]],
                    *["--json", str(json_path), nginx.url("/")],
                ]
                scrape = f"http://127.0.0.1:{port}/metrics" if name != "off" else None
                rate, requests, cpu_s, workers_s = run_client(command, args.client_core, scrape)
                run = {
                    "requests_per_sec": rate,
                    "requests": requests,
                    "cpu_us_per_request": cpu_s / requests * 1e6,
                    "worker_cpu_us_per_request": workers_s / requests * 1e6,
                }
                runs[name].append(run)
                print(
                    f"round {round_ + 1} {name:13} {rate:10.0f} req/s {run['cpu_us_per_request']:6.2f} CPU us/request "
                    f"(workers {run['worker_cpu_us_per_request']:6.2f})",
                    flush=True,
                )

    figures = ("cpu_us_per_request", "worker_cpu_us_per_request", "requests_per_sec")
    summary = {
        name: {
            figure: {
                "median": statistics.median(run[figure] for run in values),
                "min": min(run[figure] for run in values),
                "max": max(run[figure] for run in values),
            }
            for figure in figures
        }
        for name, values in runs.items()
    }
    for name, values in runs.items():  # a round's variants ran a minute apart at most: ratios cancel slow drifts
        for figure in figures[:2]:
            ratios = [run[figure] / base[figure] for run, base in zip(values, runs["off"], strict=True)]
            summary[name][f"{figure}_round_ratio"] = {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            }
    print()
    for figure in [*figures, *(f"{figure}_round_ratio" for figure in figures[:2])]:
        base = 1.0 if figure.endswith("_round_ratio") else summary["off"][figure]["median"]
        for name in runs:
            spread = summary[name][figure]
            print(
                f"{figure:38} {name:13} median {spread['median']:10.3f} (min {spread['min']:.3f}, "
                f"max {spread['max']:.3f}) -> x{spread['median'] / base:.3f}"
            )
    write_record("live_overhead", {"args": vars(args), "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
