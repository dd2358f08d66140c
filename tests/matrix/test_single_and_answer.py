"""Single measurements and the one-screen answer, on synthetic results (no server).

A cell measured once has no interval in results.json, the report, the chart and ``compare``, and no
significance: ``compare`` judges a gateway cell against its closed-loop bound instead. The report's first
table has a row per mode and a GIL verdict where both gil=0 and gil=1 ran.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import loadgen
from server_matrix.measuring.results import ERROR, OK, MatrixResults
from server_matrix.planning.parameters import Repetitions
from server_matrix.planning.plan import CellKey
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.reporting.changes_text import as_json, markdown
from server_matrix.reporting.chart import draw_chart
from server_matrix.reporting.numbers import plain_rate, rate_interval_text
from server_matrix.reporting.report import render_report
from server_matrix.reporting.resultsfile import ResultsFile, load, save
from server_matrix.statistics import estimates
from server_matrix.statistics.answer import answer as answer_of
from server_matrix.statistics.changes import (
    ABSENT,
    BoundChange,
    CellChange,
    FigureChange,
    Lost,
    RunComparison,
    compare_runs,
)
from server_matrix.statistics.sections import sections
from server_matrix.statistics.stopping import ONCE, PRECISION, StoppingRule
from server_matrix.statistics.uncertainty import Estimate, Ratio, ratio
from server_matrix.statistics.verdicts import AT_BOUND, NOT_JUDGED, verdicts
from tests.matrix.test_report import synthetic_results


def with_requests(result: loadgen.Result, requests: int) -> loadgen.Result:
    """``result`` with another number of responses in the same window (per-100 ms rates spread around it)."""
    per_100ms = max(1, requests // 100)
    rates = {per_100ms - 1: 50, per_100ms: 100, per_100ms + 1: 50}
    measured = replace(result.measured, requests=requests, status_counts={200: requests}, req_per_sec=rates)
    return replace(result, measured=measured)


def repeated(results: MatrixResults, gil0_factor: float, spreads: tuple[float, ...] = (1.0, 1.01)) -> MatrixResults:
    """Every measured CPU-bound cell with a repetition per spread (two by default); gil=0's rates ``gil0_factor``
    times gil=1's."""
    for cell in results.cells.values():
        if cell.status != OK or cell.window.ceiling_rps is not None:
            continue
        base = 2000 * (gil0_factor if cell.gil_requested == 0 else 1)
        first = cell.samples[0]
        cell.samples = [
            replace(first, result=with_requests(first.result, round(base * spread)), round=number)
            for number, spread in enumerate(spreads, start=1)
        ]
    return results


def test_a_single_measurement_has_no_interval_and_no_ratio(tmp_path: Path) -> None:
    results = synthetic_results(tmp_path, free_threaded=True)  # the original profile: every cell measured once
    cell = next(cell for cell in results.cells.values() if cell.status == OK)
    rate = estimates.rate(cell)
    assert rate is not None and rate.single and rate.low is None and rate.draws is None
    assert rate.to_json()["ci95"] is None and rate.half_width is None and ratio(rate, rate) is None
    path = tmp_path / "results.json"
    save(results, path)
    stored = json.loads(path.read_text())["cells"]
    assert all(entry["requests_per_sec"]["ci95"] is None for entry in stored if entry["status"] == OK)
    report = render_report(results)
    assert "| 198 (once) |" in report and "198 [198, 198]" not in report
    assert "single measurements, with no interval and no verdict" in report
    (svg,) = (path for path in draw_chart(results, tmp_path) if path.suffix == ".svg")
    assert "LineCollection" not in svg.read_text()  # no error bars on single measurements


