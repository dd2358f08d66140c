"""The wrk report, byte for byte: real wrk outputs reproduced from the statistics behind them."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

import loadgen
from loadgen._stats.stats import Distribution, distribution_from_samples
from loadgen.errors import UsageError
from loadgen.measurement import Measurement
from loadgen.report.wrk import (
    WRK_PERCENTILES,
    Header,
    StatsRow,
    Totals,
    WrkReport,
    format_binary,
    format_metric,
    format_time_s,
    format_time_us,
    phases_lines,
    print_units,
    wrk_report_text,
)
from loadgen.report.wrk2 import paced_report_text

GOLDEN = Path(__file__).parent / "golden"


def _flag(flags: str, name: str, default: str) -> str:
    match = re.search(rf"{name}\s*(\S+)", flags)
    return match.group(1) if match else default


def _report_from_wrk_dump(record: dict) -> tuple[WrkReport, bool]:
    """Rebuild wrk's report inputs from what its done() hook saw (see golden/dump.lua)."""
    stats = record["stats"]
    flags = record["flags"]
    visible = {value: count for value, count in stats["latency"]}
    # done() sees the corrected stats; samples hidden below min count only in the mean's divisor.
    total = round(sum(v * c for v, c in visible.items()) / stats["latency_mean"]) if visible else 0
    latency = Distribution(visible, hidden=total - sum(visible.values()))
    req_per_sec = Distribution({value: count for value, count in stats["req_per_sec"]})
    errors = stats["errors"]
    report = WrkReport(
        header=Header(
            url=record["url"],
            duration_s=float(_flag(flags, "-d", "10s").rstrip("s")),
            threads=int(_flag(flags, "-t", "2")),
            connections=int(_flag(flags, "-c", "10")),
        ),
        latency=StatsRow.of(latency),
        req_per_sec=StatsRow.of(req_per_sec),
        latency_percentiles=tuple(latency.wrk_percentile(p) for p in WRK_PERCENTILES),
        totals=Totals(
            complete=stats["complete"],
            bytes=stats["bytes"],
            runtime_us=stats["runtime_us"],
            connect_errors=errors["connect"],
            read_errors=errors["read"],
            write_errors=errors["write"],
            timeouts=errors["timeout"],
            status_errors=errors["status"],
        ),
    )
    return report, "--latency" in flags


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_formatter_reproduces_captured_wrk_runs(path: Path) -> None:
    record = json.loads(path.read_text())
    report, latency = _report_from_wrk_dump(record)
    assert wrk_report_text(report, latency=latency) == record["stdout"]


SPEC_NORMAL_RUN = """\
Running 3s test @ http://127.0.0.1:18080/
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   662.62us    1.44ms  16.29ms   90.45%
    Req/Sec    24.20k     5.85k   41.21k    76.67%
  Latency Distribution
     50%  167.00us
     75%  254.00us
     90%    1.99ms
     99%    7.38ms
  144533 requests in 3.01s, 7.03MB read
Requests/sec:  48088.97
Transfer/sec:      2.34MB
"""

SPEC_ALL_TIMEOUTS = """\
Running 3s test @ http://127.0.0.1:18080/slow?ms=1500
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     3.67      5.51    10.00     66.67%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 3.01s, 204.00B read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      1.33
Transfer/sec:      67.77B
"""

SPEC_NO_ANSWER = """\
Running 2s test @ http://127.0.0.1:18080/hang
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  0 requests in 2.00s, 0.00B read
Requests/sec:      0.00
Transfer/sec:       0.00B
"""


