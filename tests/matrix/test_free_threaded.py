"""On a free-threaded interpreter the servers really run with the GIL asked for: gil=0 off, gil=1 on (granian
refuses gil=1, a server not installed is skipped); and such an interpreter is found with no --python at all.

Two runs: every mode's cells in the first (--python), and in discovery's run one mode on one variant, enough to show
the interpreter found runs servers under both settings (each cell costs its server's start and its window)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server_matrix.planning.discovery import discover
from server_matrix.planning.interpreters import InterpreterError, prepare
from server_matrix.planning.modes import MODES, required_modules
from tests.matrix.conftest import (
    MatrixCommand,
    assert_nothing_left,
    headings,
    kill_leftovers,
    load_results,
    make_command,
    shown,
)

pytestmark = pytest.mark.slow

ABSENT_MODE = {
    "id": "absent",
    "title": "A server that is not installed",
    "requires": ["server_matrix_absent_server"],
    "args": ["-m", "server_matrix_absent_server", "--port", "{port}"],
}


@pytest.fixture(scope="module")
def free_threaded_python() -> str:
    """FREE_THREADED_PYTHON, or the first free-threaded interpreter discovery finds; its venv built (or reused)."""
    found = discover()
    path = os.environ.get("FREE_THREADED_PYTHON") or (found[0].path if found else None)
    if path is None or not shutil.which(path):
        pytest.skip(
            "no free-threaded interpreter: none on PATH (python3.Nt), in uv or pyenv, or in "
            "~/.cache/free-threaded-python/, and FREE_THREADED_PYTHON is not set (uv python install 3.14t)"
        )
    try:
        interpreter = prepare(path, required_modules(MODES))  # builds or reuses the cached venv (PyPI the first time)
    except InterpreterError as error:
        pytest.skip(f"cannot use {path}: {error}")
    if not interpreter.free_threaded:
        pytest.skip(f"{path} is not a free-threaded build")
    if interpreter.problem:
        pytest.skip(f"no venv with the demo's dependencies for {path} (PyPI unreachable?): {interpreter.problem}")
    return path


def modes_file(folder: Path) -> Path:
    """A modes file adding the mode whose server is not installed."""
    path = folder / "modes.json"
    path.write_text(json.dumps([ABSENT_MODE]))
    return path


Run = tuple[MatrixCommand, Path, "subprocess.CompletedProcess[str] | None"]


@pytest.fixture(scope="module")
def runs(free_threaded_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Both tests' runs at once, by name: ``asked`` (--python, every mode's cells) and ``found`` (discovery's; not run,
    None, when discovery does not look where the interpreter is). Each is a run of its own, its servers on ports of
    their own, and the tests assert which cells ran under which GIL setting, no rate: at once, the second's cells
    pass within the first's."""
    asked, found = (make_command(tmp_path_factory.mktemp(name)) for name in ("asked", "found"))
    discoverable = any(os.path.samefile(interpreter.path, free_threaded_python) for interpreter in discover())
    asked_args = (
        "--python", free_threaded_python, "--modes-file", str(modes_file(asked.workdir)),
        "--modes", "asgi-threads,wsgi-gthread,granian-wsgi,absent", "--endpoints", "json", "--duration", "0.25",
    )  # fmt: skip
    found_args = (  # not quick_run's: discovery is what is tested
        "run", "--profile", "quick", "--out", str(found.workdir / "out"), "--no-chart",
        "--modes-file", str(modes_file(found.workdir)), "--modes", "wsgi-gthread,absent", "--endpoints", "json",
        "--variants", "sync", "--duration", "0.25",
    )  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        asked_run = pool.submit(asked.quick_run, asked.workdir / "out", *asked_args, timeout=200)
        found_run = pool.submit(found.run, *found_args, timeout=240) if discoverable else None
        done = {
            "asked": (asked, asked.workdir / "out", asked_run.result()),
            "found": (found, found.workdir / "out", found_run.result() if found_run else None),
        }
    yield done
    left = [pid for command in (asked, found) for pid in kill_leftovers(command)]
    assert not left, "the matrix left processes behind"


