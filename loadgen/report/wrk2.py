"""The constant-rate report, in wrk2's format (wrk2's ``print_hdr_latency`` and
``hdr_percentiles_print``): the Latency row and percentiles come from an HdrHistogram of the
latency measured from each request's intended send time; ``--latency`` also prints the spectrum,
and the same for the uncorrected latency, as ``wrk2 -L -U`` does. Pure text, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from .._stats.hdr import Wrk2Stats
from .._stats.longdouble import format_fixed
from ..result import Result
from .wrk import Header, StatsRow, Totals, format_metric, format_time_us, print_units, stats_cells, stats_line

__all__ = ["paced_report_text"]

SPECTRUM_PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0)
RULE = "-" * 58


# hdr_mean and hdr_stddev of an empty histogram divide 0.0 by 0: x86-64's default NaN, which glibc prints "-nan"
NAN = "-nan"


def _ms(micros: float) -> str:
    """``%12.3f`` of micros / 1000.0: Python writes a NaN ``nan``, glibc the NaN of 0.0 / 0 ``-nan``."""
    return f"{NAN:>12}" if math.isnan(micros) else f"{micros / 1000.0:12.3f}"


def latency_line(stats: Wrk2Stats) -> str:
    """wrk2's Latency row; without a sample its Avg and Stdev are NaN (``-nanus``: NaN is below every unit's
    step) and stats_within_stdev returns 0 (wrk2's stats.c), where wrk's exact statistics print 0 and -nan%."""
    if not stats.total:
        return stats_cells("Latency", NAN + "us", NAN + "us", format_time_us(stats.max), Fraction(0))
    row = StatsRow(Fraction(stats.mean), Fraction(stats.stdev), stats.max, Fraction(stats.within_stdev()))
    return stats_line("Latency", row, format_time_us)


def distribution_lines(stats: Wrk2Stats, description: str) -> list[str]:
    lines = [f"  Latency Distribution (HdrHistogram - {description})"]
    for p in SPECTRUM_PERCENTILES:
        lines.append(
            format_fixed(Fraction(p), 3).rjust(7) + "%" + print_units(format_time_us(stats.value_at_percentile(p)), 10)
        )
    lines += [
        "",
        "  Detailed Percentile spectrum:",
        f"{'Value':>12} {'Percentile':>12} {'TotalCount':>12} {'1/(1-Percentile)':>12}",
        "",
    ]
    for value, percentile, count in stats.spectrum():
        fraction = percentile / 100.0
        inverse = 1.0 / (1.0 - fraction) if fraction < 1.0 else float("inf")
        lines.append(f"{_ms(value)} {fraction:12f} {count:12d} {inverse:12.2f}")
    lines += [
        f"#[Mean    = {_ms(stats.mean)}, StdDeviation   = {_ms(stats.stdev)}]",
        f"#[Max     = {_ms(stats.max)}, Total count    = {stats.total:12d}]",
        f"#[Buckets = {stats.bucket_count:12d}, SubBuckets     = {stats.sub_bucket_count:12d}]",
        RULE,
    ]
    return lines


def paced_report_text(result: Result, *, latency: bool, header: bool = True, extra: Sequence[str] = ()) -> str:
    """wrk2's report; ``extra`` lines (loadgen's additions) go before the totals."""
    corrected = Wrk2Stats.of(result.latency.counts)
    lines = Header.of(result).lines() if header else []
    lines += [
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        latency_line(corrected),
        stats_line("Req/Sec", StatsRow.of(result.req_per_sec), format_metric),
    ]
    if latency:
        lines += distribution_lines(corrected, "Recorded Latency")
        lines += [
            "",
            *distribution_lines(
                Wrk2Stats.of(result.latency_uncorrected.counts),
                "Uncorrected Latency (measured without taking delayed starts into account)",
            ),
        ]
    lines += [*extra, *Totals.of(result).lines()]
    return "\n".join(lines) + "\n"
