"""Short numbers for loadgen's own lines (thresholds, compare, capacity): three significant
digits and a unit a person reads at a glance. wrk's report keeps wrk's formats (``wrk.py``)."""

from __future__ import annotations

import math

__all__ = ["carried_text", "concurrency_text", "rate_text", "short_time", "value_text"]


def _three_digits(x: float) -> str:
    text = f"{x:.0f}" if x >= 99.95 else f"{x:.1f}" if x >= 9.995 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def short_time(us: float) -> str:
    """``87.2ms``, ``412ms``, ``1.24s``, ``850us``."""
    if us >= 999_500:
        return _three_digits(us / 1_000_000) + "s"
    if us >= 999.5:
        return _three_digits(us / 1_000) + "ms"
    return _three_digits(us) + "us"


def rate_text(rate: float) -> str:
    """Requests/sec: whole numbers with thousands separators, one decimal below 100 (as it is written:
    99.96 is 100, not 100.0, beside a step's 200)."""
    return f"{rate:,.1f}" if round(rate, 1) < 100 else f"{rate:,.0f}"


def carried_text(connections: int, streams: int, capped: int | None) -> str:
    """The requests in flight at most, as they were asked: ``-c 16``, or over HTTP/2 with streams
    ``-c 2 x --streams 8 = 16`` (``--streams 3, the server's limit``, when it capped them)."""
    if streams == 1:
        return f"-c {connections:,}"
    ran = streams if capped is None else min(streams, capped)
    limit = ", the server's limit" if ran < streams else ""
    return f"-c {connections:,} x --streams {ran:,}{limit} = {connections * ran:,}"


def concurrency_text(rate: float, latency_s: float) -> str:
    """``rate x latency = 50.0/s x 20.7ms = 1.04``: the requests in flight a rate needs (Little's
    law), rounded up, so that a -c short of it never reads as enough (1.035 is not 1.0)."""
    needed = math.ceil(round(rate * latency_s * 100, 6)) / 100
    return f"rate x latency = {rate_text(rate)}/s x {latency_s * 1000:.1f}ms = {needed:,.2f}"


def value_text(value: float, unit: str) -> str:
    """A measured value in its unit (``us``, ``req/s``, ``%``, ``count``)."""
    if unit == "us":
        return short_time(value)
    if unit == "req/s":
        return rate_text(value)
    if unit == "%":
        return f"{value:.3g}%"
    return f"{value:,.0f}"
