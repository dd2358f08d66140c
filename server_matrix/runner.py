"""Runs a plan round by round, group by group, saving results.json after every measurement; never formats anything.

Each round starts every group's server afresh and adds one sample to each of its cells. Cells
finished in an earlier run into the same directory (same key, same measurement settings, no
failed repetition) keep their samples unless ``force`` is set, and get only the repetitions they
lack. A KeyboardInterrupt stops the current server and propagates; every sample taken before it
is already on disk.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from server_matrix.plan import CellKey, PlannedCell, ServerGroup, Visit, schedule
from server_matrix.profiles import Parameters
from server_matrix.results import ERROR, SKIPPED, Cell, MatrixResults, save
from server_matrix.session import GroupSession


class Listener(Protocol):
    """What the runner tells the outside world (the progress display)."""

    def matrix_started(self, total_cells: int) -> None: ...

    def group_started(self, group: ServerGroup) -> None: ...

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None: ...

    def cell_progress(self, progress: Any) -> None: ...

    def cell_finished(self, cell: Cell, *, reused: bool) -> None: ...

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
        """Every round in order; returns the results, complete unless interrupted."""
        clock = time.monotonic()
        self.results.started_at = _now()
        self.results.complete = self.results.interrupted = False
        self.results.warnings = []
        if self.parameters.client_cpus:
            os.sched_setaffinity(0, self.parameters.client_cpus)  # inherited by loadgen's worker processes
        visits = schedule(self.groups)
        taken = self._kept_samples()
        self.listener.matrix_started(sum(len(visit.cells) for visit in visits))
        try:
            for visit in visits:
                self._run_visit(visit, taken)
            self.results.complete = True
        except KeyboardInterrupt:
            self.results.interrupted = True
            raise
        finally:
            self.results.wall_time_s = time.monotonic() - clock
            self._save()
        return self.results

    def _kept_samples(self) -> dict[CellKey, int]:
        """Samples each planned cell already has from an earlier run that can be kept (0: measure it afresh)."""
        taken = {}
        for group in self.groups:
            measurement = group.measurement(self.parameters)
            for planned in group.cells:
                kept = None if self.force else self.results.finished(planned.key, measurement)
                taken[planned.key] = len(kept.samples) if kept else 0
        return taken

    def _save(self) -> None:
        self.results.updated_at = _now()
        save(self.results, self.results_path)

    def _record(self, cell: Cell, visit: Visit, taken: dict[CellKey, int]) -> None:
        """Add the cell's one sample: a new cell on its first sample in this run, the next repetition after."""
        for sample in cell.samples:
            sample.round = visit.round
        if taken[cell.key]:
            self.results.add_samples(cell)
        else:
            self.results.put(cell)
        taken[cell.key] += 1
        self._save()
        self.listener.cell_finished(cell, reused=False)

    def _run_visit(self, visit: Visit, taken: dict[CellKey, int]) -> None:
        group = visit.group
        pending = []
        for planned in visit.cells:
            if taken[planned.key] >= visit.round:
                self.listener.cell_finished(self.results.cells[planned.key], reused=True)
            else:
                pending.append(planned)
        if not pending:
            return
        self.listener.group_started(group)
        session = GroupSession(group, self.parameters, self.out_dir)
        try:
            for planned in pending:
                self.listener.cell_started(group, planned)
                if group.skipped or group.error:
                    status = SKIPPED if group.skipped else ERROR
                    self._record(session.cell(planned, status, reason=group.skipped or group.error), visit, taken)
                else:
                    self._record(session.measure(planned, on_progress=self.listener.cell_progress), visit, taken)
        finally:
            session.close()  # the server is stopped whatever happened, Ctrl-C included
            self.results.warnings += session.warnings


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

