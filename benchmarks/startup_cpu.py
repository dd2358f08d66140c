"""The command's start-up CPU, tree against tree: ``loadgen -v`` (imports, the command line, the
version line and the usage text; no run), and what ``-X importtime`` says the imports cost.

    python benchmarks/startup_cpu.py [--runs 20] [--core 0] NAME=TREE [NAME=TREE ...]
    python benchmarks/startup_cpu.py --runs 20 main=/tmp/main this=$PWD

Each run is a fresh interpreter running ``loadgen -v`` as ``python -m loadgen`` does, with the
tree first on ``PYTHONPATH``, pinned to ``--core``: its user + system CPU from ``wait4``, and the
command's own (from its first import to its exit, ``time.process_time``); the trees alternate run by run, and
each is compiled to bytecode first (as an installed package is). Then the same with
``-X importtime``, whose total (the sum of the top-level imports' cumulative times, site's
included) is the imports' wall time. Medians [lowest, highest].
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

from precompile import compiled_trees
from record import write_record
from turns import in_turn

# ``loadgen -v`` as ``python -m loadgen`` runs it, with the CPU of the command's own part (from its
# first import to its exit: the interpreter's start and site's imports aside) on stderr's last line
COMMAND = """\
import sys, time
started = time.process_time()
from loadgen.__main__ import entry
sys.argv = ["loadgen", "-v"]
entry()
print("command CPU", time.process_time() - started, file=sys.stderr)
"""
TOP_LEVEL = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", re.M)  # no indentation: imported by the script


def one_run(tree: str, core: int, importtime: bool) -> tuple[float, float, float]:
    """CPU seconds of ``loadgen -v`` with ``tree``'s loadgen (the process's, and the command's
    own part), and its imports' wall time (seconds, 0 unless ``importtime``)."""
    env = {**os.environ, "PYTHONPATH": tree}
    flags = ["-X", "importtime"] if importtime else []
    process = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, *flags, "-c", COMMAND],
        env=env,
        cwd="/tmp",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors = process.stderr.read() if process.stderr else ""
    _, _, usage = os.wait4(process.pid, 0)
    imports_us = sum(int(match.group(1)) for match in TOP_LEVEL.finditer(errors))
    command = re.search(r"^command CPU ([\d.]+)", errors, re.M)
    return usage.ru_utime + usage.ru_stime, float(command.group(1)) if command else 0.0, imports_us / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("trees", nargs="+", help="NAME=TREE")
    args = parser.parse_args()
    trees = compiled_trees(args.trees)
    figures: dict[str, dict[str, list[float]]] = {
        name: {"cpu_s": [], "command_cpu_s": [], "imports_s": []} for name in trees
    }
    for index in range(args.runs):
        for name in in_turn(list(trees), index):
            cpu, command, _ = one_run(trees[name], args.core, importtime=False)
            _, _, imports = one_run(trees[name], args.core, importtime=True)
            figures[name]["cpu_s"].append(cpu)
            figures[name]["command_cpu_s"].append(command)
            figures[name]["imports_s"].append(imports)
    for name, values in figures.items():
        for figure, series in values.items():
            print(
                f"{name:8} {figure:10} {statistics.median(series) * 1000:8.1f} ms "
                f"[{min(series) * 1000:.1f}, {max(series) * 1000:.1f}] ({len(series)} runs)"
            )
    write_record("startup_cpu", {"args": vars(args), "figures": figures})


if __name__ == "__main__":
    main()
