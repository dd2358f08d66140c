"""How many reads and writes an HTTP/2 worker (and nginx) makes per request, and their CPU, by tree.

    python benchmarks/h2_reads.py [--tree DIR ...] [--streams 10 1] [--rounds 3]

A faster session does not always cost less per request end to end: when the server is the limit,
a client that handles a read sooner comes back for the next one sooner and finds fewer responses
in it, so the reads and writes on both sides are shared by fewer requests. This runs ``loadgen
--http2 -t1 -c50 -mM -d8s`` against nginx h2c (one worker pinned to one core, loadgen to the
other), each tree (``PYTHONPATH=DIR``) in turn, and reads the worker's and nginx's counters from
``/proc`` over 4 s of the run's middle (user and system CPU from ``stat``, read and write system
calls from ``io``: nothing attached to either process, which ``perf stat``'s tracepoints would
slow and so change the very pace measured). Prints each run per request, and the run's req/s.
Needs nginx (``apt-get install nginx-light``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from cpu_split import ProfileFailed, worker_of
from record import write_record

from loadgen.testing.nginx import Nginx

SETTLE_S = 2.5  # into the 8-second run: the connections open, the first second over
COUNTED_S = 4.0
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def counters(pid: int) -> tuple[float, float, int, int]:
    """A process's user and system CPU seconds, and its read and write system calls so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields[11]) * TICK_S, int(fields[12]) * TICK_S, int(io["syscr"]), int(io["syscw"])


def per_request(
    before: list[tuple[float, float, int, int]], after: list[tuple[float, float, int, int]], requests: float
) -> dict[str, float]:
    """The processes' differences added up: µs of user and system CPU, reads and writes per 1,000."""
    user, system, reads, writes = (sum(a[i] - b[i] for a, b in zip(after, before, strict=True)) for i in range(4))
    return {
        "user_us": user / requests * 1e6,
        "system_us": system / requests * 1e6,
        "reads_per_1000": reads / requests * 1000,
        "writes_per_1000": writes / requests * 1000,
    }


def measured(url: str, tree: str, streams: int, core: int, nginx_workers: list[int]) -> dict[str, object]:
    """One run: the worker's and nginx's figures per request, and the run's requests/sec."""
    command = ["taskset", "-c", str(core), sys.executable, "-m", "loadgen", "--http2", f"-m{streams}"]
    command += ["-t1", "-c50", "-d8s", url]
    run = subprocess.Popen(
        command, env=dict(os.environ, PYTHONPATH=tree), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        worker = worker_of(run.pid)  # the command's fork, found by its command line
    except ProfileFailed as exc:
        run.kill()
        raise SystemExit(f"h2_reads: {exc}") from None
    time.sleep(SETTLE_S)
    client_before, nginx_before = [counters(worker)], [counters(pid) for pid in nginx_workers]
    time.sleep(COUNTED_S)
    client_after, nginx_after = [counters(worker)], [counters(pid) for pid in nginx_workers]
    out, err = run.communicate()
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if run.returncode or found is None:
        raise SystemExit(f"h2_reads: loadgen failed ({run.returncode}): {err.strip().splitlines()[-1:]}")
    rate = float(found[1])
    requests = rate * COUNTED_S
    return {
        "requests_per_sec": rate,
        "client": per_request(client_before, client_after, requests),
        "nginx": per_request(nginx_before, nginx_after, requests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", help="a loadgen checkout to run (default: this one)")
    parser.add_argument("--streams", type=int, nargs="+", default=[10, 1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    trees = args.tree or [str(Path(__file__).resolve().parent.parent)]
    runs = []
    with Nginx(core=args.server_core, http2=True) as nginx:
        listed = subprocess.run(["pgrep", "-P", str(nginx.process.pid)], capture_output=True, text=True)  # type: ignore[union-attr]
        nginx_workers = [int(pid) for pid in listed.stdout.split()]
        for round_ in range(1, args.rounds + 1):
            for streams in args.streams:
                for tree in trees:
                    figures = measured(nginx.url("/"), tree, streams, args.client_core, nginx_workers)
                    runs.append({"round": round_, "tree": tree, "streams": streams, **figures})
                    client, server = figures["client"], figures["nginx"]
                    print(
                        f"round {round_} -m{streams} {tree}: client user {client['user_us']:.2f} system "
                        f"{client['system_us']:.2f} µs, {client['reads_per_1000']:.0f} reads and "
                        f"{client['writes_per_1000']:.0f} writes per 1,000 requests; nginx user "
                        f"{server['user_us']:.2f} system {server['system_us']:.2f} µs, "
                        f"{server['writes_per_1000']:.0f} writes per 1,000; {figures['requests_per_sec']:,.0f} req/s",
                        flush=True,
                    )
    write_record("h2_reads", {"args": vars(args), "runs": runs})


if __name__ == "__main__":
    main()