def test_servers_report_the_gil_state_asked_for(runs: dict[str, Run]) -> None:
    matrix, out, done = runs["asked"]
    assert done is not None
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    assert_nothing_left(matrix, results)
    by_key = {(cell["mode"], cell["gil_requested"], cell["variant"]): cell for cell in results["cells"]}
    assert len(by_key) == 4 * 2 * 2  # modes x gil settings x variants
    for variant in ("sync", "async"):
        for gil in (0, 1):
            assert by_key[("absent", gil, variant)]["status"] == "skipped"
        granian_off, granian_on = (by_key[("granian-wsgi", gil, variant)] for gil in (0, 1))
        assert granian_off["status"] == "ok" and granian_off["gil_reported"] is False, granian_off
        assert granian_on["status"] == "skipped" and "refuses to start with the GIL enabled" in granian_on["reason"]
    ran = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert len(ran) == 2 * 2 * 2 + 2  # asgi-threads and wsgi-gthread x gil settings x variants; granian's gil=0
    for cell in ran:
        assert cell["free_threaded_build"] is True
        assert cell["gil_reported"] is bool(cell["gil_requested"]), cell
        server = shown(cell)["server"]
        assert all(report["free_threaded_build"] for report in server["runtime"])
        assert "-X" in server["command"] and f"gil={cell['gil_requested']}" in server["command"]
    sections = [line for line in headings((out / "report.md").read_text()) if line.startswith("## ")]
    assert [line.rsplit(" ", 1)[1] for line in sections] == ["-Xgil=0", "-Xgil=1"] * 4
    report = (out / "report.md").read_text()
    assert report.count("| 0 → off |") == 6 and report.count("| 1 → on |") == 4
    assert "⚠" not in report.split("## Environment")[0]
    # one measurement per cell (quick): a mode that ran under both settings is compared all the same, not judged
    answer = report.split("## The answer: ", 1)[1].split("## Summary", 1)[0]
    assert "no mode ran under both" not in answer.lower() and "(once) **not judged**" in answer
    assert "- **`wsgi-gthread` gil=0 / gil=1**: measured once, so no interval and not judged: json sync" in answer
    rows = {row["mode"]: row for row in results["answer"]["rows"]}
    assert all(cell["verdict"] == "not judged" for cell in rows["wsgi-gthread"]["cells"])
    assert all(column["fastest"]["server"].endswith(" gil=1") for column in results["answer"]["columns"])


def test_found_without_asking_and_run_under_both_gil_settings(free_threaded_python: str, runs: dict[str, Run]) -> None:
    matrix, out, done = runs["found"]
    if done is None:
        pytest.skip(f"{free_threaded_python} (FREE_THREADED_PYTHON) is not in a place discovery looks")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "found a free-threaded interpreter" in done.stderr
    results = load_results(out)
    assert_nothing_left(matrix, results)
    assert any(free_threaded_python in line for line in results["environment"]["discovery"]["found"])
    by_key = {(cell["python"], cell["mode"], cell["gil_requested"]): cell for cell in results["cells"]}
    found = {cell["python"] for cell in results["cells"] if cell["free_threaded_build"]}
    assert found, "no cell ran on a discovered free-threaded interpreter"
    for python in found:
        for gil in (0, 1):
            gthread = by_key[(python, "wsgi-gthread", gil)]
            assert gthread["status"] == "ok" and gthread["gil_reported"] is bool(gil), gthread
            assert by_key[(python, "absent", gil)]["status"] == "skipped"
    report = (out / "report.md").read_text()
    sections = [line for line in headings(report) if line.startswith("## ")]
    assert any("-Xgil=0" in line for line in sections) and any("-Xgil=1" in line for line in sections)
    assert "No free-threaded interpreter" not in report
    assert free_threaded_python in report.split("## Environment", 1)[1]
    assert "no mode ran under both" not in report.split("## Summary", 1)[0].lower()  # wsgi-gthread did
