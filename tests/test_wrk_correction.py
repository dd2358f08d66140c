"""wrk's coordinated-omission correction (``stats_correct``) as wrk writes it, value by value and
copy by copy, against loadgen's (:func:`loadgen._stats.stats.wrk_corrected`, which sums whole
residue classes at C speed): the same counts, the same hidden copies, on random histograms."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from loadgen._stats.stats import Distribution, wrk_corrected


def stats_correct(counts: dict[int, int], expected: int) -> tuple[dict[int, int], int]:
    """wrk's loop: each value n gets its count again at n - expected, n - 2*expected, ... while
    above expected; a copy below the minimum is counted but never visited (wrk keeps its min)."""
    floor = min(counts)
    corrected: dict[int, int] = defaultdict(int, counts)
    hidden = 0
    for value, count in counts.items():
        copy = value - expected
        while copy > expected:
            if copy >= floor:
                corrected[copy] += count
            else:
                hidden += count
            copy -= expected
    return dict(corrected), hidden


@pytest.mark.parametrize("seed", range(40))
def test_the_correction_adds_what_wrks_loop_adds(seed: int) -> None:
    rng = random.Random(seed)
    expected = rng.choice([1, 2, 3, 7, 100, 999])
    top = rng.choice([5, 300, 5_000, 60_000])
    counts = {rng.randint(0, top): rng.randint(1, 9) for _ in range(rng.choice([1, 3, 50, 400]))}
    corrected = wrk_corrected(Distribution(counts, hidden=2), expected)
    wrk_counts, wrk_hidden = stats_correct(counts, expected)
    assert corrected.counts == wrk_counts
    assert corrected.hidden == 2 + wrk_hidden
    assert corrected.count == sum(wrk_counts.values()) + 2 + wrk_hidden


def test_no_expected_interval_corrects_nothing() -> None:
    latency = Distribution({5: 1, 900: 2})
    assert wrk_corrected(latency, None) is latency and wrk_corrected(latency, 0) is latency
