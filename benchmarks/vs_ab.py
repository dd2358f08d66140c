"""loadgen against ab (ApacheBench, ``ab -k``) on the same nginx, side by side, alternating.

    python benchmarks/vs_ab.py [--pairs 5] [--duration 10] [--connections 50]

The method of vs_wrk.py: nginx (one worker, ``return 200``) pinned to one core, each client
pinned to the other; each pair runs ab and loadgen back to back, alternating which goes first;
for each run, requests/sec and the client's CPU time per request (user + system of its whole
process tree, from ``wait4``). ab is single-threaded C, so loadgen runs ``-t1``; ``ab -k``
keeps its connections alive (HTTP/1.0 with ``Connection: keep-alive``), ``-t`` bounds it in
time and ``-n`` is set high enough never to end it first (ab keeps 32 bytes per request of
``-n``, so not higher).

Each run also says where the CPU went (cpustat.py): the client's busy share, nginx's CPU per
request and busy share, each core's idle, softirq and stolen shares, waits per request. nginx's
one worker needs nearly as much CPU per request as either client, so a run in which another
process shares a core (nginx's above all) is limited by that, for either client: both clients
then sit 40-60% busy with their cores partly idle. The summary gives the requests/sec ratio over
the pairs in which both clients were CPU-bound apart from the ratio of all runs' medians.

Needs ab and nginx (``apt-get install apache2-utils nginx-light``). Writes a JSON record under
benchmarks/out/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
from dataclasses import asdict

from cpustat import Window
from precompile import compile_loadgen
from record import write_record
from vs_wrk import Run, run_client

from loadgen.testing.nginx import Nginx

MAX_RATE = 400_000  # requests/sec no single core reaches: ab's -n is this times -t, so -t ends the run


def ab_figures(output: str) -> tuple[int, float]:
    """Requests and requests/sec from ab's report; a run with failed requests is refused."""
    failed = int(re.search(r"^Failed requests:\s+(\d+)", output, re.M).group(1))
    if failed:
        raise SystemExit(f"ab counted {failed} failed requests:\n{output}")
    requests = int(re.search(r"^Complete requests:\s+(\d+)", output, re.M).group(1))
    rate = float(re.search(r"^Requests per second:\s+([\d.]+)", output, re.M).group(1))
    return requests, rate


def where(run: Run, window: Window, client_core: int, server_core: int) -> dict[str, object]:
    """Where the CPU went in one run: the client's share of its wall time on a CPU, nginx's CPU
    per request and share, each core's shares (busy, softirq, idle, steal), and the client's
    waits (voluntary context switches) per request."""
    requests = max(run.requests, 1)
    return {
        "client_busy": run.cpu_seconds / run.wall_seconds if run.wall_seconds else 0.0,
        "server_cpu_us_per_request": window.server_cpu_s / requests * 1e6,
        "server_busy": window.server_cpu_s / run.wall_seconds if run.wall_seconds else 0.0,
        "client_core": window.shares(client_core),
        "server_core": window.shares(server_core),
        "waits_per_request": run.voluntary_switches / requests,
        "server_waits_per_request": window.server_waits / requests,
        "preemptions": run.involuntary_switches,
    }


BOUND = 0.9  # a client this busy was the limit of its run; one less busy waited for the server or the machine


def client_bound_pairs(runs: list[Run], machine: list[dict[str, object]]) -> list[float]:
    """loadgen / ab requests/sec of each pair in which both clients were CPU-bound: the pairs that
    compare the clients, where the others measure whatever limited them (the server's core, shared
    with another process; the wake-ups between two cores partly idle)."""
    ratios = []
    for index in range(0, len(runs) - 1, 2):
        pair = {runs[i].client: (runs[i], machine[i]) for i in (index, index + 1)}
        busy = [float(seen["client_busy"]) for _, seen in pair.values()]  # type: ignore[arg-type]
        if len(pair) == 2 and min(busy) >= BOUND:
            ratios.append(pair["loadgen"][0].requests_per_sec / pair["ab"][0].requests_per_sec)
    return ratios


