"""The constant rate's wake-ups, tree against tree: system calls per request of ``-R`` runs.

    python benchmarks/pace_syscalls.py [--rates 2000,5000] [--rounds 3] NAME=TREE [NAME=TREE ...]
    python benchmarks/pace_syscalls.py --rounds 3 main=/tmp/main this=$PWD

At a rate the client holds, each send that waits for its due time is a timer wake-up: an
``epoll_pwait`` return and a ``timerfd_settime``. ``perf stat`` counts them (the kernel's syscall
tracepoints, over loadgen's whole process tree) in ``loadgen -t1 -c50 -d4s -R RATE`` against nginx
(pinned to core 1, loadgen to core 0), each tree with itself first on ``PYTHONPATH``, trees
alternating; per request, medians [lowest, highest] of the runs that held their rate (98% of it).
A count, not a time: what the machine's load changes is how often a response beats the timer.
Needs perf and nginx. Writes a JSON record under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from precompile import compiled_trees
from record import write_record
from turns import in_turn

from loadgen.testing.nginx import Nginx

CALLS = ("timerfd_settime", "epoll_pwait", "epoll_wait", "read", "write")
HELD = 0.98  # a run that achieved less fell behind its schedule: its wake-ups are not a held rate's


def one_run(tree: str, url: str, rate: float) -> tuple[float, dict[str, float]]:
    """Requests/sec achieved and system calls per request of one run."""
    events = ",".join(f"syscalls:sys_enter_{call}" for call in CALLS)
    command = ["perf", "stat", "-x,", "-e", events, "--", "taskset", "-c", "0", sys.executable, "-m", "loadgen"]
    command += ["-t1", "-c50", "-d4s", f"-R{rate:.0f}", "--json", "-", url]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": tree}, cwd="/tmp")
    if done.returncode != 0:
        raise SystemExit(f"loadgen failed ({done.returncode}): {done.stderr}")
    document = json.loads(done.stdout)
    counts = {}
    for line in done.stderr.splitlines():  # perf's CSV: value,unit,event,...
        value, _, event, *_ = [*line.split(","), "", "", ""]
        if event.startswith("syscalls:sys_enter_") and value.isdigit():
            counts[event.removeprefix("syscalls:sys_enter_")] = int(value)
    requests = max(document["requests"], 1)
    return document["requests_per_sec"], {call: counts.get(call, 0) / requests for call in CALLS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="2000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("trees", nargs="+", help="NAME=TREE")
    args = parser.parse_args()
    trees = compiled_trees(args.trees)
    rates = [float(rate) for rate in args.rates.split(",")]
    runs: list[dict[str, object]] = []
    with Nginx(core=1) as nginx:
        for round_ in range(args.rounds):
            for rate in rates:
                for name in in_turn(list(trees), round_):
                    achieved, per_request = one_run(trees[name], nginx.url("/"), rate)
                    runs.append({"tree": name, "rate": rate, "achieved": achieved, "per_request": per_request})
                    shown = ", ".join(f"{call} {value:.3f}" for call, value in per_request.items())
                    print(f"round {round_ + 1} -R{rate:.0f} {name:8} {achieved:8.0f} req/s  {shown}", flush=True)
    for rate in rates:
        for name in trees:
            held = [
                run for run in runs if run["tree"] == name and run["rate"] == rate and run["achieved"] >= HELD * rate
            ]
            figures = []
            for call in ("timerfd_settime", "epoll_pwait"):
                values = [run["per_request"][call] for run in held]  # type: ignore[index]
                if values:
                    figures.append(f"{call} {statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]")
            print(f"-R{rate:.0f} {name:8} {len(held)} runs held: " + ("; ".join(figures) or "none"))
    write_record("pace_syscalls", {"args": vars(args), "runs": runs})


if __name__ == "__main__":
    main()
