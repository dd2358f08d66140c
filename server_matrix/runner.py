"""Runs a plan group by group, saving results.json after every cell; never formats anything.

Cells finished in an earlier run into the same directory (same key, same measurement settings)
are kept unless ``force`` is set. A KeyboardInterrupt (Ctrl-C, SIGTERM, SIGHUP) stops the current
server at once and propagates; every cell finished before it is already on disk. The listener
hears of the cells that will really run, with the time left (``estimate.py``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from server_matrix.estimate import Countdown, group_seconds
from server_matrix.plan import PlannedCell, ServerGroup
from server_matrix.profiles import Parameters
from server_matrix.results import ERROR, SKIPPED, Cell, MatrixResults, save
from server_matrix.server import STOP_GRACE_S
from server_matrix.session import GroupSession

INTERRUPTED_STOP_GRACE_S = 1.0  # after Ctrl-C nothing more is measured: the server need not finish its work


class Listener(Protocol):
    """What the runner tells the outside world (the progress display)."""

    def matrix_started(self, cells: int, planned_s: float) -> None: ...  # the cells that will run, their cost

    def group_started(self, group: ServerGroup) -> None: ...

    def group_not_run(self, group: ServerGroup) -> None: ...  # skipped, or an error before any start

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None: ...

    def cell_progress(self, progress: Any) -> None: ...

    def cell_kept(self, cell: Cell) -> None: ...  # finished in an earlier run

    def cell_finished(self, cell: Cell, left_s: float) -> None: ...

    def close(self) -> None: ...


@dataclass
class MatrixRun:
    groups: list[ServerGroup]
    parameters: Parameters
    out_dir: Path
    results: MatrixResults
    listener: Listener
    force: bool = False

    @property
    def results_path(self) -> Path:
        return self.out_dir / "results.json"

    def run(self) -> MatrixResults:
        """Every group in order; returns the results, complete unless interrupted."""
        clock = time.monotonic()
        self.results.started_at = _now()
        self.results.complete = self.results.interrupted = False
        self.results.warnings = []
        if self.parameters.client_cpus:
            os.sched_setaffinity(0, self.parameters.client_cpus)  # inherited by loadgen's worker processes
        work = [(group, self._pending(group)) for group in self.groups]
        runnable = [(group, pending) for group, pending in work if pending and not (group.skipped or group.error)]
        costs = {id(group): group_seconds(group, pending, self.parameters) for group, pending in runnable}
        countdown = Countdown(sum(sum(cost) for cost in costs.values()))
        self.listener.matrix_started(sum(len(pending) for _, pending in runnable), countdown.planned_s)
        try:
            for group, pending in work:
                self._run_group(group, pending, costs.get(id(group), []), countdown)
            self.results.complete = True
        except KeyboardInterrupt:
            self.results.interrupted = True
            raise
        finally:
            self.results.wall_time_s = time.monotonic() - clock
            self._save()
        return self.results

    def _save(self) -> None:
        self.results.updated_at = _now()
        save(self.results, self.results_path)

    def _pending(self, group: ServerGroup) -> list[PlannedCell]:
        """The group's cells not kept from an earlier run."""
        measurement = group.measurement(self.parameters)
        return [planned for planned in group.cells
                if self.force or self.results.finished(planned.key, measurement) is None]

    def _record(self, cell: Cell) -> None:
        self.results.put(cell)
        self._save()

    def _run_group(self, group: ServerGroup, pending: list[PlannedCell], costs: list[float],
                   countdown: Countdown) -> None:
        to_run = {planned.key for planned in pending}
        for planned in group.cells:
            if planned.key not in to_run:
                self.listener.cell_kept(self.results.cells[planned.key])
        if not pending:
            return
        session = GroupSession(group, self.parameters, self.out_dir)
        if group.skipped or group.error:
            self.listener.group_not_run(group)
            status = SKIPPED if group.skipped else ERROR
            for planned in pending:
                self.results.put(session.cell(planned, status, reason=group.skipped or group.error))
            self._save()  # once for the group: results.json grows to megabytes, rewriting it per cell costs seconds
            return
        self.listener.group_started(group)
        grace = STOP_GRACE_S
        try:
            for planned, cost in zip(pending, costs, strict=True):
                self.listener.cell_started(group, planned)
                cell = session.measure(planned, on_progress=self.listener.cell_progress)
                self._record(cell)
                countdown.advance(cost)
                self.listener.cell_finished(cell, countdown.left_s())
        except KeyboardInterrupt:
            grace = INTERRUPTED_STOP_GRACE_S
            raise
        finally:
            session.close(grace)  # the server is stopped whatever happened, Ctrl-C included
            self.results.warnings += session.warnings


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

