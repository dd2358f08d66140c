"""``--fail-on``: every threshold form passing and failing against the real test server, the
stderr lines, exit code 4, the JSON entries, and malformed expressions refused before anything
runs."""

from __future__ import annotations

import json
import re
from concurrent.futures import Future
from pathlib import Path

import jsonschema
import pytest

import loadgen
from loadgen.commands.usage import usage_text
from loadgen.errors import excerpt
from loadgen.measurement import CLOSED_WHILE_IDLE, ErrorKind, ErrorReason, Measurement, Stage
from loadgen.testing.server import TestServer

from .conftest import Completed, each_selected, run_loadgen, run_unchecked, selected_at_once, untraced

SCHEMA = json.loads((Path(loadgen.__file__).parent / "result.schema.json").read_text())
LINE = re.compile(r"threshold (\S+): (passed|failed) \((.*)\)")


def _run(*args: str) -> tuple[int, dict, dict[str, tuple[str, str]]]:
    """Exit code, the JSON document, and expression -> (verdict, measured) from the stderr lines."""
    done = run_loadgen("-t1", "-c2", "--json", "-", *args)
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)
    lines = {m.group(1): (m.group(2), m.group(3)) for m in map(LINE.fullmatch, done.stderr_lines) if m}
    return done.returncode, document, lines


def _entries(document: dict) -> dict[str, dict]:
    return {entry["expression"]: entry for entry in document["thresholds"]}


def test_every_form_passes_against_a_healthy_server(server) -> None:
    expressions = [
        "p99<1s",
        "p99.9<=2s",
        "p50<500ms",
        "mean<10ms",
        "max<2s",
        "rps>=100",
        "rps>=0.1k",
        "errors<0.1%",
        "errors==0",
        "non2xx==0",
        "non2xx<1%",
        "timeouts==0",
        "timeouts<=0%",
    ]
    code, document, lines = _run("-d1s", *(f"--fail-on={e}" for e in expressions), server.url("/"))
    assert code == 0
    assert list(lines) == expressions  # one line each, in the order given, after the report
    assert all(verdict == "passed" for verdict, _ in lines.values())
    entries = _entries(document)
    assert [entry["verdict"] for entry in entries.values()] == ["passed"] * len(expressions)
    latency = document["latency"]
    assert entries["p99<1s"]["value"] == latency["percentiles"]["99"] and entries["p99<1s"]["unit"] == "us"
    assert entries["p99<1s"]["limit"] == 1_000_000 and entries["p99<1s"]["operator"] == "<"
    assert entries["p99.9<=2s"]["value"] == latency["percentiles"]["99.9"]
    assert entries["mean<10ms"]["value"] == pytest.approx(latency["mean"])
    assert entries["max<2s"]["value"] == latency["max"]
    assert entries["rps>=100"]["value"] == pytest.approx(document["requests_per_sec"])
    assert entries["rps>=0.1k"]["limit"] == 100
    assert entries["errors<0.1%"]["value"] == 0 and entries["errors<0.1%"]["unit"] == "%"
    assert entries["non2xx==0"]["unit"] == "count"
    assert lines["rps>=100"][1].startswith("rps = ")


def test_error_statuses_fail_the_error_forms(server) -> None:
    expressions = ["errors<0.1%", "errors==0", "non2xx==0", "non2xx<50%", "rps>=10M", "p50<1us", "mean<1us"]
    code, document, lines = _run("-d500ms", *(f"--fail-on={e}" for e in expressions), server.url("/status/503"))
    assert code == 4
    assert all(verdict == "failed" for verdict, _ in lines.values()) and len(lines) == len(expressions)
    entries = _entries(document)
    assert entries["errors<0.1%"]["value"] == 100.0 and entries["errors<0.1%"]["verdict"] == "failed"
    assert entries["errors==0"]["value"] == document["errors"]["status"] == document["requests"] > 0
    assert entries["non2xx<50%"]["value"] == 100.0
    assert lines["errors<0.1%"][1] == "errors = 100%"


