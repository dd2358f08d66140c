"""The report renderer on synthetic results: the original profile's layout is the notes' own."""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import loadgen
from loadgen.measurement import TRUNCATED, ErrorKind, ErrorReason, Stage
from server_matrix.measuring.results import ERROR, OK, SKIPPED, Cell, MatrixResults
from server_matrix.measuring.session import GroupSession
from server_matrix.planning.endpoints import ENDPOINTS
from server_matrix.planning.interpreters import Interpreter
from server_matrix.planning.modes import MODES, select_modes
from server_matrix.planning.parameters import Parameters
from server_matrix.planning.plan import GATEWAY_ONCE, PlannedCell, ServerGroup, build_plan, mode_listing
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.reporting.cell_text import errors_text, events_text, flags_text, own_bound_text, rate_cell_text
from server_matrix.reporting.changes_text import as_json, markdown
from server_matrix.reporting.chart import draw_chart
from server_matrix.reporting.findings import findings_lines
from server_matrix.reporting.report import render_report
from server_matrix.reporting.resultsfile import ResultsFile, load, save
from server_matrix.statistics import estimates, flags
from server_matrix.statistics.changes import compare_runs
from server_matrix.statistics.sections import sections
from server_matrix.statistics.uncertainty import Estimate, Ratio
from server_matrix.statistics.verdicts import (
    AT_BOUND,
    HELPS,
    HURTS,
    NOT_JUDGED,
    TIED,
    BoundCheck,
    Contender,
    GilRatio,
    Race,
    Reach,
    Verdicts,
)
from tests.matrix.conftest import MatrixCommand, headings

NOTES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "original-benchmark-notes.md"


def skeleton(markdown: str) -> list[str]:
    """The lines from ``# Django Workers`` on, with each code block's body reduced to one placeholder."""
    lines, inside_code = [], False
    for line in markdown[markdown.index("# Django Workers") :].splitlines():
        if line.startswith("```"):
            inside_code = not inside_code
            lines.append(line)
        elif not inside_code:
            lines.append(line)
        elif lines[-1] != "<wrk report>":
            lines.append("<wrk report>")
    return lines


def notes() -> str:
    if not NOTES.exists():
        pytest.skip(f"the original notes are not at {NOTES} (shared/reference beside the checkout)")
    return NOTES.read_text()


def synthetic_result(planned: PlannedCell, parameters) -> loadgen.Result:
    """What the original mostly saw: every connection's one response slower than the 2 s timeout."""
    settings = loadgen.Settings(
        f"http://127.0.0.1:8000{planned.path}",
        threads=parameters.client_threads,
        connections=parameters.connections,
        duration=planned.window.duration_s,
        timeout=parameters.timeout_s,
    )
    measured = loadgen.Measurement(
        workers=parameters.client_threads,
        requests=2000,
        bytes=564000,
        timeouts=2000,
        status_counts={200: 2000},
        elapsed_us=10_090_000,
    )
    return loadgen.Result(runs=(settings,), measured=measured, runtime_us=10_090_000)


def synthetic_results(
    tmp_path: Path,
    *,
    free_threaded: bool,
    gil_reported: dict | None = None,
    parameters: Parameters | None = None,
    result: Callable[[ServerGroup, PlannedCell], loadgen.Result] | None = None,
) -> MatrixResults:
    """The original profile (or ``parameters``) as the runner would record it, every cell filled without a server:
    with the original's result, or ``result``'s for the group's cell."""
    parameters = parameters or resolve(PROFILES["original"])
    interpreter = Interpreter(
        requested="python3",
        executable="/usr/bin/python3",
        version="3.14.7",
        implementation="CPython",
        free_threaded=free_threaded,
    )
    modes = select_modes(MODES, list(parameters.modes))
    results = MatrixResults(
        parameters=parameters.to_json(),
        interpreters=[interpreter.to_json()],
        modes=mode_listing(modes, parameters, [interpreter]),
        complete=True,
    )
    for group in build_plan([interpreter], modes, parameters):
        session = GroupSession(group, parameters, tmp_path)
        for planned in group.cells:
            if group.skipped:
                results.put(session.cell(planned, SKIPPED, reason=group.skipped))
            else:
                reported = (gil_reported or {}).get(group.gil, group.gil != 0)
                made = result(group, planned) if result else synthetic_result(planned, parameters)
                results.put(session.cell(planned, OK, result=made, gil_reported=reported))
    return results


def test_original_profile_has_the_notes_headings_in_order(tmp_path: Path) -> None:
    report = render_report(synthetic_results(tmp_path, free_threaded=True))
    assert headings(report) == headings(notes())


def test_original_profile_has_the_notes_layout_line_for_line(tmp_path: Path) -> None:
    report = render_report(synthetic_results(tmp_path, free_threaded=True))
    assert skeleton(report) == skeleton(notes())
    assert "Running 10s test @ http://127.0.0.1:8000/myapp/sync/json\n  20 threads and 2000 connections" in report
    assert "  Socket errors: connect 0, read 0, write 0, timeout 2000\nRequests/sec:    198.22" in report


