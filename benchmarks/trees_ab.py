"""Several loadgen trees (and wrk) on one nginx, in turn: requests/sec, CPU per request, the parent's CPU.

    python benchmarks/trees_ab.py ROUNDS "FLAGS" NAME=TREE[@PYTHON] [NAME=TREE[@PYTHON] ...] [wrk]
    python benchmarks/trees_ab.py 3 "-t2 -c10000 -d10s" main=/tmp/main this=$PWD wrk
    python benchmarks/trees_ab.py 5 "-t1 -c50 -d10s" pyenv=$PWD distro=$PWD@/tmp/distro-venv/bin/python

nginx (one worker) pinned to core 1, every client to core 0; each round runs every side once,
rotating which goes first. Each tree runs with itself on ``PYTHONPATH`` (compiled first, as
installed), under this interpreter or the one after ``@`` (a venv with loadgen's dependencies: the same
tree on two builds of Python); its CPU is that of its whole process tree (the parent, which reaps its workers, from
``os.times`` of this process's children), and the parent's own CPU (start-up, merge, report) is
printed apart, from the parent itself. Medians [lowest, highest] at the end.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from precompile import compile_loadgen
from turns import in_turn

from loadgen.testing.nginx import Nginx

# The command, then its own CPU on stderr (its children's is in this process's os.times)
PARENT_CPU = """\
import atexit, resource, sys
atexit.register(lambda: print("parent CPU", sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), file=sys.stderr))
from loadgen.__main__ import entry
sys.exit(entry())
"""
FIGURES = ("req/s", "CPU s", "CPU us/request", "parent CPU s")


def tree_and_python(side: str) -> tuple[str, str]:
    """``NAME=TREE[@PYTHON]``: the tree, and the interpreter that runs it (default: this one)."""
    tree, _, python = side.split("=", 1)[1].partition("@")
    return tree, python or sys.executable


def run(side: str, flags: list[str], url: str) -> tuple[float, ...] | None:
    """One run of a side: its figures, or None when it failed or completed no request."""
    if side == "wrk":
        command, env = ["wrk", *flags, url], dict(os.environ)
    else:
        tree, python = tree_and_python(side)
        command, env = [python, "-c", PARENT_CPU, *flags, url], {**os.environ, "PYTHONPATH": tree}
    before = os.times()
    done = subprocess.run(["taskset", "-c", "0", *command], capture_output=True, text=True, env=env, cwd="/tmp")
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", done.stdout, re.M)
    requests = re.search(r"(\d+) requests in", done.stdout)
    if rate is None or requests is None or not int(requests.group(1)):
        print(f"{side}: failed\n{done.stdout}{done.stderr}", flush=True)
        return None
    parent = re.search(r"^parent CPU ([\d.]+)", done.stderr, re.M)
    return float(rate.group(1)), cpu, cpu / int(requests.group(1)) * 1e6, float(parent.group(1)) if parent else 0.0


def main() -> None:
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    rounds, flags, sides = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
    for side in sides:
        if side != "wrk":
            compile_loadgen(Path(tree_and_python(side)[0]))
    results: dict[str, list[tuple[float, ...]]] = {side: [] for side in sides}
    with Nginx(core=1) as nginx:
        for round_ in range(rounds):
            for side in in_turn(sides, round_):
                figures = run(side, flags, nginx.url("/"))
                if figures is not None:
                    results[side].append(figures)
                    print(
                        f"round {round_ + 1} {side.split('=')[0]:8} "
                        + ", ".join(f"{name} {value:,.2f}" for name, value in zip(FIGURES, figures, strict=True)),
                        flush=True,
                    )
    for side, runs in results.items():
        for index, name in enumerate(FIGURES):
            values = [figures[index] for figures in runs]
            if values:
                print(
                    f"{side.split('=')[0]:8} {name:15} {statistics.median(values):12,.2f} "
                    f"[{min(values):,.2f}, {max(values):,.2f}] ({len(values)} runs)"
                )


if __name__ == "__main__":
    main()
