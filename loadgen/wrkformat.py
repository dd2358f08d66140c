"""wrk's text report, byte for byte (wrk.c ``print_*`` and units.c ``format_*``).

Pure functions from numbers to text: nothing here reads a socket or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .longdouble import dbl, format_fixed, ld
from .stats import Distribution


@dataclass(frozen=True)
class UnitScale:
    """One of units.c's tables: the base unit, the step between units and the larger units."""

    scale: int
    base: str
    units: tuple[str, ...]


TIME_US = UnitScale(1000, "us", ("ms", "s"))
TIME_S = UnitScale(60, "s", ("m", "h"))
BINARY = UnitScale(1024, "", ("K", "M", "G", "T", "P"))
METRIC = UnitScale(1000, "", ("k", "M", "G", "T", "P"))


def format_units(n: Fraction | int, table: UnitScale, precision: int) -> str:
    """Scale down while the amount is >= 0.85 of a step; the last unit of a table is never used."""
    amount = ld(n)
    threshold = dbl(table.scale * Fraction(0.85))  # int * double in C: a double
    unit = table.base
    for i in range(len(table.units) - 1):
        if amount < threshold:
            break
        amount = ld(amount / table.scale)
        unit = table.units[i]
    return format_fixed(amount, precision) + unit


def format_time_us(n: Fraction | int) -> str:
    if n >= 1_000_000:
        return format_units(ld(Fraction(n) / 1_000_000), TIME_S, 2)
    return format_units(n, TIME_US, 2)


def format_time_s(n: Fraction | int | float) -> str:
    return format_units(Fraction(n), TIME_S, 0)


def format_metric(n: Fraction | int) -> str:
    return format_units(n, METRIC, 2)


def format_binary(n: Fraction | int) -> str:
    return format_units(n, BINARY, 2)


def print_units(text: str, width: int) -> str:
    """Right-align in width minus the padding, cut to fit, then pad by 2 - (letters at the end)."""
    pad = 2 - text[-1:].isalpha() - text[-2:-1].isalpha()
    inner = width - pad
    return text[:inner].rjust(inner) + " " * pad


def format_percent(value: Fraction | None) -> str:
    """``%8.2Lf%%`` where glibc prints the default NaN as ``-nan``."""
    return ("-nan" if value is None else format_fixed(value, 2)).rjust(8) + "%"


@dataclass(frozen=True)
class StatsRow:
    """The numbers of one ``Thread Stats`` row; ``within`` None is wrk's NaN (no samples)."""

    mean: Fraction
    stdev: Fraction
    max: int
    within: Fraction | None

    @classmethod
    def of(cls, dist: Distribution) -> StatsRow:
        return cls(dist.exact_mean, dist.exact_stdev, dist.max, dist.exact_within_stdev)


def stats_line(name: str, row: StatsRow, fmt) -> str:
    """One ``Thread Stats`` row: Avg, Stdev, Max and +/- Stdev."""
    return (
        f"    {name:<10}"
        + print_units(fmt(row.mean), 8)
        + print_units(fmt(row.stdev), 10)
        + print_units(fmt(row.max), 9)
        + format_percent(row.within)
    )


WRK_PERCENTILES = (50, 75, 90, 99)


@dataclass(frozen=True)
class WrkReport:
    """Everything wrk prints, already reduced to numbers."""

    url: str
    duration_s: float
    threads: int
    connections: int
    latency: StatsRow  # after wrk's correction
    req_per_sec: StatsRow
    latency_percentiles: tuple[int, ...]  # at WRK_PERCENTILES
    complete: int
    bytes: int
    runtime_us: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int


def header_lines(url: str, duration_s: float, threads: int, connections: int) -> list[str]:
    """The two lines wrk prints before the run starts."""
    return [
        f"Running {format_time_s(Fraction(duration_s))} test @ {url}",
        f"  {threads} threads and {connections} connections",
    ]


def thread_stats_lines(latency: StatsRow, req_per_sec: StatsRow) -> list[str]:
    return [
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        stats_line("Latency", latency, format_time_us),
        stats_line("Req/Sec", req_per_sec, format_metric),
    ]


def latency_distribution_lines(percentiles: tuple[int, ...]) -> list[str]:
    lines = ["  Latency Distribution"]
    for p, value in zip(WRK_PERCENTILES, percentiles, strict=True):
        lines.append(f"{p:7d}%" + print_units(format_time_us(value), 10))
    return lines


def totals_lines(report: WrkReport) -> list[str]:
    """From the requests line to Transfer/sec, with wrk's two conditional lines."""
    runtime_s = ld(Fraction(report.runtime_us, 1_000_000))
    lines = [f"  {report.complete} requests in {format_time_us(report.runtime_us)}, {format_binary(report.bytes)}B read"]
    if report.connect_errors or report.read_errors or report.write_errors or report.timeouts:
        lines.append(
            f"  Socket errors: connect {report.connect_errors}, read {report.read_errors}, "
            f"write {report.write_errors}, timeout {report.timeouts}"
        )
    if report.status_errors:
        lines.append(f"  Non-2xx or 3xx responses: {report.status_errors}")
    if runtime_s:
        per_second = format_fixed(ld(report.complete / runtime_s), 2)
        transfer = format_binary(ld(report.bytes / runtime_s))
    else:  # wrk divides by zero here; a zero runtime cannot come from a real run
        per_second, transfer = "inf" if report.complete else "-nan", "inf" if report.bytes else "-nan"
    lines.append(f"Requests/sec: {per_second:>9}")
    lines.append(f"Transfer/sec: {transfer:>10}B")
    return lines


def wrk_report_text(report: WrkReport, *, latency: bool, header: bool = True) -> str:
    """The whole report as wrk prints it to stdout (without a script's done() output)."""
    lines = header_lines(report.url, report.duration_s, report.threads, report.connections) if header else []
    lines += thread_stats_lines(report.latency, report.req_per_sec)
    if latency:
        lines += latency_distribution_lines(report.latency_percentiles)
    lines += totals_lines(report)
    return "\n".join(lines) + "\n"