def test_compare_gives_a_single_measurement_no_significance_and_judges_a_gateway_cell_by_its_bound(
    tmp_path: Path,
) -> None:
    before = synthetic_results(tmp_path, free_threaded=True)
    after = synthetic_results(tmp_path, free_threaded=True)
    same = compare_runs(before, after)
    assert same.changes and all(change.single and change.rate.ratio is None for change in same.changes)
    assert same.worst_slowdown is None and not same.failed(0)
    assert all(change.bound is not None for change in same.changes if change.key.endpoint.startswith("gateway"))
    gateway = next(change for change in same.changes if change.key.endpoint == "gateway_10s")
    assert gateway.bound.reached == (True, True)  # 198 of 200 req/s in both
    table = markdown(same)
    assert "once: at the bound in both" in table and "once: no interval, not judged" in table
    assert "✱" not in table.split("\n\n")[0] and "0 such changes" in table
    # B's gateway_10s sync reaches half the bound: a slowdown, judged against the bound, not an interval
    key = gateway.key
    cell = after.cells[key]
    after.put(replace(cell, samples=[replace(cell.samples[0], result=with_requests(cell.result, 1000))]))
    fell = compare_runs(before, after)
    assert fell.failed(10) and fell.worst_slowdown is not None and 0.4 < fell.worst_slowdown < 0.6
    assert "once: slower: below the bound in B" in markdown(fell)
    (entry,) = [item for item in json.loads(as_json(fell))["cells"] if item["slowdown"]]
    assert (
        entry["single"]
        and entry["requests_per_sec"]["ratio"] is None
        and entry["requests_per_sec"]["a"]["ci95"] is None
    )
    assert entry["bound"]["a_reached"] and not entry["bound"]["b_reached"]


def test_only_a_measured_repetitions_timeouts_make_the_latency_a_bound(tmp_path: Path) -> None:
    """The percentiles are of the repetitions that ran to their end: timeouts in one that failed (the server died)
    left nothing out of them, so they are no bound (the summary's ``≥``, ``compare``'s "no change in latency")."""
    results = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in results.cells.values() if cell.status == OK and cell.endpoint == "json")
    measured = cell.samples[0].result.measured
    first = replace(cell.samples[0], result=replace(cell.samples[0].result, measured=replace(measured, timeouts=0)))
    cell.samples = [first]
    assert not estimates.latency_bounded(cell)
    timed_out = replace(first.result, measured=replace(measured, timeouts=3))
    cell.samples = [first, replace(first, status=ERROR, reason="server died during the run", result=timed_out)]
    assert not estimates.latency_bounded(cell)
    cell.samples = [first, replace(first, result=timed_out, round=2)]
    assert estimates.latency_bounded(cell)


def test_compare_takes_each_cells_p99_and_a_cell_measured_once_in_either_run_is_not_judged(tmp_path: Path) -> None:
    """``compare``'s p99 is the 99th percentile (15 of 1,000 responses at 100 ms: 100 ms, where the 98th is 1 ms),
    neither figure a bound (no timeouts: its ratio is judged); a CPU-bound cell measured once in A and repeated in B
    is single, so not judged (16 of the 28 cells here: the gateway cells have their bound); a gateway cell at 90% of
    its bound (``AT_BOUND``) reached it, at 89% not."""
    before = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in before.cells.values() if cell.status == OK and cell.endpoint == "json")
    sample = cell.samples[0]
    measured = replace(sample.result.measured, timeouts=0, timed_out_us=0, latency={1_000: 985, 100_000: 15})
    with_latency = replace(sample, result=replace(sample.result, measured=measured))
    before.put(replace(cell, samples=[with_latency]))
    after = synthetic_results(tmp_path, free_threaded=False)
    after.put(replace(cell, samples=[with_latency]))  # a cell of its own: repeated() changes it in place
    comparison = compare_runs(before, repeated(after, 1.0))
    (change,) = [change for change in comparison.changes if change.key == cell.key]
    assert change.p99 is not None and change.p99.before.median == 100_000
    assert change.rate.bounded == change.p99.bounded == (False, False)  # a rate, and a p99 without timeouts: no bound
    assert change.single and not change.judged
    assert (len(comparison.changes), comparison.unjudged) == (28, 16)
    fell = BoundChange(AT_BOUND, 0.89)
    assert fell.reached == (True, False) and fell.slowdown == pytest.approx(0.01 / 0.9)


