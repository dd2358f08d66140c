"""What a run will cost in time, computed from its plan: the progress's time left, and each profile's budget.

Measured on this project's 2-core machine (the README's main command with one free-threaded
interpreter, 93 server starts and 810 measurements, idle, 2026-11-25): a server starts, warms up
and is stopped in 1.4 s (median), once per round; a cell cost its duration plus 0.32 s (loadgen's
workers, the runtime probes, the save of results.json), once per repetition. Since the run keeps
one ``loadgen.Workers`` (2026-12-03), loadgen's call no longer starts a fork server for each cell:
0.2 to 0.3 s less per cell (benchmarks/README.md, issue 25); a cell on a running server now costs a
median 0.12 s beyond its window (mean about 0.25 s: brotli's server works through the requests the
client abandoned, a few tenths of a second). ``GROUP_S`` and ``CELL_S`` keep a margin over those
for a machine that is not quite idle.
A blocking server (a thread per request) is still working through the requests the client
abandoned when a gateway cell ends: the runner waits for them when that takes less than the
endpoint's delay plus the settle margin, and restarts the server otherwise (``RESTART_S``).
:class:`Countdown` scales what is left by the pace measured so far, so a slower machine gets a
longer estimate.
"""

from __future__ import annotations

import time

from server_matrix.planning.parameters import Parameters
from server_matrix.planning.plan import PlannedCell, ServerGroup, schedule

# What a session does after a cell, planned here so that the estimate counts it: the server must answer again
# within the endpoint's delay plus SETTLE_MARGIN_S, else it is restarted with a short grace (what it is busy
# with was abandoned by the client).
SETTLE_MARGIN_S = 5.0
BUSY_STOP_GRACE_S = 1.0
GROUP_S = 2.0
CELL_S = 0.3
RESTART_S = BUSY_STOP_GRACE_S + GROUP_S


def cell_seconds(group: ServerGroup, planned: PlannedCell, parameters: Parameters) -> float:
    """One cell: its run, and the wait for (or the restart after) the requests it leaves behind."""
    delay = planned.endpoint.scaled_delay_s(parameters.gateway_scale)
    backlog = group.mode.backlog_s(parameters.connections, delay, **parameters.server_values(port=0))
    return planned.window.duration_s + CELL_S + (backlog if backlog <= delay + SETTLE_MARGIN_S else RESTART_S)


def group_seconds(group: ServerGroup, cells: list[PlannedCell], parameters: Parameters) -> list[float]:
    """Each cell's cost, the server's start and stop counted with the first."""
    costs = [cell_seconds(group, planned, parameters) for planned in cells]
    if costs:
        costs[0] += GROUP_S
    return costs


def plan_seconds(groups: list[ServerGroup], parameters: Parameters, *, most: bool = False) -> float:
    """The whole plan, every round, every cell run (none kept from an earlier run): what a profile costs, with
    each cell measured its least number of times (adaptive: the minimum), or its most."""
    return sum(
        sum(group_seconds(visit.group, list(visit.cells), parameters))
        for visit in schedule(groups, (lambda rule: rule.most) if most else (lambda rule: rule.least))
        if not (visit.group.skipped or visit.group.error)
    )


class Countdown:
    """Time left: the planned cost of what remains, at the pace measured on what is done."""

    def __init__(self, planned_s: float) -> None:
        self.planned_s = planned_s
        self.done_s = 0.0
        self.started = time.monotonic()

    def extend(self, planned_s: float) -> None:
        """More work than planned: an adaptive round."""
        self.planned_s += planned_s

    def advance(self, planned_s: float) -> None:
        self.done_s += planned_s

    def pace(self) -> float:
        """Seconds taken per planned second so far (1 before anything is done)."""
        return (time.monotonic() - self.started) / self.done_s if self.done_s else 1.0

    def left_s(self) -> float:
        return max(0.0, self.planned_s - self.done_s) * self.pace()
