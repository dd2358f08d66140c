"""Bad input: one clear line on stderr, the documented exit code, never a traceback."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer

import loadgen
from loadgen._run.http1.connection import PAST_THE_END, UNSOLICITED
from loadgen.commands import WRK_COMMAND
from loadgen.commands.arguments import spelled_out
from loadgen.commands.usage import usage_text
from loadgen.measurement import (
    MALFORMED,
    NONE_LOST,
    STREAM_RESET,
    ErrorKind,
    ErrorReason,
    Interval,
    Measurement,
    Stage,
    WorkerCpu,
)
from loadgen.report.diagnosis import diagnose

from .conftest import (
    Completed,
    connected_to,
    each_selected,
    run_loadgen,
    run_loadgen_together,
    run_unchecked,
    untraced,
    wait_for,
)

NAME_RULE = "a name is letters, digits and !#$%&'*+-.^_`|~"  # a header name that is no token, as the API says it
# what -m takes, said of a number that is no count of streams where a hint would have named it
M_TAKES = (
    "-m takes a method, or with --http2 the streams per connection (h2load's -m), a whole number from 1 to 2147483647"
)
# and with --http2 given, without the condition
M_TAKES_WITH_HTTP2 = (
    "-m takes a method or the streams per connection (h2load's -m), a whole number from 1 to 2147483647"
)


@pytest.fixture(scope="module")
def usage_errors(request: pytest.FixtureRequest) -> dict[str, Future[Completed]]:
    """Every selected case's command of :func:`test_usage_errors`, a few at once."""
    return each_selected(request, "test_usage_errors", lambda args, message: run_unchecked(*args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://"], "invalid URL: http://"),
        (["ftp://example.com/"], "invalid URL: ftp://example.com/"),
        (["127.0.0.1:8080/"], "invalid URL: 127.0.0.1:8080/"),
        # a space or control character before the path: urlsplit dropped the tab (the path began at '0/')
        # and kept the space in the host; in the path, they are percent-encoded
        (["http://127.0.0.1:80\t80/"], "invalid URL: 'http://127.0.0.1:80\\t80/'"),
        (["http://127.0.0.1 :8080/"], "invalid URL: http://127.0.0.1 :8080/"),
        # a host with an empty label, or one of 64 characters: getaddrinfo's IDNA encoding raised, a traceback
        (["http://a..b/"], "invalid URL: http://a..b/"),
        # text outside an IPv6 address's brackets: urlsplit dropped it, and the run went to ::1
        (["http://[::1]x/"], "invalid URL: http://[::1]x/"),
        ([f"http://{'a' * 64}.example/"], f"invalid URL: http://{'a' * 64}.example/"),
        (["-c", "0", "http://127.0.0.1:1/"], "number of connections must be >= threads"),
        (["-t", "4", "-c", "2", "http://127.0.0.1:1/"], "number of connections must be >= threads"),
        (["-d", "10x", "http://127.0.0.1:1/"], "loadgen: invalid -d: unknown time unit 'x' in '10x' (use ms, s, m, h)"),
        (["-d", "abc", "http://127.0.0.1:1/"], "loadgen: invalid -d: not a number: 'abc'"),
        (["-R", "-5", "http://127.0.0.1:1/"], "loadgen: invalid -R: a negative number: '-5'"),
        # scientific notation, a number to Python, C and a reader: was "not a number: '1e6'"
        (
            ["-c", "1e6", "http://127.0.0.1:1/"],
            "loadgen: invalid -c: '1e6' has an exponent, which is not taken: "
            "write the digits (and a unit: 1M, 500ms, 5%)",
        ),
        (
            ["-d", "\u0663s", "http://127.0.0.1:1/"],
            "loadgen: invalid -d: not a number: '\u0663s' (write it with the digits 0-9)",
        ),
        (["-d", "0", "http://127.0.0.1:1/"], "loadgen: duration must be > 0 and finite"),
        # the micro sign, as --fail-on takes it: was "not a number: '0µs'"
        (["-d", "0\u00b5s", "http://127.0.0.1:1/"], "loadgen: duration must be > 0 and finite"),
        # a year and an hour: far longer, every worker's deadline overflowed (exit 2, nothing measured)
        (
            ["-d", "8761h", "http://127.0.0.1:1/"],
            "loadgen: duration must be at most a year (8760h)",
        ),
        (["-t", "0", "http://127.0.0.1:1/"], "loadgen: number of threads must be > 0"),
        # longer, the run wrote a JSON that report, merge and compare refused (runs[0].timeout above 86,400)
        (
            ["--timeout", "25h", "http://127.0.0.1:1/"],
            "loadgen: timeout must be >= 0 and at most a day (24h): the longest latency a result holds",
        ),
        (["-c", "1q", "http://127.0.0.1:1/"], "loadgen: invalid -c: unknown unit 'q' in '1q' (use k, M, G)"),
        (["--no-such-option", "http://127.0.0.1:1/"], "loadgen: No such option: --no-such-option"),
        # a prefix of two of wrk's long options, as wrk's getopt_long says it
        (
            ["--t", "1", "http://127.0.0.1:1/"],
            "loadgen: option '--t' is ambiguous; possibilities: '--threads' '--timeout'",
        ),
        (["-H", "no colon", "http://127.0.0.1:1/"], "loadgen: invalid header 'no colon': expected 'Name: value'"),
        # as loadgen.run(headers={"X Y": "z"}) refuses it (tests/test_features.py): was "expected 'Name: value'"
        (["-H", "X Y: z", "http://127.0.0.1:1/"], f"loadgen: invalid header name 'X Y': {NAME_RULE}"),
        # h2load's -m N: streams per connection with --http2, never a method
        (
            ["-m", "10", "http://127.0.0.1:1/"],
            "loadgen: -m 10 is not a method: for 10 streams per connection (h2load's -m), add --http2",
        ),
        (  # with --json - the usage text goes to stderr: stdout carries the document alone (below)
            ["--json", "-", "-m", "10", "http://127.0.0.1:1/"],
            "loadgen: -m 10 is not a method: for 10 streams per connection (h2load's -m), add --http2",
        ),
        (
            ["--http2", "-m10", "--streams", "1", "http://127.0.0.1:1/"],
            "loadgen: -m 10 and --streams 1 both give the streams per connection: give one",
        ),
        (["--http2", "-m", "0", "http://127.0.0.1:1/"], "loadgen: streams per connection must be >= 1"),
        # --http2=auto is --http2 for -m N too (spelled out as the hidden --http2-auto before click reads it)
        (["--http2=auto", "-m", "0", "http://127.0.0.1:1/"], "loadgen: streams per connection must be >= 1"),
        # both meanings at once: click kept the last -m, and the streams (or the method) were dropped in silence
        (
            ["--http2", "-m", "4", "-m", "POST", "http://127.0.0.1:1/"],
            "loadgen: -m 4 and -m POST: give the streams per connection as --streams 4",
        ),
        (
            ["--http2", "--method=PUT", "-m10", "http://127.0.0.1:1/"],
            "loadgen: -m 10 and -m PUT: give the streams per connection as --streams 10",
        ),
        # -m-3 is click's -m -3: it was not seen, and the run went on with POST, the -3 dropped in silence;
        # then the hint named --streams -3, which --streams refuses: what -m takes is said instead, as it
        # applies with --http2 given (it said "or with --http2 the streams ...")
        (
            ["--http2", "-m-3", "-m", "POST", "http://127.0.0.1:1/"],
            f"loadgen: -m -3: {M_TAKES_WITH_HTTP2}",
        ),
        # without --http2: the hint was "add --http2", and -m 0 was then refused as streams
        (["-m", "0", "http://127.0.0.1:1/"], f"loadgen: -m 0: {M_TAKES}"),
        # an option's value that looks like -m: the body -m5 was read as -m 5 beside -m PUT
        (
            ["-b", "-m5", "-m", "PUT", "--streams", "2", "http://127.0.0.1:1/"],
            "loadgen: --streams is HTTP/2's: add --http2",
        ),
        # a number that is not a whole count is refused as --streams refuses it, never taken for a method
        (["--http2", "-m", "10.5", "http://127.0.0.1:1/"], "loadgen: invalid -m: not a whole number: '10.5'"),
        (["--http2", "-m", "-3", "http://127.0.0.1:1/"], "loadgen: invalid -m: a negative number: '-3'"),
        # an exponent, as --streams 1e3 refuses it: was taken for a method, wrk's "invalid HTTP method at 1:1"
        (
            ["--http2", "-m", "1e3", "http://127.0.0.1:1/"],
            "loadgen: invalid -m: '1e3' has an exponent, which is not taken: "
            "write the digits (and a unit: 1M, 500ms, 5%)",
        ),
        (["--http2", "-m", "1x", "http://127.0.0.1:1/"], "loadgen: invalid -m: unknown unit 'x' in '1x' (use k, M, G)"),
        (
            ["-m", "1k", "http://127.0.0.1:1/"],
            "loadgen: -m 1k is not a method: for 1k streams per connection (h2load's -m), add --http2",
        ),
        (["--http2=maybe", "http://127.0.0.1:1/"], "loadgen: --http2 takes no value, or =auto, not 'maybe'"),
        # values no run can take: once a traceback (float overflow, a 0 ns interval in the workers) or accepted
        (["-d", "9" * 400, "http://127.0.0.1:1/"], "loadgen: invalid -d: too large: '999999999999...9999999999999'"),
        (["-R", "9" * 400, "http://127.0.0.1:1/"], "loadgen: invalid -R: too large: '999999999999...9999999999999'"),
        (
            ["--warmup", "9" * 309, "http://127.0.0.1:1/"],
            "loadgen: invalid --warmup: too large: '999999999999...9999999999999'",
        ),
        (
            ["-R", "99999999999T", "http://127.0.0.1:1/"],
            "loadgen: rate must be at most 1G requests/sec (a request a nanosecond)",
        ),
        (
            ["--stages", "1s:2G", "http://127.0.0.1:1/"],
            "loadgen: --stages asks for more than 1G requests/sec (a request a nanosecond)",
        ),
        (
            ["--http2", "--streams", "99999999999", "http://127.0.0.1:1/"],
            "loadgen: streams per connection must be at most 2147483647 (HTTP/2's most)",
        ),
        (["-s", "", "http://127.0.0.1:1/"], "loadgen: -s needs a file name"),
        (["--body-file", "", "http://127.0.0.1:1/"], "loadgen: --body-file needs a file name"),  # was: Is a directory
        (["--targets", "", "http://127.0.0.1:1/"], "loadgen: --targets needs a file name"),
        (["--json", "", "http://127.0.0.1:1/"], "loadgen: --json needs a file name"),
        (["--html", "", "http://127.0.0.1:1/"], "loadgen: --html needs a file name"),
        (["--tls-version", "", "https://127.0.0.1:1/"], "loadgen: --tls-version must be 1.2 or 1.3, not ''"),
        # an output flag given twice: click kept the last, and the first file was never written, in silence
        (
            ["--json", "a.json", "--json=b.json", "http://127.0.0.1:1/"],
            "loadgen: --json given twice (a.json and b.json): give it once",
        ),
        (
            ["--html", "a.html", "-c", "4", "--html", "b.html", "http://127.0.0.1:1/"],
            "loadgen: --html given twice (a.html and b.html): give it once",
        ),
        # the body --json is no second --json: was "--json given twice (- and -m)", its usage text on stdout
        (
            ["--json", "-", "-b", "--json", "-m", "10", "http://127.0.0.1:1/"],
            "loadgen: -m 10 is not a method: for 10 streams per connection (h2load's -m), add --http2",
        ),
        (
            ["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "99999999999", "http://127.0.0.1:1/"],
            "loadgen: --metrics-linger must be >= 0 and at most a year (8760h)",
        ),
        # a port out of range: was "':99999' is not HOST:PORT", the form it has
        (
            ["--metrics-listen", ":99999", "http://127.0.0.1:1/"],
            "loadgen: --metrics-listen: ':99999': the port is 0-65535 (0: a free one)",
        ),
        (
            ["--otlp-endpoint", "http://127.0.0.1:1/", "--export-interval", "99999999999", "http://127.0.0.1:1/"],
            "loadgen: --export-interval must be > 0 and at most a year (8760h)",
        ),
        (
            ["--script-timeout", "0", "-s", "hooks.py", "http://127.0.0.1:1/"],
            "loadgen: --script-timeout must be > 0 and at most a year (8760h)",
        ),
        (
            ["--script-timeout", "8761h", "-s", "hooks.py", "http://127.0.0.1:1/"],
            "loadgen: --script-timeout must be > 0 and at most a year (8760h)",
        ),
        (
            ["--script-timeout", "1m", "http://127.0.0.1:1/"],
            "loadgen: --script-timeout limits the script's hooks: add -s",
        ),
    ],
)
def test_usage_errors(
    usage_errors: dict[str, Future[Completed]], request: pytest.FixtureRequest, args: list[str], message: str
) -> None:
    done = untraced(usage_errors[request.node.callspec.id].result())
    assert done.returncode == 1
    if "--json" in args and args[args.index("--json") + 1] == "-":  # `| jq` read the usage text
        assert (done.stdout, done.stderr) == ("", f"{message}\n{usage_text()}")
        return
    assert done.stderr_lines == [message]
    assert done.stdout == usage_text()


def test_every_command_takes_an_output_flag_once() -> None:
    """One rule in every command, before any file is read; the run's settings keep wrk's: the last wins."""
    commands = [
        ("merge", "a.json", "b.json", "--json", "one.json", "--json", "two.json"),
        ("report", "a.json", "--html=one.html", "--html", "two.html"),
        ("compare", "a.json", "b.json", "--format", "json", "--format", "markdown"),
        ("capacity", "--slo", "p99<1s", "--json", "-", "--json", "one.json", "http://127.0.0.1:1/"),
    ]
    done = run_loadgen_together(*commands)
    assert [(run.returncode, run.stdout, run.stderr_lines) for run in done] == [
        (1, "", ["loadgen merge: --json given twice (one.json and two.json): give it once"]),
        (1, "", ["loadgen report: --html given twice (one.html and two.html): give it once"]),
        (1, "", ["loadgen compare: --format given twice (json and markdown): give it once"]),
        (1, "", ["loadgen capacity: --json given twice (- and one.json): give it once"]),
    ]


def test_a_flag_the_command_does_not_have_is_unknown_by_the_name_given() -> None:
    """The run's flags were spelled out for every command: ``report --http2=auto`` was refused as
    ``No such option: --http2-auto``, a name not given, ``report --http2=no`` as if report took --http2=auto,
    and ``report --json`` twice as given twice, where report has no --json."""
    done = run_loadgen_together(
        ("report", "--http2=auto", "a.json"),
        ("compare", "--http2=no", "a.json", "b.json"),
        ("report", "--json", "one.json", "--json", "two.json", "a.json"),
    )
    assert [(run.returncode, run.stderr_lines) for run in done] == [
        (1, ["loadgen report: No such option: --http2 (Possible options: --help, --html)"]),
        (1, ["loadgen compare: No such option: --http2 (Possible options: --help)"]),
        (1, ["loadgen report: No such option: --json"]),
    ]


def test_no_url_prints_usage_only() -> None:
    done = run_loadgen()
    assert (done.returncode, done.stdout, done.stderr) == (1, usage_text(), "")


def test_usage_text_keeps_wrk_layout() -> None:
    lines = usage_text().splitlines()
    assert lines[0] == "Usage: loadgen <options> <url>".ljust(54)
    assert all(len(line) == 54 for line in lines[:-1])
    assert lines[-1] == "  Time arguments may include a time unit (2s, 2m, 2h)"


def test_version_keeps_parsing(server) -> None:
    done = run_loadgen("-v")
    assert done.returncode == 1
    assert done.stdout.startswith("loadgen ") and "[uvloop]" in done.stdout.splitlines()[0]
    done = run_loadgen("-v", "-d", "200ms", "-c", "2", server.url("/"))
    assert done.returncode == 0
    assert done.stdout.splitlines()[1].startswith("Running 0.20s test @ ")


def test_unresolvable_host() -> None:
    done = run_loadgen("-d1s", "http://no-such-host.invalid/")
    assert done.returncode == 1
    assert done.stderr_lines == ["unable to resolve no-such-host.invalid:http Name or service not known"]


@pytest.fixture(scope="module")
def broken(request: pytest.FixtureRequest, server) -> dict[str, Future[Completed]]:
    """Every selected case's run of the test below, a few at once: what it asserts is counted by the run itself."""
    return each_selected(
        request,
        "test_broken_responses",
        lambda path, message: run_unchecked("-t1", "-c2", "-d500ms", "--json", "-", server.url(path)),
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed", "loadgen: the server sent {n} malformed responses (invalid status line b'this is not http')"),
        ("/truncated", "loadgen: the server closed {n} connections in the middle of a response"),
        # a reset: was a read error like any other, exit 0, though the response was cut short all the same
        (
            "/truncated?reset=1",
            "loadgen: the server closed {n} connections in the middle of a response (reset: ECONNRESET {count})",
        ),
    ],
)
def test_broken_responses(
    broken: dict[str, Future[Completed]], request: pytest.FixtureRequest, path: str, message: str
) -> None:
    done = untraced(broken[request.node.callspec.id].result())
    assert done.returncode == 3
    result = json.loads(done.stdout)
    broken = result["failures"]["malformed" if "malformed" in path else "truncated"]
    assert broken > 0 and result["errors"]["read"] == broken
    assert message.format(n=f"{broken:,}", count=f"{broken:,}") in done.stderr_lines
    assert "  0 requests in" in done.stderr  # the report went to stderr, since JSON took stdout


