"""On a free-threaded interpreter the servers really run with the GIL asked for: gil=0 off, gil=1 on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from server_matrix.interpreters import InterpreterError, prepare
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, headings, load_results, shown

pytestmark = pytest.mark.slow

# Where /work/shared/tools/free-threaded-python builds it; FREE_THREADED_PYTHON points elsewhere.
DEFAULT_FREE_THREADED = Path.home() / ".cache" / "free-threaded-python" / "3.14.7" / "bin" / "python3.14t"


@pytest.fixture(scope="module")
def free_threaded_python() -> str:
    path = os.environ.get("FREE_THREADED_PYTHON") or str(DEFAULT_FREE_THREADED)
    if not shutil.which(path):
        pytest.skip(f"no free-threaded interpreter at {path} (build one with shared/tools/free-threaded-python, "
                    "or set FREE_THREADED_PYTHON)")
    try:
        interpreter = prepare(path)  # builds or reuses the cached venv (needs PyPI the first time)
    except InterpreterError as error:
        pytest.skip(f"cannot use {path}: {error}")
    if not interpreter.free_threaded:
        pytest.skip(f"{path} is not a free-threaded build")
    if interpreter.problem:
        pytest.skip(f"no venv with the demo's dependencies for {path} (PyPI unreachable?): {interpreter.problem}")
    return path


def test_servers_report_the_gil_state_asked_for(free_threaded_python: str, matrix: MatrixCommand,
                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = matrix.run("run", "--profile", "quick", "--out", str(out), "--python", free_threaded_python,
                      "--modes", "asgi-threads,wsgi-gthread", "--endpoints", "json", timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    assert_nothing_left(matrix, results)
    cells = results["cells"]
    assert len(cells) == 2 * 2 * 2  # modes x gil settings x variants
    for cell in cells:
        assert cell["status"] == "ok" and cell["free_threaded_build"] is True
        assert cell["gil_reported"] is bool(cell["gil_requested"]), cell
        server = shown(cell)["server"]
        assert all(report["free_threaded_build"] for report in server["runtime"])
        assert "-X" in server["command"] and f"gil={cell['gil_requested']}" in server["command"]
    sections = [line for line in headings((out / "report.md").read_text()) if line.startswith("## ")]
    assert [line.rsplit(" ", 1)[1] for line in sections] == ["-Xgil=0", "-Xgil=1"] * 2
    report = (out / "report.md").read_text()
    assert report.count("| 0 → off |") == 4 and report.count("| 1 → on |") == 4
    assert "⚠" not in report.split("## Environment")[0]
