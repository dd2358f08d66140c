"""What a server-matrix cell costs beyond its window, tree against tree: ``server-matrix run`` of one profile,
the trees in turn, and from each run's results.json every measured cell's time outside loadgen's window.

    python benchmarks/cell_overhead.py [--rounds 2] [--out /tmp/cell-overhead] NAME=TREE [NAME=TREE ...]
        [-- RUN OPTIONS]
    python benchmarks/cell_overhead.py --rounds 2 main=/work/main this=$PWD -- --modes wsgi-sync,asgi-uvicorn-single

Each run is ``python -m server_matrix run --profile quick --no-discover --no-chart --force`` (then the options
after ``--``) with the tree first on ``PYTHONPATH``; each round runs every tree once, rotating which goes first.
A sample's overhead is its ``elapsed_s`` (from the cell's start to its end: a server start when one was needed,
loadgen's call, the settling after it) minus its window (``runtime_us``); the samples that started a server
(the first of each server pid) are counted apart. Medians [quartiles] (lowest, highest), per tree over its runs,
and each run's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from precompile import compiled_trees
from spread import spread_ms
from turns import in_turn

RUN = ("run", "--profile", "quick", "--no-discover", "--no-chart", "--force")


def overheads(results: dict) -> tuple[list[float], list[float]]:
    """Seconds beyond the window of each measured sample: those that started a server, and the others."""
    samples = [
        sample
        for cell in results["cells"]
        for sample in cell["samples"]
        if sample.get("elapsed_s") is not None and sample.get("result")
    ]
    samples.sort(key=lambda sample: sample["started_at"])  # stable: measurement order inside a second
    seen: set[int] = set()
    starting, others = [], []
    for sample in samples:
        beyond = sample["elapsed_s"] - sample["result"]["runtime_us"] / 1e6
        pid = sample["server"]["pid"]
        (others if pid in seen else starting).append(beyond)
        seen.add(pid)
    return starting, others


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    ms = spread_ms(values)
    return f"{ms.median:7.0f} ms [{ms.q1:.0f}, {ms.q3:.0f}] ({ms.lowest:.0f}, {ms.highest:.0f}), {ms.count} samples"


def main() -> None:
    arguments = sys.argv[1:]
    extra = arguments[arguments.index("--") + 1 :] if "--" in arguments else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cell-overhead"))
    parser.add_argument("trees", nargs="+", metavar="NAME=TREE")
    options = parser.parse_args(arguments[: arguments.index("--")] if "--" in arguments else arguments)
    trees = compiled_trees(options.trees)
    figures: dict[str, dict[str, list[float]]] = {name: {"starting": [], "others": [], "wall": []} for name in trees}
    for number in range(options.rounds):
        for name in in_turn(list(trees), number):
            out = options.out / f"{name}-{number}"
            env = {**os.environ, "PYTHONPATH": trees[name]}
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "server_matrix", *RUN, "--out", str(out), *extra],
                env=env,
                cwd="/tmp",
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - started
            if done.returncode != 0:
                print(f"{name}, round {number + 1}: exit {done.returncode}\n{done.stderr[-2000:]}", flush=True)
            starting, others = overheads(json.loads((out / "results.json").read_text()))
            figures[name]["starting"] += starting
            figures[name]["others"] += others
            figures[name]["wall"].append(wall)
            print(f"{name}, round {number + 1}: {wall:.1f} s, cells beyond their window {summary(others)}", flush=True)
    for name, figure in figures.items():
        print(f"\n{name} ({trees[name]}):")
        print(f"  a cell on a running server  {summary(figure['others'])}")
        print(f"  a cell that started one     {summary(figure['starting'])}")
        print(f"  runs' wall time             {', '.join(f'{wall:.1f} s' for wall in figure['wall'])}")


if __name__ == "__main__":
    main()