@pytest.fixture(scope="module")
def unsolicited(request: pytest.FixtureRequest, server) -> dict[str, Future[Completed]]:
    """Every selected case's run of the test below, a few at once: what it asserts is counted by the run itself."""
    return each_selected(
        request,
        "test_a_response_to_no_request_is_refused",
        lambda args, path: run_unchecked("-t1", "-c2", "-d1s", *args, "--json", "-", server.url(path)),
    )


@pytest.mark.parametrize(
    ("args", "path"),
    # to an idle connection: the second response 10 ms after the first, the next request 200 ms after it (one 30 ms
    # after, 100 ms before the next, came after it on a loaded machine: taken as its response, 3 of 10 refused)
    [([], "/twice"), (["-R200"], "/twice"), (["-c1", "-R5", "-d2s"], "/twice?ms=10")],
    ids=["closed loop", "constant rate", "to an idle connection"],
)
def test_a_response_to_no_request_is_refused(
    unsolicited: dict[str, Future[Completed]], request: pytest.FixtureRequest, args: list[str], path: str
) -> None:
    """RFC 9112 (9.2): what comes while no request is outstanding is not a response. Taken for the
    next request's, each extra one made the closed loop write a request more than the server
    answered (a 2 s run took 5 s and counted twice the responses, silently), and the paced runs
    counted it, by the parser or (whole, alone, to an idle connection) by the fast path."""
    done = untraced(unsolicited[request.node.callspec.id].result())
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    refused = result["failures"]["malformed"]
    assert refused >= 5 and result["errors"]["read"] == refused
    # each connection: a response, then the second is refused and the connection replaced
    assert abs(result["requests"] - refused) <= 2, result
    # paced: it came to an idle connection; or, behind its schedule (a loaded machine), after the next request's write
    details = [UNSOLICITED + NONE_LOST, UNSOLICITED] if "-R" in " ".join(args) else [UNSOLICITED]
    assert _malformed_said(done, result, refused, details)


