"""Parsing of wrk's numeric command-line arguments: SI counts (``1k``) and durations (``2m``).

wrk's ``scan_units`` takes an unsigned integer and an optional unit compared case-insensitively,
so ``1K`` is 1000 and ``1M`` and ``1m`` are both 10**6. For durations it knows ``s``, ``m`` and
``h``. loadgen also takes what wrk users trip over: fractions (``0.5s``) and ``ms`` (and ``us``,
or ``µs`` as ``--fail-on`` takes it).
And the other way, :func:`counted`: a count and its noun, in the plural only when it is not one.
Digits are ASCII: ``int()`` and ``float()`` would take any script's digits, wrk does not.
"""

from __future__ import annotations

import re
import reprlib
from fractions import Fraction

from .errors import excerpt

NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"  # ASCII digits, an optional fraction
UNIT = "[A-Za-z]{0,2}|[\u00b5\u03bc][sS]"  # wrk's letters, or microseconds written with the micro sign
# a leading + as wrk's sscanf("%" SCNu64) takes it (wrk -d +10 runs 10 s)
_NUMBER = re.compile(rf"\s*\+?({NUMBER})\s*({UNIT})\s*", re.ASCII)
_EXPONENT = re.compile(rf"\s*\+?(?:{NUMBER})[eE][+-]?[0-9]+\s*(?:{UNIT})\s*", re.ASCII)  # 1e6, 2.5E-3s: scientific
# written as a number, valid or not: a sign, digits or a fraction, an exponent, a unit (``1k``, ``10.5``, ``-3``,
# ``1e3``: no method begins with a digit, and h2load's -m 1e3 is refused as --streams 1e3 is)
_NUMBER_LIKE = re.compile(rf"-?(?:{NUMBER})(?:[eE][+-]?[0-9]+)?[A-Za-z]{{0,2}}", re.ASCII)

METRIC_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
# Time units in microseconds, lower case; the micro sign is U+00B5 or the Greek mu, U+03BC.
MICROSECONDS = {"us": 1, "µs": 1, "μs": 1, "ms": 10**3, "s": 10**6, "m": 60 * 10**6, "h": 3600 * 10**6}
TIME_SCALES = {"": Fraction(1)} | {unit: Fraction(us, 10**6) for unit, us in MICROSECONDS.items()}


class UnitError(ValueError):
    """A value that is not a number with a known unit."""


def _split(text: str, typed: str | None = None) -> tuple[Fraction, str]:
    """``text``'s number and unit; a message quotes ``typed``, what the user wrote (``-5%`` was
    said to be "a negative number: '-5'")."""
    shown = excerpt(text if typed is None else typed)
    match = _NUMBER.fullmatch(text)
    if not match and any(char.isdigit() and not char.isascii() for char in text):
        raise UnitError(f"not a number: {shown} (write it with the digits 0-9)")
    if not match and text.startswith("-") and _NUMBER.fullmatch(text[1:]):
        raise UnitError(f"a negative number: {shown}")
    if not match and _EXPONENT.fullmatch(text):  # was "not a number: '1e6'", which Python, C and a reader take
        raise UnitError(f"{shown} has an exponent, which is not taken: write the digits (and a unit: 1M, 500ms, 5%)")
    if not match:
        raise UnitError(f"not a number: {shown}")
    try:
        return Fraction(match.group(1)), match.group(2).lower()
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits()): was its traceback
        raise UnitError(f"too many digits: {reprlib.repr(text)}") from None


def _finite(value: Fraction, text: str) -> float:
    """``value`` as a float, or a UnitError: a number of 309 digits or more is none (infinity)."""
    try:
        return float(value)
    except OverflowError:
        raise UnitError(f"too large: {reprlib.repr(text)}") from None


def looks_like_a_number(text: str) -> bool:
    """Whether ``text`` is written as a number, though perhaps not a valid count: no HTTP method
    is, so h2load's ``-m 1k`` (or a mistyped ``-m 10.5``) is told apart from a method."""
    return _NUMBER_LIKE.fullmatch(text) is not None


def parse_count(text: str) -> int:
    """A whole count with an optional SI suffix: ``10``, ``1k``, ``2M``."""
    value, unit = _split(text)
    if unit not in METRIC_SCALES:
        raise UnitError(f"unknown unit {excerpt(unit)} in {excerpt(text)} (use k, M, G)")
    count = value * METRIC_SCALES[unit]
    if count.denominator != 1:
        raise UnitError(f"not a whole number: {excerpt(text)}")
    _finite(count, text)  # a rate is a float: -R 1e400 would fail inside the run
    return int(count)


def parse_duration(text: str) -> float:
    """Seconds from ``10``, ``10s``, ``2m``, ``1h``, ``500ms`` or ``0.5s``."""
    value, unit = _split(text)
    if unit not in TIME_SCALES:
        raise UnitError(f"unknown time unit {excerpt(unit)} in {excerpt(text)} (use ms, s, m, h)")
    return _finite(value * TIME_SCALES[unit], text)


def parse_percentage(text: str) -> float:
    """A percentage, with or without its sign: ``5``, ``5%``, ``2.5 %``. Two signs, printf's escape of
    one (``5%%``), were said to be "not a number: '5%'", the very form taken."""
    number = text.rstrip().removesuffix("%")
    if number.rstrip().endswith("%"):
        raise UnitError(f"{excerpt(text)} has two % signs: write one (5%) or none (5); %% is printf's escape for one")
    value, unit = _split(number, text)
    if unit:
        raise UnitError(f"not a percentage: {excerpt(text)} (as 5 or 5%)")
    return _finite(value, text)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 worker``, ``2 workers``, ``1,000 workers``: messages say a count of one in the singular."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
