"""Student's t distribution, for a whole number of degrees of freedom: how much wider than the
normal distribution's a quantile is when the spread itself was estimated from few samples.

The distribution function is the closed form of Abramowitz and Stegun (26.7.3, 26.7.4), a finite
sum for whole degrees of freedom; the quantile is found by bisection.
"""

from __future__ import annotations

import math

__all__ = ["t_quantile"]


def _within(t: float, df: int) -> float:
    """P(|T| <= t), T of ``df`` degrees of freedom (Abramowitz and Stegun's A(t|df))."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:  # 1, 3, 5, ...: (2/pi)(theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, series = 1.0, 1.0 if df > 1 else 0.0
        for k in range(3, df - 1, 2):
            term *= cos2 * (k - 1) / k
            series += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    term = series = 1.0  # 2, 4, ...: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(2, df - 1, 2):
        term *= cos2 * (k - 1) / k
        series += term
    return math.sin(theta) * series


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` >= 1 degrees of freedom."""
    within = 2 * p - 1
    low, high = 0.0, 1.0
    while _within(high, df) < within:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _within(middle, df) < within else (low, middle)
    return (low + high) / 2
