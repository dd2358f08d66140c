"""Where the CPU went during a run, for the benchmarks that pin a server and a client to cores
(Linux): each core's shares of user, system, softirq, idle and stolen time (``/proc/stat``), and
a process tree's CPU time (``/proc/PID/stat``: a running server, whose ``wait4`` never comes).

    from cpustat import Window   # a sibling script
    with Window(server_pid) as window:
        ...                      # the run
    window.server_cpu_s, window.shares(core)

A client that does less than its share while it is not short of CPU was waiting for something:
the server (its core busy), or the wake-ups between the two (both cores partly idle).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

__all__ = ["Window", "core_ticks", "tree_cpu_s", "tree_waits"]

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def core_ticks() -> dict[int, dict[str, int]]:
    """Each core's ticks so far in each state of ``/proc/stat``."""
    cores = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            cores[int(name[3:])] = dict(zip(FIELDS, map(int, values), strict=False))
    return cores


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


def _tree_files(pid: int, name: str) -> Iterator[str]:
    """``/proc/PID/name`` of ``pid`` and of each descendant still running (those gone are skipped)."""
    for member in [pid, *_children(pid)]:
        try:
            yield Path(f"/proc/{member}/{name}").read_text()
        except OSError:
            continue


def tree_cpu_s(pid: int) -> float:
    """User and system CPU of ``pid`` and its descendants still running, in seconds."""
    total = 0.0
    for stat in _tree_files(pid, "stat"):
        fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
        total += (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime
    return total


def tree_waits(pid: int) -> int:
    """Voluntary context switches of ``pid`` and its descendants still running: how often they
    slept (in ``epoll_wait``, for a server)."""
    return sum(
        int(line.split()[1])
        for status in _tree_files(pid, "status")
        for line in status.splitlines()
        if line.startswith("voluntary_ctxt_switches:")
    )


class Window:
    """The cores' ticks and a server's CPU over a ``with`` block."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.server_cpu_s = 0.0
        self.server_waits = 0
        self._before: dict[int, dict[str, int]] = {}
        self._ticks: dict[int, dict[str, int]] = {}

    def __enter__(self) -> Window:
        self._server_before = tree_cpu_s(self.server_pid)
        self._waits_before = tree_waits(self.server_pid)
        self._before = core_ticks()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        after = core_ticks()
        self.server_cpu_s = tree_cpu_s(self.server_pid) - self._server_before
        self.server_waits = tree_waits(self.server_pid) - self._waits_before
        self._ticks = {
            core: {state: after[core][state] - self._before[core].get(state, 0) for state in after[core]}
            for core in after
            if core in self._before
        }

    def shares(self, core: int) -> dict[str, float]:
        """The core's time over the window, per state, as fractions: ``busy`` (user, nice,
        system, irq: softirq apart), ``softirq``, ``idle`` (with iowait), ``steal``."""
        ticks = self._ticks[core]
        total = sum(ticks.values()) or 1
        return {
            "busy": (ticks["user"] + ticks["nice"] + ticks["system"] + ticks["irq"]) / total,
            "softirq": ticks["softirq"] / total,
            "idle": (ticks["idle"] + ticks["iowait"]) / total,
            "steal": ticks.get("steal", 0) / total,
        }