@pytest.fixture(scope="module")
def past_the_end(request: pytest.FixtureRequest, server) -> dict[str, Future[Completed]]:
    """Every selected case's run of the test below, a few at once: what it asserts is counted by the run itself."""
    return each_selected(
        request,
        "test_bytes_past_the_end_of_a_response_are_said_to_be",
        lambda args: run_unchecked("-t1", "-c2", "-d1s", *args, "--json", "-", server.url("/status/204?body=1")),
    )


@pytest.mark.parametrize("args", [[], ["-R200"]], ids=["closed loop", "constant rate"])
def test_bytes_past_the_end_of_a_response_are_said_to_be(
    past_the_end: dict[str, Future[Completed]], request: pytest.FixtureRequest, args: list[str]
) -> None:
    """A 204 with a body: the body, read as the next response's head, was said only as an invalid status line."""
    done = untraced(past_the_end[request.node.callspec.id].result())
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    malformed = result["failures"]["malformed"]
    assert malformed >= 5 and abs(result["requests"] - malformed) <= 2, result
    detail = f"invalid status line b'status\\n'{PAST_THE_END}"
    assert _malformed_said(done, result, malformed, [detail + NONE_LOST, detail] if args else [detail])


def test_malformed_responses_of_several_kinds_are_counted_by_kind() -> None:
    """The commonest detail alone was said of them all: 'the server sent 200 malformed responses (...: no
    request was lost)' of a -R run behind its schedule, 73 of whose had lost their request."""
    unsolicited = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, MALFORMED, UNSOLICITED)
    idle = unsolicited._replace(detail=UNSOLICITED + NONE_LOST)
    garbage = unsolicited._replace(detail="invalid status line b'x'")
    measured = Measurement(
        workers=1,
        requests=200,
        error_reasons={idle: 123, unsolicited: 73, garbage: 4},
        timeline=(Interval(1_000_000, 200, errors={ErrorKind.READ: 200}),),
        elapsed_us=1_000_000,
    )
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=2, duration=1)
    lines = diagnose(loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000)).lines
    assert lines[0] == (
        f"loadgen: the server sent 200 malformed responses: 123 ({UNSOLICITED}{NONE_LOST}), 73 ({UNSOLICITED}), "
        "4 of other kinds"
    ), lines
    one_kind = replace(measured, error_reasons={garbage: 4})
    lines = diagnose(loadgen.Result(runs=(settings,), measured=one_kind, runtime_us=1_000_000)).lines
    assert lines[0] == "loadgen: the server sent 4 malformed responses (invalid status line b'x')", lines


