"""The results model: one record per cell holding every repetition, and the run's metadata.

A cell is one (interpreter, mode, GIL setting, endpoint, variant); each repetition of it is a
:class:`Sample` with its own server events, machine usage and loadgen :class:`~loadgen.Result`, so
``server-matrix report results.json`` re-renders everything without the runner. A cell's median,
interval and flags are the statistics' (``statistics/estimates.py``); reading and writing
results.json is ``reporting/resultsfile.py``'s job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import loadgen
from server_matrix.planning.plan import CellKey
from server_matrix.planning.window import Window

OK, ERROR, SKIPPED = "ok", "error", "skipped"


@dataclass
class ServerEvents:
    """What one server did while one repetition ran, from its log and its runtime endpoint."""

    command: list[str] = field(default_factory=list)
    port: int | None = None
    pid: int | None = None
    log_file: str | None = None
    worker_timeouts: int = 0
    worker_restarts: int = 0
    tracebacks: int = 0
    gil_reenabled_warnings: int = 0
    client_disconnects: int = 0  # tracebacks of the client gone first (not the server's failure: no flag)
    restarted: str | None = None  # why the server was restarted after this run, if it was
    runtime_at_start: list[dict[str, Any]] = field(default_factory=list)  # the runtime endpoint after warm-up
    runtime: list[dict[str, Any]] = field(default_factory=list)  # ...and after the run


@dataclass
class Sample:
    """One repetition of a cell: one loadgen run against a server started for its round."""

    status: str  # ok, error or skipped
    reason: str | None = None
    round: int = 1
    gil_reported: bool | None = None  # True if any sampled server process had the GIL enabled
    server: ServerEvents = field(default_factory=ServerEvents)
    log_tail: str | None = None
    result: loadgen.Result | None = None
    machine: dict[str, Any] | None = None  # interference.MachineUsage.to_json() over the loadgen run
    started_at: str | None = None
    elapsed_s: float | None = None

    @cached_property
    def result_text(self) -> str:
        """The loadgen result as loadgen's own JSON document (compact), written once."""
        return "null" if self.result is None else loadgen.to_json(self.result, indent=None)

    @property
    def requests_per_sec(self) -> float | None:
        result = self.result
        return None if result is None else result.requests_per_sec

    def latency_us(self, percentile: float) -> int | None:
        result = self.result
        return None if result is None or result.latency.count == 0 else result.latency.percentile(percentile)

    @property
    def errors(self) -> int | None:
        result = self.result
        return None if result is None else result.errors.socket + result.errors.status

    @property
    def client_busy(self) -> float | None:
        """The busiest loadgen worker's share of the window on a CPU or waiting for one."""
        result = self.result
        if result is None or not result.client_cpu.workers:
            return None
        return result.client_cpu.max_busy

    @property
    def starvation(self) -> str | None:
        """The connections that did not take part, in numbers, when loadgen's own account of them
        (``Result.per_connection``) says enough of them did not."""
        result = self.result
        if result is None:
            return None
        account = result.per_connection
        parts = []
        if account.never_answered_worth_a_word:
            parts.append(f"{account.never_answered:,} of {account.opened:,} connections never answered")
        if account.starved:
            busiest, share = account.busiest
            parts.append(f"{busiest:,} of {account.answered:,} answered connections got {share:.0%} of the responses")
        return "; ".join(parts) or None

    def gil_mismatch(self, gil_requested: int | None) -> bool:
        """The server reported a GIL state other than the one asked for (a C extension can re-enable it)."""
        expected = True if gil_requested is None else bool(gil_requested)
        return self.gil_reported is not None and self.gil_reported != expected


