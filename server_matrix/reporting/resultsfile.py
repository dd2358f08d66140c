"""results.json: written atomically after every measurement, and read back checked against its schema.

The file holds the run's metadata and one record per cell with every repetition; each repetition
embeds loadgen's own result document (``loadgen.to_json``), which ``loadgen.from_document`` reads and
checks. A cell's derived figures (median, interval, flags) are written for other readers and
never read back. Reading refuses, in one line naming the file and the field, whatever the report
could not use: a file of another tool or format, a wrong type, a missing field, a value out of
range, a damaged loadgen result. A save rewrites the whole file but serialises only the cells that
changed since the last one (a full run's file holds thousands of repetitions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import loadgen
from server_matrix.measuring.results import ERROR, OK, SKIPPED, Cell, MatrixResults, Sample, ServerEvents
from server_matrix.planning.documents import FileError, check, field_name, read_json
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.planning.parameters import EARLIER, KNOBS, item_type, optional, value_type
from server_matrix.planning.plan import CALLER_DEMO_VARIABLES, SQLITE, CellKey
from server_matrix.planning.window import Window
from server_matrix.reporting import outdir
from server_matrix.statistics.stopping import REASONS

if TYPE_CHECKING:
    from server_matrix.statistics.answer import Answer

FORMAT_VERSION = 2
TOOL = "server-matrix"
SEPARATORS = (",", ":")  # compact: a full run's file is tens of megabytes

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TEXTS = {"type": "array", "items": _TEXT}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_OBJECT = {"type": "object"}
_SHARES = {"ours_share": {"type": "number", "minimum": 0}, "other_share": _SHARE, "steal_share": _SHARE}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


def _record(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


JSON_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string", tuple: "array"}


def _parameter(name: str) -> dict[str, Any]:
    """A parameter's schema, from its declaration: its type, what a list holds, its least value."""
    knob, kind, item = KNOBS[name], value_type(name), item_type(name)
    schema: dict[str, Any] = {"type": JSON_TYPES[kind]}
    if item is not None:
        schema["items"] = {"enum": list(knob.known)} if knob.known else {"type": JSON_TYPES[item]}
    if knob.least is not None:
        schema["minimum" if knob.inclusive else "exclusiveMinimum"] = knob.least
    return _nullable(schema) if optional(name) else schema


PARAMETERS = _record(
    {name: _parameter(name) for name, knob in KNOBS.items() if not knob.newer},
    {name: _parameter(name) for name, knob in KNOBS.items() if knob.newer},
)
# What the report reads of the demo's runtime reports: each a record, its versions a mapping. Their other
# fields, like the server's command, are kept for readers and never used: not descended into (a full run's
# file holds thousands of them).
_RUNTIME = {"type": "array", "items": _record({}, {"versions": _OBJECT})}
SERVER = _record(
    {},
    {
        "command": {"type": "array"},
        "port": _nullable({"type": "integer", "minimum": 0, "maximum": 65535}),
        "pid": _nullable(_COUNT),
        "log_file": _TEXT_OR_NULL,
        "worker_timeouts": _COUNT,
        "worker_restarts": _COUNT,
        "tracebacks": _COUNT,
        "gil_reenabled_warnings": _COUNT,
        "client_disconnects": _COUNT,
        "restarted": _TEXT_OR_NULL,
        "runtime_at_start": _RUNTIME,
        "runtime": _RUNTIME,
    },
)
SAMPLE = _record(
    {"status": {"enum": [OK, ERROR, SKIPPED]}},
    {
        "reason": _TEXT_OR_NULL,
        "round": {"type": "integer", "minimum": 1},
        "gil_reported": {"type": ["boolean", "null"]},
        "server": SERVER,
        "log_tail": _TEXT_OR_NULL,
        "result": {"type": ["object", "null"]},  # loadgen's document: loadgen.from_document checks it
        "machine": _nullable(_record({}, {"window_s": _COUNT | {"type": "number"}, **_SHARES})),
        "started_at": _TEXT_OR_NULL,
        "elapsed_s": _nullable({"type": "number", "minimum": 0}),
    },
)
CELL = _record(
    {
        "mode": _TEXT,
        "mode_title": _TEXT,
        "python": _TEXT,
        "python_executable": _TEXT,
        "python_version": _TEXT,
        "free_threaded_build": {"type": "boolean"},
        "gil_requested": {"enum": [0, 1, None]},
        "endpoint": {"enum": [endpoint.name for endpoint in ENDPOINTS]},
        "endpoint_title": _TEXT,
        "variant": {"enum": list(VARIANTS)},
        "path": _TEXT,
        "duration_s": {"type": "number", "exclusiveMinimum": 0},  # the cell's Window, flat
        "samples": {"type": "array", "minItems": 1, "items": SAMPLE},
        "ceiling_rps": _nullable({"type": "number", "exclusiveMinimum": 0}),
        "window_ceiling_rps": _nullable({"type": "number", "exclusiveMinimum": 0}),
    },
    {
        "informational": _TEXT_OR_NULL,
        "slots": _nullable({"type": "integer", "minimum": 1}),  # the server's own bounds: newer than format 2
        "own_ceiling_rps": _nullable({"type": "number", "exclusiveMinimum": 0}),
        "window_own_ceiling_rps": _nullable({"type": "number", "exclusiveMinimum": 0}),
        "measurement": _OBJECT,
        "stopped": {"enum": [*REASONS, None]},
    },
)
DISCOVERY = _record({"searched": {"type": "boolean"}, "places": _TEXTS, "found": _TEXTS, "reason": _TEXT_OR_NULL})
SCHEMA: dict[str, Any] = _record(
    {
        "tool": {"const": TOOL},
        "format": {"const": FORMAT_VERSION},
        "parameters": PARAMETERS,
        "environment": _record({}, {"discovery": DISCOVERY, "database": _TEXT}),
        "interpreters": {
            "type": "array",
            "items": _record(
                {"requested": _TEXT, "label": _TEXT, "executable": _TEXT, "free_threaded": {"type": "boolean"}},
                {"venv": _TEXT_OR_NULL, "problem": _TEXT_OR_NULL},
            ),
        },
        "modes": {
            "type": "array",
            "items": _record({"id": _TEXT, "title": _TEXT, "args": _TEXTS, "about": _TEXT}, {"http2": {"const": True}}),
        },
        "cells": {"type": "array", "items": CELL},
    },
    {
        "started_at": _TEXT_OR_NULL,
        "updated_at": _TEXT_OR_NULL,
        "wall_time_s": _nullable({"type": "number", "minimum": 0}),
        "complete": {"type": "boolean"},
        "interrupted": {"type": "boolean"},
        "warnings": _TEXTS,
        "answer": _OBJECT,  # derived (the report's first table), written by a run's last save, never read back
    },
)

