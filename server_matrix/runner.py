"""Runs a plan group by group, saving results.json after every cell; never formats anything.

Cells finished in an earlier run into the same directory (same key, same measurement settings)
are kept unless ``force`` is set. A KeyboardInterrupt stops the current server and propagates;
every cell finished before it is already on disk.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from server_matrix.plan import PlannedCell, ServerGroup
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
        """Every group in order; returns the results, complete unless interrupted."""
        clock = time.monotonic()
        self.results.started_at = _now()
        self.results.complete = self.results.interrupted = False
        self.results.warnings = []
        if self.parameters.client_cpus:
            os.sched_setaffinity(0, self.parameters.client_cpus)  # inherited by loadgen's worker processes
        self.listener.matrix_started(sum(len(group.cells) for group in self.groups))
        try:
            for group in self.groups:
                self._run_group(group)
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

    def _record(self, cell: Cell, *, reused: bool = False) -> None:
        if not reused:
            self.results.put(cell)
            self._save()
        self.listener.cell_finished(cell, reused=reused)

    def _run_group(self, group: ServerGroup) -> None:
        measurement = group.measurement(self.parameters)
        pending = []
        for planned in group.cells:
            finished = None if self.force else self.results.finished(planned.key, measurement)
            if finished is not None:
                self._record(finished, reused=True)
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
                    self._record(session.cell(planned, status, reason=group.skipped or group.error))
                else:
                    self._record(session.measure(planned, on_progress=self.listener.cell_progress))
        finally:
            session.close()  # the server is stopped whatever happened, Ctrl-C included
            self.results.warnings += session.warnings


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