def test_original_profile_on_a_default_build_runs_once_and_marks_gil_sections_skipped(tmp_path: Path) -> None:
    report = render_report(synthetic_results(tmp_path, free_threaded=False))
    sections = [line for line in headings(report) if line.startswith("## ")]
    assert sections == [
        f"## ASGI Gunicorn Uvicorn, with {kind} {setting}"
        for kind in ("threads", "workers")
        for setting in ("-Xgil=0", "-Xgil=1", "(default build)")
    ]
    assert report.count("*Skipped: not a free-threaded build") == 4
    assert report.count("```bash") == 2 * 7 * 2


def test_the_reports_first_line_counts_the_cells_as_the_runs_last_line_does(tmp_path: Path) -> None:
    """A failed cell was measured too: the report said "1 cells ran, 3 failed" where the run said "3 of 4 cells
    failed" (its failures read as cells that did not run)."""
    results = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in results.cells.values() if cell.status == OK)
    results.put(replace(cell, samples=[replace(cell.samples[0], status=ERROR, reason="server exited")]))
    counts = {status: sum(c.status == status for c in results.cells.values()) for status in (OK, ERROR, SKIPPED)}
    assert counts[ERROR] == 1 and counts[OK] > 1
    expected = f"{counts[OK] + 1} cells measured, 1 of them failed, {counts[SKIPPED]} skipped."
    assert expected in render_report(results).split("## The answer", 1)[0]


def test_the_reports_first_line_says_how_many_cells_an_earlier_run_measured(tmp_path: Path) -> None:
    """Its times are this run's: a re-run that kept every cell read "18:52:43 → 18:52:44, 1 s; complete. 8 cells
    measured", as if 8 cells took a second."""
    results = synthetic_results(tmp_path, free_threaded=False)
    results.started_at = "2026-12-06T18:52:43+00:00"
    measured = [cell for cell in results.cells.values() if cell.status == OK]
    for cell, began in zip(measured, ("2026-12-06T18:51:56+00:00", "2026-12-06T18:52:43+00:00"), strict=False):
        results.put(replace(cell, samples=[replace(sample, started_at=began) for sample in cell.samples]))
    first = render_report(results).split("## The answer", 1)[0]
    assert f"{len(measured)} cells measured (1 kept from an earlier run), 0 of them failed" in first


def test_findings_of_a_run_whose_every_cell_failed_do_not_say_nothing_was_measured(tmp_path: Path) -> None:
    """A DATABASE_URL of no server: the first line said "3 cells measured, 3 of them failed", the Findings "Nothing
    was measured."."""
    results = synthetic_results(tmp_path, free_threaded=False)
    for cell in [cell for cell in results.cells.values() if cell.status == OK]:
        results.put(replace(cell, samples=[replace(cell.samples[0], status=ERROR, reason="demo: startup failed: x")]))
    failed = sum(cell.status == ERROR for cell in results.cells.values())
    findings = render_report(results).split("## Findings", 1)[1].split("## Summary", 1)[0]
    assert f"{failed} cells measured, and every one failed: no figure to compare." in findings
    assert "Nothing was measured" not in findings


def _repeated(median: float) -> Estimate:
    """A rate measured three times, with its interval (±1%) and draws."""
    return Estimate(median, median * 0.99, median * 1.01, 0.01, 3, np.full(8, median))