# -- reading ---------------------------------------------------------------------------------------


def _check_kind(data: Any, path: Path) -> None:
    """Another tool's file, or another format of this one, is named as such before any field is checked."""
    if not isinstance(data, dict) or data.get("tool") != TOOL:
        raise FileError(path, 'not a server-matrix results file (no "tool": "server-matrix")')
    if data.get("format") != FORMAT_VERSION:
        raise FileError(
            path,
            f"results format {data.get('format')!r}, this server-matrix reads format {FORMAT_VERSION} "
            "(format 1 predates repetitions: run the matrix again)",
        )


def _result(data: dict[str, Any], path: Path, where: list[str | int]) -> loadgen.Result:
    """loadgen's own reader checks its document (types, bounds, what no run measures) and names the field."""
    try:
        return loadgen.from_document(data)
    except loadgen.DocumentError as error:
        problem = f"not a loadgen result this loadgen can use ({error})"
        raise FileError(path, problem, field_name([*where, "result"])) from None


def _sample(data: dict[str, Any], path: Path, where: list[str | int]) -> Sample:
    result = None if data.get("result") is None else _result(data["result"], path, where)
    names = {item.name for item in fields(Sample)} - {"server", "result"}
    return Sample(
        **{name: value for name, value in data.items() if name in names},
        server=ServerEvents(**{name: value for name, value in data.get("server", {}).items() if name in _EVENTS}),
        result=result,
    )


_EVENTS = {item.name for item in fields(ServerEvents)}
_CELL_FIELDS = tuple(  # in the declared order (results.json's); without the link to the run
    item.name for item in fields(Cell) if item.name not in ("samples", "window") and not item.metadata.get("link")
)
_WINDOW_FIELDS = {item.name for item in fields(Window)}
_HEADER_FIELDS = {item.name for item in fields(MatrixResults)} - {"cells"}


def _earlier_database(data: dict[str, Any]) -> str:
    """The database of a cell written before its measurement named it: SQLite if its run's environment says so;
    otherwise that text (PostgreSQL, which one unknown), which no run's matches: such cells are measured again."""
    said = data.get("environment", {}).get("database", "")
    return SQLITE if said.startswith("SQLite") else said


def from_document(data: Any, path: Path) -> MatrixResults:
    """The results in ``data`` (results.json's parsed content), or FileError naming the field."""
    _check_kind(data, path)
    check(data, SCHEMA, path)
    cells: dict[CellKey, Cell] = {}
    indexes: dict[CellKey, int] = {}
    for index, entry in enumerate(data["cells"]):
        samples = [
            _sample(sample, path, ["cells", index, "samples", number]) for number, sample in enumerate(entry["samples"])
        ]
        identity = {name: value for name, value in entry.items() if name in _CELL_FIELDS}
        if identity.get("measurement"):
            identity["measurement"] = {
                **EARLIER,
                "database": _earlier_database(data),
                **dict.fromkeys(CALLER_DEMO_VARIABLES),  # before they were recorded: read as unset
                **identity["measurement"],
            }
        window = Window(**{name: value for name, value in entry.items() if name in _WINDOW_FIELDS})
        cell = Cell(**identity, window=window, samples=samples)
        if cell.key in cells:  # one would silently replace the other
            problem = f"the same cell as cells[{indexes[cell.key]}] (its mode, interpreter, GIL, endpoint and variant)"
            raise FileError(path, problem, field_name(["cells", index]))
        cells[cell.key], indexes[cell.key] = cell, index
    header = {name: value for name, value in data.items() if name in _HEADER_FIELDS}
    header["parameters"] = {**EARLIER, **header["parameters"]}
    return MatrixResults(cells=cells, **header)


