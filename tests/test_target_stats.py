"""Per-target statistics without the engine: workers' tallies with targets, added as the parent
adds them; the Result's figures, the JSON document (written, read back, damaged), the table after
wrk's report, --fail-on's selector, compare and the HTML page. Real runs: tests/test_targets.py."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from operator import attrgetter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loadgen
from loadgen._stats import hdr, stats
from loadgen.comparison import compare
from loadgen.errors import UsageError
from loadgen.measurement import (
    NONE_LOST,
    ErrorKind,
    ErrorReason,
    Interval,
    Measurement,
    Stage,
    Tally,
    TargetMeasurement,
)
from loadgen.report import wrk
from loadgen.report.comparison_text import comparison_json, comparison_markdown, comparison_text
from loadgen.report.html import html_report
from loadgen.report.targets import targets_table
from loadgen.thresholds import Threshold, check_selectors, check_thresholds, select_target

from .conftest import run_loadgen

LABELS = ("GET /fast", "GET /slow", "POST /orders")
RESET = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "ECONNRESET")
TIMEOUT_US = 2_000_000


def _worker(samples: list[tuple[int, int, int]], errors: list[int] = (), paced: bool = False) -> Measurement:  # type: ignore[assignment]
    """A worker's measurement from (target, status, latency µs) samples, recorded as a worker
    with targets records them: into the target's tally, which records into the totals too
    (constant rate: the latency from the intended send time, and 100 µs less from the write)."""
    tally = Tally(TIMEOUT_US, LABELS)
    for index, status, latency_us in samples:
        if paced:
            tally.per_target[index].record_paced(status, latency_us, latency_us - 100)
        else:
            tally.per_target[index].record(status, latency_us)
    for index in errors:
        tally.per_target[index].count_error(RESET)
    tally.workers, tally.elapsed_us = 1, 1_000_000
    return tally.measurement()


def _result(*workers: Measurement, rate: float | None = None) -> loadgen.Result:
    settings_ = loadgen.Settings(
        "http://127.0.0.1:1/fast", threads=len(workers), connections=4, duration=1.0, rate=rate
    )
    return loadgen.Result(runs=(settings_,), measured=Measurement.sum(workers), runtime_us=1_000_000)


SAMPLES = [(0, 200, 1_000), (1, 200, 50_000), (2, 201, 9_000), (0, 200, 1_200), (1, 503, 60_000), (2, 201, 8_000)]


def test_the_targets_add_up_to_the_run_and_merge_exactly_across_workers() -> None:
    one, two = _worker(SAMPLES[:3], errors=[1]), _worker([*SAMPLES[3:], (1, 200, 3000000)])
    result = _result(one, two)
    assert [t.label for t in result.targets] == list(LABELS)
    assert sum(t.requests for t in result.targets) == result.requests == 7
    fast, slow, orders = result.targets
    assert (fast.requests, slow.requests, orders.requests) == (2, 3, 2)
    assert slow.errors == loadgen.result.Errors(read=1, timeout=1, status=1) and slow.errors.socket == 2  # wrk's line
    assert (result.requests_per_sec, replace(result, runtime_us=2_000_000).requests_per_sec) == (7.0, 3.5)
    assert ", 2 workers, " in repr(result) and ", 1 worker, " in repr(_result(one))
    # the requests that ended: 3 responses and 1 lost to the reset; in error, the reset, the timeout and the 503
    assert (slow.ended, slow.ended_in_error) == (4, 3)
    assert slow.status_counts == {200: 2, 503: 1} != orders.status_counts and dict(orders.status_counts) == {201: 2}
    # a mapping of the counts measured: a status or reason never seen is none of its keys
    assert (len(slow.status_counts), len(slow.error_reasons), bool(orders.error_reasons)) == (2, 1, False)
    assert fast.latency.max < orders.latency.percentile(50) < slow.latency.percentile(50)
    assert slow.requests_per_sec == 3.0
    # what each worker sent home adds to what one worker recording everything would have
    assert Measurement.sum([one, two]).targets == _worker([*SAMPLES, (1, 200, 3000000)], errors=[1]).targets


def test_an_error_that_cost_no_request_is_no_request_that_ended() -> None:
    """README's errors threshold: over every request that ended (responses and requests lost to a
    socket error), the socket errors that cost no request (a close of an idle connection, a
    malformed response to one) left out of both; a refused connection had sent none."""
    idle = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "closed while idle")
    late = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "malformed response", "bad" + NONE_LOST)
    refused = ErrorReason(ErrorKind.CONNECT, Stage.CONNECT, "ECONNREFUSED")
    assert [(r.lost_nothing, r.lost_request) for r in (idle, late, RESET, refused)] == [
        (True, False),
        (True, False),
        (False, True),
        (False, False),
    ]
    result = _result(Measurement(requests=5, status_counts={200: 5}, error_reasons={idle: 2, late: 1, RESET: 3}))
    assert (result.ended, result.ended_in_error, result.lost_nothing) == (8, 3, 3)
    # a second read from a document that kept its errors by kind only takes the run's share of each kind's
    # that lost nothing; one that kept them by reason counts them
    lost_nothing = attrgetter("lost_nothing")
    shares = result.shares_of(lost_nothing)
    assert shares == {ErrorKind.CONNECT: 0.0, ErrorKind.READ: 0.5, ErrorKind.WRITE: 0.0}
    by_kind = Interval(1_000_000, 5, 0, {ErrorKind.READ: 2, ErrorKind.TIMEOUT: 1})
    assert loadgen.result.Second(0, by_kind).errors_where(lost_nothing, shares) == 1.0
    by_reason = replace(by_kind, error_reasons={RESET: 2})
    assert loadgen.result.Second(0, by_reason).errors_where(lost_nothing, shares) == 0


def test_the_servers_time_for_a_request_is_the_quickest_response_or_the_timeouts_mean() -> None:
    """How long a request the server did not queue took, from its write: the quickest response
    under --timeout (SAMPLES' 1 ms from the intended send time is 0.9 ms from the write); when 2
    responses of 3 s each at --timeout 2s and -R 5 were all timeouts, in no latency figure, their
    mean (all that is kept of them), and by Little's law 6 requests in flight on average (once 0)."""
    assert _result(_worker(SAMPLES, paced=True), rate=50.0).quickest_s == 0.0009
    measured = Measurement(workers=1, requests=2, status_counts={200: 2}, timeouts=2, timed_out_us=6_000_000)
    result = _result(measured, rate=5.0)
    assert (result.timeouts_mean_us, result.quickest_s, result.per_connection.mean_in_flight) == (3e6, 3.0, 6.0)


def test_merging_runs_matches_targets_by_label() -> None:
    a = _result(_worker(SAMPLES))
    reordered = _worker([(2, 201, 7_000)])
    reordered.targets = reordered.targets[::-1]  # another run listing the same targets in another order
    b = _result(reordered)
    merged = a + b
    assert [t.label for t in merged.targets] == list(LABELS)
    assert merged.target("POST /orders").requests == 3  # type: ignore[union-attr]
    assert merged.target("GET /none") is None
    assert (a + replace(b, interrupted=True)).interrupted and not merged.interrupted  # a part cut short cuts it
    assert sum([a, b]) == merged  # sum() starts at 0, which is no result to add: as Python's own
    with pytest.raises(TypeError, match=r"^unsupported operand type\(s\) for \+: 'int' and 'Result'$"):
        1 + a


def test_a_batch_and_its_phases_count_in_its_target_and_in_the_run() -> None:
    """A batch counted response by response, then timed (count_response, record_batch): its latency
    is its target's and the run's, as an error on it is; its first byte, split from its last
    (record_split), the run's, whose latency phases are measured for the run alone."""
    tally = Tally(TIMEOUT_US, LABELS)
    target = tally.per_target[1]
    target.count_response(200)
    target.record_batch(1_500, 1_400)
    target.record_batch(3_000_000)  # past the timeout: a timeout, in no latency
    target.record_split(1_400, 300)
    target.count_error(RESET)
    target.count_answered(3, 900)  # a connection's account: the run's, as its phases
    measured = tally.measurement()
    slow = measured.targets[1]
    assert (slow.requests, slow.latency, slow.latency_from_write) == (1, {1_500: 1}, {1_400: 1})
    assert (measured.requests, measured.latency, measured.latency_from_write) == (1, {1_500: 1}, {1_400: 1})
    assert slow.error_reasons == measured.error_reasons == {RESET: 1}
    assert (slow.timeouts, slow.timed_out_us, measured.timeouts, measured.timed_out_us) == (1, 3e6, 1, 3e6)
    assert (measured.latency_split, measured.first_byte_split) == ({1_400: 1}, {300: 1})
    assert (measured.connection_responses, measured.first_response) == ({3: 1}, {900: 1})
    tally.restart()  # the end of a --warmup: nothing of it is in the figures of the -d that follows
    assert tally.measurement() == Measurement(targets=tuple(TargetMeasurement(label) for label in LABELS))


def test_a_latency_at_the_timeout_is_a_latency_and_one_past_it_a_timeout() -> None:
    """wrk records a latency up to --timeout (``stats_record``: below timeout_us + 1) and counts one past
    it as a timeout, with its latency added up: in a target's tally as in the run's."""
    tally = Tally(TIMEOUT_US, LABELS)
    target = tally.per_target[0]
    for latency_us in (TIMEOUT_US, TIMEOUT_US + 1):
        target.record(200, latency_us)
        target.record_paced(200, latency_us, latency_us)
    measured = tally.measurement()
    for counted in (measured, measured.targets[0]):
        assert (counted.requests, counted.latency, counted.latency_from_write) == (4, {TIMEOUT_US: 2}, {TIMEOUT_US: 1})
        assert (counted.timeouts, counted.timed_out_us) == (2, 2 * (TIMEOUT_US + 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([200, 404]), st.integers(1, 400_000)), min_size=1))
