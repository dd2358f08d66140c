"""The results model: one record per cell holding every repetition, and the run's metadata.

A cell is one (interpreter, mode, GIL setting, endpoint, variant); each repetition of it is a
:class:`Sample` with its own server events, machine usage and loadgen :class:`~loadgen.Result`, so
``server-matrix report results.json`` re-renders everything without the runner. A cell's median,
interval and flags are derived from its samples (and written to results.json for other readers,
never read back). Reading and writing results.json is :mod:`server_matrix.resultsfile`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

import loadgen
from server_matrix import flags
from server_matrix.plan import CellKey
from server_matrix.uncertainty import Estimate, estimate, generator, percentile_replicates, rate_replicates

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

    def gil_mismatch(self, gil_requested: int | None) -> bool:
        """The server reported a GIL state other than the one asked for (a C extension can re-enable it)."""
        expected = True if gil_requested is None else bool(gil_requested)
        return self.gil_reported is not None and self.gil_reported != expected

    @property
    def flags(self) -> list[str]:
        """This repetition's own flags (``unstable`` and ``gil-mismatch`` belong to the cell)."""
        found = set()
        result = self.result
        if result is not None and result.requests == 0:
            found.add(flags.NO_RESPONSE)
        if result is not None and result.client_cpu.saturated:
            found.add(flags.CLIENT_BOUND)
        machine = self.machine or {}
        if machine.get("other_share", 0) > flags.OTHER_CPU or machine.get("steal_share", 0) > flags.STEAL:
            found.add(flags.INTERFERENCE)
        server = self.server
        signals = {
            flags.SERVER_RESTARTED: server.restarted,
            flags.WORKER_RESTARTS: server.worker_restarts,
            flags.WORKER_TIMEOUTS: server.worker_timeouts,
            flags.TRACEBACKS: server.tracebacks,
        }
        found.update(flag for flag, present in signals.items() if present)
        return [flag for flag in flags.ORDER if flag in found]


@dataclass
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
    samples: list[Sample]
    informational: str | None = None  # why this combination is not a meaningful comparison
    measurement: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    timeout_s: float = 0.0
    ceiling_rps: float | None = None  # connections / delay, for the gateway endpoints
    window_ceiling_rps: float | None = None  # the same, counting only responses that fit in the run

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
        """The repetition the report shows in full: the first failed one, else the median one."""
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

    @property
    def seed(self) -> str:
        return f"{self.python}|{self.key.label}"

    def __post_init__(self) -> None:
        self._estimates: dict[tuple[object, ...], Estimate | None] = {}

    def measured_results(self) -> list[tuple[Sample, loadgen.Result]]:
        """The repetitions that ran to their end, with their results: the statistics are theirs."""
        return [(sample, sample.result) for sample in self.samples if sample.status == OK and sample.result is not None]

    def rate(self, stream: int = 0) -> Estimate | None:
        """Requests/sec over the repetitions; another ``stream`` draws independently (to compare a run with itself)."""
        return self._estimate(
            ("rate", stream),
            lambda result: result.requests_per_sec,
            lambda value, result, rng: rate_replicates(value, result.req_per_sec.counts, rng),
        )

    def latency(self, percentile: float, stream: int = 0) -> Estimate | None:
        """A latency percentile (µs) over the repetitions, as :meth:`rate`."""

        def replicates(value: float, result: loadgen.Result, rng: np.random.Generator) -> np.ndarray:
            distribution = result.latency
            return percentile_replicates(value, distribution.bins, distribution.hidden, percentile, rng)

        def value(result: loadgen.Result) -> float | None:
            return float(result.latency.percentile(percentile)) if result.latency.count else None

        return self._estimate((f"p{percentile:g}", stream), value, replicates)

    def _estimate(
        self,
        name: tuple[object, ...],
        value_of: Callable[[loadgen.Result], float | None],
        replicates_of: Callable[[float, loadgen.Result, np.random.Generator], np.ndarray],
    ) -> Estimate | None:
        """Cached per figure and number of samples (a running matrix appends samples)."""
        key = (*name, len(self.samples))
        if key not in self._estimates:
            pairs = [
                (value, result) for _, result in self.measured_results() if (value := value_of(result)) is not None
            ]
            replicates = [
                replicates_of(value, result, generator(self.seed, *name, index))
                for index, (value, result) in enumerate(pairs)
            ]
            values = [value for value, _ in pairs]
            self._estimates[key] = estimate(values, replicates, generator(self.seed, *name)) if pairs else None
        return self._estimates[key]

    def flag_counts(self) -> dict[str, int]:
        """Each flag with the number of repetitions that raised it (the cell's own flags count 1)."""
        counts: dict[str, int] = {}
        for sample in self.samples:
            for flag in sample.flags:
                counts[flag] = counts.get(flag, 0) + 1
        rate = self.rate()
        if rate is not None and rate.cv is not None and rate.cv > flags.UNSTABLE_CV:
            counts[flags.UNSTABLE] = 1
        if self.gil_mismatch:
            counts[flags.GIL_MISMATCH] = sum(sample.gil_mismatch(self.gil_requested) for sample in self.samples)
        return {flag: counts[flag] for flag in flags.ORDER if flag in counts}

    @property
    def flags(self) -> list[str]:
        return list(self.flag_counts())


@dataclass
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

    def put(self, cell: Cell) -> None:
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
