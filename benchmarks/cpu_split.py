"""Where a worker's CPU per request goes, the kernel's share apart from Python's, closed loop against -R.

    python benchmarks/cpu_split.py [--pairs 3] [--duration 5] [--rate 4x] [--tree DIR ...]

A worker's CPU time per request (``rate_ceiling.py``'s figure) counts the kernel's TCP work with
loadgen's own: two modes can differ in either. Each pair runs the closed loop (``-t1 -c50``) and
``-R RATE`` against nginx (nginx on core 0, loadgen on core 1, both ``nice -n -15``), in turn,
with ``perf record`` (its CPU clock: no hardware counters needed) attached to the worker over the
middle of the window; each run's CPU per request is then split by where its samples fell (the
kernel, libpython, uvloop, libc) and by symbol. Prints the medians, and the symbols whose share
grew or shrank most from the first mode to the second: a growth in libpython's dict lookups, the
evaluation loop and the frees is loadgen's Python; one in the kernel's TCP, epoll and scheduler
functions is the network's. ``--rate 4x``: four times the closed loop just measured (always
behind its schedule, as rate_ceiling.py's ceiling), measured before each pair. With several
``--tree``, the -R runs rotate between trees instead (no closed loop is profiled): tree against tree.
The profiled process is the command's worker: its child forked from it (not whichever child
/proc lists last). A run that gives no figures (``perf record`` killed, say) is said in one line
and run once more, so that each pair keeps both its runs; failing again, the script stops (exit 1).
Needs nginx and perf (``apt-get install nginx-light linux-perf``); run as root or with
``kernel.perf_event_paranoid`` at most 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from loadgen.testing.nginx import Nginx

LIBRARIES = (("kernel", "[kernel"), ("libpython", "libpython"), ("uvloop", "loop.cpython"), ("libc", "libc"))


TIMED_OUT = 124  # timeout(1)'s exit code when it ended the command


class ProfileFailed(Exception):
    """A profiled run that gave no figures (perf record or report failed, no worker found): one line why."""


def _children(pid: int) -> list[int]:
    """``pid``'s child processes, whichever of its threads started them."""
    tasks = Path(f"/proc/{pid}/task")
    found = []
    for task in tasks.iterdir() if tasks.exists() else ():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def worker_of(pid: int, timeout_s: float = 10.0) -> int:
    """The loadgen command's one worker (-t1): the child that is a fork of the command (it forks its
    workers itself, so theirs is its command line; any other child execs another program), not
    whichever child /proc lists last. The command's line is read each time: just started, it may
    still be the launcher's (``nice``, ``taskset``), or empty during their exec."""
    deadline = time.monotonic() + timeout_s
    while True:
        command = _cmdline(pid)
        forks = [child for child in _children(pid) if _cmdline(child) == command]
        if len(forks) == 1:
            return forks[0]
        if time.monotonic() > deadline or not Path(f"/proc/{pid}").exists():
            raise ProfileFailed(f"no single loadgen worker under pid {pid} ({len(forks)} forks of the command)")
        time.sleep(0.1)


def _perf(*args: str, for_s: float | None = None) -> str:
    """``perf ARGS``'s output; ProfileFailed, saying how it ended and its last line, when it failed.
    ``for_s``: ended by SIGINT after that long (``timeout``'s exit 124), or before, when the process
    it follows exits: with a ``sleep`` workload instead, a worker that exited first had perf end
    the workload with SIGTERM and die of it (3 of 4 attempts at -d6s, perf slow to start)."""
    timed = ["timeout", "-s", "INT", f"{for_s:g}"] if for_s is not None else []
    done = subprocess.run([*timed, "perf", *args], capture_output=True, text=True, check=False)
    if done.returncode == 0 or (timed and done.returncode == TIMED_OUT):
        return done.stdout
    how = f"killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"exit {done.returncode}"
    said = done.stderr.strip().splitlines()[-1:]
    raise ProfileFailed(f"perf {args[0]} failed ({how})" + (f": {said[0]}" if said else ""))