def _estimate(median: float, *, repeated: bool = True) -> Estimate:
    """A figure measured three times (±1%, with draws), or once (no interval)."""
    if not repeated:
        return Estimate(median, None, None, None, 1, None)
    return Estimate(median, median * 0.99, median * 1.01, 0.01, 3, np.full(8, median))


def test_compares_table_and_json_say_each_kind_of_change_and_the_cells_b_lost() -> None:
    """``compare``'s table and JSON (README: Comparing two runs), on a comparison built in the test: a significant
    slowdown ('slower: req/s -20%'), a gateway cell measured once below its bound in both runs, a ratio of single
    measurements over an A below 1 req/s (still a ratio: 2.00), the cells B lost (an error with its reason, one
    absent), each labelled with its interpreter (two ran), and the JSON's fields."""

    def key(python: str, endpoint: str) -> CellKey:
        return CellKey(python, "wsgi-sync", 1, endpoint, "sync")

    slower = CellChange(
        key("/a/python3", "json"),
        FigureChange(_estimate(1000), _estimate(800), Ratio(0.8, 0.78, 0.82), True),
        FigureChange(_estimate(10_000), _estimate(10_100), Ratio(1.01, 0.99, 1.03), False),
    )
    once = partial(_estimate, repeated=False)
    below = CellChange(
        key("/a/python3", "gateway_1s"), FigureChange(once(100), once(80), None, True), None, BoundChange(0.5, 0.4)
    )
    tiny = CellChange(key("/b/python3", "json"), FigureChange(once(0.5), once(1.0), None, True), None)
    lost = (
        Lost(key("/a/python3", "brotli"), "error", "demo: died"),
        Lost(key("/a/python3", "template_query"), ABSENT, None),
    )
    comparison = RunComparison((slower, below, tiny), lost, ())
    rows = markdown(comparison).splitlines()
    assert rows[2].endswith("| 0.80 [0.78, 0.82] ✱ | 10.00ms | 10.10ms | 1.01 [0.99, 1.03] | slower: req/s -20% |")
    assert rows[3].endswith("| 0.80 (once) | - | - | - | once: below the bound in both (A 50%, B 40% of the bound) |")
    assert rows[4] == (
        "| wsgi-sync gil=1 json sync [/b/python3] | 0.500 | 1.00 | 2.00 (once) | - | - | - "
        "| once: no interval, not judged |"
    )
    assert rows[-1] == (
        "Measured in A, not measured in B: wsgi-sync gil=1 brotli sync [/a/python3] (error in B: demo: died), "
        "wsgi-sync gil=1 template_query sync [/a/python3] (not in B)."
    )
    document = json.loads(as_json(comparison))
    first, gateway, _ = document["cells"]
    assert {name: first[name] for name in ("python", "mode", "gil", "endpoint", "variant")} == {
        "python": "/a/python3", "mode": "wsgi-sync", "gil": 1, "endpoint": "json", "variant": "sync"
    }  # fmt: skip
    assert first["requests_per_sec"]["b"] == {"median": 800, "ci95": [792.0, 808.0]}
    assert gateway["bound"] == {"a_share": 0.5, "b_share": 0.4, "a_reached": False, "b_reached": False}
    assert [cell["in_b"] for cell in document["lost"]] == ["error", ABSENT]


