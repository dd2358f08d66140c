"""How numbers are written in the report, the findings and compare: rates, intervals, ratios. Pure."""

from __future__ import annotations

from loadgen import format_time_us
from server_matrix.uncertainty import Estimate, Ratio

SIGNIFICANT = "✱"  # marks a ratio whose interval leaves out 1


def rate_text(value: float) -> str:
    """Three significant digits without exponents or separators (they would read as list commas): 3.2, 21.3, 1333."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def rate_interval_text(rate: Estimate) -> str:
    """``1234 [1200, 1260]``."""
    return f"{rate_text(rate.median)} [{rate_text(rate.low)}, {rate_text(rate.high)}]"


def time_interval_text(latency: Estimate) -> str:
    """``2.10ms [2.02ms, 2.31ms]``."""
    low, high = (format_time_us(round(value)).strip() for value in (latency.low, latency.high))
    return f"{format_time_us(round(latency.median)).strip()} [{low}, {high}]"


def ratio_text(change: Ratio | None, *, mark: bool = True) -> str:
    """``0.61 [0.55, 0.66] ✱``: the ratio, its interval, and the mark when it is significant."""
    if change is None:
        return "-"
    text = f"{change.value:.2f} [{change.low:.2f}, {change.high:.2f}]"
    return f"{text} {SIGNIFICANT}" if mark and change.significant else text


def share_text(share: float) -> str:
    return f"{share:.0%}"
