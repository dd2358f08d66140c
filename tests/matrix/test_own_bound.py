"""A server that runs fewer requests at once than there are connections has a closed-loop bound of its own, and is
judged against it: 4 sync workers on a 20.1 ms gateway endpoint reach at most 4 / 20.1 ms = 199 req/s (196 within a
1 s run), whatever the 32 connections' 1592 req/s. An async server (no slots) is still judged against the
connections' bound. Synthetic results (no server): the plan, the findings, the summary, results.json and
``compare``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import loadgen
from server_matrix.measuring.results import OK, Cell, MatrixResults
from server_matrix.planning.endpoints import ENDPOINTS_BY_NAME
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.reporting.changes_text import markdown
from server_matrix.reporting.report import render_report
from server_matrix.reporting.resultsfile import load, save
from server_matrix.statistics.changes import compare_runs
from tests.matrix.test_report import synthetic_results

SYNC, ASYNC = "wsgi-sync", "asgi-uvicorn-workers"
# 32 connections, 4 workers, gateway_1s at 0.0201: 20.1 ms. A 1 s run completes 49 rounds: 196 and 1568 req/s (at
# 20 ms the 50th would be due at its end: the window would be half a delay longer, see Parameters.window).
PARAMETERS = resolve(
    PROFILES["quick"],
    modes=(SYNC, ASYNC),
    endpoints=("gateway_1s",),
    variants=("sync",),
    connections=32,
    workers=4,
    gateway_scale=0.0201,
)
GATEWAY = ENDPOINTS_BY_NAME["gateway_1s"]


def result(rate: int) -> loadgen.Result:
    """``rate`` responses in the 1 s window."""
    settings = loadgen.Settings("http://127.0.0.1:8000/myapp/sync/gateway_1s", threads=1, connections=32, duration=1)
    measured = loadgen.Measurement(
        workers=1, requests=rate, bytes=rate * 282, status_counts={200: rate}, elapsed_us=1_000_000
    )
    return loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000)


def gateway_results(tmp_path: Path, rates: dict[str, int]) -> MatrixResults:
    """Each mode's gateway cell at its rate (req/s), as the runner would record it."""
    return synthetic_results(
        tmp_path, free_threaded=False, parameters=PARAMETERS, result=lambda group, _: result(rates[group.mode.id])
    )


def cell(results: MatrixResults, mode: str) -> Cell:
    return next(cell for cell in results.cells.values() if cell.mode == mode and cell.status == OK)


def findings(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("- **gateway_1s** sync:"))