def _spec_report(**fields) -> WrkReport:
    empty = StatsRow.of(Distribution())
    base = dict(
        url="",
        duration_s=3,
        threads=1,
        connections=1,
        latency=empty,
        req_per_sec=empty,
        latency_percentiles=(0, 0, 0, 0),
        complete=0,
        bytes=0,
        runtime_us=0,
        connect_errors=0,
        read_errors=0,
        write_errors=0,
        timeouts=0,
        status_errors=0,
    )
    values = {**base, **fields}
    header = Header(*(values.pop(name) for name in ("url", "duration_s", "threads", "connections")))
    report = {name: values.pop(name) for name in ("latency", "req_per_sec", "latency_percentiles")}
    return WrkReport(header=header, totals=Totals(**values), **report)


def test_spec_normal_run() -> None:
    # Statistics consistent with every printed figure of the spec's first example; the
    # runtime and byte count were solved for so that all of the derived rates agree too.
    report = _spec_report(
        url="http://127.0.0.1:18080/",
        threads=2,
        connections=10,
        latency=StatsRow(Fraction("662.62"), Fraction(1440), 16290, Fraction("90.45")),
        req_per_sec=StatsRow(Fraction(24200), Fraction(5850), 41210, Fraction("76.67")),
        latency_percentiles=(167, 254, 1990, 7380),
        complete=144533,
        bytes=7368489,
        runtime_us=3005533,
    )
    assert wrk_report_text(report, latency=True) == SPEC_NORMAL_RUN


def test_spec_every_response_slower_than_timeout() -> None:
    # Three Req/Sec samples (10, 1 and 0 req/s) give exactly 3.67 / 5.51 / 10.00 / 66.67%.
    report = _spec_report(
        url="http://127.0.0.1:18080/slow?ms=1500",
        connections=2,
        req_per_sec=StatsRow.of(distribution_from_samples([10, 1, 0])),
        complete=4,
        bytes=204,
        runtime_us=3009960,
        timeouts=4,
    )
    assert wrk_report_text(report, latency=True) == SPEC_ALL_TIMEOUTS


def test_spec_server_that_never_answers() -> None:
    report = _spec_report(url="http://127.0.0.1:18080/hang", duration_s=2, runtime_us=2_001_000)
    assert wrk_report_text(report, latency=False) == SPEC_NO_ANSWER


def test_conditional_lines() -> None:
    report = _spec_report(complete=10, runtime_us=1_000_000, status_errors=3)
    assert "  Non-2xx or 3xx responses: 3\n" in wrk_report_text(report, latency=False)
    assert "Socket errors" not in wrk_report_text(report, latency=False)
    report = _spec_report(complete=10, runtime_us=1_000_000, write_errors=1)
    assert "  Socket errors: connect 0, read 0, write 1, timeout 0\n" in wrk_report_text(report, latency=False)


def test_the_rates_divide_by_the_runtime_in_double_precision() -> None:
    """wrk.c's ``runtime_s = runtime_us / 1000000.0`` is a double (4.8 s is 4.79999...), only then long double:
    3 requests in 4.80 s are 0.63/s, not 0.625's tie rounded to 0.62 (real wrk 4.1.0, its clock held to 1.6 s
    steps, printed these three lines)."""
    assert Totals(3, 237, 4_800_000, 0, 0, 0, 0, 0).lines() == [
        "  3 requests in 4.80s, 237.00B read",
        "Requests/sec:      0.63",
        "Transfer/sec:      49.38B",
    ]


def test_a_zero_runtime_prints_what_wrk_divides_to() -> None:
    """A runtime of 0 (loadgen.Result(runtime_us=0)): wrk's rates divide by 0.0, inf or 0/0's -nan; format_binary
    scales an infinity as far as it scales any number, to T (wrk.c's lines compiled with runtime_us = 0 print these)."""
    assert Totals(3, 100, 0, 0, 0, 0, 0, 0).lines()[1:] == ["Requests/sec:       inf", "Transfer/sec:       infTB"]
    assert Totals(0, 0, 0, 0, 0, 0, 0, 0).lines()[1:] == ["Requests/sec:      -nan", "Transfer/sec:       -nanB"]