def test_findings_name_the_fastest_the_first_four_tied_and_count_the_rest(tmp_path: Path) -> None:
    """A race's line: the fastest with its interval, those that cannot be told apart from it (four named, the rest
    counted), the others slower counted; a mode's GIL line counts the ratios by verdict, names the significant
    ones (unmarked: the line says they are), and shows ratios measured once apart, not counted as judged; no
    flagged cell is said so; a run with no cell has nothing measured (README: Findings)."""
    results = synthetic_results(tmp_path, free_threaded=True)
    cell = next(cell for cell in results.cells.values() if cell.status == OK)
    fastest = Contender("a", cell, _repeated(1000))
    tied = tuple((Contender(name, cell, _repeated(990)), Ratio(0.99, 0.97, 1.01)) for name in "bcdef")
    slower = (Contender("g", cell, _repeated(500)), Ratio(0.5, 0.45, 0.55))
    race = Race("json", "sync", fastest, (*tied, slower))
    ratios = (
        GilRatio("m", "json", "sync", 1.52, Ratio(1.52, 1.40, 1.66), (cell, cell)),
        GilRatio("m", "json", "async", 0.61, Ratio(0.61, 0.55, 0.66), (cell, cell)),
        GilRatio("m", "brotli", "sync", 1.0, Ratio(1.0, 0.95, 1.05), (cell, cell)),
        GilRatio("n", "json", "sync", 0.98, None, (cell, cell), once=True),
    )
    lines = findings_lines(results, Verdicts((race, replace(race, others=(*tied[:4], slower, slower))), ratios, ()))
    assert lines[-5:-1] == [
        "- **json** sync: fastest `a`, 1000 [990, 1010] req/s; cannot be told apart from it: `b` (0.99 [0.97, 1.01]), "
        "`c` (0.99 [0.97, 1.01]), `d` (0.99 [0.97, 1.01]), `e` (0.99 [0.97, 1.01]) and 1 more; 1 other slower.",
        "- **json** sync: fastest `a`, 1000 [990, 1010] req/s; cannot be told apart from it: `b` (0.99 [0.97, 1.01]), "
        "`c` (0.99 [0.97, 1.01]), `d` (0.99 [0.97, 1.01]), `e` (0.99 [0.97, 1.01]); 2 others slower.",
        "- **`m` gil=0 / gil=1**: gil=0 faster on 1, slower on 1, no significant difference on 1 of 3 "
        "(json sync 1.52 [1.40, 1.66]; json async 0.61 [0.55, 0.66]).",
        "- **`n` gil=0 / gil=1**: measured once, so no interval and not judged: json sync 0.98 (once).",
    ]
    assert lines[-1] == "- No measured cell is flagged."
    nothing = MatrixResults(parameters=results.parameters, interpreters=results.interpreters, modes=results.modes)
    assert findings_lines(nothing, Verdicts((), (), ())) == ["Nothing was measured."]


def test_a_race_with_no_interval_names_none_slower_and_a_share_of_90_percent_reached_the_bound(tmp_path: Path) -> None:
    """Measured once, the fastest or another, no ratio is judged: every other is "not compared", none dropped; a
    fastest whose repetition got no response (a draw of 0) leaves the others' ratios without an interval: they
    cannot be told apart from it, and are not called measured once. A server at 90% of the closed-loop bound
    reached it (``AT_BOUND``: at or above), one at 89% did not. Turning the GIL off helps where gil=0 / gil=1 is
    significantly above 1, hurts below it (README: Findings, the answer's verdicts)."""
    results = synthetic_results(tmp_path, free_threaded=True)
    cell = next(cell for cell in results.cells.values() if cell.status == OK)
    gateway = next(cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps)
    once = Contender("a", cell, Estimate(1000, None, None, None, 1, None))
    single = Race(
        "json", "sync", once, ((Contender("b", cell, _repeated(900)), None), (replace(once, label="c"), None))
    )
    zero = Estimate(1000, 0, 1010, 0.5, 3, np.array([1000.0, 0.0, 1010.0]))
    silent = Race("json", "async", Contender("a", cell, zero), ((Contender("b", cell, _repeated(990)), None),))
    check = BoundCheck("gateway_1s", "sync", (Reach("h", AT_BOUND, gateway.window), Reach("i", 0.89, gateway.window)))
    lines = findings_lines(results, Verdicts((single, silent), (), (check,)))
    assert lines[-5:-2] == [
        "- **json** sync: fastest `a`, 1000 (once) req/s; 2 not compared (measured once: no interval).",
        "- **json** async: fastest `a`, 1000 [0, 1010] req/s; cannot be told apart from it: `b` (-).",
        "- **gateway_1s** sync: 1 reached the closed-loop bound; below it: `i` (89%).",
    ]
    gil = [Ratio(1.52, 1.40, 1.66), Ratio(0.61, 0.55, 0.66), Ratio(1.0, 0.95, 1.05), None]
    assert [GilRatio("m", "json", "sync", 1.0, change, (cell, cell)).verdict for change in gil] == [
        HELPS,
        HURTS,
        TIED,
        NOT_JUDGED,
    ]


def test_a_cells_row_names_its_errors_events_flags_and_a_failed_repetitions_figure(tmp_path: Path) -> None:
    """A cell's texts (README: the Summary's errors, flags, and each cell's server log): errors by kind with the
    server's faults (truncated, malformed) named; every server event counted by name; ``starved`` with its
    numbers; a cell with a failed repetition is an error, with what the others measured; a server's own bound
    of a second or more is written in seconds."""
    results = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in results.cells.values() if cell.status == OK and cell.endpoint == "json")
    sample = cell.samples[0]
    truncated = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, TRUNCATED)
    measured = replace(
        sample.result.measured,
        error_reasons={truncated: 3},
        connections_opened=10,
        connection_responses={200: 2},
        unanswered={9_000_000: 8},
    )
    events = replace(sample.server, gil_reenabled_warnings=2, worker_timeouts=1)
    broken = replace(cell, samples=[replace(sample, result=replace(sample.result, measured=measured), server=events)])
    assert errors_text(broken) == "read 3 (truncated 3), timeout 2000"
    assert events_text(broken) == "1 worker timeout, 2 GIL re-enabled warnings"
    assert flags_text(broken) == "starved: 8 of 10 connections never answered, worker-timeouts"
    failed = replace(cell, samples=[sample, replace(sample, status=ERROR, reason="demo: died", round=2)])
    assert rate_cell_text(failed) == "**error** (198 (once))"
    assert own_bound_text(2, 1.5) == "2 at once / 1.33 s = 1.50 req/s"


