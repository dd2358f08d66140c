"""`server-matrix compare --fail-above` fails when B lost a cell that A measured (an error in B, or no cell at all),
and refuses to gate on cells measured once (no interval: a slowdown there cannot be told from noise). Cells are
matched across an interpreter's path when its build is the same; different parameters, and cells under
different interpreters, are said so."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server_matrix.measuring.results import ERROR, MatrixResults
from server_matrix.reporting.resultsfile import save
from server_matrix.statistics.changes import compare_runs
from tests.matrix.conftest import MatrixCommand
from tests.matrix.test_report import synthetic_results
from tests.matrix.test_single_and_answer import repeated, with_requests


def saved(results: MatrixResults, path: Path) -> str:
    save(results, path)
    return str(path)


def repeated_results(tmp_path: Path) -> MatrixResults:
    """The original profile's synthetic results, each CPU-bound cell measured twice: a gate can judge them."""
    return repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=1.0)


def edited(path: str, edit: Callable[[dict[str, Any]], None], name: str) -> str:
    """A copy of the results.json at ``path``, changed by ``edit`` as a document."""
    document = json.loads(Path(path).read_text())
    edit(document)
    copy = Path(path).with_name(name)
    copy.write_text(json.dumps(document))
    return str(copy)


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_fail_above_no_gate_can_use_is_one_line(matrix: MatrixCommand, value: str) -> None:
    """Refused before the files are read (they need not exist); inf, a gate that never fails, was taken."""
    done = matrix.run("compare", "a.json", "b.json", "--fail-above", value, timeout=30)
    assert done.returncode == 2
    refusal = f"server-matrix: --fail-above must be a finite percentage, at least 0 (got {value})"
    assert done.stderr.splitlines() == [refusal]