def load(path: Path) -> MatrixResults:
    """results.json, checked; FileError (one line naming the file and the field) if it cannot be used."""
    return from_document(read_json(path), path)


# -- writing ---------------------------------------------------------------------------------------
# The derived figures come from the statistics (numpy), imported by the functions that write them: reading, and
# a refusal in one line, need none of it.


def sample_text(sample: Sample) -> str:
    from server_matrix.statistics import estimates

    summary = {
        "requests_per_sec": sample.requests_per_sec,
        "p50_us": sample.latency_us(50),
        "p99_us": sample.latency_us(99),
        "errors": sample.errors,
        "client_busy": sample.client_busy,
        "starved": sample.starvation,
        "flags": estimates.sample_flags(sample),
    }
    record = {item.name: getattr(sample, item.name) for item in fields(Sample) if item.name != "result"}
    record["server"] = asdict(sample.server)
    text = json.dumps({**summary, **record}, separators=SEPARATORS)
    return f'{text[:-1]},"result":{sample.result_text}}}'  # loadgen's text as it is: no second serialisation


def cell_text(cell: Cell) -> str:
    from server_matrix.statistics import estimates

    identity = {name: getattr(cell, name) for name in _CELL_FIELDS}
    rate, p99 = estimates.rate(cell), estimates.latency(cell, 99)
    derived = {
        "status": cell.status,
        "reason": cell.reason,
        "log_tail": cell.log_tail,
        "gil_reported": cell.gil_reported,
        "gil_mismatch": cell.gil_mismatch,
        "flags": estimates.cell_flags(cell),
        "requests_per_sec": None if rate is None else rate.to_json(),
        "p99_us": None if p99 is None else p99.to_json(),
        "representative": cell.samples.index(cell.representative),
    }
    text = json.dumps({**identity, **asdict(cell.window), **derived}, separators=SEPARATORS)
    return f'{text[:-1]},"samples":[{",".join(map(sample_text, cell.samples))}]}}'


def the_answer(results: MatrixResults) -> Answer:
    """The report's first table, for readers of results.json (derived, never read back)."""
    from server_matrix.statistics.answer import answer
    from server_matrix.statistics.sections import sections
    from server_matrix.statistics.verdicts import verdicts

    all_sections = sections(results)
    return answer(all_sections, verdicts(all_sections))


def header(results: MatrixResults) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "tool": TOOL,
        **{item.name: getattr(results, item.name) for item in fields(MatrixResults) if item.name != "cells"},
    }


class ResultsFile:
    """One results.json, saved again and again as a run goes: each cell's text is kept until the cell changes
    (another cell object under its key, more samples, another reason it stopped), so a save costs the changed cells
    only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # per cell: the cell, its samples and why it stopped, the run's spread, its text then
        self._texts: dict[CellKey, tuple[Cell, tuple[int, str | None], int, str]] = {}

    def text(self, results: MatrixResults) -> str:
        """The last save (complete or interrupted) also writes again the cells whose interval the run's spread has
        changed since (``estimates.run_spread``): the saves before it keep each cell's as it was measured."""
        from server_matrix.statistics import estimates

        finished = results.complete or results.interrupted  # the answer costs a tenth of a second: the last save only
        spread = estimates.run_spread(results)[0]
        parts = []
        for key, cell in results.cells.items():
            kept, state = self._texts.get(key), (len(cell.samples), cell.stopped)
            if kept is None or kept[0] is not cell or kept[1] != state or (finished and kept[2] != spread):
                kept = self._texts[key] = (cell, state, spread, cell_text(cell))
            parts.append(kept[3])
        answer_part = {"answer": the_answer(results).to_json()} if finished else {}
        top = json.dumps({**header(results), **answer_part}, separators=SEPARATORS)
        return f'{top[:-1]},"cells":[{",".join(parts)}]}}\n'

    def save(self, results: MatrixResults) -> None:
        """Write the whole file, or leave the last one (:func:`outdir.write_whole`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)  # its failure names the directory
        outdir.write_whole(self.path, self.text(results).encode())


def save(results: MatrixResults, path: Path) -> None:
    """One save, with nothing kept for the next."""
    ResultsFile(path).save(results)
