"""This tree against an earlier revision, side by side in one run: hot_path.py and vs_wrk.py.

    python benchmarks/before_after.py REV [--pairs 5] [--core 0] [--cpu-time] [--paced-rate R] [--vs-wrk] [--startup]

REV is exported with ``git archive`` into a temporary directory. Each pair runs each tree's
own ``benchmarks/hot_path.py`` (one round) with that tree first on ``PYTHONPATH``, alternating
which goes first, pinned to ``--core``; then the medians and spreads of the nanoseconds per
response (fast path, general parser, constant rate where the revision has it) and their ratio
after / before. With ``--vs-wrk``, each tree's ``vs_wrk.py`` (3 pairs of 5 s against wrk) runs
in the same alternation, and its loadgen / wrk ratios are compared the same way. With
``--startup``, ``wrk``, the revision's loadgen and this tree's run ``-t20 -c20 -d1s`` against nginx
in turn (rotating which goes first), and their wall and CPU times are compared.

Both trees' ``loadgen`` is compiled to bytecode first (``__pycache__``, as an installed package
has it): under ``PYTHONDONTWRITEBYTECODE`` a tree without it compiles every module it imports on
every start, which times the compiler (more source, more compiling) instead of loadgen's start-up.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from precompile import compile_loadgen
from record import write_record
from turns import in_turn

HERE = Path(__file__).resolve().parent
STARTUP_FLAGS = ["-t20", "-c20", "-d1s"]
ROOT = HERE.parent
HOT_PATH = {
    "fast": r"fast path: (\d+) ns/response",
    "parser": r"general parser: (\d+) ns/response",
    "paced": r"constant rate \(fast path\): (\d+) ns/response",
}
VS_WRK = {"rate_ratio": r"-> ratio ([\d.]+) \(target >= 0.9\)", "cpu_ratio": r"-> ratio ([\d.]+) \(target <= 1.5\)"}


def export(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def measure(tree: Path, command: list[str], core: int, patterns: dict[str, str]) -> dict[str, float]:
    """One run of a tree's own script with that tree's loadgen; the figures its output has."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        ["taskset", "-c", str(core), sys.executable, *command],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name: float(found.group(1)) for name, pattern in patterns.items() if (found := re.search(pattern, out))}


def compare(runs: dict[str, list[dict[str, float]]]) -> list[str]:
    lines = []
    for figure in runs["after"][0]:
        before = [run[figure] for run in runs["before"] if figure in run]
        after = [run[figure] for run in runs["after"]]
        if not before:
            lines.append(f"{figure}: after {statistics.median(after):.3f} (the revision does not measure it)")
            continue
        b, a = statistics.median(before), statistics.median(after)
        lines.append(
            f"{figure}: before {b:.3f} [{min(before):.3f}, {max(before):.3f}], after {a:.3f} "
            f"[{min(after):.3f}, {max(after):.3f}]: after / before {a / b:.3f}"
        )
    return lines


def timed(command: list[str], cwd: Path, core: int) -> dict[str, float]:
    """Wall time from spawn to exit, and the CPU time of the whole process tree; run from ``cwd``
    with it first on ``PYTHONPATH`` (``python -m`` looks in the working directory first)."""
    started = time.monotonic()
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *command],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, _, usage = os.wait4(process.pid, 0)
    return {"wall_s": time.monotonic() - started, "cpu_s": usage.ru_utime + usage.ru_stime}


def startup(trees: dict[str, Path], pairs: int, core: int) -> dict[str, list[dict[str, float]]]:
    """wrk and both trees' loadgen, ``-t20 -c20 -d1s`` against nginx on the other core, in turn."""
    from loadgen.testing.nginx import Nginx

    runs: dict[str, list[dict[str, float]]] = {"wrk": [], "before": [], "after": []}
    with Nginx(core=1 - core) as nginx:
        commands = {"wrk": (["wrk", *STARTUP_FLAGS, nginx.url("/")], ROOT)}
        for which, tree in trees.items():
            commands[which] = ([sys.executable, "-m", "loadgen", *STARTUP_FLAGS, nginx.url("/")], tree)
        order = list(commands)
        for round_ in range(pairs):
            for name in in_turn(order, round_):
                runs[name].append(timed(*commands[name], core))
                print(f"startup round {round_ + 1} {name:6} {runs[name][-1]}", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--responses", type=int, default=300_000)
    parser.add_argument(
        "--cpu-time", action="store_true", help="hot_path.py in thread CPU time (a core shared with other work)"
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        help="hot_path.py's -R for both trees (default: each calibrates its own on the wall clock, which other work on"
        " the core can slow: a rate then below what the tree answers leaves its connection idle, and the run fails)",
    )
    parser.add_argument("--vs-wrk", action="store_true", help="also vs_wrk.py's ratios (needs wrk and nginx)")
    parser.add_argument("--startup", action="store_true", help="only -t20 -c20 -d1s against wrk (wrk, nginx)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loadgen-before-") as tmp:
        trees = {"before": Path(tmp), "after": ROOT}
        export(args.rev, trees["before"])
        for tree in trees.values():
            compile_loadgen(tree)
        checks = [
            (
                "hot_path",
                ["benchmarks/hot_path.py", "--rounds", "1", "--responses", str(args.responses)]
                + (["--cpu-time"] if args.cpu_time else [])
                + (["--paced-rate", str(args.paced_rate)] if args.paced_rate else []),
                HOT_PATH,
            )
        ]
        if args.vs_wrk:
            checks.append(
                (
                    "vs_wrk",
                    [
                        "benchmarks/vs_wrk.py",
                        "--pairs",
                        "3",
                        "--duration",
                        "5",
                        "--skip-hold",
                        "--client-core",
                        str(args.core),
                        "--server-core",
                        str(1 - args.core),
                    ],
                    VS_WRK,
                )
            )
        record: dict[str, object] = {"rev": args.rev, "args": vars(args)}
        if args.startup:
            checks = []
            runs = startup(trees, args.pairs, args.core)
            lines = [
                f"{name}: wall {statistics.median(r['wall_s'] for r in timings):.3f} s "
                f"[{min(r['wall_s'] for r in timings):.3f}, {max(r['wall_s'] for r in timings):.3f}], "
                f"CPU {statistics.median(r['cpu_s'] for r in timings):.3f} s"
                for name, timings in runs.items()
            ]
            print("\n".join(lines))
            record["startup"] = {"runs": runs, "summary": lines}
        for name, command, patterns in checks:
            runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for pair in range(args.pairs):
                for which in ["before", "after"] if pair % 2 == 0 else ["after", "before"]:
                    runs[which].append(measure(trees[which], command, args.core, patterns))
                    print(f"{name} pair {pair + 1} {which:6} {runs[which][-1]}", flush=True)
            lines = compare(runs)
            print("\n".join(lines))
            record[name] = {"runs": runs, "summary": lines}
    write_record("before_after", record)


if __name__ == "__main__":
    main()