@dataclass(eq=False)  # a cell is itself: the statistics keep their figures per cell object
class Cell:
    """One endpoint and variant against one server mode, GIL setting and interpreter, over its repetitions."""

    mode: str
    mode_title: str
    python: str  # the interpreter as given on the command line
    python_executable: str
    python_version: str
    free_threaded_build: bool
    gil_requested: int | None  # None: a default build, run as it is
    endpoint: str
    endpoint_title: str
    variant: str
    path: str
    window: Window  # its duration and, for a gateway endpoint, the closed-loop bounds
    samples: list[Sample]
    informational: str | None = None  # why this combination is not a meaningful comparison
    measurement: dict[str, Any] = field(default_factory=dict)  # the settings its numbers depend on
    stopped: str | None = None  # why it has no more repetitions (statistics/stopping.py); None: it may get more
    # The results it belongs to (set by MatrixResults, never written): a cell's interval also draws on its run's
    # spread (statistics/uncertainty.py), as two repetitions alone cannot show how far a third may fall.
    run: MatrixResults | None = field(default=None, repr=False, compare=False, metadata={"link": True})

    @property
    def key(self) -> CellKey:
        return CellKey(self.python, self.mode, self.gil_requested, self.endpoint, self.variant)

    @property
    def status(self) -> str:
        """error if any repetition failed, skipped if it was never run, ok otherwise."""
        statuses = {sample.status for sample in self.samples}
        return ERROR if ERROR in statuses else SKIPPED if statuses == {SKIPPED} else OK

    @property
    def representative(self) -> Sample:
        """The repetition the report shows in full: the first failed one, else the median one (of an even number, the
        slower middle one: the median is the mean of two, which no repetition measured)."""
        failed = [sample for sample in self.samples if sample.status == ERROR]
        if failed:
            return failed[0]
        measured = sorted(self.measured_results(), key=lambda pair: pair[1].requests_per_sec)
        return measured[(len(measured) - 1) // 2][0] if measured else self.samples[0]

    @property
    def reason(self) -> str | None:
        return self.representative.reason

    @property
    def result(self) -> loadgen.Result | None:
        return self.representative.result

    @property
    def log_tail(self) -> str | None:
        return self.representative.log_tail

    @property
    def server(self) -> ServerEvents:
        return self.representative.server

    @property
    def gil_reported(self) -> bool | None:
        """True if any repetition's server had the GIL enabled; None when none answered."""
        reported = [sample.gil_reported for sample in self.samples if sample.gil_reported is not None]
        return any(reported) if reported else None

    @property
    def gil_mismatch(self) -> bool:
        return any(sample.gil_mismatch(self.gil_requested) for sample in self.samples)

    def measured_results(self) -> list[tuple[Sample, loadgen.Result]]:
        """The repetitions that ran to their end, with their results: the statistics are theirs."""
        return [(sample, sample.result) for sample in self.samples if sample.status == OK and sample.result is not None]


@dataclass(eq=False)  # the statistics keep the run's spread per results object
class MatrixResults:
    """A results directory's content: metadata of the latest run and every cell ever finished there."""

    parameters: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    interpreters: list[dict[str, Any]] = field(default_factory=list)
    modes: list[dict[str, Any]] = field(default_factory=list)
    started_at: str | None = None
    updated_at: str | None = None
    wall_time_s: float | None = None
    complete: bool = False
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    cells: dict[CellKey, Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cell in self.cells.values():
            cell.run = self

    def put(self, cell: Cell) -> None:
        cell.run = self
        self.cells[cell.key] = cell

    def add_samples(self, cell: Cell) -> None:
        """Append ``cell``'s samples (a later repetition) to the cell already recorded under its key."""
        self.cells[cell.key].samples.extend(cell.samples)

    def finished(self, key: CellKey, measurement: dict[str, Any]) -> Cell | None:
        """The cell for ``key`` if it ran with the same measurement settings. A skipped cell is planned again:
        what skipped it (a server not installed, a gateway endpoint measured on another server) may have changed."""
        cell = self.cells.get(key)
        if cell is not None and cell.status == OK and cell.measurement == measurement:
            return cell
        return None

    def drop_measured_otherwise(self, settings: dict[str, Any]) -> list[Cell]:
        """Remove and return the cells measured with other run settings than ``settings``: a report states one
        set of settings for all its cells, and a results directory holds one run's."""
        dropped = [
            cell
            for cell in self.cells.values()
            if any(cell.measurement.get(name, value) != value for name, value in settings.items())
        ]
        for cell in dropped:
            del self.cells[cell.key]
        return dropped

    def merge_listing(self, name: str, entries: list[dict[str, Any]], key: str) -> None:
        """Put this run's ``modes``/``interpreters`` first, keeping older ones that cells still refer to."""
        fresh = {entry[key] for entry in entries}
        setattr(self, name, entries + [entry for entry in getattr(self, name) if entry[key] not in fresh])

    def status_counts(self) -> str:
        """``2 ok, 1 error, 4 skipped``: what the kept cells are, a skipped cell not counted as measured."""
        counts = Counter(cell.status for cell in self.cells.values())
        return ", ".join(f"{counts[status]} {status}" for status in (OK, ERROR, SKIPPED) if counts[status]) or "none"