def test_streams_the_server_reset_name_the_three_commonest_codes() -> None:
    """HTTP/2 streams reset by the server: each a read error, counted, with the three commonest error codes and
    their counts (a fourth left out), and the connections went on."""
    reset = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, STREAM_RESET)
    codes = {"REFUSED_STREAM": 40, "CANCEL": 30, "INTERNAL_ERROR": 20, "ENHANCE_YOUR_CALM": 10}
    measured = Measurement(
        workers=1,
        requests=100,
        status_counts={200: 100},
        error_reasons={reset._replace(detail=code): count for code, count in codes.items()},
        connections_opened=1,
        connection_responses={100: 1},
        timeline=(Interval(1_000_000, 100),),
        elapsed_us=1_000_000,
    )
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=1, duration=1, http2=True)
    lines = diagnose(loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000)).lines
    assert lines == (
        "loadgen: the server reset 100 HTTP/2 streams (REFUSED_STREAM 40, CANCEL 30, INTERNAL_ERROR 20): each a read "
        "error, its request lost; the connections went on",
    )


def _malformed_said(done: Completed, result: dict[str, Any], total: int, details: list[str]) -> bool:
    """The run's malformed responses all have one of ``details`` (the first if one is expected), and its line
    says each detail found with its count: '(detail)' when all have one; when several, '123 (detail), 73 (...)'
    (the commonest alone was said of them all)."""
    found = {r["detail"]: r["count"] for r in result["error_reasons"] if r["cause"] == "malformed response"}
    assert sum(found.values()) == total and set(found) <= set(details), found
    assert len(details) > 1 or set(found) == {details[0]}, found
    line = f"loadgen: the server sent {total:,} malformed responses"
    if len(found) == 1:
        return f"{line} ({next(iter(found))})" in done.stderr_lines
    (said,) = [said for said in done.stderr_lines if said.startswith(line + ": ")]
    return all(f"{count:,} ({detail})" in said for detail, count in found.items())


