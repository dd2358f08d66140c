"""Runs a plan round by round, group by group, storing the results after every measurement; never formats anything.

Each round starts every group's server afresh and adds one sample to each of its cells; once every cell has its
least repetitions, a round measures only the cells the stopping rule (``judge``, the statistics') has not
stopped (every cell judged again before the round: its interval draws on the run's spread), and the rounds
end when it has stopped them all, or when the next round, at the pace measured so far, would take the run
past ``time_budget_s`` (its cells then stop with the reason ``out_of_time``). Cells
finished in an earlier run into the same directory (same key, same measurement settings, no
failed repetition) keep their samples unless ``force`` is set, and get only the repetitions they
lack; cells measured with other run settings (another ``--duration``, say) are dropped first.
loadgen's workers are forked by one process for the whole run (a ``loadgen.Workers``), stopped at its end.
A group's server is stopped in a thread while the next group's server starts and warms up (``Handover``): the
stop overlaps a boot, never a measurement. A KeyboardInterrupt (Ctrl-C, SIGTERM, SIGHUP) stops the current server,
and the last group's if it is still stopping, with a 1 s grace, and propagates; from then on, as at the run's end,
stop signals are held, so that the last stop and the last save run to their end;
every sample taken before it is already stored (``store``: results.json, atomically). The
listener hears of the measurements that will really run, with the time left (``estimate.py``).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import loadgen
from server_matrix.measuring.results import ERROR, OK, SKIPPED, Cell, MatrixResults
from server_matrix.measuring.session import GroupSession
from server_matrix.measuring.signals import hold_stop_signals
from server_matrix.planning.estimate import Countdown, group_seconds
from server_matrix.planning.parameters import Parameters, Repetitions
from server_matrix.planning.plan import (
    CellKey,
    PlannedCell,
    ServerGroup,
    Visit,
    measured_settings,
    round_visits,
    schedule,
)
from server_matrix.servers.server import INTERRUPTED_STOP_GRACE_S, STOP_GRACE_S


class Listener(Protocol):
    """What the runner tells the outside world (the progress display)."""

    def matrix_started(self, cells: int, planned_s: float) -> None: ...  # the measurements to take, their cost

    def round_added(self, number: int, cells: int) -> None: ...  # an adaptive round beyond the least planned

    def out_of_time(self, number: int, cells: int, budget_s: float) -> None: ...  # a round the budget leaves out

    def group_started(self, visit: Visit) -> None: ...  # a server started for one round

    def group_not_run(self, group: ServerGroup) -> None: ...  # skipped, or an error before any start

    def cell_started(self, group: ServerGroup, planned: PlannedCell) -> None: ...

    def cell_progress(self, progress: Any) -> None: ...

    def cell_kept(self, cell: Cell) -> None: ...  # finished in an earlier run

    def cells_dropped(self, cells: list[Cell], settings: dict[str, Any]) -> None: ...  # measured with other settings

    def cell_finished(self, cell: Cell, left_s: float) -> None: ...

    def close(self) -> None: ...


Judge = Callable[[Cell, Repetitions], str | None]  # why a cell needs no more repetitions; None: it needs another


@dataclass
class MatrixRun:
    groups: list[ServerGroup]
    parameters: Parameters
    out_dir: Path
    results: MatrixResults
    listener: Listener
    store: Callable[[MatrixResults], None]  # writes results.json (reporting's): called after every measurement
    judge: Judge  # the stopping rule (statistics'), asked after every measurement
    out_of_time: str  # why a cell the budget stops has no more repetitions (statistics')
    force: bool = False

    def run(self) -> MatrixResults:
        """Round after round until no cell needs another repetition; returns the results, complete unless
        interrupted."""
        clock = time.monotonic()
        self.results.started_at = _now()
        self.results.complete = self.results.interrupted = False
        self.results.warnings = []
        workers: loadgen.Workers | None = None
        handover = Handover()
        try:  # from the first change to the results: a stop signal in the plan or the workers' start saves them too
            kept, least_s, countdown = self._begin()
            workers = self._workers()
            # Past --max-repeat rounds while a cell still needs more: one judged precise enough may be judged wider
            # again (the run's spread changed) after sitting out a round, and lacks that round's repetition.
            for number in itertools.count(1):
                if number > 1:
                    self._judge_again()
                work = [self._pending(visit, kept) for visit in round_visits(self.groups, number, self._wanted(number))]
                if number > _most_rounds(self.groups) and not work:
                    break
                if number not in least_s and self._past_budget(number, work, clock, countdown):
                    break
                self._extend(number, work, least_s.get(number, 0.0), countdown)
                for visit, pending in work:
                    self._announce_kept(visit, kept)
                    if pending:
                        costs = self._costs(visit.group, pending)
                        self._run_visit(visit, pending, costs, countdown, workers, handover)
            self.results.complete = True
        except KeyboardInterrupt:
            self.results.interrupted = True
            handover.hurry(INTERRUPTED_STOP_GRACE_S)
            raise
        finally:
            # From here on a stop signal is noted, not obeyed (the caller ends as interrupted once its files are
            # written): it would cut short the last save, which writes the answer and the flags. It only hurries
            # the last server's stop.
            hold_stop_signals(lambda: handover.hurry(INTERRUPTED_STOP_GRACE_S))
            self.results.warnings += handover.wait()  # the last server stopped, whatever happened
            if workers is not None:
                workers.close()  # its process, and any worker of a cell cut short, stopped whatever happened
            self.results.wall_time_s = time.monotonic() - clock
            self._save()
        return self.results

    def _begin(self) -> tuple[dict[CellKey, int], dict[int, float], Countdown]:
        """Before the rounds: pin the client, drop the cells measured with other settings, record those that will
        not be measured, and announce the plan. The repetitions each cell has, the least cost of each round, and
        the countdown."""
        if self.parameters.client_cpus:
            os.sched_setaffinity(0, self.parameters.client_cpus)  # inherited by loadgen's worker processes
        settings = measured_settings(self.parameters)
        dropped = [cell for cell in self.results.drop_measured_otherwise(settings) if cell.status != SKIPPED]
        if dropped:  # skipped cells are planned again anyway: not worth a word
            self.listener.cells_dropped(dropped, settings)
        kept = self._kept_samples()
        self._record_cells_not_measured()
        least = [self._pending(visit, kept) for visit in schedule(self.groups)]
        least_s = {1: 0.0}  # each round's cost when every cell stops at its least
        for visit, pending in least:
            least_s[visit.round] = least_s.get(visit.round, 0.0) + sum(self._costs(visit.group, pending))
        countdown = Countdown(sum(least_s.values()))
        measurements = sum(len(pending) for visit, pending in least if _runs(visit.group))
        self.listener.matrix_started(measurements, countdown.planned_s)
        return kept, least_s, countdown

    def _workers(self) -> loadgen.Workers | None:
        """What starts loadgen's workers for every cell of the run: one process, started here, once, after this
        thread was pinned (it inherits the CPUs, and its workers after it); None with a Dask cluster, or when it
        cannot start (each cell then starts its own, and says why it could not)."""
        if self.parameters.client_dask is not None:
            return None
        try:
            return loadgen.Workers()
        except loadgen.LoadgenError:
            return None

    def _pending(self, visit: Visit, kept: dict[CellKey, int]) -> tuple[Visit, list[PlannedCell]]:
        """The visit, and its cells that lack this round's repetition."""
        return visit, [planned for planned in visit.cells if kept[planned.key] < visit.round]

    def _extend(
        self, number: int, work: list[tuple[Visit, list[PlannedCell]]], planned_s: float, countdown: Countdown
    ) -> None:
        """A round beyond what was planned (an adaptive cell that needs more): its cost added to the time left."""
        extra_s = sum(sum(self._costs(visit.group, pending)) for visit, pending in work) - planned_s
        if extra_s > 0:
            countdown.extend(extra_s)
            self.listener.round_added(number, sum(len(pending) for visit, pending in work if _runs(visit.group)))

    def _past_budget(
        self, number: int, work: list[tuple[Visit, list[PlannedCell]]], clock: float, countdown: Countdown
    ) -> bool:
        """Whether round ``number``, beyond the least, would end the run past its time budget; if so its cells stop
        here."""
        budget_s = self.parameters.time_budget_s
        round_s = sum(sum(self._costs(visit.group, pending)) for visit, pending in work) * countdown.pace()
        if not budget_s or not work or time.monotonic() - clock + round_s <= budget_s:
            return False
        stopped = [planned for _, pending in work for planned in pending]
        for planned in stopped:
            self.results.cells[planned.key].stopped = self.out_of_time
        self.listener.out_of_time(number, len(stopped), budget_s)
        return True

    def _costs(self, group: ServerGroup, pending: list[PlannedCell]) -> list[float]:
        return group_seconds(group, pending, self.parameters) if pending and _runs(group) else []

    def _wanted(self, number: int) -> Callable[[PlannedCell], bool]:
        """Round ``number``'s cells: up to its least repetitions every planned cell (a failed one too, as each
        round is a new server), beyond it each measured cell the stopping rule has not stopped."""

        def wanted(planned: PlannedCell) -> bool:
            if planned.skipped:
                return False
            if number <= planned.repetitions.least:
                return True
            cell = self.results.cells.get(planned.key)
            return cell is not None and cell.status == OK and cell.stopped is None and len(cell.samples) < number

        return wanted

    def _judge_again(self) -> None:
        """Every measured cell judged again before a round: a cell's interval also draws on the run's spread, which
        was not known yet to the cells measured first in the round before (too few cells had repetitions)."""
        for group in self.groups:
            for planned in group.cells:
                cell = self.results.cells.get(planned.key)
                if cell is not None and not planned.skipped:
                    cell.stopped = self.judge(cell, planned.repetitions)

    def _kept_samples(self) -> dict[CellKey, int]:
        """Samples each planned cell already has from an earlier run that can be kept (0: measure it afresh)."""
        kept = {}
        for group in self.groups:
            measurement = group.measurement(self.parameters)
            for planned in group.cells:
                finished = None if self.force else self.results.finished(planned.key, measurement)
                kept[planned.key] = len(finished.samples) if finished else 0
                if finished:  # judged again: this run's precision or counts may differ
                    finished.stopped = self.judge(finished, planned.repetitions)
        return kept

    def _record_cells_not_measured(self) -> None:
        """The cells a running group leaves out (``PlannedCell.skipped``), recorded as skipped with the reason."""
        for group in self.groups:
            if _runs(group):
                session = GroupSession(group, self.parameters, self.out_dir)
                for planned in group.cells:
                    if planned.skipped:
                        self.results.put(session.cell(planned, SKIPPED, reason=planned.skipped))

    def _announce_kept(self, visit: Visit, kept: dict[CellKey, int]) -> None:
        """In the first round, the cells that need no measurement at all."""
        if visit.round == 1:
            for planned in visit.group.cells:
                if not planned.skipped and kept[planned.key] and self.results.cells[planned.key].stopped:
                    self.listener.cell_kept(self.results.cells[planned.key])

    def _save(self) -> None:
        self.results.updated_at = _now()
        self.store(self.results)

    def _record(self, cell: Cell, visit: Visit, planned: PlannedCell) -> None:
        """Add the cell's one sample: a new cell in the first round (replacing one not kept), the next repetition
        after; then ask the stopping rule whether it needs another."""
        for sample in cell.samples:
            sample.round = visit.round
        if visit.round == 1:
            self.results.put(cell)
        else:
            self.results.add_samples(cell)
        stored = self.results.cells[cell.key]
        stored.stopped = self.judge(stored, planned.repetitions)

    def _run_visit(
        self,
        visit: Visit,
        pending: list[PlannedCell],
        costs: list[float],
        countdown: Countdown,
        workers: loadgen.Workers | None,
        handover: Handover,
    ) -> None:
        group = visit.group
        session = GroupSession(group, self.parameters, self.out_dir, workers)
        if not _runs(group):
            self.listener.group_not_run(group)
            status = SKIPPED if group.skipped else ERROR
            for planned in pending:
                self._record(session.cell(planned, status, reason=group.skipped or group.error), visit, planned)
            self._save()  # once for the group: results.json grows to megabytes, rewriting it per cell costs seconds
            return
        self.listener.group_started(visit)
        try:
            self.results.warnings += handover.start(session)  # while the last group's server stops
            for planned, cost in zip(pending, costs, strict=True):
                self.listener.cell_started(group, planned)
                cell = session.measure(planned, on_progress=self.listener.cell_progress)
                self._record(cell, visit, planned)
                self._save()
                countdown.advance(cost)
                self.listener.cell_finished(cell, countdown.left_s())
        except BaseException as error:  # the server is stopped here and now, Ctrl-C included
            interrupted = isinstance(error, KeyboardInterrupt)
            if interrupted:
                handover.hurry(INTERRUPTED_STOP_GRACE_S)  # the last group's, stopping beside this one's
            session.close(INTERRUPTED_STOP_GRACE_S if interrupted else STOP_GRACE_S)
            self.results.warnings += session.warnings
            raise
        handover.stop(session)


