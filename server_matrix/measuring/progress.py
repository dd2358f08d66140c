"""What the matrix shows while it runs, on stderr: a rich progress bar on a terminal, plain lines elsewhere.

Both count only the measurements that will run, one per cell and round (not those skipped or kept
from an earlier run), and show the time left, from the plan's estimate (``estimate.py``); an adaptive
round beyond the least planned adds its cells to the count, with a line saying so.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from server_matrix.measuring.results import OK, SKIPPED, Cell
from server_matrix.planning.gil import describe
from server_matrix.planning.modetext import counted
from server_matrix.planning.plan import PlannedCell, ServerGroup, Visit


def outcome_text(cell: Cell) -> str:
    """The newest repetition's requests/sec, or what happened instead."""
    rate = cell.samples[-1].requests_per_sec
    if cell.status == OK and rate is not None:
        return f"{rate:.1f} req/s"
    return f"{cell.status}: {cell.reason}"


def duration_text(seconds: float) -> str:
    """``under 5 s``, ``about 40 s``, ``about 12 min``, ``about 1 h 05 min``: an estimate, so never to the second
    (but not ``about 5 s`` once nothing is left)."""
    if seconds < 5:
        return "under 5 s"
    if seconds < 90:
        return f"about {round(seconds / 5) * 5:.0f} s"
    minutes = round(seconds / 60)
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60:02d} min"


def server_text(visit: Visit) -> str:
    """``wsgi-sync default build on CPython 3.13.5, round 2``: the server started for one round."""
    group = visit.group
    return f"{group.mode.id} {describe(group.gil)} on {group.interpreter.label}, round {visit.round}"


def dropped_text(cells: list[Cell], settings: dict[str, Any]) -> str:
    """``3 cells measured with other settings (duration_s 1 → 2) dropped from results.json``."""

    def shown(value: object) -> str:
        return f"{value:g}" if isinstance(value, float) else "unset" if value is None else str(value)

    changes = sorted(
        {
            f"{name} {shown(cell.measurement[name])} → {shown(value)}"
            for cell in cells
            for name, value in settings.items()
            if cell.measurement.get(name, value) != value
        }
    )
    return (
        f"{counted(len(cells), 'cell')} measured with other settings ({', '.join(changes)}) dropped from results.json"
    )


def round_added_text(cells: int) -> str:
    return f"another repetition for {counted(cells, 'cell')} whose interval is still wider than --precision"


def out_of_time_text(cells: int, budget_s: float) -> str:
    return (
        f"no more repetitions for {counted(cells, 'cell')} whose interval is still wider than --precision: "
        f"another round would end past --time-budget ({budget_s:g} s)"
    )


def not_run_text(group: ServerGroup) -> str:
    why = f"skipped, {group.skipped}" if group.skipped else f"error, {group.error}"
    return f"{group.mode.id} {describe(group.gil)} on {group.interpreter.label}: {why}"


class PlainProgress:
    """One line per server and per cell: readable in CI logs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr  # looked up now: the command wraps it (a reader gone is no error)
        self.total = 0
        self.done = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def matrix_started(self, cells: int, planned_s: float) -> None:
        self.total = cells
        # measurements, one per cell and round: "28 cells to run" said of 16 cells that ran twice or more
        self._print(f"server-matrix: {cells} measurements to run" + (f", {duration_text(planned_s)}" if cells else ""))

    def round_added(self, number: int, cells: int) -> None:
        self.total += cells
        self._print(f"server-matrix: round {number}: {round_added_text(cells)}")

    def out_of_time(self, number: int, cells: int, budget_s: float) -> None:
        self._print(f"server-matrix: round {number}: {out_of_time_text(cells, budget_s)}")

    def group_started(self, visit: Visit) -> None:
        self._print(f"server-matrix: {server_text(visit)}")

    def group_not_run(self, group: ServerGroup) -> None:
        self._print(f"server-matrix: {not_run_text(group)}")

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None:
        pass

    def cell_progress(self, progress: Any) -> None:
        pass

    def cells_dropped(self, cells: list[Cell], settings: dict[str, Any]) -> None:
        self._print(f"server-matrix: {dropped_text(cells, settings)}")

    def cell_kept(self, cell: Cell) -> None:
        if cell.status != SKIPPED:  # a skipped cell has nothing worth keeping to show
            self._print(f"{cell.key.label}: {outcome_text(cell)} (kept from an earlier run)")

    def cell_finished(self, cell: Cell, left_s: float) -> None:
        self.done += 1
        self._print(f"[{self.done}/{self.total}, {duration_text(left_s)} left] {cell.key.label}: {outcome_text(cell)}")

    def close(self) -> None:
        pass


class RichProgress:
    """A bar over the cells that will run, with the current cell, its live request count and the time left."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("starting", total=None, left="")
        self.current = ""

    def matrix_started(self, cells: int, planned_s: float) -> None:
        self.progress.update(self.task, total=cells, left=f"{duration_text(planned_s)} left")
        self.progress.start()

    def round_added(self, number: int, cells: int) -> None:
        self.progress.update(self.task, total=(self.progress.tasks[0].total or 0) + cells)
        self.progress.console.print(f"server-matrix: round {number}: {round_added_text(cells)}", highlight=False)

    def out_of_time(self, number: int, cells: int, budget_s: float) -> None:
        text = out_of_time_text(cells, budget_s)
        self.progress.console.print(f"server-matrix: round {number}: {text}", highlight=False)

    def group_started(self, visit: Visit) -> None:
        self.progress.update(self.task, description=f"starting {server_text(visit)}")

    def group_not_run(self, group: ServerGroup) -> None:
        self.progress.console.print(not_run_text(group), highlight=False)

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None:
        self.current = planned.key.label
        self.progress.update(self.task, description=self.current)

    def cell_progress(self, progress: Any) -> None:
        self.progress.update(self.task, description=f"{self.current}: {progress.requests} requests")

    def cell_kept(self, cell: Cell) -> None:
        pass

    def cells_dropped(self, cells: list[Cell], settings: dict[str, Any]) -> None:
        self.progress.console.print(f"server-matrix: {dropped_text(cells, settings)}", highlight=False)

    def cell_finished(self, cell: Cell, left_s: float) -> None:
        self.progress.console.print(f"{cell.key.label}: {outcome_text(cell)}", highlight=False)
        self.progress.update(self.task, advance=1, left=f"{duration_text(left_s)} left")

    def close(self) -> None:
        self.progress.update(self.task, description="server matrix", left="")
        self.progress.stop()


def progress_display() -> PlainProgress | RichProgress:
    console = Console(stderr=True)
    return RichProgress(console) if console.is_terminal else PlainProgress()
