"""Exact emulation of the C arithmetic wrk uses to compute and print its statistics.

wrk computes means, deviations and rates in x87 80-bit ``long double`` and prints them with
``%.2Lf``. A Python ``float`` rounds differently often enough to matter: the mean of 200 Req/Sec
samples with an odd sum is exactly ``x.xx5``, and a double and a long double round that tie in
opposite directions. So values are kept as exact rationals and rounded the way the C code does.
"""

from __future__ import annotations

import math
from fractions import Fraction

LONG_DOUBLE_BITS = 64  # x87 extended precision significand
DOUBLE_BITS = 53


def round_to_bits(x: Fraction, bits: int) -> Fraction:
    """Round ``x`` to the nearest binary float with ``bits`` significand bits, ties to even."""
    if x == 0:
        return Fraction(0)
    negative = x < 0
    num, den = abs(x.numerator), x.denominator
    # Scale so that the integer part of num/den * 2**shift has exactly `bits` bits.
    shift = bits - (num.bit_length() - den.bit_length())
    while True:
        scaled_num, scaled_den = (num << shift, den) if shift >= 0 else (num, den << -shift)
        q, r = divmod(scaled_num, scaled_den)
        if q.bit_length() > bits:
            shift -= 1
        elif q.bit_length() < bits:
            shift += 1
        else:
            break
    if 2 * r > scaled_den or (2 * r == scaled_den and q & 1):
        q += 1
    value = Fraction(q, 1 << shift) if shift >= 0 else Fraction(q << -shift)
    return -value if negative else value


def ld(x: Fraction | int) -> Fraction:
    """The value C gets when it stores ``x`` in a ``long double``."""
    return round_to_bits(Fraction(x), LONG_DOUBLE_BITS)


def dbl(x: Fraction | int) -> Fraction:
    """The value C gets when it stores ``x`` in a ``double``."""
    return round_to_bits(Fraction(x), DOUBLE_BITS)


def sqrt_ld(x: Fraction) -> Fraction:
    """``sqrtl``: the correctly rounded long double square root of a non-negative value."""
    if x <= 0:
        return Fraction(0)
    # Scale by an even power of two so that the integer root carries ~72 significant bits.
    shift = 2 * (LONG_DOUBLE_BITS + 8) - (x.numerator.bit_length() - x.denominator.bit_length())
    shift += shift & 1
    scaled = x * Fraction(2) ** shift
    root = math.isqrt(math.floor(scaled))
    # An inexact root lies strictly between root and root + 1, where no rounding boundary falls.
    value = Fraction(root) if root * root == scaled else root + Fraction(1, 2)
    return ld(value / Fraction(2) ** (shift // 2))


def c_round(x: Fraction) -> int:
    """C ``round()``: halfway cases away from zero (Python's ``round`` goes to even)."""
    magnitude = math.floor(abs(x) + Fraction(1, 2))
    return -magnitude if x < 0 else magnitude


def format_fixed(x: Fraction, precision: int) -> str:
    """``printf("%.*Lf")`` of an exact binary value: glibc rounds the exact value, ties to even."""
    negative = x < 0
    scaled = abs(x) * 10**precision
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
        q += 1
    digits = str(q).rjust(precision + 1, "0")
    text = digits if precision == 0 else f"{digits[:-precision]}.{digits[-precision:]}"
    return f"-{text}" if negative and q else text