def profiled_run(
    url: str, tree: str, rate: float | None, duration: int, core: int, out: Path
) -> tuple[float, Counter[str]]:
    """One run: its worker's CPU per request, and that split by library and by symbol (µs)."""
    flags = ["-t1", "-c50", f"-d{duration}s", "--json", str(out / "run.json"), *([f"-R{rate:.0f}"] if rate else [])]
    env = dict(os.environ, PYTHONPATH=tree)
    command = ["nice", "-n", "-15", "taskset", "-c", str(core), sys.executable, "-m", "loadgen", *flags, url]
    (out / "run.json").unlink(missing_ok=True)
    run = subprocess.Popen(command, env=env, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = out / "perf.data"
    try:
        time.sleep(min(1.5, duration / 3))  # the worker forked, its connections open
        worker = worker_of(run.pid)
        _perf(
            "record",
            "-q",
            "-F",
            "4999",
            "-p",
            str(worker),
            "-o",
            str(data),
            for_s=max(1.0, duration - 2.5),
        )
    finally:  # the run ends on its own within -d: the next one must not overlap it
        try:
            run.wait(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
    if run.returncode != 0 or not (out / "run.json").exists():
        raise ProfileFailed(f"the loadgen run failed (exit {run.returncode})")
    document = json.loads((out / "run.json").read_text())
    cpu_us = 1e6 * document["client_cpu"]["workers"][0]["cpu_s"] / document["requests"]
    report = _perf("report", "-i", str(data), "--stdio", "--no-children", "-q", "-g", "none", "--sort", "dso,sym")
    split: Counter[str] = Counter()
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].endswith("%"):
            continue
        share_us = float(parts[0][:-1]) * cpu_us / 100
        library = next((name for name, marker in LIBRARIES if marker in parts[1]), "other")
        split[library] += share_us
        split[f"{library}: {' '.join(parts[3:])}"] += share_us
    split["total"] = cpu_us
    return cpu_us, split


def profiled_again(
    label: str, url: str, tree: str, rate: float | None, duration: int, core: int, out: Path
) -> tuple[float, Counter[str]]:
    """:func:`profiled_run`, run once more when it gave no figures (a pair needs both its runs);
    failed twice, one line and exit 1, the runs printed so far kept above it."""
    try:
        return profiled_run(url, tree, rate, duration, core, out)
    except ProfileFailed as exc:
        print(f"cpu_split: {label}: {exc}; running it again", file=sys.stderr, flush=True)
    try:
        return profiled_run(url, tree, rate, duration, core, out)
    except ProfileFailed as exc:
        sys.exit(f"cpu_split: {label}: {exc} again; stopped")


def closed_rate(url: str, tree: str, core: int) -> float:
    """The closed loop's requests/sec for 2 s, pinned as the profiled runs are: -R's ``Nx`` base."""
    flags = ["-t1", "-c50", "-d2s", "--json", "-", url]
    done = subprocess.run(
        ["nice", "-n", "-15", "taskset", "-c", str(core), sys.executable, "-m", "loadgen", *flags],
        env=dict(os.environ, PYTHONPATH=tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout)["requests_per_sec"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rate", default="4x", help="-R: requests/sec, or Nx the closed loop's rate")
    parser.add_argument("--tree", action="append", help="a tree to put first on PYTHONPATH (default: this one)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    args = parser.parse_args()
    trees = args.tree or [str(Path(__file__).resolve().parents[1])]
    # (mode, tree, paced): the closed loop against -R in one tree, or -R in each tree
    runs = (
        [(f"-R {tree}", tree, True) for tree in trees]
        if len(trees) > 1
        else [("closed", trees[0], False), ("-R", trees[0], True)]
    )
    splits: dict[str, list[Counter[str]]] = {mode: [] for mode, _, _ in runs}
    with Nginx(core=args.server_core) as nginx, tempfile.TemporaryDirectory() as scratch:
        master = str(nginx.process.pid)
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        subprocess.run(["renice", "-n", "-15", "-p", master, *children], check=False, capture_output=True)
        for pair in range(args.pairs):
            base = closed_rate(nginx.url(), trees[0], args.client_core) if args.rate.endswith("x") else 0.0
            rate = float(args.rate[:-1]) * base if args.rate.endswith("x") else float(args.rate)
            for turn in range(len(runs)):
                mode, tree, paced = runs[(turn + pair) % len(runs)] if len(trees) > 1 else runs[turn]
                cpu_us, split = profiled_again(
                    f"pair {pair + 1}, {mode}",
                    nginx.url(),
                    tree,
                    rate if paced else None,
                    args.duration,
                    args.client_core,
                    Path(scratch),
                )
                splits[mode].append(split)
                print(f"pair {pair + 1}, {mode}: {cpu_us:.2f} µs of CPU per request", flush=True)
    medians = {
        mode: {key: statistics.median(split[key] for split in done) for key in set().union(*done)}
        for mode, done in splits.items()
    }
    first, second = runs[0][0], runs[-1][0]
    print(f"\nµs per request, medians of {args.pairs} runs each: {first} -> {second}")
    for key in ("total", *(name for name, _ in LIBRARIES), "other"):
        print(f"  {key:10} {medians[first].get(key, 0):6.2f} -> {medians[second].get(key, 0):6.2f}")
    deltas = sorted(
        (medians[second].get(key, 0) - medians[first].get(key, 0), key)
        for key in set(medians[first]) | set(medians[second])
        if ": " in key
    )
    print("  grew most:", "; ".join(f"{key} {delta:+.3f}" for delta, key in reversed(deltas[-8:])))
    print("  shrank most:", "; ".join(f"{key} {delta:+.3f}" for delta, key in deltas[:8]))


if __name__ == "__main__":
    main()
