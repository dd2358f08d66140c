"""Running again into the same results directory with other settings: the cells measured with the old ones go."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.matrix.conftest import MatrixCommand, load_results

pytestmark = pytest.mark.slow


def test_cells_measured_with_other_settings_are_not_kept(matrix: MatrixCommand, tmp_path: Path) -> None:
    out = tmp_path / "out"
    common = ("run", "--profile", "quick", "--no-discover", "--out", str(out), "--modes", "wsgi-sync")
    first = matrix.run(*common, "--endpoints", "json,json_query", "--variants", "sync", timeout=120)
    assert first.returncode == 0, first.stderr
    assert {cell["duration_s"] for cell in load_results(out)["cells"] if cell["status"] == "ok"} == {1.0}
    second = matrix.run(*common, "--endpoints", "json", "--variants", "sync", "--duration", "2", timeout=120)
    assert second.returncode == 0, second.stderr
    results = load_results(out)
    assert {cell["endpoint"] for cell in results["cells"]} == {"json"}
    assert {cell["duration_s"] for cell in results["cells"]} == {2.0}
    assert "2 cell(s) measured with other settings (duration_s 1 → 2) dropped" in second.stderr
    assert "2 s per endpoint" in (out / "report.md").read_text()