def test_the_summary_names_the_endpoints_skipped_on_a_server_that_ran_and_each_gil_ratios_verdict(
    tmp_path: Path,
) -> None:
    """The Summary (README: Output): a table per endpoint under its header row, a cell's p99 in its column, the
    endpoints skipped on a server that ran on one line per reason (its '|' escaped and its lines joined, the
    table's cell syntax kept), and the GIL table's ratios measured once marked not judged."""
    results = synthetic_results(tmp_path, free_threaded=True)
    for cell in [cell for cell in results.cells.values() if cell.status == OK and cell.mode == "asgi-uvicorn-workers"]:
        if cell.endpoint in ("gateway_1s", "gateway_10s"):
            skipped = replace(cell.samples[0], status=SKIPPED, reason="a | b\nc", result=None)
            results.put(replace(cell, samples=[skipped]))
    first = [cell for cell in results.cells.values() if cell.status == OK and cell.mode == "asgi-uvicorn-single"]
    cell = next(cell for cell in first if (cell.gil_requested, cell.endpoint, cell.variant) == (1, "json", "sync"))
    sample = cell.samples[0]
    timely = replace(sample.result.measured, timeouts=0, timed_out_us=0, latency={1_000: 985, 100_000: 15})
    results.put(replace(cell, samples=[replace(sample, result=replace(sample.result, measured=timely))]))
    summary = render_report(results).split("## Summary", 1)[1]
    lines = summary.splitlines()
    assert lines.count("|---|---|---:|---:|---:|---|---:|---:|---|---|---|") == 7  # one table per endpoint
    assert lines[4] == (
        "| Server | Variant | Requests/sec [95% CI] | n | CV | vs fastest [95% CI] | p50 | p99 | Errors "
        "| GIL asked → reported | Flags |"
    )
    # its p99: 15 of 1,000 responses took 100 ms (the 98th percentile is 1 ms)
    assert "| sync | 198 (once) | 1 | - | 1.00 (once) | 1.00ms | 100.00ms | 0 | 1 → on |  |" in summary
    skipped_line = (
        "**Skipped** gateway_1s, gateway_10s (a \\| b c): `asgi-uvicorn-workers gil=0`, `asgi-uvicorn-workers gil=1`."
    )
    assert skipped_line in lines
    assert "| asgi-uvicorn-single | json | sync | 1.00 (once) | not judged (measured once: no interval) |" in lines


def test_the_reports_wall_time_is_in_seconds_under_a_minute(tmp_path: Path) -> None:
    """A quick run's report read "0.0 min"."""
    results = synthetic_results(tmp_path, free_threaded=False)
    for wall_s, said in ((42.4, ", 42 s; "), (1104.0, ", 18.4 min; ")):
        results.wall_time_s = wall_s
        assert said in render_report(results).split("\n## ", 1)[0]


def test_gil_mismatch_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = synthetic_results(tmp_path, free_threaded=True, gil_reported={0: True})
    report = render_report(results)
    assert "| 0 → on ⚠ |" in report
    assert "⚠ GIL asked → reported: 0 → on, not what was asked for." in report
    # a flag counts the repetitions that raised it; the mismatch, each repetition that ran with the GIL on
    cell = next(cell for cell in results.cells.values() if cell.gil_mismatch)
    assert estimates.flag_counts(cell) == {flags.GIL_MISMATCH: 1}
    raised = iter([[flags.CLIENT_BOUND], [flags.CLIENT_BOUND, flags.NO_RESPONSE], []])
    monkeypatch.setattr(estimates, "sample_flags", lambda sample: next(raised))
    three = replace(cell, samples=[cell.samples[0]] * 3)
    assert estimates.flag_counts(three) == {flags.NO_RESPONSE: 1, flags.CLIENT_BOUND: 2, flags.GIL_MISMATCH: 3}


def test_gateway_rows_show_the_closed_loop_ceiling(tmp_path: Path) -> None:
    report = render_report(synthetic_results(tmp_path, free_threaded=True))
    # 2000 connections / 10 s = 200 req/s: the notes' ~199 req/s is the bound, not a slow server
    table = report.split("### gateway_10s: ")[1].split("\n\n")[1]
    row = next(line for line in table.splitlines() if "| sync |" in line)
    assert "| 198 (once) |" in row and "200 (200 in 10 s; 99%, at the bound)" in row  # once: no interval