def test_the_answer_has_a_row_per_mode_and_a_gil_verdict_when_both_settings_ran(tmp_path: Path) -> None:
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    report = render_report(results)
    answer = report.split("## The answer: ", 1)[1].split("## Findings", 1)[0]
    assert report.index("## The answer") < report.index("## Findings")
    modes = [mode["id"] for mode in results.modes]
    for variant in ("sync", "async"):
        table = next(part for part in answer.split("\n\n") if part.startswith(f"| {variant} | json |"))
        rows = table.splitlines()[2:]
        assert rows[0].startswith("| **fastest** | `") and [row.split(" | ")[0][2:] for row in rows[1:]] == modes
        assert all(row.count("**helps**") == 4 for row in rows[1:])  # json, json_query, template_query, brotli
        assert all("gil=0/1 2.00 [" in row for row in rows[1:])
        assert "✱" not in table  # the verdict says it in words: no significance mark beside it
    path = tmp_path / "results.json"
    save(results, path)
    document = json.loads(path.read_text())
    assert [row["mode"] for row in document["answer"]["rows"]] == modes
    entry = document["answer"]["rows"][0]["cells"][0]
    assert entry["verdict"] == "helps" and entry["gil0_over_gil1"]["ratio"] == 2.0
    assert json.loads(ResultsFile(path).text(load(path))) == document  # reads back, the answer derived again
    (svg,) = (path for path in draw_chart(results, tmp_path) if path.suffix == ".svg")
    assert "Does turning the GIL off help?" in svg.read_text()
    same = render_report(repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=1.0))
    assert "**cannot be told apart**" in same.split("## Findings", 1)[0]


@pytest.mark.parametrize(("factor", "labels"), [(2.0, {"1", "1.2", "1.4", "1.6", "1.8", "2"}), (8.0, {"1", "2", "5"})])
def test_the_gil_panel_writes_its_ratios_plainly(tmp_path: Path, factor: float, labels: set[str]) -> None:
    """The GIL panel's scale reads as ratios: 1-2-5 steps over a wide panel, finer ones over a narrow one; the log
    scale's own labels were its decades, a lone 10^0 on a panel of ratios from 0.15 to 5."""
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=factor)
    (svg,) = (path for path in draw_chart(results, tmp_path) if path.suffix == ".svg")
    panel = svg.read_text().split("<!-- gil=0 / gil=1 requests/sec", 1)[0]  # the panel's tick labels come first
    assert set(re.findall(r"<!-- ([^ ]+) -->", panel)) == labels


def test_single_measurements_still_answer_the_gil_question_with_a_gil_1_fastest(tmp_path: Path) -> None:
    """One repetition per cell (``quick``, ``original``, CI): a mode that ran under both GIL settings is compared by
    the ratio of its two measurements, which has no interval and is not judged; and the fastest default-build mode
    is a gil=1 cell, never a gil=0 one, however much faster."""
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0, spreads=(1.0,))
    report = render_report(results)
    answer, rest = report.split("## The answer: ", 1)[1].split("## Findings", 1)
    findings = rest.split("## Summary", 1)[0]
    assert "no mode ran under both" not in report.lower()
    assert (
        "gil=0/1 `(once)`: a GIL setting measured once, so the ratio of single measurements, with no interval "
        "and **not judged** (one run says nothing of the next); leave out `--repeat 1` for a verdict.\n"
    ) in answer
    modes = [mode["id"] for mode in results.modes]
    for variant in ("sync", "async"):
        table = next(part for part in answer.split("\n\n") if part.startswith(f"| {variant} | json |"))
        assert table.splitlines()[:2] == [
            f"| {variant} | json | json_query | template_query | brotli |",
            "|---|---|---|---|---|",
        ]
        rows = table.splitlines()[2:]
        assert rows[0].startswith("| **fastest** | `") and rows[0].count(" gil=1` ") == 4 and "gil=0" not in rows[0]
        # one measurement each: no ranking, as the Findings say (the first table read as ahead of every other mode)
        assert rows[0].count(f"; {len(modes) - 1} not compared (measured once: no interval)") == 4, rows[0]
        assert [row.split(" | ")[0][2:] for row in rows[1:]] == modes
        assert all(row.count("gil=0/1 2.00 (once) **not judged**") == 4 for row in rows[1:])
    for mode in modes:
        line = f"- **`{mode}` gil=0 / gil=1**: measured once, so no interval and not judged: json sync 2.00 (once);"
        assert line in findings
    path = tmp_path / "results.json"
    save(results, path)
    document = json.loads(path.read_text())["answer"]
    assert all(column["fastest"]["server"].endswith(" gil=1") for column in document["columns"])
    assert [row["mode"] for row in document["rows"]] == modes
    entry = document["rows"][0]["cells"][0]
    assert entry["verdict"] == "not judged" and entry["default_build"]["ci95"] is None
    assert entry["gil0_over_gil1"] == {"ratio": pytest.approx(2.0), "ci95": None, "significant": None}
    (svg,) = (path for path in draw_chart(results, tmp_path) if path.suffix == ".svg")
    assert "Does turning the GIL off help?" in svg.read_text() and "LineCollection" not in svg.read_text()


