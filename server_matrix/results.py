"""The results model: one record per cell holding every repetition, the run's metadata, and results.json.

A cell is one (interpreter, mode, GIL setting, endpoint, variant); each repetition of it is a
:class:`Sample` with its own server events, machine usage and loadgen result
(``json.loads(loadgen.to_json(result))``), so ``server-matrix report results.json`` re-renders
everything without the runner. A cell's median, interval and flags are derived from its samples
(and written to results.json for other readers, never read back).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

import loadgen
from server_matrix import flags
from server_matrix.plan import CellKey
from server_matrix.uncertainty import Estimate, estimate, generator, percentile_replicates, rate_replicates

SEPARATORS = (",", ":")  # results.json is compact: a full run's is tens of megabytes

FORMAT_VERSION = 2
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
    result: dict[str, Any] | None = None  # json.loads(loadgen.to_json(result))
    machine: dict[str, Any] | None = None  # interference.MachineUsage.to_json() over the loadgen run
    started_at: str | None = None
    elapsed_s: float | None = None

    @cached_property
    def loadgen_result(self) -> loadgen.Result | None:
        return None if self.result is None else loadgen.from_json(json.dumps(self.result))

    @property
    def requests_per_sec(self) -> float | None:
        result = self.loadgen_result
        return None if result is None else result.requests_per_sec

    def latency_us(self, percentile: float) -> int | None:
        result = self.loadgen_result
        return None if result is None or result.latency.count == 0 else result.latency.percentile(percentile)

    @property
    def errors(self) -> int | None:
        result = self.loadgen_result
        return None if result is None else result.errors.socket + result.errors.status

    @property
    def client_busy(self) -> float | None:
        """The busiest loadgen worker's share of the window on a CPU or waiting for one."""
        result = self.loadgen_result
        if result is None or not result.client_cpu.workers:
            return None
        return result.client_cpu.max_busy

    @property
    def starvation(self) -> str | None:
        """The connections that did not take part, in numbers, when enough of them did not."""
        result = self.loadgen_result
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

    @property
    def flags(self) -> list[str]:
        """This repetition's own flags (``unstable`` and ``gil-mismatch`` belong to the cell)."""
        found = set()
        result = self.loadgen_result
        if result is not None and result.requests == 0:
            found.add(flags.NO_RESPONSE)
        if result is not None and result.client_cpu.saturated:
            found.add(flags.CLIENT_BOUND)
        if self.starvation is not None:
            found.add(flags.STARVED)
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

    def to_json(self) -> dict[str, Any]:
        summary = {
            "requests_per_sec": self.requests_per_sec,
            "p50_us": self.latency_us(50),
            "p99_us": self.latency_us(99),
            "errors": self.errors,
            "client_busy": self.client_busy,
            "starved": self.starvation,
            "flags": self.flags,
        }
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # shallow, as Cell.to_json
        data["server"] = asdict(self.server)
        return {**summary, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        fields = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        fields["server"] = ServerEvents(**data.get("server", {}))
        return cls(**fields)


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
    def loadgen_result(self) -> loadgen.Result | None:
        return self.representative.loadgen_result

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
        return [
            (sample, sample.loadgen_result)
            for sample in self.samples
            if sample.status == OK and sample.loadgen_result is not None
        ]

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

    def to_json(self) -> dict[str, Any]:
        # Shallow: `result` is JSON data already, and asdict's deep copy of every sample made each save of
        # a full run's results.json take seconds.
        identity = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "samples"}
        rate, p99 = self.rate(), self.latency(99)
        return {
            **identity,
            "status": self.status,
            "reason": self.reason,
            "log_tail": self.log_tail,
            "gil_reported": self.gil_reported,
            "gil_mismatch": self.gil_mismatch,
            "flags": self.flags,
            "requests_per_sec": None if rate is None else rate.to_json(),
            "p99_us": None if p99 is None else p99.to_json(),
            "representative": self.samples.index(self.representative),
            "samples": [sample.to_json() for sample in self.samples],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cell:
        fields = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        fields["samples"] = [Sample.from_json(sample) for sample in data["samples"]]
        return cls(**fields)


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
    # Each cell's JSON text as last saved, until the cell changes: results.json is rewritten after every
    # measurement, and serialising (and bootstrapping) every cell each time made a save's cost grow with the run.
    _cell_texts: dict[CellKey, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def put(self, cell: Cell) -> None:
        self.cells[cell.key] = cell
        self._cell_texts.pop(cell.key, None)

    def add_samples(self, cell: Cell) -> None:
        """Append ``cell``'s samples (a later repetition) to the cell already recorded under its key."""
        self.cells[cell.key].samples.extend(cell.samples)
        self._cell_texts.pop(cell.key, None)

    def finished(self, key: CellKey, measurement: dict[str, Any]) -> Cell | None:
        """The cell for ``key`` if it ran with the same measurement settings. A skipped cell is planned again:
        what skipped it (a server not installed, a gateway endpoint measured on another server) may have changed."""
        cell = self.cells.get(key)
        if cell is not None and cell.status == OK and cell.measurement == measurement:
            return cell
        return None

    def merge_listing(self, name: str, entries: list[dict[str, Any]], key: str) -> None:
        """Put this run's ``modes``/``interpreters`` first, keeping older ones that cells still refer to."""
        fresh = {entry[key] for entry in entries}
        setattr(self, name, entries + [entry for entry in getattr(self, name) if entry[key] not in fresh])

    def to_json(self) -> dict[str, Any]:
        return {**self._header(), "cells": [cell.to_json() for cell in self.cells.values()]}

    def to_text(self) -> str:
        """``to_json()`` as results.json's text, each unchanged cell's part kept from the last call."""
        header = json.dumps(self._header(), separators=SEPARATORS)
        for key, cell in self.cells.items():
            if key not in self._cell_texts:
                self._cell_texts[key] = json.dumps(cell.to_json(), separators=SEPARATORS)
        return f'{header[:-1]},"cells":[{",".join(self._cell_texts[key] for key in self.cells)}]}}\n'

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "tool": "server-matrix",
            "parameters": self.parameters,
            "environment": self.environment,
            "interpreters": self.interpreters,
            "modes": self.modes,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "wall_time_s": self.wall_time_s,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "warnings": self.warnings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MatrixResults:
        if not isinstance(data, dict) or data.get("tool") != "server-matrix":
            raise ValueError("not a server-matrix results file")
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"results format {data.get('format')}, this server-matrix reads format {FORMAT_VERSION} "
                "(format 1 predates repetitions: run the matrix again)"
            )
        cells = [Cell.from_json(cell) for cell in data["cells"]]
        metadata = {name: data[name] for name in cls.__dataclass_fields__ if name != "cells" and name in data}
        return cls(cells={cell.key: cell for cell in cells}, **metadata)


def load(path: Path) -> MatrixResults:
    try:
        return MatrixResults.from_json(json.loads(path.read_text()))
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a server-matrix results file (missing or bad field {error})") from None


def save(results: MatrixResults, path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(results.to_text())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
