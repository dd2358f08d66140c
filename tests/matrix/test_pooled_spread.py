"""A CPU-bound cell's interval draws on its run's spread, on synthetic results (no server).

Two repetitions that happen to agree, in a run whose cells vary from one window to the next, get an
interval as wide as the run's spread gives for two (their requests/sec and their p99 alike: a p99 held
only to its own two windows made `compare` call 12 of 154 cells slower by p99 between two idle runs
whose requests/sec it could not tell apart); a run with too few repeated cells leaves each cell
to itself; a cell noisier than its run keeps its own, wider, interval; the last save of results.json
writes every cell's interval with the run's final spread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from server_matrix.measuring.results import OK, Cell, MatrixResults
from server_matrix.reporting.resultsfile import ResultsFile, load
from server_matrix.statistics import estimates
from server_matrix.statistics.changes import AFTER_STREAM
from server_matrix.statistics.uncertainty import (
    POOLED_LEAST_CELLS,
    RESAMPLES,
    estimate,
    generator,
    pooled_spread,
    spread_draws,
)
from tests.matrix.test_report import synthetic_results
from tests.matrix.test_single_and_answer import with_requests

BASE = 2000


def cpu_bound(results: MatrixResults) -> list[Cell]:
    return [cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps is None]


def with_factors(results: MatrixResults, factors: Callable[[int, Cell], tuple[float, ...]]) -> MatrixResults:
    """Each CPU-bound cell (the ``index``-th) measured once per factor, at ``BASE`` x the factor requests."""
    for index, cell in enumerate(cpu_bound(results)):
        first = cell.samples[0]
        cell.samples = [
            replace(first, result=with_requests(first.result, round(BASE * factor)), round=number)
            for number, factor in enumerate(factors(index, cell), start=1)
        ]
    return results


def test_the_run_spread_needs_enough_repeated_cells() -> None:
    noisy = [[100.0, 130.0]] * (POOLED_LEAST_CELLS - 1)
    assert pooled_spread(noisy) is None
    assert pooled_spread([*noisy, [100.0]]) is None  # a single measurement has no deviation to give
    assert pooled_spread([*noisy, [0.0, 100.0]]) is None  # nor a window that measured nothing
    spread = pooled_spread([*noisy, [100.0, 100.0]])
    assert spread is not None and len(spread) == 2 * POOLED_LEAST_CELLS
    # each deviation from a mean of two is sqrt(2) times smaller than from the level: scaled back
    assert np.max(spread) == pytest.approx(np.log(130 / np.sqrt(130 * 100)) * np.sqrt(2))


def test_two_agreeing_repetitions_in_a_noisy_run_get_the_runs_width(tmp_path: Path) -> None:
    results = with_factors(
        synthetic_results(tmp_path, free_threaded=False), lambda index, cell: (1.0, 1.0) if index == 0 else (1.0, 1.3)
    )
    quiet, noisy = cpu_bound(results)[:2]
    assert len(cpu_bound(results)) >= POOLED_LEAST_CELLS
    figure, other = estimates.rate(quiet), estimates.rate(noisy)
    assert figure is not None and other is not None and figure.half_width is not None
    assert figure.half_width > 0.05 and figure.low < BASE / 10.09 < figure.high  # type: ignore[operator]
    assert figure.cv == 0.0  # its own repetitions agree: the width is the run's
    gateway = next(cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps)
    agreeing = with_requests(gateway.samples[0].result, BASE)
    gateway.samples = [replace(gateway.samples[0], result=agreeing, round=number) for number in (1, 2)]
    bound = estimates.rate(gateway)  # a closed loop's rate is its bound's: the run's CPU-bound spread is not its own
    assert bound is not None and bound.half_width is not None and bound.half_width < 0.02
    alone = with_factors(
        synthetic_results(tmp_path, free_threaded=False),
        lambda index, cell: (1.0, 1.0) if index == 0 else (1.0, 1.3) if index < POOLED_LEAST_CELLS - 1 else (1.0,),
    )
    by_itself = estimates.rate(cpu_bound(alone)[0])
    assert by_itself is not None and by_itself.half_width is not None
    assert by_itself.half_width < 0.02  # too few repeated cells to speak for the run: only its own spread
    # the cells whose intervals are their own alone: every repeated one of a run too few to pool, else none
    assert (estimates.unpooled(results), estimates.unpooled(alone)) == (0, POOLED_LEAST_CELLS - 1)


def with_p99(results: MatrixResults, factors: Callable[[int, Cell], tuple[float, ...]]) -> MatrixResults:
    """Each CPU-bound cell (the ``index``-th) measured once per factor, every response taking 10 ms x the factor."""
    for index, cell in enumerate(cpu_bound(results)):
        first = cell.samples[0]
        cell.samples = [
            replace(
                first,
                result=replace(
                    first.result, measured=replace(first.result.measured, latency={round(10_000 * factor): 1000})
                ),
                round=number,
            )
            for number, factor in enumerate(factors(index, cell), start=1)
        ]
    return results


def test_the_runs_width_leans_neither_way() -> None:
    """A run's 8 cells of 2 repetitions (a loaded machine's): the run's spread reaches as far below each cell's
    median as above it, in log (a mean of two exponentials leant high: 1,278 and 4,092 req/s got [1,453, 6,859],
    without one of its own values), and each interval holds the cell's own values (546 and 80 got the spread's
    [136, 679] alone, without its 80)."""
    cells = [[621, 492], [1311, 1178], [138, 90], [546, 80], [1278, 4092], [2383, 1817], [148, 154], [888, 724]]
    spread = pooled_spread(cells)
    assert spread is not None
    for values in cells:
        repetitions = [float(value) for value in values]
        median = float(np.median(repetitions))
        low, high = np.percentile(spread_draws(median, spread, len(values), generator(*values)), [2.5, 97.5])
        below, above = np.log(median / low), np.log(high / median)
        assert abs(above - below) < 0.1 * below
        figure = estimate(repetitions, [np.full(RESAMPLES, value) for value in repetitions], generator(*values), spread)
        assert figure.low is not None and figure.high is not None
        assert figure.low <= min(values) and figure.high >= max(values) and figure.high > 0.9 * high
    # one repetition's draw is its value moved by any one of the run's deviations, each as likely as the others
    draws = spread_draws(100.0, np.log([0.5, 1.0, 2.0]), 1, generator("each deviation"))
    moved, counts = np.unique(np.round(draws, 6), return_counts=True)
    assert moved.tolist() == [50.0, 100.0, 200.0] and counts.min() > RESAMPLES / 4


def test_two_agreeing_p99s_in_a_noisy_run_get_the_runs_width(tmp_path: Path) -> None:
    results = with_p99(
        synthetic_results(tmp_path, free_threaded=False), lambda index, cell: (1.0, 1.0) if index == 0 else (1.0, 1.3)
    )
    quiet = estimates.latency(cpu_bound(results)[0], 99)
    assert quiet is not None and quiet.cv == 0.0 and quiet.half_width is not None
    assert quiet.half_width > 0.05  # its own two windows agree: the width is the run's
    alone = with_p99(
        synthetic_results(tmp_path, free_threaded=False),
        lambda index, cell: (1.0, 1.0) if index == 0 else (1.0, 1.3) if index < POOLED_LEAST_CELLS - 1 else (1.0,),
    )
    by_itself = estimates.latency(cpu_bound(alone)[0], 99)
    assert by_itself is not None and by_itself.half_width is not None and by_itself.half_width < 0.02


def test_a_cell_noisier_than_its_run_keeps_its_own_interval(tmp_path: Path) -> None:
    results = with_factors(
        synthetic_results(tmp_path, free_threaded=False), lambda index, cell: (1.0, 2.0) if index == 0 else (1.0, 1.01)
    )
    noisy, quiet = (estimates.rate(cell) for cell in cpu_bound(results)[:2])
    assert noisy is not None and quiet is not None and noisy.low is not None and noisy.high is not None
    assert noisy.high / noisy.low > 1.5  # its own two values, 2x apart
    assert quiet.half_width is not None and noisy.half_width is not None and quiet.half_width < noisy.half_width


def test_the_last_save_writes_the_intervals_with_the_final_spread(tmp_path: Path) -> None:
    results = with_factors(synthetic_results(tmp_path, free_threaded=False), lambda index, cell: (1.0, 1.01))
    results.complete = False
    path = tmp_path / "results.json"
    store = ResultsFile(path)
    store.save(results)
    watched = cpu_bound(results)[0]

    def stored_half_width() -> float:
        (entry,) = [
            entry
            for entry in json.loads(path.read_text())["cells"]
            if (entry["mode"], entry["gil_requested"], entry["endpoint"], entry["variant"])
            == (watched.mode, watched.gil_requested, watched.endpoint, watched.variant)
        ]
        return float(entry["requests_per_sec"]["half_width"])

    before = stored_half_width()
    for cell in cpu_bound(results)[1:]:  # the others get a third, far slower repetition: the run is noisier
        first = cell.samples[0]
        cell.samples.append(replace(first, result=with_requests(first.result, BASE // 2), round=3))
    store.save(results)
    assert stored_half_width() == before  # a save while the run goes on rewrites only the cells that changed
    results.complete = True
    store.save(results)
    final = stored_half_width()
    assert final > 2 * before
    ResultsFile(path).save(load(path))  # as `report` reads it back: each cell's interval on the same run's spread
    assert stored_half_width() == final


def test_a_cells_interval_holds_its_own_bootstrap_and_the_runs_spread() -> None:
    """546 and 80 req/s in a noisy run: the spread's interval, around their median, was the wider and was taken
    alone, [136, 679], without the cell's own 80; the interval now holds both."""
    values = [546.0, 80.0]
    spread = pooled_spread([[100.0, 300.0]] * POOLED_LEAST_CELLS)
    assert spread is not None
    replicates = [np.full(RESAMPLES, value) for value in values]
    own = estimate(values, replicates, generator("cell"))
    pooled = estimate(values, replicates, generator("cell"), spread)
    assert own.low is not None and own.high is not None and pooled.low is not None and pooled.high is not None
    assert own.low == pytest.approx(80) and own.high == pytest.approx(546)
    assert pooled.low <= own.low and pooled.high >= own.high  # what the cell's own bootstrap holds
    assert pooled.high > 1.1 * own.high  # and as wide as the run's spread reaches


def test_each_cell_and_stream_draws_apart(tmp_path: Path) -> None:
    """Seeds come from the cell's name and the figure: two cells that measured alike draw apart (a ratio of draws
    drawn together would be narrower than the two intervals allow), and so does ``compare``'s other run (its
    stream) for requests/sec and p99 alike."""
    results = with_factors(synthetic_results(tmp_path, free_threaded=False), lambda index, cell: (1.0, 1.2))
    first, second = cpu_bound(results)[:2]
    first.samples = [  # p99s of 2.0 and 2.5 ms
        replace(sample, result=replace(sample.result, measured=replace(sample.result.measured, latency=latency)))
        for sample, latency in zip(first.samples, ({1_000: 98, 2_000: 2}, {1_000: 98, 2_500: 2}), strict=True)
    ]
    figures = [estimates.rate(first), estimates.rate(second), estimates.rate(first, AFTER_STREAM)]
    figures += [estimates.latency(first, 99), estimates.latency(first, 99, AFTER_STREAM)]
    draws = [figure.draws for figure in figures if figure is not None and figure.draws is not None]
    assert len(draws) == 5
    assert all(not np.array_equal(one, other) for index, one in enumerate(draws) for other in draws[index + 1 :])