def test_the_reading_guide_says_the_notes_async_gateway_3s_slept_1_s(tmp_path: Path) -> None:
    """The original's URL for async/gateway_3s ran its 1 s view (the notes: 1.35 s mean latency, 1352 req/s where the
    sync one timed out every response): a report that did not say so read as a server three times slower."""
    said = "The original notes' async `gateway_3s` figures are a 1 s endpoint's"
    assert said in render_report(synthetic_results(tmp_path, free_threaded=False))
    parameters = replace(resolve(PROFILES["original"]), variants=("sync",))
    assert said not in render_report(synthetic_results(tmp_path / "sync", free_threaded=False, parameters=parameters))


def test_a_save_writes_every_change_though_unchanged_cells_are_not_serialised_again(tmp_path: Path) -> None:
    """results.json is rewritten after every measurement from each cell's text as last saved: a new cell, a new
    repetition and the run's own fields must all reach the file."""
    results = synthetic_results(tmp_path, free_threaded=True)
    path = tmp_path / "results.json"

    def saved() -> dict:
        save(results, path)
        return json.loads(path.read_text())

    assert saved() == json.loads(ResultsFile(path).text(results))
    first, second = list(results.cells.values())[:2]
    repetition = copy.deepcopy(first)
    repetition.samples[0].round = 2
    results.add_samples(repetition)
    results.put(replace(second, samples=[replace(second.samples[0], status=ERROR, reason="server died")]))
    results.warnings.append("a port was left listening")
    again = saved()
    assert again == json.loads(ResultsFile(path).text(results))
    by_key = {(cell["mode"], cell["gil_requested"], cell["endpoint"], cell["variant"]): cell for cell in again["cells"]}

    def stored(cell: Cell) -> dict:
        return by_key[cell.mode, cell.gil_requested, cell.endpoint, cell.variant]

    assert [sample["round"] for sample in stored(first)["samples"]] == [1, 2]
    assert stored(second)["status"] == ERROR and stored(second)["reason"] == "server died"
    assert again["warnings"] == ["a port was left listening"]
    assert json.loads(ResultsFile(path).text(load(path))) == again  # and it reads back as it was


def test_the_report_and_results_json_say_how_many_rows_the_servers_had(tmp_path: Path) -> None:
    """The original profile's servers had 0 rows, the notes' empty table. A results.json written before the count was
    recorded had the demo's 100: a 0-row run into its directory measures those cells again, not keeps them."""
    results = synthetic_results(tmp_path, free_threaded=False)
    assert "DEMO_ROWS=0 (the rows json_query and template_query serve)" in render_report(results)
    path = tmp_path / "results.json"
    save(results, path)
    document = json.loads(path.read_text())
    assert document["parameters"]["rows"] == 0 and {cell["measurement"]["rows"] for cell in document["cells"]} == {0}
    del document["parameters"]["rows"]
    for cell in document["cells"]:
        del cell["measurement"]["rows"]
    path.write_text(json.dumps(document))
    earlier = load(path)
    assert earlier.parameters["rows"] == 100 and "DEMO_ROWS=100 " in render_report(earlier)
    dropped = earlier.drop_measured_otherwise(resolve(PROFILES["original"]).measured())
    assert len(dropped) == len(document["cells"]) and not earlier.cells


def test_the_report_says_how_long_the_gateway_endpoints_ran(tmp_path: Path) -> None:
    """The default profile's gateway windows are shorter than --duration (1.05 s and 1 s against 1.5 s): the reading
    guide said every endpoint ran "at least 1.5 s"."""
    parameters = resolve(PROFILES["default"], modes=("wsgi-sync",), endpoints=("json", "gateway_3s"))
    report = render_report(synthetic_results(tmp_path, free_threaded=False, parameters=parameters))
    assert "durations json 1.5 s, gateway_3s 1 s" in report  # the environment's
    assert "at least 1.5 s" not in report
    guide = "- Each CPU-bound endpoint runs 1.5 s; a gateway endpoint runs 1.2 times its delay, in whole seconds"
    assert guide in report