def test_the_targets_latencies_add_up_to_the_runs_measured_ones(samples: list[tuple[int, int, int]]) -> None:
    """Each target's latency is its responses' own: the targets' histograms add up to the run's as
    measured; wrk's correction (its synthetic samples) stays the run's."""
    result = _result(_worker(samples))
    summed: dict[int, int] = {}
    for target in result.targets:
        assert target.latency.counts == target.latency_uncorrected.counts and not target.latency.hidden
        for value, count in target.latency.counts.items():
            summed[value] = summed.get(value, 0) + count
    assert summed == dict(result.latency_uncorrected.counts)


def test_a_slow_target_among_fast_ones_keeps_its_own_percentiles() -> None:
    """A 2.2-4.9 ms target beside 0.1 ms ones: wrk's correction with the run's interval once charged
    it copies below its own minimum, which wrk hides, and its p50 to p99 came out 0 us."""
    fast = [(0, 200, 100)] * 3_000 + [(2, 201, 120)] * 3_000  # 6,100 requests on 4 connections in 1 s: 656 us apart
    slow = [(1, 200, 2_200 + 27 * i) for i in range(100)]
    result = _result(_worker([*fast, *slow]))
    target = result.target("GET /slow")
    assert target is not None
    assert 2_200 <= target.latency.percentile(50) <= target.latency.percentile(99) <= 4_873
    assert result.latency.count > result.latency_uncorrected.count  # the run's report keeps wrk's correction


