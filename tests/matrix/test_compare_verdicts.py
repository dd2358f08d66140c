"""`server-matrix compare --fail-above` fails when B lost a cell that A measured: an error in B, or no cell at all."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from server_matrix.measuring.results import ERROR, MatrixResults
from server_matrix.reporting.resultsfile import save
from tests.matrix.conftest import MatrixCommand
from tests.matrix.test_report import synthetic_results


def saved(results: MatrixResults, path: Path) -> str:
    save(results, path)
    return str(path)


def test_a_run_compared_with_itself_passes(matrix: MatrixCommand, tmp_path: Path) -> None:
    a = saved(synthetic_results(tmp_path, free_threaded=True), tmp_path / "a.json")
    done = matrix.run("compare", a, a, "--fail-above", "5", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes" in done.stdout


def test_a_cell_that_became_an_error_fails(matrix: MatrixCommand, tmp_path: Path) -> None:
    results = synthetic_results(tmp_path, free_threaded=True)
    a = saved(results, tmp_path / "a.json")
    cell = next(cell for cell in results.cells.values() if cell.endpoint == "json" and cell.status == "ok")
    results.put(replace(cell, samples=[replace(cell.samples[0], status=ERROR, reason="server died")]))
    b = saved(results, tmp_path / "b.json")
    done = matrix.run("compare", a, b, "--fail-above", "5", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{cell.key.label}" in done.stdout and "error in B" in done.stdout and "fails" in done.stdout
    as_json = json.loads(matrix.run("compare", a, b, "--json", "--fail-above", "5", timeout=60).stdout)
    assert as_json["failed"] and [entry["endpoint"] for entry in as_json["lost"]] == ["json"]
    assert matrix.run("compare", a, b, timeout=60).returncode == 0  # without --fail-above nothing fails


def test_b_without_cells_fails(matrix: MatrixCommand, tmp_path: Path) -> None:
    results = synthetic_results(tmp_path, free_threaded=True)
    a = saved(results, tmp_path / "a.json")
    results.cells.clear()
    b = saved(results, tmp_path / "b.json")
    done = matrix.run("compare", a, b, "--fail-above", "5", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not measured in B" in done.stdout and "fails" in done.stdout