def test_a_redirect_is_non_2xx_but_not_an_error(server) -> None:
    code, document, lines = _run(
        "-d300ms", "--fail-on", "non2xx==0", "--fail-on", "errors==0", server.url("/status/302")
    )
    assert code == 4
    assert lines["non2xx==0"][0] == "failed" and lines["errors==0"][0] == "passed"
    assert _entries(document)["non2xx==0"]["value"] == document["status_counts"]["302"]


@pytest.fixture(scope="module")
def waiting(request: pytest.FixtureRequest, server) -> dict[str, Future[tuple[int, dict, dict[str, tuple[str, str]]]]]:
    """The module's runs that wait on their server nearly all the time (every response past --timeout; one
    connection paced against a server that stalls), those whose test the session runs, at once: the two take the
    longest's 3 s, not their sum (4.5 s). By test (see selected_at_once). Not the closed loops beside: the paced
    run's uncorrected p99 is judged against 100 ms."""
    timeouts_judged = ("--fail-on", "timeouts==0", "--fail-on", "p99<1s")
    with TestServer() as stalling:
        return selected_at_once(
            request,
            {
                "test_timeouts_fail_and_leave_no_latency_to_judge": lambda: _run(
                    "-d1s", "--timeout", "50ms", *timeouts_judged, server.url("/delay?ms=150")
                ),
                # One connection at 200/s against a server that stalls 400 ms a second: the requests due
                # during the stall wait (corrected latency), but only the one in flight measures it.
                "test_constant_rate_judges_the_corrected_latency": lambda: _run(
                    "-R200", "-d3s", "-c1", "--fail-on", "p99<100ms", stalling.url("/stall?period_ms=1000&pause_ms=400")
                ),
            },
        )


def test_timeouts_fail_and_leave_no_latency_to_judge(waiting) -> None:
    code, document, lines = waiting["test_timeouts_fail_and_leave_no_latency_to_judge"].result()
    assert code == 4
    assert lines["timeouts==0"] == ("failed", f"timeouts = {document['errors']['timeout']}")
    assert document["errors"]["timeout"] > 0
    # every response was a timeout: no latency, and a threshold on nothing never passes
    assert lines["p99<1s"] == ("failed", "p99: nothing measured, no response")
    assert _entries(document)["p99<1s"]["value"] is None


def test_constant_rate_judges_the_corrected_latency(waiting) -> None:
    code, document, lines = waiting["test_constant_rate_judges_the_corrected_latency"].result()
    assert code == 4 and lines["p99<100ms"][0] == "failed"
    value = _entries(document)["p99<100ms"]["value"]
    assert value == document["latency"]["percentiles"]["99"] > 100_000
    assert document["latency_uncorrected"]["percentiles"]["99"] < 100_000


def test_a_broken_server_keeps_its_own_exit_code(server) -> None:
    done = run_loadgen("-t1", "-c1", "-d300ms", "--fail-on", "rps>=1M", server.url("/malformed"))
    assert done.returncode == 3
    assert done.stderr_lines[-1].startswith("threshold rps>=1M: failed")