@pytest.mark.parametrize("rate", [None, 50.0], ids=["closed loop", "constant rate"])
def test_the_document_keeps_each_target_exactly(rate: float | None) -> None:
    paced = rate is not None
    result = _result(_worker(SAMPLES[:3], errors=[2], paced=paced), _worker(SAMPLES[3:], paced=paced), rate=rate)
    document = json.loads(loadgen.to_json(result))
    assert [t["label"] for t in document["targets"]] == list(LABELS)
    assert [t["requests"] for t in document["targets"]] == [2, 2, 2]
    assert document["targets"][2]["errors"]["read"] == 1
    again = loadgen.from_json(loadgen.to_json(result))
    assert again.measured.targets == result.measured.targets
    assert [t.latency for t in again.targets] == [t.latency for t in result.targets]


def test_a_document_without_targets_reads_as_a_run_of_one_url() -> None:
    document = json.loads(loadgen.to_json(_result(_worker(SAMPLES))))
    del document["targets"]
    assert loadgen.from_json(json.dumps(document)).targets == ()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: d["targets"][1].update(label="GET /fast"),
            "targets[1].label: 'GET /fast' again (targets[0] has it)",
        ),
        (lambda d: d["targets"][0].update(requests=10**6), "targets: 1,000,004 requests in all, more than the run's 6"),
        (
            lambda d: d["targets"][0]["latency_uncorrected"]["histogram"].update(deltas=[5_000_000], counts=[1]),
            "targets[0].latency_uncorrected.histogram: a latency of 5,000,000 us, longer than the run's --timeout",
        ),
        (lambda d: d["targets"][0].pop("errors"), "targets[0].errors: missing"),
        (lambda d: d["targets"][0].update(extra=1), "targets[0].extra"),
    ],
)
def test_a_damaged_target_is_refused_in_one_line(damage, message: str, tmp_path: Path) -> None:
    document = json.loads(loadgen.to_json(_result(_worker(SAMPLES))))
    damage(document)
    with pytest.raises(loadgen.DocumentError, match=re.escape(message)):
        loadgen.from_json(json.dumps(document))
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(document))
    done = run_loadgen("report", str(path))
    assert done.returncode == 1 and len(done.stderr_lines) == 1 and str(path) in done.stderr_lines[0]