def test_server_dies_mid_run(server_process) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "-t2", "-c4", "-d2s", server_process.url("/")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the run's four connections up (on a busy machine loadgen's start-up alone can take a second), then
        # a moment of load: the server dies in the middle of the run, never before it began
        assert wait_for(lambda: connected_to(server_process.port) >= 4, timeout=30)
        time.sleep(0.3)
        server_process.kill()
        stdout, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait(10)
    assert "Traceback" not in stderr
    assert run.returncode == 3
    assert "Requests/sec:" in stdout and "Socket errors: connect 0, read " in stdout
    assert any(line.startswith("loadgen: ") and "did the server stop?" in line for line in stderr.splitlines())


def test_usage_text_is_wrks_contract_byte_for_byte() -> None:
    """Made from the options' declarations, the usage text stays what users (and wrk-spec.md) know."""
    golden = Path(__file__).parent / "golden" / "usage.txt"
    assert usage_text() == golden.read_text()


def test_connections_unanswered_while_the_hooks_held_the_loop_are_not_blamed_on_the_server() -> None:
    """A response() that held the worker's loop 0.9 s of its 1 s window left a connection unread: 'the
    server did not accept or did not read them (its accept queue ...)', beside the hooks' own line."""
    measured = Measurement(
        workers=1,
        requests=5,
        connections_opened=2,
        connection_responses={5: 1},
        unanswered={900_000: 1},
        client_cpu=(WorkerCpu(cpu_s=0.05, wall_s=1.0, hooks_s=0.9),),
        timeline=(Interval(1_000_000, 5),),
        elapsed_us=1_000_000,
    )
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=2, duration=1, script="hooks.py")
    lines = diagnose(loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000)).lines
    assert lines[0].startswith(
        "loadgen: 1 of 2 connections got no response: the script's hooks held the worker's loop (below)"
    ), lines
    assert lines[1].startswith("loadgen: the script's hooks held worker 0's loop 0.90s of its 1.00s window"), lines
    # a second worker whose window never opened (0 s: stopped as it began) has no share to judge, and is no error
    idle = replace(measured, workers=2, client_cpu=(*measured.client_cpu, WorkerCpu(cpu_s=0.0, wall_s=0.0)))
    two = loadgen.Result(runs=(replace(settings, threads=2),), measured=idle, runtime_us=1_000_000)
    assert diagnose(two).lines[1] == lines[1]


