"""The results model: one record per cell, the run's metadata, and results.json (written atomically).

Every cell carries what the report needs to render it on its own: the mode's title, the
interpreter, the GIL asked for and the GIL the server reported, its status and the loadgen
result as ``json.loads(loadgen.to_json(result))``, so ``server-matrix report results.json`` re-renders
the report without the runner.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import loadgen
from server_matrix.plan import CellKey

FORMAT_VERSION = 1
OK, ERROR, SKIPPED = "ok", "error", "skipped"


@dataclass
class ServerEvents:
    """What one server did while one cell ran, from its log and its runtime endpoint."""

    command: list[str] = field(default_factory=list)
    port: int | None = None
    pid: int | None = None
    log_file: str | None = None
    worker_timeouts: int = 0
    worker_restarts: int = 0
    tracebacks: int = 0
    gil_reenabled_warnings: int = 0
    restarted: str | None = None  # why the server was restarted after this cell, if it was
    runtime_at_start: list[dict[str, Any]] = field(default_factory=list)  # the runtime endpoint after warm-up
    runtime: list[dict[str, Any]] = field(default_factory=list)  # ...and after the cell


@dataclass
class Cell:
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
    status: str  # ok, error or skipped
    reason: str | None = None
    gil_reported: bool | None = None  # True if any sampled server process had the GIL enabled
    informational: str | None = None  # why this combination is not a meaningful comparison
    measurement: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    timeout_s: float = 0.0
    ceiling_rps: float | None = None  # connections / delay, for the gateway endpoints
    window_ceiling_rps: float | None = None  # the same, counting only responses that fit in the run
    server: ServerEvents = field(default_factory=ServerEvents)
    log_tail: str | None = None
    result: dict[str, Any] | None = None  # json.loads(loadgen.to_json(result))
    started_at: str | None = None
    elapsed_s: float | None = None

    @property
    def key(self) -> CellKey:
        return CellKey(self.python, self.mode, self.gil_requested, self.endpoint, self.variant)

    @property
    def gil_mismatch(self) -> bool:
        """The server reported a GIL state other than the one asked for (a C extension can re-enable it)."""
        if self.gil_reported is None:
            return False
        expected = True if self.gil_requested is None else bool(self.gil_requested)
        return self.gil_reported != expected

    @cached_property
    def loadgen_result(self) -> loadgen.Result | None:
        return None if self.result is None else loadgen.from_json(json.dumps(self.result))

    def to_json(self) -> dict[str, Any]:
        # Shallow: `result` is JSON data already, and asdict's deep copy of every cell made each save of
        # a full run's results.json take seconds.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["server"] = asdict(self.server)
        data["gil_mismatch"] = self.gil_mismatch
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cell:
        fields = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        fields["server"] = ServerEvents(**data.get("server", {}))
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

    def put(self, cell: Cell) -> None:
        self.cells[cell.key] = cell

    def finished(self, key: CellKey, measurement: dict[str, Any]) -> Cell | None:
        """The cell for ``key`` if it ran (or was skipped) with the same measurement settings."""
        cell = self.cells.get(key)
        if cell is not None and cell.status in (OK, SKIPPED) and cell.measurement == measurement:
            return cell
        return None

    def merge_listing(self, name: str, entries: list[dict[str, Any]], key: str) -> None:
        """Put this run's ``modes``/``interpreters`` first, keeping older ones that cells still refer to."""
        fresh = {entry[key] for entry in entries}
        setattr(self, name, entries + [entry for entry in getattr(self, name) if entry[key] not in fresh])

    def to_json(self) -> dict[str, Any]:
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
            "cells": [cell.to_json() for cell in self.cells.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MatrixResults:
        if data.get("tool") != "server-matrix" or data.get("format") != FORMAT_VERSION:
            raise ValueError("not a server-matrix results file (format 1)")
        cells = [Cell.from_json(cell) for cell in data["cells"]]
        metadata = {name: data[name] for name in cls.__dataclass_fields__ if name != "cells" and name in data}
        return cls(cells={cell.key: cell for cell in cells}, **metadata)


def load(path: Path) -> MatrixResults:
    return MatrixResults.from_json(json.loads(path.read_text()))


def save(results: MatrixResults, path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(json.dumps(results.to_json(), separators=(",", ":")) + "\n")  # dumps: the C encoder
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