def test_latency_with_timeouts_is_a_lower_bound(tmp_path: Path) -> None:
    """wrk leaves a response slower than the timeout out of the latency: with 16 of 95 left out, the p99 of the
    rest (200 ms, under the 250 ms timeout) is no p99 of the cell's responses, only a bound under it; and B/A of
    such a bound is no change in latency (B's timeouts lowered its p99: it read as faster)."""
    parameters = resolve(PROFILES["quick"], modes=("wsgi-sync",), endpoints=("json", "brotli"), variants=("sync",))

    def measured(timeouts: int) -> Callable[[ServerGroup, PlannedCell], loadgen.Result]:
        def result(_: ServerGroup, planned: PlannedCell) -> loadgen.Result:
            left_out = timeouts if planned.path.endswith("brotli") else 0
            settings = loadgen.Settings(f"http://127.0.0.1:8000{planned.path}", threads=1, connections=8, duration=1)
            counted = loadgen.Measurement(
                workers=1, requests=95, bytes=95 * 500, timeouts=left_out, status_counts={200: 95},
                latency={100_000: 40, 150_000: 30, 200_000: 25 - left_out}, elapsed_us=1_000_000,
            )  # fmt: skip
            return loadgen.Result(runs=(settings,), measured=counted, runtime_us=1_000_000)

        return result

    runs = []
    for timeouts in (0, 16):
        run = synthetic_results(tmp_path, free_threaded=False, parameters=parameters, result=measured(timeouts))
        for cell in run.cells.values():  # two repetitions: judged, not single measurements
            cell.samples = [*cell.samples, replace(cell.samples[0], round=2)]
        runs.append(run)
    report = render_report(runs[1])
    (json_row, brotli_row) = [line for line in report.splitlines() if line.startswith("| wsgi-sync default build")]
    assert "ms | 0 |" in json_row and "≥" not in json_row, json_row  # no timeout: the percentiles themselves
    assert json_row.endswith("ms | 0 | default → on |  |"), json_row  # no error; GIL asked → reported (README)
    assert re.search(r"\| ≥ [\d.]+ms \| ≥ [\d.]+ms \| timeout 32 \|", brotli_row), brotli_row
    comparison = compare_runs(*runs)
    rows = [line for line in markdown(comparison).splitlines() if line.startswith("| wsgi-sync default build")]
    assert "≥" not in rows[0] and "timeouts" not in rows[0], rows[0]
    assert re.search(r"\| [\d.]+ms \| ≥ [\d.]+ms \| timeouts: not judged \|", rows[1]), rows[1]
    brotli = json.loads(as_json(comparison))["cells"][1]
    assert brotli["endpoint"] == "brotli" and brotli["p99_us"]["ratio"] is None and brotli["p99_us"]["slowdown"] is None


def test_intervals_that_could_not_pool_the_runs_spread_say_so(tmp_path: Path) -> None:
    """Fewer than 8 repeated CPU-bound cells: each interval is two repetitions' bootstrap alone, about their range,
    yet it was called 95% and its verdicts ("1 other slower") read as such."""

    def twice(results: MatrixResults) -> MatrixResults:
        for cell in results.cells.values():
            if cell.status == OK and cell.window.ceiling_rps is None:
                cell.samples = [*cell.samples, replace(cell.samples[0], round=2)]
        return results

    parameters = resolve(PROFILES["quick"], modes=("wsgi-sync", "asgi-uvicorn-workers"), endpoints=("json",))
    few = twice(synthetic_results(tmp_path, free_threaded=False, parameters=parameters))
    assert "Only 4 repeated CPU-bound cells (fewer than 8): each interval is its own" in render_report(few)
    assert compare_runs(few, few).notes[0].startswith("fewer than 8 repeated CPU-bound cells (4 in A, 4 in B)")
    pooled = twice(synthetic_results(tmp_path, free_threaded=True))  # 32 repeated cells: the run's spread pooled
    assert "(fewer than 8): each interval" not in render_report(pooled)
    assert not compare_runs(pooled, pooled).notes


def test_the_same_results_draw_the_same_chart_files(tmp_path: Path) -> None:
    """chart.svg carried the time it was drawn and clip paths named from a random salt: every `report` of unchanged
    results changed it (report.md and chart.png were the same)."""
    parameters = resolve(PROFILES["quick"], modes=("wsgi-sync", "asgi-uvicorn-workers"), endpoints=("json",))
    results = synthetic_results(tmp_path, free_threaded=True, parameters=parameters)  # the GIL's panel and one more
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first, second = draw_chart(results, tmp_path / "a"), draw_chart(results, tmp_path / "b")
    assert [path.name for path in first] == ["chart.png", "chart.svg"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))


def test_a_chart_panel_draws_only_the_servers_that_measured_its_endpoint(tmp_path: Path) -> None:
    """A gateway endpoint left to a mode's first server leaves no empty rows in its panel."""
    results = synthetic_results(tmp_path, free_threaded=True)
    for cell in list(results.cells.values()):
        if cell.gil_requested == 1 and cell.window.ceiling_rps is not None:
            results.put(replace(cell, samples=[replace(cell.samples[0], status=SKIPPED, reason=GATEWAY_ONCE)]))
    (svg,) = (path for path in draw_chart(results, tmp_path) if path.suffix == ".svg")
    text = svg.read_text()
    cpu_bound = sum(1 for endpoint in ENDPOINTS if endpoint.delay_s == 0)
    assert text.count("<!-- asgi-uvicorn-single gil=1 -->") == cpu_bound
    assert text.count("<!-- asgi-uvicorn-single gil=0 -->") == len(ENDPOINTS)


