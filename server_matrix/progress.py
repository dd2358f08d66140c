"""What the matrix shows while it runs, on stderr: a rich progress bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from server_matrix.gil import describe
from server_matrix.plan import PlannedCell, ServerGroup
from server_matrix.results import OK, SKIPPED, Cell


def outcome_text(cell: Cell) -> str:
    if cell.status == OK:
        return f"{cell.loadgen_result.requests_per_sec:.1f} req/s"
    return f"{cell.status}: {cell.reason}"


class PlainProgress:
    """One line per server and per cell: readable in CI logs."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def matrix_started(self, total_cells: int) -> None:
        self.total = total_cells
        self._print(f"server-matrix: {total_cells} cells")

    def group_started(self, group: ServerGroup) -> None:
        why = f": skipped, {group.skipped}" if group.skipped else f": error, {group.error}" if group.error else ""
        self._print(f"server-matrix: {group.mode.id} {describe(group.gil)} on {group.interpreter.label}{why}")

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None:
        pass

    def cell_progress(self, progress: Any) -> None:
        pass

    def cell_finished(self, cell: Cell, *, reused: bool) -> None:
        self.done += 1
        if cell.status == SKIPPED:
            return  # said once for the whole group
        kept = " (kept from an earlier run)" if reused else ""
        self._print(f"[{self.done}/{self.total}] {cell.key.label}: {outcome_text(cell)}{kept}")

    def close(self) -> None:
        pass


class RichProgress:
    """A bar over the whole matrix, with the current cell and its live request count."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.task = self.progress.add_task("starting", total=None)
        self.current = ""

    def matrix_started(self, total_cells: int) -> None:
        self.progress.update(self.task, total=total_cells)
        self.progress.start()

    def group_started(self, group: ServerGroup) -> None:
        self.progress.update(self.task, description=f"starting {group.mode.id} {describe(group.gil)}")

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None:
        self.current = planned.key.label
        self.progress.update(self.task, description=self.current)

    def cell_progress(self, progress: Any) -> None:
        self.progress.update(self.task, description=f"{self.current}: {progress.requests} requests")

    def cell_finished(self, cell: Cell, *, reused: bool) -> None:
        if not reused:
            self.progress.console.print(f"{cell.key.label}: {outcome_text(cell)}", highlight=False)
        self.progress.advance(self.task)

    def close(self) -> None:
        self.progress.update(self.task, description="server matrix")
        self.progress.stop()


def progress_display() -> PlainProgress | RichProgress:
    console = Console(stderr=True)
    return RichProgress(console) if console.is_terminal else PlainProgress()
