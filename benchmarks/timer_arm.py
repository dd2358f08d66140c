"""The constant rate's timer arming, tree against tree: nanoseconds of CPU per ``timerfd_settime``.

    python benchmarks/timer_arm.py [--rounds 41] [--arms 20000] NAME=TREE [NAME=TREE ...]
    python benchmarks/timer_arm.py main=/tmp/main this=$PWD

While ``-R`` holds its rate, a send that waits for its due time arms the pacer's timerfd once;
before Python 3.13 that is a ctypes call (``loadgen/_run/pacer.py``). Each tree's pacer module is
loaded from its file into this one process, and the trees' timers are armed ``--arms`` times per
round (a deadline far ahead, so none fires), the trees alternating which goes first; this
thread's CPU time per arming, medians [lowest, highest] of the rounds, and each tree's median
against the first's. Linux only (a timerfd). Writes a JSON record under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path
from types import ModuleType

from precompile import compiled_trees
from record import write_record
from turns import in_turn

AHEAD_NS = 10**12  # deadlines 1,000 s ahead: armed, never fired


def pacer_of(tree: str, name: str) -> ModuleType:
    """``TREE/loadgen/_run/pacer.py`` as a module of its own (it imports only the standard library)."""
    spec = importlib.util.spec_from_file_location(f"pacer_{name}", Path(tree) / "loadgen" / "_run" / "pacer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ns_per_arm(timer: object, fd: int, arms: int) -> float:
    arm = timer.arm  # type: ignore[attr-defined]
    deadline = time.perf_counter_ns() + AHEAD_NS
    started = time.thread_time_ns()
    for i in range(arms):
        arm(fd, deadline + i)
    return (time.thread_time_ns() - started) / arms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--arms", type=int, default=20_000)
    parser.add_argument("trees", nargs="+", metavar="NAME=TREE")
    args = parser.parse_args()
    trees = compiled_trees(args.trees)
    timers = {}
    for name, tree in trees.items():
        timer = pacer_of(tree, name)._LibcTimerfd()  # the ctypes one, whatever this Python has
        timers[name] = (timer, timer.create())
    runs: dict[str, list[float]] = {name: [] for name in trees}
    names = list(trees)
    for round_ in range(args.rounds):
        for name in in_turn(names, round_):
            runs[name].append(ns_per_arm(*timers[name], args.arms))
    first = statistics.median(runs[names[0]])
    for name, values in runs.items():
        median = statistics.median(values)
        spread = f"[{min(values):.0f}, {max(values):.0f}]"
        print(f"{name}: {median:.0f} ns per arming {spread}, {median / first:.3f}x {names[0]}")
    write_record("timer_arm", {"args": vars(args), "ns_per_arm": runs})


if __name__ == "__main__":
    main()