def row(report: str, mode: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| {mode}") and "| sync |" in line)


def test_the_window_holds_the_servers_own_bound_when_it_runs_fewer_at_once() -> None:
    window = PARAMETERS.window(GATEWAY, 4)
    assert (window.ceiling_rps, window.window_ceiling_rps) == pytest.approx((32 / 0.0201, 1568))
    assert (window.slots, window.own_ceiling_rps, window.window_own_ceiling_rps) == (4, pytest.approx(4 / 0.0201), 196)
    assert window.own_is_lower and window.reachable_rps == 196
    wide = PARAMETERS.window(GATEWAY, 64)  # more slots than connections: the connections' bound, no lower
    assert wide.slots == 32 and not wide.own_is_lower and wide.reachable_rps == pytest.approx(1568)
    assert PARAMETERS.window(GATEWAY).slots is None and PARAMETERS.window(GATEWAY).reachable_rps == 1568


def test_a_sync_server_at_its_own_limit_reached_its_own_bound(tmp_path: Path) -> None:
    results = gateway_results(tmp_path, {SYNC: 190, ASYNC: 190})
    assert cell(results, SYNC).window.slots == 4 and cell(results, ASYNC).window.slots is None
    report = render_report(results)
    assert "✱ marks a significant ratio: its interval leaves out 1 and it is more than 1% away from 1" in report
    line = findings(report)
    assert f"`{SYNC} default build` reached its own bound (4 at once / 20.1 ms = 199 req/s; 97%)" in line, line
    # no slots: the connections' bound, 190 of 1568, named (it is not below the sync server's own bound of 199)
    assert f"; below the closed-loop bound: `{ASYNC} default build` (12%)." in line, line
    assert "own: 4 at once / 20.1 ms = 199 req/s (196 in 1 s; 97%, at the bound)" in row(report, SYNC)
    assert "| 1592 (1568 in 1 s; 12%) |" in row(report, ASYNC)


def test_a_sync_server_below_its_own_limit_is_below_its_own_bound(tmp_path: Path) -> None:
    report = render_report(gateway_results(tmp_path, {SYNC: 150, ASYNC: 1560}))
    line = findings(report)
    assert f"`{SYNC} default build` below its own bound (4 at once / 20.1 ms = 199 req/s; 77%)" in line, line
    assert "every other server reached the closed-loop bound" in line, line
    assert "(196 in 1 s; 77%)" in row(report, SYNC)


def test_a_share_just_under_the_bound_is_not_printed_as_the_bound(tmp_path: Path) -> None:
    """This session's default run: granian-asgi's 273 of 305 req/s (89.6%) printed "90%" beside "below the
    closed-loop bound", while the reading guide said 100% was "at the bound" and 90% is (``AT_BOUND``)."""
    report = render_report(gateway_results(tmp_path, {SYNC: 176, ASYNC: 1405}))  # 176 / 196, 1405 / 1568
    line = findings(report)
    assert f"`{SYNC} default build` below its own bound (4 at once / 20.1 ms = 199 req/s; 89.8%)" in line, line
    assert f"below the closed-loop bound: `{ASYNC} default build` (89.6%)." in line, line
    assert "(196 in 1 s; 89.8%) |" in row(report, SYNC) and "(1568 in 1 s; 89.6%) |" in row(report, ASYNC)
    assert 'the share of the second that was reached: from 90% of it on, the server is "at the bound"' in report


def test_results_json_keeps_the_own_bound_and_reads_files_without_it(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    save(gateway_results(tmp_path, {SYNC: 190, ASYNC: 190}), path)
    stored = {entry["mode"]: entry for entry in json.loads(path.read_text())["cells"]}
    assert (stored[SYNC]["slots"], stored[SYNC]["window_own_ceiling_rps"]) == (4, 196)
    assert stored[SYNC]["own_ceiling_rps"] == pytest.approx(4 / 0.0201) and stored[ASYNC]["slots"] is None
    assert cell(load(path), SYNC).window.own_is_lower
    older = json.loads(path.read_text())  # a file from before the own bound: judged by the connections' bound
    for entry in older["cells"]:
        for name in ("slots", "own_ceiling_rps", "window_own_ceiling_rps"):
            del entry[name]
    path.write_text(json.dumps(older))
    assert "sync: below the closed-loop bound: `wsgi-sync default build` (12%)" in findings(render_report(load(path)))


def test_compare_judges_a_sync_server_by_its_own_bound(tmp_path: Path) -> None:
    before = gateway_results(tmp_path, {SYNC: 190, ASYNC: 190})
    after = gateway_results(tmp_path, {SYNC: 150, ASYNC: 190})
    changes = {change.key.mode: change for change in compare_runs(before, after).changes}
    sync, other = changes[SYNC].bound, changes[ASYNC].bound
    assert sync is not None and sync.reached == (True, False) and sync.slowdown == pytest.approx(40 / 190)
    assert other is not None and other.reached == (False, False) and other.before == pytest.approx(190 / 1568)
    # a single measurement is never significant (the table counts 0 such changes): its fall is named as what it is
    text = markdown(compare_runs(before, after), fail_above_pct=10)
    assert "leaves out 1 and B/A is more than 1% away from 1; 0 such changes" in text  # the test, all of it
    assert "fails (the worst fall below the bound A reached is 21%, in wsgi-sync default build gateway_1s sync)" in text
    assert "flagged" not in text
    # B's fall while other processes used half the machine: its number may not be the server's, and compare says so
    slowed = cell(after, SYNC)
    slowed.samples = [replace(sample, machine={"other_share": 0.5, "steal_share": 0.0}) for sample in slowed.samples]
    text = markdown(compare_runs(before, after))
    row = next(line for line in text.splitlines() if line.startswith(f"| {SYNC} "))
    assert row.endswith("slower: below the bound in B (A 97%, B 77% of the bound); flagged: B interference |"), row
