"""`server-matrix run --http2`: the modes whose server speaks h2c measured over HTTP/2 as modes of their own
(``<mode>-h2``), the others skipped with the reason, one line each in the report. A tiny real run: four modes
(gunicorn gthread, granian, hypercorn; gunicorn sync, skipped), one endpoint, a quarter of a second each."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

import loadgen
from server_matrix.planning.modes import GUNICORN_NO_H2C, MODES, NO_H2C, with_http2
from server_matrix.planning.modesfile import load_modes_file
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results, shown

pytestmark = pytest.mark.slow

MEASURED = ("wsgi-gthread", "granian-wsgi", "hypercorn")


def test_every_mode_has_an_http2_sibling_that_runs_or_says_why_not() -> None:
    for mode, sibling in zip(MODES, with_http2(list(MODES))[1::2], strict=True):
        assert sibling.id == f"{mode.id}-h2" and sibling.http2 and not mode.http2
        if mode.h2c_args is None:
            reasons = {sibling.refusal(gil) for gil in (None, 0, 1)}
            assert reasons == {mode.no_h2c} and mode.no_h2c, mode.id
        else:
            assert sibling.args == mode.h2c_args and sibling.refusal(None) is None
    speaking = {mode.id for mode in MODES if mode.h2c_args is not None}
    assert speaking == {"wsgi-gthread", "asgi-gunicorn", "granian-wsgi", "granian-asgi", "hypercorn"}
    # gunicorn speaks HTTP/2 with the h2 library: a venv without it skips those siblings (their servers would not boot)
    needing_h2 = {sibling.id for sibling in with_http2(list(MODES)) if "h2" in sibling.requires}
    assert needing_h2 == {"wsgi-gthread-h2", "asgi-gunicorn-h2"}


def test_a_modes_file_may_give_a_mode_its_h2c_command_line(tmp_path: Path) -> None:
    modes = tmp_path / "modes.json"
    modes.write_text(
        json.dumps(
            [
                {"id": "both", "title": "both", "args": ["-m", "s", "{port}"], "h2c_args": ["-m", "s", "{port}", "h2"]},
                {"id": "plain", "title": "plain", "args": ["-m", "s", "{port}"], "no_h2c": "it speaks HTTP/1.0"},
                {"id": "unsaid", "title": "unsaid", "args": ["-m", "s", "{port}"]},
            ]
        )
    )
    both, plain, unsaid = (mode.over_http2() for mode in load_modes_file(modes))
    assert both.command_args(port=1) == ["-m", "s", "1", "h2"] and both.refusal(None) is None
    assert plain.refusal(None) == plain.refusal(0) == "it speaks HTTP/1.0"
    assert unsaid.refusal(None) == NO_H2C and unsaid.id == "unsaid-h2"


@pytest.mark.skipif(not all(map(shutil.which, ("granian", "hypercorn"))), reason="granian or hypercorn missing")
@pytest.mark.skipif(importlib.util.find_spec("h2") is None, reason="h2 (gunicorn's HTTP/2) missing")
def test_modes_that_speak_h2c_are_measured_over_http2(matrix: MatrixCommand, tmp_path: Path) -> None:
    out = tmp_path / "h2"
    done = matrix.quick_run(
        out, "--http2", "--modes", ",".join((*MEASURED, "wsgi-sync")), "--endpoints", "json", "--variants", "sync",
        "--duration", "0.25", "--workers", "1", "--threads", "2", "--connections", "4", "--client-threads", "1",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    assert_nothing_left(matrix, results)
    assert results["parameters"]["http2"] is True
    listed = {mode["id"]: mode.get("http2", False) for mode in results["modes"]}
    assert listed == {name: name.endswith("-h2") for mode in (*MEASURED, "wsgi-sync") for name in (mode, f"{mode}-h2")}
    run = {cell["mode"]: cell for cell in results["cells"] if cell["gil_requested"] is None}
    for mode in MEASURED:
        for mode_id, protocol in ((mode, "http/1.1"), (f"{mode}-h2", "h2")):
            cell = run[mode_id]
            assert cell["status"] == "ok", cell.get("reason")
            result = loadgen.from_document(shown(cell)["result"])
            assert result.measured.protocol == protocol and result.requests > 0 and not result.errors.socket
            assert result.status_counts.keys() == {200}
    assert run["wsgi-sync"]["status"] == "ok" and run["wsgi-sync-h2"]["status"] == "skipped"
    assert run["wsgi-sync-h2"]["reason"] == GUNICORN_NO_H2C
    report = (out / "report.md").read_text()
    assert [line for line in report.splitlines() if GUNICORN_NO_H2C in line and line.startswith("**Skipped**")] == [
        f"**Skipped** ({GUNICORN_NO_H2C}): `wsgi-sync-h2 default build`."
    ]
