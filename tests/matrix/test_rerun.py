"""Running again into the same results directory with other settings: the cells measured with the old ones go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server_matrix.measuring.progress import dropped_text
from server_matrix.measuring.results import OK, MatrixResults
from server_matrix.planning.documents import FileError
from server_matrix.planning.plan import CALLER_DEMO_VARIABLES, measured_settings
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.reporting.report import render_report
from server_matrix.reporting.resultsfile import load, save
from server_matrix.statistics.changes import compare_runs
from tests.matrix.conftest import MatrixCommand, load_results
from tests.matrix.test_report import synthetic_results

POSTGRES = "postgres://demo:secret@127.0.0.1:5432/bench?sslmode=disable"


@pytest.mark.slow
def test_cells_measured_with_other_settings_are_not_kept(matrix: MatrixCommand, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = matrix.quick_run(out, "--modes", "wsgi-sync", "--endpoints", "json,json_query", "--variants", "sync",
                             "--duration", "0.5", timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert {cell["duration_s"] for cell in load_results(out)["cells"] if cell["status"] == "ok"} == {0.5}
    second = matrix.quick_run(out, "--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", timeout=120)
    assert second.returncode == 0, second.stderr
    results = load_results(out)
    assert {cell["endpoint"] for cell in results["cells"]} == {"json"}
    assert {cell["duration_s"] for cell in results["cells"]} == {1.0}
    assert "2 cells measured with other settings (duration_s 0.5 → 1) dropped" in second.stderr
    assert "1 s per endpoint" in (out / "report.md").read_text()
    assert not (out / "chart.png").exists() and not (out / "chart.svg").exists()  # --no-chart


def kept_after(results: MatrixResults, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> tuple[int, str]:
    """The ok cells ``results`` keeps for a run on ``database_url`` (None: SQLite), and the line on those it drops."""
    if database_url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", database_url)
    settings = measured_settings(resolve(PROFILES["original"]))
    dropped = [cell for cell in results.drop_measured_otherwise(settings) if cell.status == OK]
    return sum(cell.status == OK for cell in results.cells.values()), dropped_text(dropped, settings) if dropped else ""


def test_cells_measured_on_another_database_are_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on PostgreSQL into a directory measured on SQLite (or the other way) kept its cells beside the new ones,
    under one "Database: PostgreSQL": the database was no setting of a cell's. Its password is never written."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    on_sqlite = synthetic_results(tmp_path, free_threaded=False)
    ok = sum(cell.status == OK for cell in on_sqlite.cells.values())
    assert kept_after(on_sqlite, monkeypatch, None) == (ok, "")
    assert kept_after(on_sqlite, monkeypatch, POSTGRES) == (
        0,
        f"{ok} cells measured with other settings (database sqlite → postgresql://demo@127.0.0.1:5432/bench) "
        "dropped from results.json",
    )
    on_postgres = synthetic_results(tmp_path, free_threaded=False)  # measured with DATABASE_URL still set
    save(on_postgres, tmp_path / "results.json")
    assert "secret" not in (tmp_path / "results.json").read_text()
    same = POSTGRES.replace("postgres:", "postgresql:").replace("?sslmode=disable", "")  # the same database
    assert kept_after(load(tmp_path / "results.json"), monkeypatch, same)[0] == ok
    assert kept_after(load(tmp_path / "results.json"), monkeypatch, POSTGRES.replace("bench", "other"))[0] == 0


@pytest.mark.parametrize(
    ("said", "kept_on_sqlite"), [("SQLite (embedded)", True), ("PostgreSQL (DATABASE_URL is set)", False)]
)
def test_cells_written_before_they_named_their_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: str, kept_on_sqlite: bool
) -> None:
    """A results.json written before: its run's environment says which database (PostgreSQL: not which one)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    results = synthetic_results(tmp_path, free_threaded=False)
    ok = sum(cell.status == OK for cell in results.cells.values())
    results.environment = {"database": said}
    save(results, tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text())
    for cell in document["cells"]:
        del cell["measurement"]["database"]
    (tmp_path / "results.json").write_text(json.dumps(document))
    assert kept_after(load(tmp_path / "results.json"), monkeypatch, None)[0] == (ok if kept_on_sqlite else 0)
    assert kept_after(load(tmp_path / "results.json"), monkeypatch, POSTGRES)[0] == 0
    document["environment"]["database"] = 5  # damaged: one line naming the field, not a traceback
    (tmp_path / "results.json").write_text(json.dumps(document))
    with pytest.raises(FileError, match=r"environment\.database"):
        load(tmp_path / "results.json")


def test_the_demos_variables_from_the_callers_environment_are_settings_of_the_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers inherit DEMO_BROTLI_QUALITY and DEMO_DB_POOL_*: brotli ran 2536 req/s at quality 0, about 60 at
    the demo's 11, and neither the report nor a later run into the directory knew."""
    monkeypatch.delenv("DATABASE_URL", raising=False)  # CI sets it: the results below are measured on SQLite
    for name in CALLER_DEMO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    unset = synthetic_results(tmp_path, free_threaded=False)
    ok = sum(cell.status == OK for cell in unset.cells.values())
    monkeypatch.setenv("DEMO_BROTLI_QUALITY", "0")
    assert kept_after(unset, monkeypatch, None) == (
        0,
        f"{ok} cells measured with other settings (DEMO_BROTLI_QUALITY unset → 0) dropped from results.json",
    )
    at_quality_0 = synthetic_results(tmp_path, free_threaded=False)
    assert "DEMO_ROWS=0 (the rows json_query and template_query serve); from the caller's environment: " in (
        render_report(at_quality_0)
    )
    assert "DEMO_BROTLI_QUALITY=0\n" in render_report(at_quality_0)
    assert compare_runs(synthetic_results(tmp_path, free_threaded=False), at_quality_0).notes == ()
    monkeypatch.delenv("DEMO_BROTLI_QUALITY")
    assert compare_runs(synthetic_results(tmp_path, free_threaded=False), at_quality_0).notes == (
        "A and B were run with different parameters, their numbers are not like for like: DEMO_BROTLI_QUALITY unset "
        "in A, 0 in B",
    )
