"""Running again into the same results directory with other settings: the cells measured with the old ones go."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.matrix.conftest import MatrixCommand, load_results

pytestmark = pytest.mark.slow


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
    assert "2 cell(s) measured with other settings (duration_s 0.5 → 1) dropped" in second.stderr
    assert "1 s per endpoint" in (out / "report.md").read_text()
    assert not (out / "chart.png").exists() and not (out / "chart.svg").exists()  # --no-chart
