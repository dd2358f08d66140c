"""What else used the machine while loadgen ran: CPU time outside the runner's own processes, and steal time.

The machine's CPU time comes from ``/proc/stat``; ours is the runner and every process below it
(the servers' process groups, loadgen's workers), each counted with the children it reaped, so a
worker that ends inside the window is not lost. Whatever user and system time is left was used by
someone else. Interrupt time (the loopback traffic itself) counts as neither. Without ``/proc``
(not Linux) nothing is measured and no cell is flagged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
USER, NICE, SYSTEM, IDLE, IOWAIT, IRQ, SOFTIRQ, STEAL = range(8)


@dataclass(frozen=True)
class CpuCounters:
    """Clock ticks so far: the machine's, per ``/proc/stat`` column, and those of the process tree under a root."""

    machine: tuple[int, ...]
    ours: int


@dataclass(frozen=True)
class MachineUsage:
    """Shares of the machine's CPU time over a window (1.0: every core, the whole window)."""

    window_s: float
    ours_share: float
    other_share: float
    steal_share: float

    def to_json(self) -> dict[str, float]:
        return {
            "window_s": self.window_s,
            "ours_share": self.ours_share,
            "other_share": self.other_share,
            "steal_share": self.steal_share,
        }


def _process_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of the children it reaped)."""
    found = {}
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        try:
            fields = (PROC / entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after the command: state, ppid, ... utime, stime, cutime, cstime are fields 14 to 17 of stat
        found[int(entry)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))
    return found


def tree_ticks(root: int) -> int:
    """CPU ticks used by ``root`` and every process below it, reaped children included."""
    stats = _process_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        if pid in stats:
            total += stats[pid][1]
        pending.extend(children.get(pid, ()))
    return total


def read_counters(root: int) -> CpuCounters | None:
    try:
        line = (PROC / "stat").read_text().splitlines()[0]
    except OSError:
        return None
    return CpuCounters(tuple(int(value) for value in line.split()[1:9]), tree_ticks(root))


def usage_between(before: CpuCounters, after: CpuCounters, window_s: float) -> MachineUsage:
    """The shares of the window's CPU time. Ours is at least 0: a process that leaves the tree takes the ticks it
    had with it (a server's master killed mid-cell: its workers go to init, and the tree read -0.26 of the machine,
    the others 1.21, which results.json's schema refuses, so ``report``, ``compare`` and the next ``run`` refused the
    run's own file)."""
    delta = [late - early for early, late in zip(before.machine, after.machine, strict=True)]
    total = sum(delta) or 1
    ours = max(0, after.ours - before.ours)
    used = delta[USER] + delta[NICE] + delta[SYSTEM]
    return MachineUsage(window_s, ours / total, max(0, used - ours) / total, delta[STEAL] / total)


class CpuWatch:
    """Holds the :class:`MachineUsage` of the ``with`` block it watched (None without ``/proc``)."""

    def __init__(self) -> None:
        self.usage: MachineUsage | None = None


@contextmanager
def watch(root: int | None = None) -> Iterator[CpuWatch]:
    """Measure the machine's use around a block; ``root`` (default: this process) and its descendants are ours."""
    root = os.getpid() if root is None else root
    result = CpuWatch()
    started = time.monotonic()
    before = read_counters(root)
    try:
        yield result
    finally:
        after = read_counters(root)
        if before is not None and after is not None:
            result.usage = usage_between(before, after, time.monotonic() - started)
