"""wrk's text report, byte for byte (wrk.c ``print_*`` and units.c ``format_*``).

Pure functions from a Result (or numbers) to text: nothing here reads a socket or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from numbers import Real

from .._stats.longdouble import dbl, format_fixed, ld
from .._stats.stats import Distribution
from ..errors import UsageError
from ..result import Result

__all__ = ["Header", "StatsRow", "Totals", "WrkReport", "format_time_us", "wrk_report_text"]


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
    """Microseconds as wrk prints a time (``1.20ms``); a UsageError for anything but a number (was
    Python's ``'>=' not supported between instances of 'str' and 'int'``)."""
    if isinstance(n, bool) or not isinstance(n, Real):
        raise UsageError(f"n must be a number of microseconds, not {n!r}")
    return _time_text(n)


@lru_cache(maxsize=4096)
def _time_text(n: Fraction | int) -> str:
    """:func:`format_time_us`, cached: the table of many targets (``--targets``) prints the same
    few times thousands of times, each a dozen steps of emulated long double."""
    if n >= 1_000_000:
        return format_units(ld(Fraction(n) / 1_000_000), TIME_S, 2)
    return format_units(n, TIME_US, 2)


def format_time_s(n: Fraction | int | float) -> str:
    """Whole seconds as wrk prints them; a fraction of a second (which wrk cannot be given) with
    two decimals, so that -d0.5s is not announced as a 0s test."""
    seconds = Fraction(n)
    return format_units(seconds, TIME_S, 0 if seconds.denominator == 1 else 2)


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


def stats_line(name: str, row: StatsRow, fmt: Callable[[Fraction | int], str]) -> str:
    """One ``Thread Stats`` row: Avg, Stdev, Max and +/- Stdev."""
    return stats_cells(name, fmt(row.mean), fmt(row.stdev), fmt(row.max), row.within)


def stats_cells(name: str, mean: str, stdev: str, largest: str, within: Fraction | None) -> str:
    """A ``Thread Stats`` row from its printed figures (wrk2's can be ``-nanus``, no number)."""
    return (
        f"    {name:<10}"
        + print_units(mean, 8)
        + print_units(stdev, 10)
        + print_units(largest, 9)
        + format_percent(within)
    )


WRK_PERCENTILES = (50, 75, 90, 99)


def announced_duration(asked_s: float | None, runtime_s: float) -> float:
    """The duration in the header: the one asked for, or (a run bounded by -n only) the one it took."""
    return asked_s if asked_s is not None else runtime_s


@dataclass(frozen=True)
class Header:
    """The two lines wrk prints before the run starts."""

    url: str
    duration_s: float
    threads: int
    connections: int

    @classmethod
    def of(cls, result: Result) -> Header:
        return cls(
            result.title,
            announced_duration(result.duration, result.runtime_s),
            result.threads,
            result.connections,
        )

    def lines(self) -> list[str]:
        return [
            f"Running {format_time_s(Fraction(self.duration_s))} test @ {self.url}",
            f"  {self.threads} threads and {self.connections} connections",
        ]


@dataclass(frozen=True)
class Totals:
    """What wrk prints after the statistics, already reduced to numbers."""

    complete: int
    bytes: int
    runtime_us: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int

    @classmethod
    def of(cls, result: Result) -> Totals:
        e = result.errors
        return cls(result.requests, result.bytes, result.runtime_us, e.connect, e.read, e.write, e.timeout, e.status)

    def lines(self) -> list[str]:
        """From the requests line to Transfer/sec, with wrk's two conditional lines."""
        runtime_s = dbl(Fraction(self.runtime_us, 1_000_000))  # uint64_t / 1000000.0: a double, then long double
        lines = [f"  {self.complete} requests in {format_time_us(self.runtime_us)}, {format_binary(self.bytes)}B read"]
        if self.connect_errors or self.read_errors or self.write_errors or self.timeouts:
            lines.append(
                f"  Socket errors: connect {self.connect_errors}, read {self.read_errors}, "
                f"write {self.write_errors}, timeout {self.timeouts}"
            )
        if self.status_errors:
            lines.append(f"  Non-2xx or 3xx responses: {self.status_errors}")
        if runtime_s:
            per_second = format_fixed(ld(self.complete / runtime_s), 2)
            transfer = format_binary(ld(self.bytes / runtime_s))
        else:  # wrk divides by zero here (a Result made with runtime_us=0; no real run takes no time)
            per_second = "inf" if self.complete else "-nan"
            # infinity is above every step: format_units stops at the unit before the last, as for any huge rate
            transfer = "inf" + BINARY.units[-2] if self.bytes else "-nan"
        lines.append(f"Requests/sec: {per_second:>9}")
        lines.append(f"Transfer/sec: {transfer:>10}B")
        return lines


def thread_stats_lines(latency: StatsRow, req_per_sec: StatsRow) -> list[str]:
    return [
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        stats_line("Latency", latency, format_time_us),
        stats_line("Req/Sec", req_per_sec, format_metric),
    ]


@dataclass(frozen=True)
class WrkReport:
    """Everything wrk prints, already reduced to numbers."""

    header: Header
    latency: StatsRow  # after wrk's correction
    req_per_sec: StatsRow
    latency_percentiles: tuple[int, ...]  # at WRK_PERCENTILES
    totals: Totals

    @classmethod
    def of(cls, result: Result) -> WrkReport:
        return cls(
            Header.of(result),
            StatsRow.of(result.latency),
            StatsRow.of(result.req_per_sec),
            tuple(result.latency.wrk_percentile(p) for p in WRK_PERCENTILES),
            Totals.of(result),
        )


def latency_distribution_lines(percentiles: tuple[int, ...], title: str = "Latency") -> list[str]:
    lines = [f"  {title} Distribution"]
    for p, value in zip(WRK_PERCENTILES, percentiles, strict=True):
        lines.append(f"{p:7d}%" + print_units(format_time_us(value), 10))
    return lines


def phases_lines(result: Result) -> list[str]:
    """``--phases``: the connection set-up, the TLS handshake (https) and the time to the first
    byte, in the layout of wrk's latency distribution, each under its own heading."""
    phases = [("Connect", result.connect), ("TLS Handshake", result.tls_handshake), ("First Byte", result.first_byte)]
    lines: list[str] = []
    for title, dist in phases:
        if dist.count:
            lines += latency_distribution_lines(tuple(dist.wrk_percentile(p) for p in WRK_PERCENTILES), title)
    return lines


def wrk_report_text(report: WrkReport, *, latency: bool, header: bool = True, extra: Sequence[str] = ()) -> str:
    """The whole report as wrk prints it to stdout (without a script's done() output); ``extra``
    lines (loadgen's additions) go after the distribution, before the totals."""
    lines = report.header.lines() if header else []
    lines += thread_stats_lines(report.latency, report.req_per_sec)
    if latency:
        lines += latency_distribution_lines(report.latency_percentiles)
    lines += [*extra, *report.totals.lines()]
    return "\n".join(lines) + "\n"