def test_a_free_threaded_interpreter_whose_cells_were_skipped_is_not_said_to_be_missing(tmp_path: Path) -> None:
    """On PostgreSQL, a free-threaded venv without psycopg has every cell skipped: the answer and the Findings said
    that the comparison "needs a free-threaded interpreter", of a run that had found one."""
    results = synthetic_results(tmp_path, free_threaded=True)
    results.cells = {key: cell for key, cell in results.cells.items() if cell.gil_requested != 1}
    report = render_report(results).split("## Summary", 1)[0]
    why = (
        "no mode ran under both gil=0 and gil=1 (a free-threaded interpreter ran, but none of its modes was measured "
        "under both: the Summary says which cells were skipped or failed, and why)"
    )
    assert f"\nN{why[1:]}.\n" in report and f"- **GIL**: {why}.\n" in report
    assert "needs a free-threaded interpreter" not in report


def test_with_gil_0_alone_there_is_no_fastest_default_build_mode_and_no_gil_comparison(tmp_path: Path) -> None:
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0, spreads=(1.0,))
    results.cells = {key: cell for key, cell in results.cells.items() if cell.gil_requested == 0}
    answer = render_report(results).split("## The answer: ", 1)[1].split("## Findings", 1)[0]
    assert "No mode ran under both gil=0 and gil=1" in answer
    assert answer.count("| **fastest** | - | - | - | - |") == 2
    # its modes have no row (no GIL-on figure, no ratio), but are named rather than lost from the answer
    modes = ", ".join(f"`{mode['id']}`" for mode in results.modes)
    assert (
        "Measured only with the GIL off (gil=0), so without a row here (no GIL-on figure to rank, no gil=1 to compare "
        f"with): {modes}; the Summary has their figures.\n"
    ) in answer
    failed = results.modes[0]["id"]  # every gil=0 cell of a mode failed: it measured nothing to name
    for key, cell in results.cells.items():
        if cell.mode == failed:
            results.cells[key] = replace(cell, samples=[replace(sample, status=ERROR) for sample in cell.samples])
    answer = render_report(results).split("## The answer: ", 1)[1].split("## Findings", 1)[0]
    assert f"`{failed}`" not in answer.split("Measured only with the GIL off", 1)[1].split("\n", 1)[0]


def test_the_answers_json_names_each_column_and_row_cell_by_endpoint_and_variant(tmp_path: Path) -> None:
    """results.json's ``answer``: its columns and each row's cells say their endpoint and variant (README, Output)."""
    both = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0, spreads=(1.0,))
    path = tmp_path / "results.json"
    save(both, path)
    found = json.loads(path.read_text())["answer"]
    cpu_bound = {(cell.endpoint, cell.variant) for cell in both.cells.values() if cell.window.ceiling_rps is None}
    assert {(column["endpoint"], column["variant"]) for column in found["columns"]} == cpu_bound
    cells = [(cell["endpoint"], cell["variant"]) for row in found["rows"] for cell in row["cells"]]
    assert cells and set(cells) == cpu_bound