# Every threshold of spec section 4.2, and the examples it lists.
@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0.00us"),
        (849, "849.00us"),
        (850, "0.85ms"),
        (940, "0.94ms"),
        (999_999, "1000.00ms"),
        (1_000_000, "1.00s"),
        (50_999_999, "51.00s"),
        (51_000_000, "0.85m"),
        (3_600_000_000, "60.00m"),
    ],
)
def test_format_time_us(micros: int, text: str) -> None:
    assert format_time_us(micros) == text


@pytest.mark.parametrize("value", ["1000", True, None])
def test_format_time_us_takes_a_number_of_microseconds_only(value: object) -> None:
    with pytest.raises(UsageError, match="n must be a number of microseconds, not "):
        format_time_us(value)  # type: ignore[arg-type]


def _result(measured: Measurement, duration: int | None) -> loadgen.Result:
    settings = loadgen.Settings(
        "http://127.0.0.1:1/", threads=1, connections=4, duration=duration, requests=None if duration else 4
    )
    return loadgen.Result(runs=(settings,), measured=measured, runtime_us=2_500_000)


def test_the_header_announces_the_duration_asked_or_the_one_an_n_run_took() -> None:
    measured = Measurement(workers=1, requests=4, latency={1000: 4})
    assert Header.of(_result(measured, 3)).lines()[0] == "Running 3s test @ http://127.0.0.1:1/"
    assert Header.of(_result(measured, None)).lines() == [
        "Running 2.50s test @ http://127.0.0.1:1/",
        "  1 threads and 4 connections",
    ]


def test_phases_print_each_measured_phase_as_a_latency_distribution() -> None:
    """--phases: a heading and wrk's four percentiles for each phase measured (no TLS handshake over http);
    wrk's rank rounds (p/100 x count + 0.5): the 75th of four is the fourth."""
    measured = Measurement(
        workers=1, requests=4, latency={1000: 4}, connect={100: 3, 250: 1}, first_byte_split={2000: 4}
    )
    assert phases_lines(_result(measured, 3)) == [
        "  Connect Distribution",
        "     50%  100.00us",
        "     75%  250.00us",
        "     90%  250.00us",
        "     99%  250.00us",
        "  First Byte Distribution",
        *(f"{p:7d}%    2.00ms" for p in WRK_PERCENTILES),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "10s"),
        (50, "50s"),
        (51, "1m"),
        (90, "2m"),
        (150, "2m"),
        (3600, "60m"),
        (7200, "120m"),
        (0.5, "0.50s"),  # fractions of a second, which wrk cannot be given: not "0s"
        (1.5, "1.50s"),
        (90.5, "1.51m"),
    ],
)
def test_format_time_s(seconds: float, text: str) -> None:
    assert format_time_s(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction("325.40"), "325.40"),
        (849, "849.00"),
        (850, "0.85k"),
        (56_200, "56.20k"),
        (849_999, "850.00k"),
        (850_000, "0.85M"),
        (10**15, "1000.00T"),
    ],
)
def test_format_metric(value: Fraction, text: str) -> None:
    assert format_metric(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (204, "204.00"),
        (870, "870.00"),
        (871, "0.85K"),
        (1024, "1.00K"),
        (891_289, "870.40K"),
        (891_290, "0.85M"),  # the threshold is 1024 * (double)0.85
        (2**50, "1024.00T"),
    ],
)
def test_format_binary(value: int, text: str) -> None:
    assert format_binary(value) == text


@pytest.mark.parametrize(
    ("text", "width", "printed"),
    [
        ("1.20s", 10, "    1.20s "),  # one letter: one trailing space
        ("167.00us", 10, "  167.00us"),  # two letters: none
        ("3.67", 8, "  3.67  "),  # bare number: two
        ("12345678.00", 8, "123456  "),  # too long: cut to width - pad, as %*.*s does
    ],
)
def test_print_units_padding(text: str, width: int, printed: str) -> None:
    assert print_units(text, width) == printed


