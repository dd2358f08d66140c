"""Parsing of wrk's numeric command-line arguments: SI counts (``1k``) and durations (``2m``).

wrk's ``scan_units`` takes an unsigned integer and an optional unit compared case-insensitively,
so ``1K`` is 1000 and ``1M`` and ``1m`` are both 10**6. For durations it knows ``s``, ``m`` and
``h``. loadgen also takes what wrk users trip over: fractions (``0.5s``) and ``ms``.
"""

from __future__ import annotations

import re
from fractions import Fraction

_NUMBER = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]{0,2})\s*")

METRIC_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
TIME_SCALES = {"": Fraction(1), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600), "ms": Fraction(1, 1000)}


class UnitError(ValueError):
    """A value that is not a number with a known unit."""


def _split(text: str) -> tuple[Fraction, str]:
    match = _NUMBER.fullmatch(text)
    if not match:
        raise UnitError(f"not a number: {text!r}")
    return Fraction(match.group(1)), match.group(2).lower()


def parse_count(text: str) -> int:
    """A whole count with an optional SI suffix: ``10``, ``1k``, ``2M``."""
    value, unit = _split(text)
    if unit not in METRIC_SCALES:
        raise UnitError(f"unknown unit {unit!r} in {text!r} (use k, M, G)")
    count = value * METRIC_SCALES[unit]
    if count.denominator != 1:
        raise UnitError(f"not a whole number: {text!r}")
    return int(count)


def parse_duration(text: str) -> float:
    """Seconds from ``10``, ``10s``, ``2m``, ``1h``, ``500ms`` or ``0.5s``."""
    value, unit = _split(text)
    if unit not in TIME_SCALES:
        raise UnitError(f"unknown time unit {unit!r} in {text!r} (use ms, s, m, h)")
    return float(value * TIME_SCALES[unit])
