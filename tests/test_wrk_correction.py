"""wrk's coordinated-omission correction (``stats_correct``) as wrk writes it, value by value and
copy by copy, against loadgen's (:func:`loadgen._stats.stats.wrk_corrected`, which sums whole
residue classes at C speed): the same counts, the same hidden copies, on random histograms."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest

from loadgen._stats.stats import (
    Distribution,
    subtract_counts,
    wrk_corrected,
    wrk_correction_size,
    wrk_expected_interval,
)


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


def copied_to(counts: dict[int, int], expected: int) -> set[int]:
    """The values wrk's loop adds copies at (visible or not): the work of the correction."""
    return set().union(*(range(value - expected, expected, -expected) for value in counts))


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
    assert wrk_correction_size(counts, expected) == len(copied_to(counts, expected))


def test_no_expected_interval_corrects_nothing() -> None:
    latency = Distribution({5: 1, 900: 2})
    assert wrk_corrected(latency, None) is latency and wrk_corrected(latency, 0) is latency
    assert wrk_correction_size(latency.counts, None) == wrk_correction_size(latency.counts, 0) == 0


def test_distributions_add_and_compare_by_their_samples() -> None:
    """Two runs' latencies add up sample for sample, the hidden (wrk's copies below the minimum) too; two
    distributions are equal when their samples are, and a dict of the same counts is no distribution."""
    a, b = Distribution({1: 2}, hidden=1), Distribution({1: 1, 4: 1}, hidden=2)
    assert a + b == Distribution({1: 3, 4: 1}, hidden=3) and (a + b).count == 7
    assert a != Distribution({1: 3}, hidden=1) and a != Distribution({1: 2}) and a != {1: 2}
    assert repr(a) == "Distribution(count=3, min=1, max=1)"
    # any percentile from 0 to 100 (wrk's rank below 100, the maximum at 100), none outside
    c = Distribution({1: 2, 4: 1})
    assert [c.percentile(p) for p in (0, 0.5, 50, 90, 100)] == [1, 1, 1, 4, 4]
    # mean 6/3, sample stdev sqrt((1 + 1 + 4) / 2); the two 1s of the three within [2 - 1.73, 2 + 1.73]
    assert (c.mean, c.stdev, c.within_stdev) == (2.0, pytest.approx(math.sqrt(3)), pytest.approx(200 / 3))
    assert math.isnan(Distribution().within_stdev)  # wrk's -nan; JSON's null
    for outside in (-0.5, 100.5):
        with pytest.raises(ValueError, match=r"percentile must be within \[0, 100\]"):
            c.percentile(outside)
    # a first byte's share taken out of a latency: a value with no sample left is no value (no minimum of 1)
    assert subtract_counts({1: 3, 4: 1}, {1: 3}) == {4: 1}


def test_wrks_expected_interval_is_the_runtime_over_each_connections_responses() -> None:
    """wrk's ``runtime_us / (complete / connections)``, in whole numbers; skipped when a connection averaged
    less than one response (or there were no connections)."""
    assert wrk_expected_interval(10_000_000, 1000, 10) == 100_000
    assert wrk_expected_interval(10_000_000, 1999, 10) == 10_000_000 // 199
    assert wrk_expected_interval(10_000_000, 9, 10) is None and wrk_expected_interval(10_000_000, 9, 0) is None