def test_a_paced_targets_latency_past_the_timeout_is_refused() -> None:
    """Under -R a target's latency, from each intended send time, is what the worker measured: one
    past --timeout (which it counts as a timeout instead) is a damaged document, as the run's is."""
    document = json.loads(loadgen.to_json(_result(_worker(SAMPLES, paced=True), rate=50.0)))
    document["targets"][0]["latency"]["histogram"].update(deltas=[5_000_000], counts=[1])
    message = "targets[0].latency.histogram: a latency of 5,000,000 us, longer than the run's --timeout (2s)"
    with pytest.raises(loadgen.DocumentError, match=re.escape(message)):
        loadgen.from_json(json.dumps(document))


def test_a_histogram_value_past_24_hours_is_refused_though_each_delta_is_within() -> None:
    """A value is the sum of its deltas: two of 24 h each are within the schema's bound, their value
    (48 h) past it, in a histogram no --timeout bounds (README: latencies up to 24 h)."""
    document = json.loads(loadgen.to_json(_result(_worker(SAMPLES))))
    document["connect"]["histogram"] = {"deltas": [86_400_000_000] * 2, "counts": [1, 1]}
    message = "connect.histogram: a value of 172,800,000,000, above the maximum, 86,400,000,000"
    with pytest.raises(loadgen.DocumentError, match=re.escape(message)):
        loadgen.from_json(json.dumps(document))


def test_the_table_after_wrks_report() -> None:
    result = _result(_worker(SAMPLES, errors=[1]))
    table = targets_table(result)
    lines = table.splitlines()
    assert lines[0] == "  Targets:"
    assert lines[1].split() == ["Target", "Requests", "Req/Sec", "p50", "p90", "p99", "Max", "Errors", "Statuses"]
    assert lines[3].startswith("    GET /slow ") and "read 1, status 1" in lines[3] and "200: 1, 503: 1" in lines[3]
    assert lines[2].split()[4:8] == ["1.20ms"] * 4  # wrk's rank rule: the 2nd of 2 samples
    assert targets_table(loadgen.Result((_settings(),), Measurement(), 1)) == ""


