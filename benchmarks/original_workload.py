"""The original benchmark's own workload, loadgen and wrk side by side, with the server's witness.

    python benchmarks/original_workload.py [--pairs 5] [--duration 10] [--threads 20] [--connections 2000]
        [--servers asgi-uvicorn-workers,uvicorn-workers] [--endpoints sync/json,async/json,sync/gateway_1s]
        [--loadgen-arg=--some-flag ...]

The demo runs under each server mode (the matrix's command lines, 2 workers, an access log added)
pinned to ``--server-core``; ``wrk`` and ``loadgen`` run ``-tT -cC -dDs`` pinned to
``--client-core``, alternating, wrk first in odd pairs. Every run gets a fresh server, so that the
work one client left behind (requests still queued when it stopped) never slows the next. During
each run a sampler looks, every half second, at the server's side of the connections:

- the listening socket's accept queue (``ss -ltn``, Recv-Q): connections the kernel completed
  and the server has not accepted, whose requests nobody reads;
- the server side's established connections (``ss -tn state established``);
- the connections the server's processes hold (their socket descriptors in /proc/PID/fd, less
  those they held before the run).

The server's access log counts the responses it sent during the run, to set beside each client's
count. loadgen's ``--json`` adds its own account of the connections (answered, never answered).
It prints one line per run, then a Markdown table per server (medians over the pairs) ready for
benchmarks/README.md, and writes everything to benchmarks/out/original_workload-<time>.json.

``--trace`` also records, with ``perf`` (Linux, as root), every connect() and write() of the client
and every accept() of the server's workers, and prints when each tool issued its connects, how
soon each connection wrote its first request, and how many connections the server had accepted
50 ms, 100 ms, ... after the first connect: the mechanism itself. ``--loadgen-path DIR`` runs the
loadgen found in DIR (another checkout, e.g. one before a change) instead of this one.
``--tables FILE`` prints the tables of a record again (the record is saved after every run).
Needs wrk, ss and taskset, and the demo's server packages (``pip install -e '.[matrix]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from record import write_record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server_matrix.planning.modes import MODES, ServerMode  # noqa: E402
from server_matrix.servers.server import ServerFailed, ServerProcess, free_port, server_processes  # noqa: E402
from server_matrix.servers.serverenv import server_environment  # noqa: E402

SAMPLE_S = 0.5
READY_TIMEOUT_S = 120.0
WORKERS = 2
ACCEPTED_BY_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
CLIENT_EVENTS = "syscalls:sys_enter_connect,syscalls:sys_enter_write,syscalls:sys_enter_writev"
PERF_LINE = re.compile(r"\s*\S+\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+syscalls:(\w+):\s*(.*)")


@dataclass
class Sample:
    at_s: float  # since the client started
    accept_queue: int  # Recv-Q of the listening socket
    established: int  # server-side established connections (accepted or not)
    held: int  # connections the server's processes hold (socket descriptors added since before the run)


@dataclass
class Run:
    server: str
    endpoint: str
    client: str
    pair: int
    requests: int
    requests_per_sec: float
    timeouts: int
    served: int  # responses for the path in the server's access log during the run
    samples: list[Sample] = field(default_factory=list)
    connections: dict[str, Any] | None = None  # loadgen's JSON "connections" block
    trace: dict[str, Any] | None = None  # with --trace: when connects, first writes and accepts happened
    load_before: float = 0.0  # the 1-minute load average before the run
    report: str = ""

    def during(self, attribute: str) -> float | None:
        """The median of a sampled figure over the middle half of the samples taken while the client had
        connections established (the client's own start-up and its end left out)."""
        loaded = [getattr(s, attribute) for s in self.samples if s.established > 0]
        middle = loaded[len(loaded) // 4 : max(1, 3 * len(loaded) // 4)]
        return statistics.median(middle) if middle else None


def with_access_log(mode: ServerMode, args: list[str], access_log: Path) -> list[str]:
    """The mode's command line, logging each response: the server's own count."""
    if "gunicorn" in args:
        return [*args, "--access-logfile", str(access_log)]
    return [arg for arg in args if arg != "--no-access-log"]  # uvicorn logs each response to its output


def sockets_held(pid: int) -> int:
    count = 0
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in descriptors:
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def ss_count(*args: str) -> list[str]:
    return subprocess.run(["ss", "-Htn", *args], capture_output=True, text=True).stdout.splitlines()


def processes(server: ServerProcess) -> list[int]:
    return server_processes(server.pgid, server.marker)


def sample(port: int, server: ServerProcess, baseline: dict[int, int], started: float) -> Sample:
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
    held = sum(sockets_held(pid) - baseline.get(pid, 0) for pid in processes(server))
    return Sample(
        round(time.monotonic() - started, 2),
        int(listening[1]) if len(listening) > 1 else -1,
        len(ss_count("state", "established", f"sport = :{port}")),
        held,
    )


def perf_events(path: Path) -> list[tuple[int, float, str, str]]:
    """(pid, time, event, arguments) of each event ``perf record`` wrote."""
    out = subprocess.run(["perf", "script", "-i", str(path)], capture_output=True, text=True).stdout
    events = []
    for line in out.splitlines():
        match = PERF_LINE.match(line)
        if match:
            events.append((int(match[1]), float(match[2]), match[3], match[4]))
    return events


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {f"p{q}": round(ordered[min(len(ordered) - 1, len(ordered) * q // 100)], 1) for q in (10, 50, 90, 100)}


def trace_summary(client_data: Path, server_data: Path) -> dict[str, Any]:
    """When the client issued its connects and first wrote on each connection, and when the server accepted,
    in ms after the first connect of a connection that wrote a request (a reachability probe writes none)."""
    connected: dict[tuple[int, int], float] = {}
    first_write: dict[tuple[int, int], float] = {}
    for pid, at, event, arguments in perf_events(client_data):
        fd = int(arguments.split("fd: ", 1)[1].split(",", 1)[0], 16)
        if event == "sys_enter_connect":
            connected[pid, fd] = at  # a reconnection on the same descriptor starts over
            first_write.pop((pid, fd), None)
        elif (pid, fd) in connected and (pid, fd) not in first_write:
            first_write[pid, fd] = at
    connects_by_pid = Counter(pid for pid, _ in connected)
    for key in [key for key in first_write if connects_by_pid[key[0]] == 1]:
        del first_write[key]  # a process's only connect is a probe: its descriptor was reused for a pipe
    if not first_write:
        return {}
    start = min(connected[key] for key in first_write)
    accepts = [(pid, at - start) for pid, at, _, result in perf_events(server_data) if not result.startswith("0xfff")]
    accepted = sorted(at for _, at in accepts)
    by_worker = Counter(pid for pid, at in accepts if at >= 0)
    return {
        "accepted_per_server_process": sorted(by_worker.values()),
        "connects_ms": quantiles([(connected[key] - start) * 1000 for key in first_write]),
        "first_write_after_connect_ms": quantiles([(first_write[key] - connected[key]) * 1000 for key in first_write]),
        "accepted_by": {f"{limit:g}s": sum(0 <= at <= limit for at in accepted) for limit in ACCEPTED_BY_S},
    }


def served(log: Path, path: str) -> int:
    try:
        return log.read_text(errors="replace").count(f'"GET {path} HTTP/1.1"')
    except FileNotFoundError:
        return 0


def one_run(mode: ServerMode, endpoint: str, client: str, pair: int, args: argparse.Namespace, work: Path) -> Run:
    port = free_port()
    path = f"/myapp/{endpoint}"
    server_log, access_log = work / f"{mode.id}-{port}.log", work / f"{mode.id}-{port}.access"
    values = {"host": "127.0.0.1", "port": port, "workers": WORKERS, "threads": 1, "server_timeout": 60}
    values["loop"] = "uvloop"  # the demo's interpreter has it
    command = with_access_log(mode, [sys.executable, *mode.command_args(**values)], access_log)
    server = ServerProcess(
        command,
        server_environment(None, {"DEMO_GATEWAY_SCALE": "1.0"}),
        server_log,
        port,
        expected_boots=mode.expected_boots(**values),
        boot_line=mode.boot_line,
        cpus={args.server_core},
    )
    count_log = access_log if "gunicorn" in command else server_log
    try:
        server.wait_ready(READY_TIMEOUT_S)
        time.sleep(1.0)  # let the workers settle after the readiness probes
        before = served(count_log, path)
        baseline = {pid: sockets_held(pid) for pid in processes(server)}
        url = f"http://127.0.0.1:{port}{path}"
        flags = [f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
        json_path = work / f"loadgen-{port}.json"
        if client == "wrk":
            command = ["wrk", *flags, url]
        else:
            command = [sys.executable, "-m", "loadgen", *flags, *args.loadgen_arg, "--json", str(json_path), url]
        command = ["taskset", "-c", str(args.client_core), *command]
        environment = {**os.environ, "PYTHONPATH": str(args.loadgen_path)}
        recorder = None
        server_data, client_data = work / f"server-{port}.perf", work / f"client-{port}.perf"
        if args.trace:
            workers = [pid for pid in processes(server) if pid != server.pid]
            accepts = ["perf", "record", "-q", "-e", "syscalls:sys_exit_accept4", "-o", str(server_data)]
            recorder = subprocess.Popen(
                [*accepts, "-p", ",".join(map(str, workers))],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # perf attaches
            command = ["perf", "record", "-q", "-e", CLIENT_EVENTS, "-o", str(client_data), "--", *command]
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=work,  # not a checkout: ``python -m loadgen`` would import the one in its working directory
        )
        samples: list[Sample] = []
        while process.poll() is None:
            samples.append(sample(port, server, baseline, started))
            time.sleep(SAMPLE_S)
        output, errors = process.communicate()
        count = served(count_log, path) - before
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
    finally:
        server.stop()
    if process.returncode not in (0, 3):  # loadgen's 3: the server failed (not one response, say), a result too
        raise SystemExit(f"{client} failed ({process.returncode}):\n{output}{errors}")
    timeouts = re.search(r"timeout (\d+)", output)
    connections = json.loads(json_path.read_text())["connections"] if client == "loadgen" else None
    return Run(
        server=mode.id,
        endpoint=endpoint,
        client=client,
        pair=pair,
        requests=int(re.search(r"^\s+(\d+) requests in", output, re.M).group(1)),
        requests_per_sec=float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1)),
        timeouts=int(timeouts.group(1)) if timeouts else 0,
        served=count,
        samples=samples,
        connections=connections,
        trace=trace_summary(client_data, server_data) if args.trace else None,
        load_before=load_before,
        report=output + errors,
    )


def measured_run(
    mode: ServerMode, endpoint: str, client: str, pair: int, args: argparse.Namespace, work: Path
) -> Run | None:
    """One run; a server that does not start (a busy machine) is tried once more, then the run is left out."""
    for attempt in (1, 2):
        try:
            return one_run(mode, endpoint, client, pair, args, work)
        except ServerFailed as failure:
            print(f"{mode.id} {endpoint} pair {pair} {client}: the server failed ({failure.reason}), try {attempt}")
    return None


def median(runs: list[Run], key: Any) -> float | None:
    values = [v for v in (key(run) for run in runs) if v is not None]
    return statistics.median(values) if values else None


def figure(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(runs: list[Run], server: str, endpoints: list[str], args: argparse.Namespace) -> str:
    """One server's Markdown table: medians over the pairs."""
    lines = [
        f"| {server}, `-t{args.threads} -c{args.connections} -d{args.duration}s` | wrk req/s | loadgen req/s "
        "| loadgen / wrk | loadgen / wrk per pair, median [range] | wrk timeouts | loadgen timeouts "
        "| server count / client count (wrk, loadgen) "
        "| accept queue mid-run (wrk, loadgen) | connections the server held (wrk, loadgen) "
        "| loadgen: answered, never answered |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for endpoint in endpoints:
        mine = [run for run in runs if run.server == server and run.endpoint == endpoint]
        wrk = [run for run in mine if run.client == "wrk"]
        ours = [run for run in mine if run.client == "loadgen"]
        if not wrk or not ours:
            continue
        wrk_rate, our_rate = median(wrk, lambda r: r.requests_per_sec), median(ours, lambda r: r.requests_per_sec)
        ratio = our_rate / wrk_rate if wrk_rate and our_rate is not None else None
        rates = {(run.client, run.pair): run.requests_per_sec for run in mine}
        per_pair = sorted(
            rates[("loadgen", pair)] / rates[("wrk", pair)]
            for pair in {run.pair for run in mine}
            if rates.get(("wrk", pair)) and ("loadgen", pair) in rates
        )
        pairs = f"{statistics.median(per_pair):.2f} [{per_pair[0]:.2f}, {per_pair[-1]:.2f}]" if per_pair else "n/a"

        def agreement(group: list[Run]) -> str:
            return figure(median(group, lambda r: r.served / r.requests if r.requests else None), 3)

        def mid(group: list[Run], attribute: str) -> str:
            return figure(median(group, lambda r: r.during(attribute)))

        answered = median(ours, lambda r: r.connections.get("answered") if r.connections else None)
        never = median(ours, lambda r: r.connections.get("never_answered") if r.connections else None)
        lines.append(
            f"| `/myapp/{endpoint}` ({len(wrk)} pairs, medians) | {figure(wrk_rate)} | {figure(our_rate)} "
            f"| {figure(ratio, 2)} | {pairs} | {figure(median(wrk, lambda r: r.timeouts))} "
            f"| {figure(median(ours, lambda r: r.timeouts))} | {agreement(wrk)}, {agreement(ours)} "
            f"| {mid(wrk, 'accept_queue')}, {mid(ours, 'accept_queue')} | {mid(wrk, 'held')}, {mid(ours, 'held')} "
            f"| {figure(answered)}, {figure(never)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--servers", default="asgi-uvicorn-workers,uvicorn-workers")
    parser.add_argument("--endpoints", default="sync/json,async/json,sync/gateway_1s")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--loadgen-arg", action="append", default=[], help="an extra loadgen argument (repeatable)")
    parser.add_argument("--loadgen-path", type=Path, default=ROOT, help="the checkout whose loadgen runs")
    parser.add_argument("--trace", action="store_true", help="record connects, first writes and accepts with perf")
    parser.add_argument("--tables", type=Path, help="print the tables of a record this script wrote, and exit")
    args = parser.parse_args()
    args.started = time.strftime("%Y%m%d-%H%M%S")
    if args.tables:
        print_tables(args.tables)
        return
    for tool in ("wrk", "ss", "taskset", *(["perf"] if args.trace else [])):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    by_id = {mode.id: mode for mode in MODES}
    servers, endpoints = args.servers.split(","), args.endpoints.split(",")
    unknown = [server for server in servers if server not in by_id]
    if unknown:
        raise SystemExit(f"unknown server mode(s): {', '.join(unknown)}")

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="original-workload-") as scratch:
        for server in servers:
            for endpoint in endpoints:
                for pair in range(1, args.pairs + 1):
                    for client in ("wrk", "loadgen") if pair % 2 else ("loadgen", "wrk"):
                        run = measured_run(by_id[server], endpoint, client, pair, args, Path(scratch))
                        if run is None:
                            continue
                        runs.append(run)
                        save(runs, args)
                        print(
                            f"{server} {endpoint} pair {pair} {client:8} {run.requests_per_sec:8.1f} req/s "
                            f"timeouts {run.timeouts:5} served/counted {run.served}/{run.requests} "
                            f"accept queue {figure(run.during('accept_queue'))} "
                            f"held {figure(run.during('held'))} "
                            f"load {run.load_before:.1f}",
                            flush=True,
                        )
                        if run.trace:
                            print(f"    trace: {json.dumps(run.trace)}", flush=True)
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"\nRun of {when}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    for server in servers:
        print(table(runs, server, endpoints, args), end="\n\n")
    print(f"raw figures: {save(runs, args)}")


def print_tables(path: Path) -> None:
    """The tables of a saved record (an interrupted run's too)."""
    record = json.loads(path.read_text())
    runs = [Run(**{**run, "samples": [Sample(**sample) for sample in run["samples"]]}) for run in record["runs"]]
    settings = argparse.Namespace(**{name: record["args"][name] for name in ("threads", "connections", "duration")})
    loads = [run.load_before for run in runs]
    print(f"Run of {record['when']}, load average {min(loads):.1f} to {max(loads):.1f} before the runs\n")
    for server in dict.fromkeys(run.server for run in runs):
        print(table(runs, server, list(dict.fromkeys(run.endpoint for run in runs)), settings), end="\n\n")


def save(runs: list[Run], args: argparse.Namespace) -> Path:
    """Every run so far, to benchmarks/out/ (after each run: a long benchmark on a busy machine keeps what it got)."""
    record = {
        "when": args.started,
        "args": {name: str(value) for name, value in vars(args).items()},
        "loadavg": os.getloadavg(),
        "runs": [asdict(run) for run in runs],
    }
    return write_record("original_workload", record, started=args.started, quiet=True)


if __name__ == "__main__":
    main()