class Handover:
    """The last group's server, stopped in a thread while the next group's server starts: its graceful stop
    (0.4-2 s) overlaps the next boot and warm-up (:meth:`start`, from the main thread, as servers must be), which
    then waits for it before the next group's first cell; :meth:`wait` at the run's end."""

    def __init__(self) -> None:
        self._stopping: tuple[threading.Thread, GroupSession] | None = None
        self._error: BaseException | None = None  # raised by the stop in its thread, raised again by wait()

    def stop(self, session: GroupSession) -> None:
        assert self._stopping is None, "one server stops at a time: wait() for the last one first"
        thread = threading.Thread(target=self._close, args=(session,), name=f"stop {session.group.mode.id}")
        thread.start()  # not a daemon: the interpreter does not exit before the server is stopped
        self._stopping = thread, session

    def start(self, session: GroupSession) -> list[str]:
        """Start and warm up the next group's server while the last one stops, then wait for that stop: nothing is
        measured beside a stopping server. What went wrong stopping it (see :meth:`wait`)."""
        session.start()
        return self.wait()

    def hurry(self, grace_s: float) -> None:
        """The run is interrupted: the server stopping now gets ``grace_s`` more, not the rest of its 15 s."""
        if self._stopping is not None:
            self._stopping[1].hurry(grace_s)

    def wait(self) -> list[str]:
        """Wait until the server is stopped; what went wrong stopping it (a port left in use)."""
        if self._stopping is None:
            return []
        thread, session = self._stopping
        thread.join()
        self._stopping = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return session.warnings

    def _close(self, session: GroupSession) -> None:
        try:
            session.close()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which reports it as before
            self._error = error


def _most_rounds(groups: list[ServerGroup]) -> int:
    """The rounds a run takes when no cell sits one out: each cell's most repetitions."""
    return max((planned.repetitions.most for group in groups for planned in group.cells), default=0)


def _runs(group: ServerGroup) -> bool:
    return not (group.skipped or group.error)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