def _many_targets(count: int) -> loadgen.Result:
    """A closed-loop run of ``count`` targets that each answered alike (as a user's 10,000)."""
    tally = Tally(TIMEOUT_US, tuple(f"GET /t/{index}" for index in range(count)))
    for index in range(count):
        for latency_us in (900 + index % 7, 1_100, 2_500):
            tally.per_target[index].record(200, latency_us)
    tally.workers, tally.elapsed_us = 1, 1_000_000
    return _result(tally.measurement())


def _calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[None]:
    """One entry per call of ``module.name`` from now on (the work a figure costs, not its value)."""
    calls: list[None] = []
    original = getattr(module, name)

    def counted(*args: object) -> object:
        calls.append(None)
        return original(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_many_targets_cost_little_exact_arithmetic_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 targets took 8 s to write as JSON and 2-3 s to print their table: per target 14
    percentiles in emulated long double, two HdrHistograms (one distribution in the closed loop)
    and four times formatted in long double. Ranks and times repeat across targets: worked once."""
    result = _many_targets(300)
    builds, ranks = _calls(monkeypatch, hdr, "build"), _calls(monkeypatch, stats, "c_round")
    loadgen.to_json(result)
    assert len(builds) == 300 + 5  # the run's latency, uncorrected, connect, tls_handshake, first_byte
    assert len(ranks) < 100  # 4,200 without the cache
    formats = _calls(monkeypatch, wrk, "format_units")
    targets_table(result)
    assert len(formats) < 30  # 1,200 without the cache


def _settings() -> loadgen.Settings:
    return loadgen.Settings("http://127.0.0.1:1/")


def test_fail_on_judges_one_target() -> None:
    result = _result(_worker(SAMPLES))
    verdicts = check_thresholds(result, ["p99[/fast]<2ms", "p99[GET /slow]<2ms", "rps[POST /orders]>=2", "p99<2ms"])
    assert [v.passed for v in verdicts] == [True, False, True, False]
    assert verdicts[0].threshold.target == "/fast" and verdicts[0].threshold.subject == "p99[/fast]"
    assert check_thresholds(result, ["non2xx[/slow]==1", "errors[/orders]==0"])[0].passed


def test_a_selector_names_a_path_as_the_targets_file_writes_it() -> None:
    """The labels carry a path as the request line does (``GET /caf%C3%A9``); ``[/café]``, written as in the targets
    file, named no target: refused before the run, listing the label it meant."""
    labels = ("GET /caf%C3%A9", "POST /caf%C3%A9/new")
    for selector in ("/café", "GET /café", "/caf%C3%A9", "POST /café/new"):
        check_selectors([Threshold.parse(f"p99[{selector}]<1ms")], labels)
    assert select_target("/café", labels) == "GET /caf%C3%A9"
    assert select_target("POST /café/new", labels) == "POST /caf%C3%A9/new"


@pytest.mark.parametrize(
    ("expression", "labels", "message"),
    [
        ("p99[/none]<1ms", LABELS, r"no target '/none' \(targets: GET /fast, GET /slow, POST /orders\)"),
        (
            "p99[/a]<1ms",
            ("GET /a", "POST /a"),
            r"\[/a\] matches 2 targets \(GET /a, POST /a\): name one with its method, as p99\[GET /a\]$",
        ),
        ("p99[/a]<1ms", (), r"\[/a\] needs --targets"),
        ("p99[]<1ms", LABELS, r"\[\] names no target \(give its path, as p99\[/api/orders\]<50ms\)$"),
    ],
)
def test_a_selector_that_names_no_target_or_several_is_refused(expression: str, labels, message: str) -> None:
    """Each refusal names the expression, as every invalid threshold's line does."""
    with pytest.raises(UsageError, match=rf"^invalid threshold {re.escape(repr(expression))}: {message}"):
        check_selectors([Threshold.parse(expression)], labels)


def test_compare_and_html_show_targets_side_by_side() -> None:
    base = _result(_worker(SAMPLES))
    new = _result(_worker([(0, 200, 2_000), (1, 200, 50_000), (2, 201, 9_000)]))
    comparison = compare(base, new)
    assert [t.label for t in comparison.targets] == list(LABELS)
    errors = next(change for change in comparison.targets[1].changes if change.metric.name == "errors")
    assert (errors.base, errors.new) == (50.0, 0.0)  # GET /slow's 503, in BASE: 1 of the 2 requests that ended
    text = comparison_text(comparison, "a.json", "b.json")
    assert "targets: each one's figures over the whole run" in text
    row = next(line for line in text.splitlines() if line.startswith("GET /fast") and " p50 " in line)
    assert row.split()[-3:] == ["1.2ms", "2ms", "+66.7%"]
    markdown = comparison_markdown(comparison, "a", "b").splitlines()
    table = markdown.index("| target | metric | BASE | NEW | change |")  # a table: its header, then its alignment row
    assert (
        markdown[table + 1] == "|---|---|---:|---:|---:|" and "| GET /fast | p50 | 1.2ms | 2ms | +66.7% |" in markdown
    )
    entries = json.loads(comparison_json(comparison, "a", "b"))["targets"]
    assert entries[0]["label"] == "GET /fast" and entries[0]["metrics"][0]["significant"] is None
    page = html_report([("base", base), ("new", new)], [(), ()])
    assert "<h2>Targets</h2>" in page and page.count("<td>POST /orders</td>") == 2
    assert "<h2>Targets</h2>" not in html_report([("one", loadgen.Result((_settings(),), Measurement(), 1))], [()])


def test_wrk2s_figures_are_the_hdrhistograms() -> None:
    """wrk2's Latency row and percentiles from the HdrHistogram (three significant digits: exact below 2,048 µs,
    buckets above): the mean, the population stdev and the value at a percentile are the histogram's own (the
    hdrh library's), the maximum the lowest value of the top bucket (wrk2's hdr_max); +/- Stdev is wrk2's
    stats_within_stdev (from the bucket below mean - stdev to the one above mean + stdev: 58% of 1..1000 µs,
    578 of them inside); the spectrum steps 5 ticks a half distance to 100% (hdr_percentiles_print)."""
    mixed = {100: 3, 2047: 1, 2049: 2, 5001: 4, 150_000: 1, 3_000_000: 2}
    histogram = hdr.build(mixed)
    stats = hdr.Wrk2Stats(histogram)
    assert (stats.total, stats.mean, stats.stdev) == (13, histogram.get_mean_value(), histogram.get_stddev())
    assert [stats.value_at_percentile(p) for p in (0, 50, 90, 100, 120)] == [
        histogram.get_value_at_percentile(p) for p in (0, 50, 90, 100, 100)
    ]
    assert stats.max == histogram.get_lowest_equivalent_value(3_000_000) == 2_998_272
    uniform = hdr.Wrk2Stats.of({us: 1 for us in range(1, 1001)})
    assert (uniform.mean, round(uniform.stdev, 3), uniform.within_stdev()) == (500.5, 288.675, 58.0)
    levels = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5, 80.0, 82.5]
    assert uniform.spectrum()[:14] == [(round(level * 10) or 1, level, round(level * 10) or 1) for level in levels]
    assert uniform.spectrum()[-2:] == [(1000, 99.90234375, 1000), (1000, 100.0, 1000)]
    assert hdr.Wrk2Stats.of({1: 1, 1000: 1}).within_stdev() == 100.0  # mean + stdev reaches the top bucket
    empty = hdr.Wrk2Stats.of({})
    # hdr_percentile_iter_next reports its last value, 100%, even for an empty histogram: one row, 0 at a count of 0
    assert (empty.max, empty.within_stdev(), empty.value_at_percentile(50)) == (0, 0.0, 0)
    assert empty.spectrum() == [(0, 100.0, 0)]
