"""How the matrix writes numbers in the report, the findings and compare: rates, intervals, ratios. Pure."""

from __future__ import annotations

import math

from loadgen import format_time_us
from server_matrix.statistics.uncertainty import Estimate, Ratio
from server_matrix.statistics.verdicts import AT_BOUND

SIGNIFICANT = "✱"  # marks a ratio whose interval leaves out 1


def plain_rate(value: float) -> str:
    """Three significant figures, trailing zeros kept so that like figures print alike (``9.00 (once)`` beside
    ``9.99 (once)``, where ``9`` read as less precise), and whole numbers from 100 on: 0.500, 9.00, 21.3, 1333;
    a rate of exactly 0 (no response) is ``0``. No exponents or thousands separators: unlike loadgen's own short
    figures (``1,333``), these sit in lists and intervals, ``1333 [1290, 1402]``, where a separator would read as
    one more comma between values."""
    rounded = float(f"{value:.3g}")  # 99.96 rounds to 100, whose figure is the whole number
    if rounded == 0 or abs(rounded) >= 100:
        return f"{value:.0f}"
    return f"{rounded:.{2 - math.floor(math.log10(abs(rounded)))}f}"


def time_text(median_us: float, bounded: bool) -> str:
    """``241.12ms``; ``≥ 241.12ms`` when it is a bound under the percentile, not the percentile: a repetition had
    timeouts, which wrk's rule leaves out of the latency (``estimates.latency_bounded``)."""
    return ("≥ " if bounded else "") + format_time_us(round(median_us))


def rate_interval_text(rate: Estimate) -> str:
    """``1234 [1200, 1260]``; a single measurement, which has no interval, ``1234 (once)``."""
    if rate.low is None or rate.high is None:
        return f"{plain_rate(rate.median)} (once)"
    return f"{plain_rate(rate.median)} [{plain_rate(rate.low)}, {plain_rate(rate.high)}]"


def ratio_text(change: Ratio | None, *, mark: bool = True) -> str:
    """``0.61 [0.55, 0.66] ✱``: the ratio, its interval, and the mark when it is significant."""
    if change is None:
        return "-"
    text = f"{change.value:.2f} [{_bound_text(change.low)}, {_bound_text(change.high)}]"
    return f"{text} {SIGNIFICANT}" if mark and change.significant else text


def _bound_text(bound: float) -> str:
    """Two decimals, or as many as keep a bound that is not 1 from reading 1.00: ``[0.32, 0.997]`` leaves out 1, as
    its significance says, where ``[0.32, 1.00]`` seemed to hold it."""
    digits = 2
    while f"{bound:.{digits}f}" == "1." + "0" * digits and bound != 1 and digits < 6:
        digits += 1
    return f"{bound:.{digits}f}"


NO_INTERVAL = "no interval"  # a ratio of repetitions whose denominator can be 0 (one got no response)
NO_FIGURE = "-"  # where there is no figure to write


def point_ratio_text(value: float, change: Ratio | None, *, mark: bool = True, once: bool = True) -> str:
    """:func:`ratio_text`; with no interval, the plain ratio of the two values, shown, not judged: ``0.98 (once)``
    for a single measurement on either side, ``0.42 (no interval)`` when a repetition of the denominator got no
    response (not ``once``: it was repeated); ``-`` over a numerator of 0 req/s, no response (:func:`plain_rate`'s
    ``0``), where ``0.00 (once)`` read as a ratio measured."""
    if change is not None:
        return ratio_text(change, mark=mark)
    if value == 0:
        return NO_FIGURE
    return f"{value:.2f} ({'once' if once else NO_INTERVAL})"


def share_text(share: float) -> str:
    """``96%``; ``89.6%`` where a whole percent would read as the bound reached (``AT_BOUND``) that it is not: a
    run's 89.6% printed "90%" beside "below the closed-loop bound", where 90% is "at the bound"."""
    whole = f"{share:.0%}"
    return f"{share:.1%}" if share < AT_BOUND <= float(whole[:-1]) / 100 else whole