def test_the_stopping_rule(tmp_path: Path) -> None:
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=1.0)
    rule = StoppingRule(precision=0.05)
    cpu = next(cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps is None)
    gateway = next(cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps)
    assert rule(cpu, Repetitions(2, 5)) == PRECISION  # two repetitions 1% apart
    figure = estimates.rate(cpu)
    assert figure is not None and figure.half_width is not None
    assert StoppingRule(figure.half_width)(cpu, Repetitions(2, 5)) == PRECISION  # a half-width at --precision is within
    assert rule(cpu, Repetitions(3, 5)) is None  # not yet its least
    assert rule(gateway, Repetitions(1, 1)) == ONCE
    apart = replace(cpu, samples=[cpu.samples[0], replace(cpu.samples[1], result=with_requests(cpu.result, 3000))])
    assert rule(apart, Repetitions(2, 5)) is None and rule(apart, Repetitions(2, 2)) == "repeat"
    assert rule(replace(apart, samples=[*apart.samples, apart.samples[0]]), Repetitions(2, 3)) == "max-repeat"


def test_results_written_before_adaptive_repetitions_still_read(tmp_path: Path) -> None:
    """A results.json from before --precision and --max-repeat (a fixed --repeat, within-run intervals on single
    cells) is read, rendered and compared: its cells are still this format's."""
    path = tmp_path / "results.json"
    save(synthetic_results(tmp_path, free_threaded=True), path)
    document = json.loads(path.read_text())
    for name in ("precision", "max_repeat"):
        del document["parameters"][name]
    document["parameters"]["repeat"] = 3
    for cell in document["cells"]:
        cell.pop("stopped")
    path.write_text(json.dumps(document))
    older = load(path)
    assert all(cell.stopped is None for cell in older.cells.values())
    assert "3 here for the CPU-bound endpoints" in render_report(older)


def test_the_answers_fastest_names_the_modes_that_cannot_be_told_apart_from_it(tmp_path: Path) -> None:
    """The fastest by its median alone is no ranking: with every mode's cells alike, the first table named one mode
    the fastest and no other, where the Findings said the others could not be told apart from it."""

    def fastest_rows(results: MatrixResults) -> list[str]:
        answer = render_report(results).split("## The answer: ", 1)[1].split("## Findings", 1)[0]
        return [line for line in answer.splitlines() if line.startswith("| **fastest** | ")]

    alike = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    first, second = (mode["id"] for mode in alike.modes)
    rows = fastest_rows(alike)
    assert len(rows) == 2 and all(row.count("; cannot be told apart from `") == 4 for row in rows), rows
    assert not any("not compared" in row for row in rows), rows  # every mode repeated: each one compared
    path = tmp_path / "results.json"
    save(alike, path)
    columns = json.loads(path.read_text())["answer"]["columns"]
    assert all(len(column["fastest"]["tied"]) == 1 for column in columns)
    ahead = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    for cell in ahead.cells.values():  # the second mode twice as fast: the fastest, apart from the first
        if cell.mode == second and cell.status == OK and cell.window.ceiling_rps is None:
            cell.samples = [replace(sample, result=with_requests(sample.result, 4000)) for sample in cell.samples]
    rows = fastest_rows(ahead)
    assert all("cannot be told apart" not in row and row.count(f"`{second} ") == 4 for row in rows), rows
    assert first != second
    for cell in ahead.cells.values():  # the other mode measured once: not compared with the fastest, and counted
        if cell.mode == first and cell.status == OK and cell.window.ceiling_rps is None:
            cell.samples = cell.samples[:1]
    rows = fastest_rows(ahead)
    assert all(row.count("; 1 not compared (measured once: no interval)") == 4 for row in rows), rows
    silent = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    for cell in silent.cells.values():  # the first mode at 1000 req/s, then no response: a median of 500, not 2010
        if cell.mode == first and cell.status == OK and cell.window.ceiling_rps is None:
            good, _ = cell.samples
            cell.samples = [replace(good, result=with_requests(good.result, requests)) for requests in (1000, 0)]
    tied = answer_of(sections(silent), verdicts(sections(silent))).tied
    assert tied and not any(contender.cell.mode == first for column in tied.values() for contender in column)