def describe(seen: dict[str, object]) -> str:
    client, server = seen["client_core"], seen["server_core"]
    assert isinstance(client, dict) and isinstance(server, dict)
    return (
        f"client busy {seen['client_busy']:.0%}, nginx {seen['server_cpu_us_per_request']:.2f} us/request "
        f"busy {seen['server_busy']:.0%}; cores idle {client['idle']:.0%}/{server['idle']:.0%} "
        f"softirq {client['softirq']:.0%}/{server['softirq']:.0%} steal {client['steal']:.0%}/{server['steal']:.0%}; "
        f"waits/request client {seen['waits_per_request']:.3f} nginx {seen['server_waits_per_request']:.3f}, "
        f"preempted {seen['preemptions']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    compile_loadgen()
    for tool in ("ab", "nginx", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")

    with Nginx(core=args.server_core) as nginx:
        url = nginx.url("/")
        ab = ["ab", "-k", "-q", f"-c{args.connections}", f"-t{args.duration}", f"-n{MAX_RATE * args.duration}", url]
        loadgen = [sys.executable, "-m", "loadgen", "-t1", f"-c{args.connections}", f"-d{args.duration}s", url]
        runs: list[Run] = []
        machine: list[dict[str, object]] = []  # per run: where the CPU went (see where())
        for pair in range(args.pairs):
            for name in ["ab", "loadgen"] if pair % 2 == 0 else ["loadgen", "ab"]:
                with Window(nginx.process.pid) as window:
                    if name == "ab":
                        run, _ = run_client(name, ab, args.client_core, ab_figures)
                    else:
                        run, _ = run_client(name, loadgen, args.client_core)
                runs.append(run)
                machine.append(where(run, window, args.client_core, args.server_core))
                print(
                    f"pair {pair + 1} {name:8} {run.requests_per_sec:10.0f} req/s "
                    f"{run.cpu_us_per_request:6.2f} CPU us/request ({run.user_us_per_request:.2f} user)  "
                    + describe(machine[-1]),
                    flush=True,
                )

    def median(name: str, figure: str) -> float:
        return statistics.median(getattr(r, figure) for r in runs if r.client == name)

    def spread(name: str, figure: str) -> str:
        values = [getattr(r, figure) for r in runs if r.client == name]
        return f"[{min(values):.2f}, {max(values):.2f}]"

    rate_ratio = median("loadgen", "requests_per_sec") / median("ab", "requests_per_sec")
    cpu_ratio = median("loadgen", "cpu_us_per_request") / median("ab", "cpu_us_per_request")
    print(
        f"\nmedian Requests/sec: ab {median('ab', 'requests_per_sec'):.0f} {spread('ab', 'requests_per_sec')}, "
        f"loadgen {median('loadgen', 'requests_per_sec'):.0f} {spread('loadgen', 'requests_per_sec')}"
        f"  -> ratio {rate_ratio:.3f} (target >= 1.0)"
    )
    print(
        f"median CPU us/request: ab {median('ab', 'cpu_us_per_request'):.2f} {spread('ab', 'cpu_us_per_request')}, "
        f"loadgen {median('loadgen', 'cpu_us_per_request'):.2f} {spread('loadgen', 'cpu_us_per_request')}"
        f"  -> ratio {cpu_ratio:.3f} (target <= 1.0)"
    )
    print(  # the kernel's share is the same work for both (a write and a read per request): the gap is in user space
        f"median user-space CPU us/request: ab {median('ab', 'user_us_per_request'):.2f} "
        f"{spread('ab', 'user_us_per_request')}, loadgen {median('loadgen', 'user_us_per_request'):.2f} "
        f"{spread('loadgen', 'user_us_per_request')}"
    )
    bound = client_bound_pairs(runs, machine)
    bound_ratio = statistics.median(bound) if bound else None
    print(
        f"pairs in which both clients were CPU-bound (busy >= {BOUND:.0%}): {len(bound)} of {args.pairs}"
        + (f", loadgen / ab req/s median {bound_ratio:.3f} [{min(bound):.3f}, {max(bound):.3f}]" if bound else "")
    )
    record = {
        "args": vars(args),
        "client_bound_rate_ratios": bound,
        "runs": [
            asdict(r)
            | {"cpu_us_per_request": r.cpu_us_per_request, "user_us_per_request": r.user_us_per_request}
            | seen
            for r, seen in zip(runs, machine, strict=True)
        ],
        "rate_ratio": rate_ratio,
        "cpu_ratio": cpu_ratio,
    }
    write_record("vs_ab", record)


if __name__ == "__main__":
    main()