@pytest.mark.slow
def test_report_command_renders_saved_results(matrix: MatrixCommand, tmp_path: Path) -> None:
    results = synthetic_results(tmp_path, free_threaded=True)
    save(results, tmp_path / "results.json")
    plain = tmp_path / "plain"
    without_chart, done = matrix.run_together(
        ("report", str(tmp_path / "results.json"), "--out", str(plain), "--no-chart"),
        ("report", str(tmp_path / "results.json")),
        timeout=120,
    )
    assert without_chart.returncode == 0, without_chart.stderr
    assert without_chart.stdout.split() == [str(plain / "report.md")]
    assert [path.name for path in plain.iterdir()] == ["report.md"]  # --no-chart: no chart files
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.md").read_text() == render_report(results) == (plain / "report.md").read_text()
    assert (tmp_path / "chart.png").exists() and (tmp_path / "chart.svg").exists()
    assert done.stdout.split() == [str(tmp_path / name) for name in ("report.md", "chart.png", "chart.svg")]


def test_report_command_rejects_other_files(matrix: MatrixCommand, tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")
    done = matrix.run("report", str(tmp_path / "other.json"), timeout=60)
    assert done.returncode == 2 and "not a server-matrix results file" in done.stderr


def test_a_save_that_fails_names_results_json_not_its_temporary_file(tmp_path: Path) -> None:
    """The run's last line, when its results directory became unwritable mid-run, named ``.results.json.mxbwg0xl``."""
    path = Path("/proc/results.json")  # a directory no file can be made in, even by root
    with pytest.raises(OSError) as failure:
        save(synthetic_results(tmp_path, free_threaded=False), path)
    assert failure.value.filename == str(path) and failure.value.strerror


def test_a_report_the_disk_cannot_hold_leaves_the_earlier_one_whole(matrix: MatrixCommand, tmp_path: Path) -> None:
    """``report`` where files may not grow past 8 KiB (``ulimit -f``: a write fails mid-file, as on a full disk):
    report.md was left its first 8,192 bytes, and the line said ``--out DIR: cannot write there (File too large)``.
    The file is now the one there before, and the line names it."""
    save(synthetic_results(tmp_path, free_threaded=False), tmp_path / "results.json")
    report = tmp_path / "out" / "report.md"
    report.parent.mkdir()
    report.write_text("earlier\n")
    limit = 8192
    done = subprocess.run(
        matrix.argv("report", str(tmp_path / "results.json"), "--out", str(report.parent), "--no-chart"),
        capture_output=True,
        text=True,
        timeout=60,
        env=matrix.environment,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    assert (done.returncode, done.stderr) == (2, f"server-matrix: {report}: File too large\n")
    assert report.read_text() == "earlier\n" and os.listdir(report.parent) == ["report.md"]


def test_a_run_without_a_cpu_bound_cell_says_the_answer_is_not_in_it(tmp_path: Path) -> None:
    """Gateway endpoints alone: the answer's heading stood empty above the Findings."""
    gateways = tuple(endpoint.name for endpoint in ENDPOINTS if endpoint.delay_s)
    parameters = replace(resolve(PROFILES["original"]), endpoints=gateways)
    report = render_report(synthetic_results(tmp_path, free_threaded=False, parameters=parameters))
    answer = report.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert "Not answered by this run: the answer compares the modes' requests/sec on the CPU-bound" in answer
    assert "Not answered" not in render_report(synthetic_results(tmp_path / "all", free_threaded=False))


@pytest.mark.parametrize(
    ("server", "client", "said"),
    [
        (
            None,
            None,
            "server not pinned (every CPU the runner may use), client not pinned (every CPU the runner may use)",
        ),
        ([0, 1], [1], "server not pinned (every CPU the runner may use, [0, 1]), client pinned to [1]"),
        ([0], [1], "server pinned to [0], client pinned to [1]"),
    ],
)
def test_the_environment_says_which_side_is_pinned(
    tmp_path: Path, server: list[int] | None, client: list[int] | None, said: str
) -> None:
    """``--client-cpus 1`` alone gives the servers every CPU: the line said "server pinned to [0, 1]"."""
    results = synthetic_results(tmp_path, free_threaded=False)
    results.environment |= {"cpus_available": [0, 1], "server_cpus": server, "client_cpus": client}
    assert f"(available to the runner: [0, 1]); {said}\n" in render_report(results)


def test_the_environment_says_the_database_servers_version(tmp_path: Path) -> None:
    """A run on PostgreSQL named neither which server nor its version: the runner reads the address from
    DATABASE_URL, the version from the servers' runtime endpoint."""
    results = synthetic_results(tmp_path, free_threaded=False)
    results.environment["database"] = "PostgreSQL, postgresql://demo@127.0.0.1:5432/bench"
    for cell in results.cells.values():
        for sample in cell.samples:
            sample.server.runtime = [{"database_vendor": "postgresql", "database_version": "15.18"}]
    said = "- Database: PostgreSQL, postgresql://demo@127.0.0.1:5432/bench; version 15.18\n"
    assert said in render_report(results)


def _with_versions(cells: list[Cell], django: str, **others: str) -> None:
    """Each cell's server reports ``django`` (and ``others``, by distribution name) from its runtime endpoint, as
    the demo's servers do."""
    for cell in cells:
        for sample in cell.samples:
            sample.server.runtime = [{"versions": {"django": django, "gunicorn": "27.0.1", **others}}]


def _findings_with_another_interpreter(tmp_path: Path, runner: dict[str, str], other: dict[str, str]) -> str:
    """The findings of a run whose default build's servers report ``runner``'s versions and a free-threaded
    interpreter's the ``other``'s (django first, then by distribution name)."""
    results = synthetic_results(tmp_path, free_threaded=False)
    default_build = [cell for cell in results.cells.values() if cell.status == OK]
    _with_versions(default_build, **runner)
    interpreter = Interpreter("python3.14t", "/usr/bin/python3.14t", "3.14.7", "CPython", free_threaded=True)
    results.interpreters.append(interpreter.to_json())
    copies = [
        replace(copy.deepcopy(cell), python=interpreter.requested, free_threaded_build=True) for cell in default_build
    ]
    _with_versions(copies, **other)
    for cell in copies:
        results.put(cell)
    return render_report(results).split("## Findings")[1].split("## Summary")[0]


def test_a_package_on_one_interpreter_only_is_a_difference_said_in_the_findings(tmp_path: Path) -> None:
    """This session's default run: brotli 1.2.1 on 3.11.7, brotlicffi 1.2.1.0 in the 3.14t venv (the brotli
    endpoint compressed with another library), and the findings named Django alone: a package installed on one
    side only was no difference, as its version was compared only where both had one."""
    findings = _findings_with_another_interpreter(
        tmp_path, {"django": "5.2.20", "brotli": "1.2.1"}, {"django": "5.2.20", "brotlicffi": "1.2.1.0"}
    )
    assert (
        "(see *Environment*): brotli 1.2.1 on CPython 3.14.7, absent on CPython 3.14.7 free-threaded; brotlicffi "
        "absent on CPython 3.14.7, 1.2.1.0 on CPython 3.14.7 free-threaded. A comparison" in findings
    )
    assert "django" not in findings


@pytest.mark.parametrize("other_django", ["5.2.20", "6.1.3"])
def test_versions_that_differ_between_interpreters_are_said_in_the_findings(tmp_path: Path, other_django: str) -> None:
    """A free-threaded venv got Django 6.1.3 beside the runner's 5.2.20 (the newest for its Python), and the report
    compared modes across the two without a word: the findings name what differs."""
    findings = _findings_with_another_interpreter(tmp_path, {"django": "5.2.20"}, {"django": other_django})
    said = (
        "- ⚠ **Versions differ between interpreters** (see *Environment*): django 5.2.20 on CPython 3.14.7, "
        "6.1.3 on CPython 3.14.7 free-threaded. A comparison of modes across interpreters measures these differences "
        "too; gil=0 / gil=1 compares one interpreter's servers and does not."
    )
    assert (said in findings) == (other_django != "5.2.20")
    assert ("Versions differ" in findings) == (other_django != "5.2.20")


def test_the_report_says_a_count_of_one_in_the_singular(tmp_path: Path) -> None:
    """--workers 1 --threads 1 and a loadgen of one thread and one connection: "1 workers x 1 threads" in the group's
    heading, "loadgen, 1 threads, 1 connections" and "Servers: 1 workers, 1 threads" in its environment."""
    given = {"workers": 1, "threads": 1, "client_threads": 1, "connections": 1}
    parameters = resolve(PROFILES["default"], modes=("wsgi-gthread",), endpoints=("json",), **given)
    report = render_report(synthetic_results(tmp_path, free_threaded=False, parameters=parameters))
    assert "## WSGI gunicorn gthread, 1 worker x 1 thread (default build)" in headings(report)
    assert "- Client: loadgen, 1 thread, 1 connection, timeout " in report
    assert "- Servers: 1 worker, 1 thread where a mode uses them, " in report


def test_a_run_of_several_interpreters_names_each_ones_version_and_build_in_its_sections(tmp_path: Path) -> None:
    """A mode's sections on two interpreters: each heading and label ends in its Python's version, ``t`` for a
    free-threaded build (a run of one interpreter says none)."""
    results = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in results.cells.values() if cell.status == OK and cell.gil_requested is None)
    assert not sections(results)[0].heading.endswith("]")
    results.put(replace(cell, python="python3.14t", free_threaded_build=True, gil_requested=1))
    found = [(section.heading, section.label) for section in sections(results) if section.mode == cell.mode]
    assert found[-2:] == [
        (f"{cell.mode_title} (default build) [Python 3.14.7]", f"{cell.mode} default build [Python 3.14.7]"),
        (f"{cell.mode_title} -Xgil=1 [Python 3.14.7t]", f"{cell.mode} gil=1 [Python 3.14.7t]"),
    ]