def test_a_gil_ratio_of_repetitions_one_without_a_response_is_not_called_measured_once(tmp_path: Path) -> None:
    """A gil=1 repetition at 0 req/s (no response in its window) leaves gil=0 / gil=1 without an interval: the report
    said `0.42 (once)` and "measured once" of cells repeated four times."""
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    cell = next(
        cell
        for cell in results.cells.values()
        if cell.gil_requested == 1 and cell.endpoint == "json" and cell.variant == "sync" and cell.status == OK
    )
    first, second = cell.samples
    cell.samples = [first, replace(second, result=with_requests(second.result, 0))]
    report = render_report(results)
    head = report.split("## Summary", 1)[0]
    row = next(line for line in head.splitlines() if line.startswith(f"| {cell.mode} |"))
    assert "gil=0/1 " in row and "(no interval) **not judged**" in row and "(once)" not in row, row
    assert "measured once" not in head and "a gil=1 repetition got no response (0 req/s)" in head
    assert "not judged (a gil=1 repetition got no response: no interval)" in report


def test_a_gil_ratio_with_gil_1_silent_or_a_setting_measured_once(tmp_path: Path) -> None:
    """gil=1 at 0 req/s in every repetition: there is no gil=0 / gil=1 to give, with or without an interval (not a
    division by zero). gil=0 measured once and gil=1 twice: the ratio is of a single measurement (``once``, not
    judged), not one whose gil=1 repetition got no response (``unbounded``)."""
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0)
    silent, off = (
        next(
            cell
            for cell in results.cells.values()
            if cell.gil_requested == gil and cell.endpoint == "json" and cell.variant == variant and cell.status == OK
        )
        for gil, variant in ((1, "sync"), (0, "async"))
    )
    silent.samples = [replace(sample, result=with_requests(sample.result, 0)) for sample in silent.samples]
    off.samples = off.samples[:1]
    found = verdicts(sections(results)).gil_ratios
    mode = {(gil.endpoint, gil.variant): gil for gil in found if gil.cells[1].mode == silent.mode}
    once = mode.pop(("json", "async"))
    assert ("json", "sync") not in mode and mode and all(gil.value == pytest.approx(2.0) for gil in mode.values())
    assert once.once and not once.unbounded and once.verdict == NOT_JUDGED and once.value == pytest.approx(4000 / 2010)


def test_a_gil_ratio_over_a_gil_0_cell_without_a_response_shows_no_figure(tmp_path: Path) -> None:
    """A gil=0 cell measured once at 0 req/s (no response in its window): its gil=0 / gil=1 ratio read
    `0.00 (once) not judged ⚑ no-response` in the answer, and `0.00 (once)` in the Findings and the GIL table, a
    figure as if measured; and its Summary row, `0.00 (once)` beside the fastest."""
    results = repeated(synthetic_results(tmp_path, free_threaded=True), gil0_factor=2.0, spreads=(1.0,))
    cell = next(
        cell
        for cell in results.cells.values()
        if cell.gil_requested == 0 and cell.endpoint == "json" and cell.variant == "sync" and cell.status == OK
    )
    (only,) = cell.samples
    cell.samples = [replace(only, result=with_requests(only.result, 0))]
    report = render_report(results)
    head, summary = report.split("## Summary", 1)
    row = next(line for line in head.splitlines() if line.startswith(f"| {cell.mode} |"))
    assert row.split(" | ")[1].endswith("gil=0/1 - **not judged** ⚑ no-response"), row
    assert "measured once, so no interval and not judged: json sync - (gil=0 got no response); json async 2.00" in head
    assert f"| {cell.mode} | json | sync | - | not judged (gil=0 got no response: no ratio) |" in summary
    own = next(line for line in summary.splitlines() if line.startswith(f"| {cell.mode} gil=0 | sync | 0 (once) |"))
    assert "0.00 (once)" not in report and own.split(" | ")[5] == "-", own


