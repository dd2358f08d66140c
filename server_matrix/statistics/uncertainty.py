"""How sure a cell's figures are: a seeded two-level bootstrap over repetitions and, inside each, its own samples.

Level one draws the repetitions with replacement; level two moves each drawn repetition by what
it measured inside its run: its per-100 ms request rates drawn again with replacement, or, for a
latency percentile, the rank of that percentile drawn again. A single repetition gets no interval:
its run's own spread says nothing of the next run's (a gateway cell's "[1.40, 1.40]" was a verdict
from one sample). With few repetitions level one can reach no further than their values: two
repetitions that happen to agree would give a narrow interval that the next run falls outside of
(of two idle default runs, 26% of run 2's medians fell outside run 1's two-repetition intervals).
So a CPU-bound cell's interval is also at least as wide as its run's *spread* allows: the pooled
relative deviations of every repeated cell of the run (:func:`pooled_spread`, once at least
``POOLED_LEAST_CELLS`` cells have them), from which its median of as many repetitions is drawn
again around its own median (:func:`spread_draws`). The two are joined rank by rank, the farther of them
at each (:func:`outer_draws`): the interval holds both, its draws feed the ratios. Seeds come from the cell's
name, so a report is reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
NOISE = 0.01  # a ratio within 1% of 1 is never called a change, as criterion's noise threshold
POOLED_LEAST_CELLS = 8  # a run's spread is pooled from this many repeated cells at least (fewer: each cell alone)

Draws = np.ndarray


def generator(*parts: object) -> np.random.Generator:
    """A generator seeded by ``parts`` (a cell's label, a purpose), the same in every process."""
    return np.random.default_rng([zlib.crc32(str(part).encode()) for part in parts])


def rate_replicates(rate: float, samples: Mapping[int, int], rng: np.random.Generator) -> Draws:
    """``rate`` moved by its run's per-100 ms rates drawn again: rate x mean(drawn) / mean(all). The rates are
    taken in order of value, so the draws do not depend on the order they were counted in (a result measured
    now and the same read back from results.json give one interval)."""
    ordered = sorted(samples.items())
    values = np.fromiter((value for value, _ in ordered), dtype=float, count=len(ordered))
    counts = np.fromiter((count for _, count in ordered), dtype=float, count=len(ordered))
    total = int(counts.sum())
    mean = float(values @ counts) / total if total else 0.0
    if total < 2 or mean <= 0:
        return np.full(RESAMPLES, rate)
    drawn = rng.multinomial(total, counts / total, size=RESAMPLES)
    return np.asarray(rate * (drawn @ values) / (total * mean), dtype=float)


def percentile_replicates(
    value: float, bins: Sequence[tuple[int, int]], below: int, percentile: float, rng: np.random.Generator
) -> Draws:
    """``value``, the ``percentile`` of a histogram, read again at a redrawn rank (the bootstrap of an
    order statistic without redrawing every sample); ``below`` samples lie under the first bin."""
    if not bins:
        return np.full(RESAMPLES, value)
    values = np.array([bin_value for bin_value, _ in bins], dtype=float)
    cumulative = below + np.cumsum([count for _, count in bins])
    total = int(cumulative[-1])
    ranks = np.maximum(rng.binomial(total, percentile / 100, size=RESAMPLES), 1)
    drawn = values[np.minimum(np.searchsorted(cumulative, ranks), len(values) - 1)]
    centre = values[min(int(np.searchsorted(cumulative, max(1, round(total * percentile / 100)))), len(values) - 1)]
    return np.asarray(drawn * (value / centre) if centre > 0 else drawn, dtype=float)


def median_draws(replicates: Sequence[Draws], rng: np.random.Generator) -> Draws:
    """Level one: per draw, the median of the repetitions drawn with replacement, each at its level-two replicate."""
    stack = np.vstack(replicates)
    count = stack.shape[0]
    chosen = rng.integers(0, count, size=(RESAMPLES, count))
    return np.asarray(np.median(stack[chosen, np.arange(RESAMPLES)[:, None]], axis=1), dtype=float)


def pooled_spread(repetitions: Sequence[Sequence[float]]) -> Draws | None:
    """The run's relative spread: each repeated cell's log values minus their mean, scaled by sqrt(n / (n - 1))
    (a deviation from a mean of n is that much smaller than one from the true level), over every cell whose
    repetitions all measured something. None with fewer than ``POOLED_LEAST_CELLS`` such cells: too few to
    speak for the run (and a noisy cell would set the width of a quiet one)."""
    deviations = []
    for values in repetitions:
        if len(values) > 1 and min(values) > 0:
            logs = np.log(np.asarray(values, dtype=float))
            deviations.append((logs - logs.mean()) * np.sqrt(len(logs) / (len(logs) - 1)))
    return np.concatenate(deviations) if len(deviations) >= POOLED_LEAST_CELLS else None


def spread_draws(median: float, spread: Draws, count: int, rng: np.random.Generator) -> Draws:
    """``median`` moved by the median of ``count`` deviations drawn from the run's ``spread``: where the median of
    ``count`` repetitions of a cell falls, were its repetitions as spread as the run's. The median is of the logs,
    as the spread is: of an even count a mean of the middle two exponentials leant high (a run's 8 cells of 2
    repetitions each got intervals of -0.59 and +0.94 in log about their medians; 1,278 and 4,092 req/s got
    [1,453, 6,859], without one of its own values; now -0.76 and +0.77 alone, that cell [1,237, 6,114])."""
    drawn = spread[rng.integers(0, len(spread), size=(RESAMPLES, count))]
    return np.asarray(median * np.exp(np.median(drawn, axis=1)), dtype=float)


def outer_draws(own: Draws, pooled: Draws, rng: np.random.Generator) -> Draws:
    """Per rank, the farther of the cell's own draws and the run's spread's: below the middle rank the lower, above
    it the higher, shuffled again. Its interval holds both intervals: at least as wide as the run's spread and
    holding what the cell's own bootstrap holds. The wider of the two, by width alone, left out a cell's own values
    (546 and 80 req/s in a noisy run got the spread's [136, 679], around their median, without its own 80)."""
    first, second = np.sort(own), np.sort(pooled)
    lower = np.arange(len(first)) < len(first) / 2
    return np.asarray(rng.permutation(np.where(lower, np.minimum(first, second), np.maximum(first, second))))


@dataclass(frozen=True)
class Estimate:
    """A figure's median over repetitions with its interval; ``draws`` feed the ratios. A single measurement has
    neither (``single``): one run says nothing of the next, so it gets no interval, no bootstrap and no
    significance, whatever its run's own per-100 ms spread."""

    median: float
    low: float | None
    high: float | None
    cv: float | None  # across repetitions; None with one
    repetitions: int
    draws: Draws | None

    @property
    def single(self) -> bool:
        return self.draws is None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width as a share of the median: what ``--precision`` bounds (None: no interval)."""
        if self.low is None or self.high is None or self.median <= 0:
            return None
        return (self.high - self.low) / 2 / self.median

    def to_json(self) -> dict[str, object]:
        return {
            "median": self.median,
            "ci95": None if self.low is None or self.high is None else [self.low, self.high],
            "half_width": self.half_width,
            "cv": self.cv,
            "repetitions": self.repetitions,
        }


def estimate(
    values: Sequence[float], replicates: Sequence[Draws], rng: np.random.Generator, spread: Draws | None = None
) -> Estimate:
    """The median of ``values`` (one per repetition) and its bootstrap interval, at least as wide as the run's
    ``spread`` gives for as many repetitions (when there is one); a single value has none."""
    median = float(np.median(values))
    if len(values) == 1:
        return Estimate(median, None, None, None, 1, None)
    draws = median_draws(replicates, rng)
    if spread is not None and median > 0:
        draws = outer_draws(draws, spread_draws(median, spread, len(values), rng), rng)
    low, high = _interval(draws)
    return Estimate(median, min(low, median), max(high, median), coefficient_of_variation(values), len(values), draws)


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Standard deviation (n - 1) over the mean, across repetitions; None for fewer than two or a zero mean."""
    if len(values) < 2 or np.mean(values) <= 0:
        return None
    return float(np.std(values, ddof=1) / np.mean(values))


def _interval(draws: Draws) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Ratio:
    """``after / before`` with its bootstrap interval."""

    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval leaves out 1 and the ratio is more than the noise threshold away from it."""
        return (self.low > 1 or self.high < 1) and abs(self.value - 1) > NOISE

    def to_json(self) -> dict[str, object]:
        return {"ratio": self.value, "ci95": [self.low, self.high], "significant": self.significant}


def ratio(before: Estimate, after: Estimate) -> Ratio | None:
    """``after / before``, from independent draws of both; None when ``before`` can be zero, or when either is a
    single measurement (no interval, so no ratio to call significant)."""
    if before.draws is None or after.draws is None or before.median <= 0 or np.any(before.draws <= 0):
        return None
    low, high = _interval(after.draws / before.draws)
    value = after.median / before.median
    return Ratio(value, min(low, value), max(high, value))