def test_the_constant_rate_report_is_wrk2s() -> None:
    """wrk2 -R --latency's layout: the Latency row from the HdrHistogram of the corrected latencies (half at 1 ms,
    half at 3 ms: 2 ms, 1 ms, max 3 ms), then per histogram its eight percentiles (50 to 100%) and the spectrum,
    the corrected one first, the uncorrected one (from each write) after it."""
    measured = Measurement(
        workers=1, requests=100, latency={1000: 50, 3000: 50}, latency_from_write={500: 100}, req_per_sec={100: 1}
    )
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=4, duration=1, rate=100.0)
    lines = paced_report_text(
        loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000), latency=True
    ).splitlines()
    assert lines[2:6] == [
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency     2.00ms    1.00ms   3.00ms  100.00%",
        "    Req/Sec   100.00      0.00   100.00    100.00%",
        "  Latency Distribution (HdrHistogram - Recorded Latency)",
    ]
    percents = ("50.000", "75.000", "90.000", "99.000", "99.900", "99.990", "99.999", "100.000")
    assert lines[6:14] == [f"{p:>7}%    {'1.00' if p == '50.000' else '3.00'}ms" for p in percents]
    # the spectrum: value in ms (3,000 us's bucket tops at 3,001), the percentile as a fraction, 1/(1-fraction)
    spectrum = lines[lines.index("  Detailed Percentile spectrum:") + 3 :][:8]
    assert spectrum[0] == "       1.000     0.000000           50         1.00"
    assert spectrum[6:] == [
        "       3.001     0.550000          100         2.22",
        "       3.001     1.000000          100          inf",
    ]
    # the footer in ms: hdr_mean and the population hdr_stddev of the buckets' medians (3,000 us's is 3,001: 2000.5
    # and 1000.5 us), hdr_max the top bucket's lowest value, the 27 buckets of 2,048 for 1 us to 24 h; wrk2's 58 dashes
    footer = lines.index("#[Mean    =        2.001, StdDeviation   =        1.000]")
    assert lines[footer + 1 : footer + 4] == [
        "#[Max     =        3.000, Total count    =          100]",
        "#[Buckets =           27, SubBuckets     =         2048]",
        "-" * 58,
    ]
    uncorrected = lines.index(
        "  Latency Distribution (HdrHistogram - Uncorrected Latency "
        "(measured without taking delayed starts into account))"
    )
    assert lines[uncorrected + 1 : uncorrected + 9] == [f"{p:>7}%  500.00us" for p in percents]
    assert lines[-3:] == ["  100 requests in 1.00s, 0.00B read", "Requests/sec:    100.00", "Transfer/sec:       0.00B"]


def test_a_constant_rate_report_without_a_response_is_wrk2s() -> None:
    """No latency recorded (a server that never answers): wrk2's hdr_mean and hdr_stddev divide 0.0 by 0, the NaN
    glibc prints -nan (so the row's Avg and Stdev are -nanus) and its stats_within_stdev is 0.00%; the spectrum
    still prints its 100% row (hdr_percentile_iter_next's last-value step), at 0 with a count of 0."""
    measured = Measurement(workers=1, requests=0, latency={})
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=2, duration=1, rate=5.0)
    lines = paced_report_text(
        loadgen.Result(runs=(settings,), measured=measured, runtime_us=1_000_000), latency=True
    ).splitlines()
    assert lines[3] == "    Latency     -nanus    -nanus   0.00us    0.00%"
    spectrum = lines.index("  Detailed Percentile spectrum:")
    assert lines[spectrum + 1 : spectrum + 6] == [
        "       Value   Percentile   TotalCount 1/(1-Percentile)",
        "",
        "       0.000     1.000000            0          inf",
        "#[Mean    =         -nan, StdDeviation   =         -nan]",
        "#[Max     =        0.000, Total count    =            0]",
    ]