def test_the_answer_marks_a_modes_informational_figures_as_the_summary_does(tmp_path: Path) -> None:
    """asgi-threads is meaningless with the GIL on: the summary marked its default-build row *(informational)* and
    left it out of the race, where the first table showed its figures as any mode's."""
    parameters = resolve(PROFILES["quick"], modes=("asgi-threads", "wsgi-sync"))
    results = synthetic_results(tmp_path, free_threaded=False, parameters=parameters)
    report = render_report(results)
    answer, rest = report.split("## The answer: ", 1)[1].split("## Findings", 1)
    rows = [line for line in answer.splitlines() if line.startswith("| ")]
    threads = [row for row in rows if row.startswith("| asgi-threads |")]
    assert len(threads) == 2 and all(row.count(" *(informational)*") == 4 for row in threads), threads
    assert not any("informational" in row for row in rows if row.startswith(("| wsgi-sync |", "| **fastest**")))
    assert "`asgi-threads`" in next(line for line in answer.splitlines() if line.startswith("*(informational)*: "))
    summary = rest.split("## Summary", 1)[1]
    assert "| asgi-threads default build *(informational)* | sync |" in summary
    path = tmp_path / "results.json"
    save(results, path)
    document = json.loads(path.read_text())["answer"]
    note_of = next(cell for cell in results.cells.values() if cell.mode == "asgi-threads" and cell.status == OK)
    note = note_of.informational
    assert note and "meaningful only on a free-threaded build" in note
    notes = {row["mode"]: {entry["informational"] for entry in row["cells"]} for row in document["rows"]}
    assert notes == {"asgi-threads": {note}, "wsgi-sync": {None}}
    # its default-build cell failed, its gil=0 / gil=1 on a free-threaded interpreter ran: no figure to mark
    for cell in synthetic_results(tmp_path, free_threaded=True, parameters=parameters).cells.values():
        results.put(replace(cell, python="python3t", free_threaded_build=True))
    results.put(replace(note_of, samples=[replace(note_of.samples[0], status=ERROR, reason="server died")]))
    row = next(
        row for row in answer_of(sections(results), verdicts(sections(results))).rows if row.label == "asgi-threads"
    )
    entry = row.entries[note_of.endpoint, note_of.variant]
    assert entry.rate is None and entry.gil is not None and entry.informational is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(9.0, "9.00"), (9.99, "9.99"), (9.996, "10.0"), (21.3, "21.3"), (0.5, "0.500"), (99.96, "100"), (1333.4, "1333")],
)
def test_rates_print_three_significant_figures_with_their_trailing_zeros(value: float, text: str) -> None:
    """``9 (once)`` beside ``9.99 (once)``: ``.3g`` dropped the zeros, so like figures printed unlike."""
    assert plain_rate(value) == text
    assert rate_interval_text(Estimate(value, None, None, None, 1, None)) == f"{text} (once)"


def test_an_intervals_figures_print_alike_and_no_response_is_0() -> None:
    assert rate_interval_text(Estimate(9.0, 8.5, 10.0, 0.05, 3, None)) == "9.00 [8.50, 10.0]"
    assert plain_rate(0.0) == "0"  # no response at all: no precision to state


def test_the_chart_hatches_and_marks_an_informational_cell(tmp_path: Path) -> None:
    """asgi-threads' default-build bars were drawn as any contender's, with nothing to say they are informational,
    while the report marks them: now hatched, with `(i)` beside each, and the title says what it means."""
    parameters = resolve(PROFILES["quick"], modes=("asgi-threads", "wsgi-sync"))
    results = synthetic_results(tmp_path, free_threaded=False, parameters=parameters)
    measured = [cell for cell in results.cells.values() if cell.status == OK]
    informational = sum(cell.informational is not None for cell in measured)
    assert 0 < informational < len(measured)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, so that it can be read back
        draw_chart(results, tmp_path)
    svg = (tmp_path / "chart.svg").read_text()
    assert svg.count("> (i)</text>") + svg.count("> ! (i)</text>") == informational
    assert "(i) informational" in svg and svg.count('<pattern id="h') >= 1
