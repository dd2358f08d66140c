"""``--gateway-once`` end to end: a gateway endpoint measured on a mode's first server only, the others left out
with one line of reason in the report; ``--gateway-everywhere`` into the same directory measures them.

Two interpreters are needed for two servers of one mode: the running one under two names (no venv to build),
as a user comparing interpreters would list them with ``--python``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server_matrix.planning.plan import GATEWAY_ONCE
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = pytest.mark.slow
# Every cell the shortest window, the gateway's too: which cells run, and where, is what is asserted.
SHORTEST = ("--duration", "0.25", "--duration-factor", "0")


def run(matrix: MatrixCommand, out: Path, pythons: tuple[str, str], gateway: str) -> None:
    done = matrix.quick_run(
        out,
        *(argument for python in pythons for argument in ("--python", python)),
        *("--modes", "uvicorn-workers", "--endpoints", "json,gateway_1s"),
        *SHORTEST,  # both runs: a cell measured with other settings would be dropped, not kept
        gateway,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_gateway_once_then_everywhere(matrix: MatrixCommand, tmp_path: Path) -> None:
    alias = tmp_path / "bin" / "python-alias"
    alias.parent.mkdir()
    alias.symlink_to(sys.executable)
    first, second = pythons = (sys.executable, str(alias))
    out = tmp_path / "out"
    run(matrix, out, pythons, "--gateway-once")
    results = load_results(out)
    assert_nothing_left(matrix, results)
    by_key = {
        (cell["python"], cell["endpoint"], cell["variant"]): cell
        for cell in results["cells"]
        if cell["gil_requested"] is None  # the default build's one server; its gil=0 and gil=1 are skipped
    }
    assert len(by_key) == 2 * 2 * 2  # interpreters x endpoints x variants
    for variant in ("sync", "async"):
        assert by_key[(first, "gateway_1s", variant)]["status"] == "ok"
        left_out = by_key[(second, "gateway_1s", variant)]
        assert left_out["status"] == "skipped" and left_out["reason"] == GATEWAY_ONCE
        assert all(by_key[(python, "json", variant)]["status"] == "ok" for python in pythons)
    report = (out / "report.md").read_text()
    summary = report.split("## Method")[0]
    gateway_table = summary.split("### gateway_1s")[1].split("\n\n")[1]
    assert gateway_table.count("| uvicorn-workers") == 2  # sync and async of the first server, no skipped rows
    skipped_lines = [line for line in summary.splitlines() if line.startswith("**Skipped** gateway_1s (")]
    assert len(skipped_lines) == 1 and "Python" in skipped_lines[0], summary
    assert "measured on each mode's first server only: neither the interpreter" in report  # the method says so

    run(matrix, out, pythons, "--gateway-everywhere")  # a skipped cell is never kept: now it is measured
    results = load_results(out)
    assert {cell["status"] for cell in results["cells"] if cell["gil_requested"] is None} == {"ok"}
    report = (out / "report.md").read_text()
    assert "**Skipped** gateway_1s" not in report and "first server only" not in report