def test_units_read_as_the_readme_writes_them() -> None:
    """Counts take SI units (1k, 2M); times take us (or µs, the micro sign or the Greek mu), ms, s, m, h and
    fractions; a percentage is written with or without %, and with two (printf's escape) or a unit it is none."""
    from loadgen.units import UnitError, parse_count, parse_duration, parse_percentage

    counts = ("7", "1k", "2M", "3G", "1T", "1P")
    assert [parse_count(text) for text in counts] == [7, 1000, 2 * 10**6, 3 * 10**9, 10**12, 10**15]
    times = ("500us", "500\u00b5s", "500\u03bcs", "500ms", "0.5s", "2m", "1h", "10")
    assert [parse_duration(text) for text in times] == [0.0005, 0.0005, 0.0005, 0.5, 0.5, 120.0, 3600.0, 10.0]
    assert [parse_percentage(text) for text in ("5", "5%", "2.5 %")] == [5.0, 5.0, 2.5]
    # wrk compares a unit case-insensitively: as counts 1m is 10**6 as 1M is, 1K is 1000; 1M is a minute, 10S 10 s
    assert [parse_count(text) for text in ("1m", "1K")] == [10**6, 1000]
    assert [parse_duration(text) for text in ("1M", "10S")] == [60.0, 10.0]
    # a leading +, which wrk's sscanf takes (wrk -t +1 -d +1 runs 1 thread for 1 s): was "not a number: '+1'"
    assert (parse_count("+1"), parse_count("+2k"), parse_duration("+1"), parse_duration(" +500ms")) == (
        1,
        2000,
        1.0,
        0.5,
    )
    for wrong, why in (("5%%", "has two % signs"), ("5s", "not a percentage")):
        with pytest.raises(UnitError, match=why):
            parse_percentage(wrong)
    # more digits than int() converts (4,300): was its ValueError's traceback, for every numeric flag (-c, -d, -R, ...)
    with pytest.raises(UnitError) as raised:
        parse_count("9" * 5000)
    assert str(raised.value) == "too many digits: '999999999999...9999999999999'"
    with pytest.raises(UnitError) as raised:
        parse_duration("0." + "0" * 5000 + "1")
    assert str(raised.value) == "too many digits: '0.0000000000...0000000000001'"