@pytest.fixture(scope="module")
def malformed(request: pytest.FixtureRequest) -> dict[str, Future[Completed]]:
    """Every selected case's command of the test below, a few at once."""
    return each_selected(
        request,
        "test_a_malformed_expression_is_a_usage_error_before_anything_runs",
        lambda expression, why: run_unchecked(
            "-d10s", "--fail-on", "rps>=1", "--fail-on", expression, "http://127.0.0.1:1/"
        ),
    )


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("p99<50", "p99 is a latency: give a time unit (us, ms, s, m, h), as p99<50ms"),
        ("p99<5%", "p99 is a latency: give a time unit (us, ms, s, m, h), as p99<50ms"),
        ("p101<5ms", "a percentile is within (0, 100]"),
        (
            "latency<5ms",
            "unknown metric 'latency' (known: pN (p50, p99.9, ...), mean, max, rps, errors, non2xx, timeouts)",
        ),
        ("rps>=fast", "expected METRIC OP VALUE, as p99<50ms or rps>=1000"),
        ("p99 50ms", "expected METRIC OP VALUE, as p99<50ms or rps>=1000"),
        ("p99=<50ms", "expected METRIC OP VALUE, as p99<50ms or rps>=1000"),
        ("rps>=10ms", "rps is requests/sec: a number, with k or M if you like (rps>=1k)"),
        ("errors<5ms", "errors is a count (errors==0) or a share of requests (errors<0.1%)"),
        ("non2xx<5ms", "non2xx is a count (non2xx==0) or a share of responses (non2xx<0.1%)"),
        ("timeouts<1k", "timeouts is a count (timeouts==0) or a share of responses (timeouts<0.1%)"),
        ("errors<200%", "errors as a share is at most 100%"),
        ("non2xx<=100.5%", "non2xx as a share is at most 100%"),
        ("p99<0ms", "no run can meet it (p99 is never below 0)"),
        ("p99<=0ms", "no run can meet it (p99 is never 0: a response takes time)"),
        ("mean==0us", "no run can meet it (mean is never 0: a response takes time)"),
        ("rps>" + "9" * 400, "the number is too large"),  # no float holds it
        ("errors<0", "no run can meet it (errors is never below 0)"),
        ("timeouts>100%", "no run can meet it (timeouts is never above 100%)"),
        ("p99<\u0665ms", "write numbers with the digits 0-9"),  # ARABIC-INDIC DIGIT FIVE: float() takes it
        ("rps>=\uff11k", "write numbers with the digits 0-9"),  # FULLWIDTH DIGIT ONE
        ("p\u0669\u0669<5ms", "write numbers with the digits 0-9"),
    ],
)
def test_a_malformed_expression_is_a_usage_error_before_anything_runs(
    malformed: dict[str, Future[Completed]], request: pytest.FixtureRequest, expression: str, why: str
) -> None:
    done = untraced(malformed[request.node.callspec.id].result())
    assert done.returncode == 1
    assert done.stderr_lines == [f"loadgen: invalid threshold {excerpt(expression)}: {why}"]  # 80 characters
    assert done.stdout == usage_text()  # nothing ran, not even the check of the address: no header, no report


def test_a_result_built_by_hand_is_judged_as_the_readme_defines_each_metric() -> None:
    """non2xx: responses with a status outside 200-299 (a redirect too); a target the run lacks measures
    nothing and fails; a percentile anywhere in (0, 100], and a share above anything under 100%, are thresholds
    a run can meet."""
    from loadgen.measurement import Measurement

    measured = Measurement(workers=1, requests=4, latency={1000: 4}, status_counts={200: 2, 299: 1, 300: 1})
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=4, duration=1)
    result = loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000)
    expressions = ["non2xx==1", "non2xx<=25%", "p99[/x]<1s", "p0.5<2ms", "p1<2ms", "errors>50%"]
    verdicts = loadgen.check_thresholds(result, expressions)
    assert [(v.value, v.passed) for v in verdicts] == [
        (1.0, True),
        (25.0, True),
        (None, False),
        (1000.0, True),
        (1000.0, True),
        (0.0, False),
    ]