def test_a_run_compared_with_itself_passes(matrix: MatrixCommand, tmp_path: Path) -> None:
    a = saved(repeated_results(tmp_path), tmp_path / "a.json")
    done = matrix.run("compare", a, a, "--fail-above", "5", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes" in done.stdout


def test_a_cell_that_became_an_error_fails(matrix: MatrixCommand, tmp_path: Path) -> None:
    results = repeated_results(tmp_path)
    a = saved(results, tmp_path / "a.json")
    cell = next(cell for cell in results.cells.values() if cell.endpoint == "json" and cell.status == "ok")
    results.put(replace(cell, samples=[replace(cell.samples[0], status=ERROR, reason="server died")]))
    b = saved(results, tmp_path / "b.json")
    done, as_json, table = matrix.run_together(
        ("compare", a, b, "--fail-above", "5"), ("compare", a, b, "--json", "--fail-above", "5"), ("compare", a, b)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{cell.key.label}" in done.stdout and "error in B" in done.stdout and "fails" in done.stdout
    document = json.loads(as_json.stdout)
    assert document["failed"] and [entry["endpoint"] for entry in document["lost"]] == ["json"]
    assert table.returncode == 0  # without --fail-above nothing fails


def test_b_without_cells_fails(matrix: MatrixCommand, tmp_path: Path) -> None:
    results = synthetic_results(tmp_path, free_threaded=True)
    a = saved(results, tmp_path / "a.json")
    results.cells.clear()
    b = saved(results, tmp_path / "b.json")
    done = matrix.run("compare", a, b, "--fail-above", "5", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not measured in B" in done.stdout and "fails" in done.stdout


def test_the_gate_refuses_cells_measured_once_rather_than_pass_a_slowdown(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    """The quick profile's runs (every CPU-bound cell once): B at 0.55x A on a cell has no interval, so no
    significance; the gate refuses in one line (exit 2) instead of passing it. Without --fail-above: the table."""
    results = synthetic_results(tmp_path, free_threaded=True)
    a = saved(results, tmp_path / "a.json")
    cell = next(cell for cell in results.cells.values() if cell.endpoint == "json" and cell.status == "ok")
    slower = with_requests(cell.result, round(0.55 * cell.result.measured.requests))
    results.put(replace(cell, samples=[replace(cell.samples[0], result=slower)]))
    b = saved(results, tmp_path / "b.json")
    done, as_json, table = matrix.run_together(
        ("compare", a, b, "--fail-above", "10"), ("compare", a, b, "--json", "--fail-above", "10"), ("compare", a, b)
    )
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.startswith("server-matrix: cannot gate: 32 of 56 compared cells were measured once")
    assert "--repeat 2" in done.stderr and len(done.stderr.splitlines()) == 1
    assert as_json.returncode == 2
    assert table.returncode == 0 and "0.55 (once) | " in table.stdout
    assert "once: no interval, not judged" in table.stdout


def test_a_lost_cell_fails_the_gate_beside_cells_measured_once(
    matrix: MatrixCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell A measured that B lost fails whatever the intervals: the refusal to judge cells measured once (exit 2,
    "none was found") hid it. The quick profile's runs, one cell an error in B."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    results = synthetic_results(tmp_path, free_threaded=True)
    a = saved(results, tmp_path / "a.json")
    cell = next(cell for cell in results.cells.values() if cell.endpoint == "json" and cell.status == "ok")
    results.put(replace(cell, samples=[replace(cell.samples[0], status=ERROR, reason="server died")]))
    b = saved(results, tmp_path / "b.json")
    done = matrix.run("compare", a, b, "--fail-above", "10", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error in B" in done.stdout and "fails" in done.stdout and "cannot gate" not in done.stderr


def test_the_same_build_under_another_path_is_compared_and_said_so(matrix: MatrixCommand, tmp_path: Path) -> None:
    """Only the interpreter's path rewritten: the cells are the same build's, so they are compared, with a note."""
    a = saved(repeated_results(tmp_path), tmp_path / "a.json")
    b = edited(a, lambda document: moved(document, "/opt/python/bin/python3"), "b.json")
    done = matrix.run("compare", a, b, "--fail-above", "5", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "> note: A's python3 and B's /opt/python/bin/python3 are the same build (CPython 3.14.7t)" in done.stdout
    assert "Measured in" not in done.stdout and "56 cells in both runs" in done.stdout


def test_cells_under_different_builds_name_their_interpreter(matrix: MatrixCommand, tmp_path: Path) -> None:
    """Another path and another version: nothing is matched, and the lists under the table name each cell's
    interpreter, so that A's cells and B's do not read as the same labels."""
    a = saved(repeated_results(tmp_path), tmp_path / "a.json")
    b = edited(a, lambda document: moved(document, "/opt/python/bin/python3", version="3.14.8"), "b.json")
    upgraded = edited(a, lambda document: moved(document, "python3", version="3.14.8"), "upgraded.json")
    done, same_version = matrix.run_together(("compare", a, b), ("compare", a, upgraded))
    lost, only_b = (line for line in done.stdout.splitlines() if line.startswith("Measured in"))
    label = "asgi-uvicorn-single gil=0 json sync"
    assert f"{label} [python3] (not in B)" in lost and "[/opt/python/bin/python3]" not in lost
    assert f"{label} [/opt/python/bin/python3]" in only_b and "[python3]" not in only_b
    same_path = same_version.stdout  # compared, and the versions said
    assert "> note: python3 is CPython 3.14.7t in A and CPython 3.14.8t in B\n" in same_path
    assert "Measured in" not in same_path


def test_runs_with_different_parameters_are_noted(matrix: MatrixCommand, tmp_path: Path) -> None:
    a = saved(repeated_results(tmp_path), tmp_path / "a.json")

    def smaller(document: dict[str, Any]) -> None:
        document["parameters"] |= {"connections": 8, "duration_s": 0.5}

    b = edited(a, smaller, "b.json")
    done, as_json, alike = matrix.run_together(("compare", a, b), ("compare", a, b, "--json"), ("compare", a, a))
    note = "note: A and B were run with different parameters, their numbers are not like for like: "
    assert f"> {note}--duration 10 in A, 0.5 in B; --connections 2000 in A, 8 in B\n" in done.stdout
    assert json.loads(as_json.stdout)["notes"][0].startswith(note[6:])
    assert "note:" not in alike.stdout


def test_runs_on_different_databases_are_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on PostgreSQL compared with one on SQLite: the query endpoints' numbers are the database's as much as
    the server's, and nothing said so."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    on_sqlite = repeated_results(tmp_path)
    on_postgres = repeated_results(tmp_path)
    for cell in on_postgres.cells.values():
        cell.measurement = {**cell.measurement, "database": "postgresql://demo@127.0.0.1:5432/bench"}
    assert compare_runs(on_sqlite, on_postgres).notes == (
        "A and B were run with different parameters, their numbers are not like for like: database sqlite in A, "
        "postgresql://demo@127.0.0.1:5432/bench in B",
    )
    assert compare_runs(on_sqlite, repeated_results(tmp_path)).notes == ()


def moved(document: dict[str, Any], path: str, version: str | None = None) -> None:
    """Every cell and the interpreter list as if run by ``path`` (of ``version``, when given)."""
    for entry in [*document["cells"], *document["interpreters"]]:
        entry["python" if "python" in entry else "requested"] = path
        if version:
            entry["python_version" if "python_version" in entry else "version"] = version