def test_what_m_takes_is_said_as_it_applies_with_http2_or_without() -> None:
    """``--http2 -m -3 -m POST`` said "-m takes a method, or with --http2 the streams per connection", --http2
    given: with it (or --http2=auto) the streams are said without the condition; a --http2 that is another
    option's value (``-b --http2``) or the script's argument (after ``--``) is none (no run: the check of the
    command line alone)."""
    params = typer.main.get_command(importlib.import_module(WRK_COMMAND).app).params
    url = "http://127.0.0.1:1/"
    for args, said in (
        (["--http2", "-m", "-3", "-m", "POST", url], f"-m -3: {M_TAKES_WITH_HTTP2}"),
        (["--http2=auto", "-m", "0", "-m", "POST", url], f"-m 0: {M_TAKES_WITH_HTTP2}"),
        (["-m", "-3", "-m", "POST", url], f"-m -3: {M_TAKES}"),
        (["-b", "--http2", "-m", "-3", "-m", "POST", url], f"-m -3: {M_TAKES}"),
        (["-m", "-3", "-m", "POST", url, "--", "--http2"], f"-m -3: {M_TAKES}"),
    ):
        with pytest.raises(loadgen.UsageError) as raised:
            spelled_out(args, loadgen.Settings, params)
        assert str(raised.value) == said, args


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--body-file", "a\0b", "http://127.0.0.1:1/"], "loadgen: cannot read body file 'a\\x00b'"),
        (["--targets", "a\0b"], "loadgen: cannot read targets file 'a\\x00b'"),
        (["--json", "a\0b", "http://127.0.0.1:1/"], "loadgen: cannot write JSON to 'a\\x00b'"),
        (["--html", "a\0b", "http://127.0.0.1:1/"], "loadgen: cannot write HTML to 'a\\x00b'"),
        (["report", "a\0b"], "loadgen report: cannot read 'a\\x00b'"),
        (["report", "--html", "a\0b", "b.json"], "loadgen report: cannot write HTML to 'a\\x00b'"),
        (["merge", "a\0b", "b.json"], "loadgen merge: cannot read 'a\\x00b'"),
    ],
)
def test_a_file_name_holding_a_nul_is_a_file_that_cannot_be_read_or_written(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No shell passes a NUL, a program calling the command does: Python's open() raised a ValueError, a traceback."""
    from loadgen.cli import main

    assert main(args) == 1
    assert capsys.readouterr().err == f"{said}: a file's name holds no NUL character\n"


def test_the_apis_file_names_holding_a_nul_are_files_that_cannot_be_read() -> None:
    with pytest.raises(loadgen.SetupError, match=r"^cannot read targets file 'a\\x00b': a file's name holds no NUL"):
        loadgen.read_targets("a\0b")
    with pytest.raises(loadgen.SetupError, match=r"^'a\\x00b\.py': a file's name holds no NUL character$"):
        loadgen.run("http://127.0.0.1:1/", threads=1, connections=1, duration=0.3, script="a\0b.py")


def test_a_symbolic_link_to_itself_is_a_file_that_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python 3.11's and 3.12's Path.resolve() raise RuntimeError on a link to itself: the check that --json and
    --html name two files (and that report --html overwrites no result it reads) ended in a traceback."""
    from loadgen.cli import main

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    looping = "Too many levels of symbolic links"
    assert main(["--json", str(loop), "--html", str(tmp_path / "x.html"), "http://127.0.0.1:1/"]) == 1
    assert capsys.readouterr().err == f"loadgen: cannot write JSON to {loop}: {looping}\n"
    assert main(["report", "--html", str(loop), str(tmp_path / "a.json")]) == 1
    assert capsys.readouterr().err == f"loadgen report: cannot write HTML to {loop}: {looping}\n"