def test_each_counted_metric_counts_its_own_errors_over_its_own_whole() -> None:
    """README's table, a metric each: errors counts socket errors, timeouts and statuses > 399 (7 here), and as a
    share divides them by the requests that ended, the error that cost no request (a close of an idle connection)
    left out of both (6 of 12); non2xx counts statuses outside 200-299 over responses (4 of 10), timeouts the
    responses slower than --timeout over responses (1 of 10); mean and max are the latency's (the timeout in
    neither); rps is responses per second. A share that names what it divides by says so when it is misused."""
    reset, idle = (ErrorReason(ErrorKind.READ, Stage.EXCHANGE, cause) for cause in ("ECONNRESET", CLOSED_WHILE_IDLE))
    measured = Measurement(
        workers=1,
        requests=10,
        timeouts=1,
        timed_out_us=3_000_000,
        latency={1000: 5, 4000: 4},
        status_counts={200: 6, 404: 2, 503: 1, 302: 1},
        error_reasons={reset: 2, idle: 1},
    )
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=4, duration=2)
    result = loadgen.Result(runs=(settings,), measured=measured, runtime_us=2_000_000)
    expressions = ["errors==7", "errors<=50%", "non2xx==4", "non2xx<=40%", "timeouts==1", "timeouts<=10%"]
    verdicts = loadgen.check_thresholds(result, [*expressions, "mean<1ms", "max==4ms", "rps==5", "p60<=4ms"])
    assert [verdict.value for verdict in verdicts] == [7, 50, 4, 40, 1, 10, 21_000 / 9, 4000, 5, 4000]
    assert [verdict.passed for verdict in verdicts] == [True] * 6 + [False, True, True, True]
    for metric, whole in (("errors", "requests"), ("non2xx", "responses"), ("timeouts", "responses")):
        with pytest.raises(loadgen.UsageError, match=rf"{metric} is a count \({metric}==0\) or a share of {whole} "):
            loadgen.Threshold.parse(f"{metric}<5ms")
    # more digits than int() converts (4,300): was its ValueError's traceback, for --fail-on and capacity's --slo
    # and quoted in part (its first 80 characters): it was quoted whole, a line of 5,000 characters
    for number in ("9" * 5000, "0." + "0" * 5000 + "1"):
        with pytest.raises(loadgen.UsageError) as raised:
            loadgen.Threshold.parse(f"p99<{number}ms")
        assert str(raised.value) == f"invalid threshold 'p99<{number[:76]}'...: the number has too many digits"


def test_the_api_judges_a_result(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(server.url("/"), threads=1, connections=2, duration=0.5, workers=workers)
    passed, failed = loadgen.check_thresholds(result, ["rps>=1", loadgen.Threshold.parse("rps>=1G")])
    assert passed.passed and not failed.passed
    assert passed.value == failed.value == result.requests_per_sec
    document = json.loads(loadgen.to_json(result, thresholds=[passed, failed]))
    assert [entry["verdict"] for entry in document["thresholds"]] == ["passed", "failed"]
    assert json.loads(loadgen.to_json(result))["thresholds"] == []
    with pytest.raises(loadgen.UsageError, match="unknown metric"):
        loadgen.Threshold.parse("speed>1")


def test_an_error_that_cost_no_request_is_no_request_that_ended(fresh_server, workers: loadgen.Workers) -> None:
    """-R: a second response to an idle connection is malformed (exit 3), a read error that lost
    no request. Taken for a request that ended, the errors and the responses added up to twice
    the requests sent, and errors% was 50% of requests that each got their response."""
    result = loadgen.run(
        fresh_server.url("/twice?ms=30"), threads=1, connections=1, duration=1.0, rate=10, workers=workers
    )
    assert result.errors.read == result.lost_nothing == result.failures["malformed"] >= 5, result.errors
    assert result.ended == result.requests <= fresh_server.counters.requests_received
    share, count = loadgen.check_thresholds(result, ["errors<1%", "errors==0"])
    assert share.value == 0 and count.value == result.errors.read  # the count is every error, as the report's


@pytest.mark.parametrize(
    ("expression", "limit"),
    [
        ("p99<1h", 3_600_000_000),  # hours, as the units the README lists for times
        ("p99<2m", 120_000_000),
        ("p99<1\u00b5s", 1),  # MICRO SIGN
        ("p99<1\u03bcs", 1),  # GREEK SMALL LETTER MU: the same unit, as a keyboard may type it
        ("p99<1us", 1),
        ("p99.9 <= 0.5 s", 500_000),
        ("errors<=100%", 100),
        ("errors<=0%", 0),  # no error at all: met, unlike p99<=0ms
        ("p99>=1.001ms", 1001),  # scaled in floats: 1000.9999999999999, and a p99 of 1001us failed it
        ("p99<=0.000253s", 253),  # 253.00000000000003
        ("rps>=1.003k", 1003),  # 1002.9999999999999
    ],
)
def test_every_time_unit_and_both_micro_signs_are_accepted(expression: str, limit: float) -> None:
    threshold = loadgen.Threshold.parse(expression)
    assert threshold.limit == limit
    assert loadgen.Verdict(threshold, limit).passed == ("=" in threshold.operator)  # equal to the limit: met by <=, >=
