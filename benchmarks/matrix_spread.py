"""Where two matrix runs' time and their cells' spread went, and what other designs would have given.

    python benchmarks/matrix_spread.py RUN1 RUN2 [--json OUT]

RUN1 and RUN2 are two results directories of the same matrix run back to back (the two runs of
``matrix_repeatability.py``). Everything is recomputed from their samples, nothing is run:

- **time**: each round's seconds, and how much of them went to the measurement windows, to the
  cells' own overheads (loadgen's start, the runtime probes, the save), to each server's start and
  warm-up (counted in its first cell), and to the rest (stopping the servers);
- **spread** of the repeated (CPU-bound) cells, in log requests/sec: its median across cells;
  how much of it is common to every cell of a round (the machine's drift: each round's median
  deviation), to the cells of one server start, and what is left; how far a window's two halves
  (its timeline's seconds) disagree, against how far two windows do; and how much slower each
  endpoint's first second is than its second (the ramp-up);
- **designs**: for each number of repetitions k, had every cell stopped after its first k rounds,
  the share of run 2's medians inside run 1's 95% intervals, the share of cells whose run-2/run-1
  ratio is significant (what ``compare`` flags) and run 1's median half-width, under: the
  bootstrap alone (the matrix before the run's spread was pooled), the same with each round's
  common drift divided out (a perfect reference measurement), with each window's first second
  dropped, with only its first second (a 1 s window), and the interval as the matrix computes it
  now (at least as wide as the run's pooled spread gives, ``statistics/uncertainty.py``), and the same
  with a robust, normal floor instead of the pooled deviations (the cells' median variance).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from server_matrix.measuring.results import OK, Cell, MatrixResults, Sample
from server_matrix.planning.plan import CellKey
from server_matrix.reporting.resultsfile import load
from server_matrix.statistics.uncertainty import (
    Estimate,
    estimate,
    generator,
    pooled_spread,
    rate_replicates,
    ratio,
)

Window = tuple[float, dict[int, int]]  # a repetition's requests/sec and its per-100 ms rates (value: count)
Design = Callable[[list[Sample]], list[Window]]


def repeated_cells(results: MatrixResults) -> dict[CellKey, Cell]:
    return {
        key: cell
        for key, cell in results.cells.items()
        if cell.status == OK and cell.window.ceiling_rps is None and len(cell.samples) > 1
    }


def started(sample: Sample) -> float:
    return datetime.fromisoformat(sample.started_at or "").timestamp()


def overhead(sample: Sample) -> float:
    """The sample's seconds outside its measurement window."""
    return (sample.elapsed_s or 0.0) - (sample.result.runtime_s if sample.result else 0.0)


def round_time(results: MatrixResults) -> list[dict[str, float]]:
    """Each round's seconds (first start to last end) and where they went."""
    rounds: dict[int, list[tuple[Cell, Sample]]] = defaultdict(list)
    for cell in results.cells.values():
        for sample in cell.samples:
            if sample.status == OK and sample.started_at and sample.elapsed_s is not None:
                rounds[sample.round].append((cell, sample))
    rows = []
    for number, pairs in sorted(rounds.items()):
        samples = sorted((sample for _, sample in pairs), key=started)
        first_of_server: dict[int | None, Sample] = {}
        for sample in samples:
            first_of_server.setdefault(sample.server.pid, sample)
        firsts = {id(sample) for sample in first_of_server.values()}
        windows = sum(sample.result.runtime_s for sample in samples if sample.result is not None)
        cell_overhead = statistics.median(overhead(sample) for sample in samples if id(sample) not in firsts)
        starts = sum(overhead(sample) - cell_overhead for sample in first_of_server.values())
        elapsed = sum(sample.elapsed_s or 0.0 for sample in samples)
        span = started(samples[-1]) - started(samples[0]) + (samples[-1].elapsed_s or 0.0)
        rows.append(
            {
                "round": number,
                "cells": len(samples),
                "gateway_cells": sum(cell.window.ceiling_rps is not None for cell, _ in pairs),
                "seconds": span,
                "windows_s": windows,
                "gateway_windows_s": sum(
                    sample.result.runtime_s for cell, sample in pairs if cell.window.ceiling_rps and sample.result
                ),
                "gateway_overheads_s": sum(overhead(sample) for cell, sample in pairs if cell.window.ceiling_rps),
                "cell_overheads_s": elapsed - windows - starts,
                "server_starts_s": starts,
                "servers": len(first_of_server),
                "rest_s": span - elapsed,
            }
        )
    return rows


def logs(cell: Cell) -> np.ndarray:
    return np.log(np.maximum([sample.requests_per_sec or 0.0 for sample in cell.samples], 1e-9))


def spread(cells: dict[CellKey, Cell]) -> dict[str, object]:
    """The repeated cells' spread in log requests/sec, and its parts."""
    rounds = max(len(cell.samples) for cell in cells.values())  # the cells that ran every round, measured each time
    keys = [
        key
        for key, cell in cells.items()
        if len(cell.samples) == rounds and min(sample.requests_per_sec or 0 for sample in cell.samples) > 0
    ]
    table = np.array([logs(cells[key]) for key in keys])
    table -= table.mean(axis=1, keepdims=True)
    drift = np.median(table, axis=0)
    without_drift = table - drift
    without_start = without_drift.copy()
    for mode in {key.mode for key in keys}:
        rows = [index for index, key in enumerate(keys) if key.mode == mode]
        without_start[rows] -= np.median(without_drift[rows], axis=0)

    def typical(values: np.ndarray) -> float:
        return float(np.sqrt(np.median(values.var(axis=1, ddof=1))))

    halves, whole, ramp = [], [], defaultdict(list)
    for key in keys:
        seconds = [
            sample.result.timeline[:2]
            for sample in cells[key].samples
            if sample.result is not None and len(sample.result.timeline) > 1
        ]
        firsts = np.array([first.requests_per_sec for first, _ in seconds])
        seconds_ = np.array([second.requests_per_sec for _, second in seconds])
        ramp[key.endpoint].extend(seconds_[firsts > 0] / firsts[firsts > 0])
        if len(seconds) > 2 and firsts.min() > 0 and seconds_.min() > 0:
            halves.append(float(np.std(np.log(seconds_ / firsts), ddof=1) / np.sqrt(2)))
            whole.append(float(np.std(np.log(firsts + seconds_), ddof=1)))
    return {
        "cells": len(keys),
        "rounds": rounds,
        "typical_sd": typical(table),
        "round_drift": [round(float(np.exp(value)), 3) for value in drift],
        "typical_sd_without_round_drift": typical(without_drift),
        "typical_sd_without_server_start": typical(without_start),
        # None: no cell had three windows of two seconds or more (a 1 s window, or cells measured twice)
        "one_second_sd_inside_a_window": statistics.median(halves) if halves else None,
        "two_second_window_sd_across_windows": statistics.median(whole) if whole else None,
        "second_over_first_second": {name: round(statistics.median(found), 3) for name, found in ramp.items() if found},
    }


def as_measured(samples: list[Sample]) -> list[Window]:
    return [(sample.requests_per_sec or 0.0, sample.result.req_per_sec.counts) for sample in samples if sample.result]


def one_second(index: int) -> Design:
    """A window of the timeline's second ``index`` only."""

    def design(samples: list[Sample]) -> list[Window]:
        return [
            (sample.result.timeline[index].requests_per_sec, sample.result.req_per_sec.counts)
            for sample in samples
            if sample.result is not None and len(sample.result.timeline) > index
        ]

    return design


def normal_spread(values: list[list[float]], k: int) -> np.ndarray:
    """A robust floor instead of the pooled deviations: normal, with the cells' median variance (in log, corrected
    to a mean by the chi-square's median), as evenly spaced quantiles."""
    variances = [np.var(np.log(found), ddof=1) for found in values if min(found) > 0]
    chi2_median = np.median(np.random.default_rng(0).chisquare(k - 1, 200_000))
    sigma = np.sqrt(np.median(variances) * (k - 1) / chi2_median)
    normal = statistics.NormalDist()
    return np.array([normal.inv_cdf((index + 0.5) / 2000) for index in range(2000)]) * sigma


def figures(
    cells: dict[CellKey, Cell], k: int, design: Design, pooled: bool | str, drift: bool, stream: int
) -> dict[CellKey, Estimate]:
    """Each cell's estimate over its first k repetitions under ``design``."""
    windows = {key: design(cell.samples[:k]) for key, cell in cells.items()}
    windows = {key: found for key, found in windows.items() if len(found) == k}
    if drift:  # each round divided by the median, over the other cells, of their value there over their median
        deviation = {
            key: np.log(np.maximum([value for value, _ in found], 1e-9))
            - np.log(max(np.median([v for v, _ in found]), 1e-9))
            for key, found in windows.items()
        }
        corrected = {}
        for key, found in windows.items():
            factors = [np.exp(np.median([deviation[other][r] for other in windows if other != key])) for r in range(k)]
            corrected[key] = [
                (value / factor, {rate / factor: count for rate, count in counts.items()})
                for (value, counts), factor in zip(found, factors, strict=True)
            ]
        windows = corrected
    values = [[value for value, _ in found] for found in windows.values()]
    run_spread = (normal_spread(values, k) if pooled == "normal" else pooled_spread(values)) if pooled else None
    by_endpoint = {
        endpoint: pooled_spread(
            [[value for value, _ in found] for key, found in windows.items() if key.endpoint == endpoint]
        )
        for endpoint in {key.endpoint for key in windows}
    }
    result = {}
    for key, found in windows.items():
        if pooled == "endpoint":
            run_spread = by_endpoint[key.endpoint]
        seed = str(key)
        replicates = [
            rate_replicates(value, counts, generator(seed, stream, index))
            for index, (value, counts) in enumerate(found)
        ]
        result[key] = estimate([value for value, _ in found], replicates, generator(seed, stream), run_spread)
    return result


# name: the windows, the run's spread as a floor (pooled, or "normal"), drift divided out
DESIGNS: dict[str, tuple[Design, bool | str, bool]] = {
    "bootstrap alone (before)": (as_measured, False, False),
    "round drift divided out": (as_measured, False, True),
    "first second dropped": (one_second(1), False, False),
    "first second only (a 1 s window)": (one_second(0), False, False),
    "with the run's pooled spread (now)": (as_measured, True, False),
    "a normal floor (the median variance)": (as_measured, "normal", False),
    "the spread pooled per endpoint": (as_measured, "endpoint", False),
}


def designs(one: dict[CellKey, Cell], two: dict[CellKey, Cell]) -> list[dict[str, object]]:
    reached = {key: min(len(one[key].samples), len(two[key].samples)) for key in one if key in two}
    rows = []
    for name, (design, pooled, drift) in DESIGNS.items():
        for k in range(2, max(reached.values()) + 1):
            both = [key for key, count in reached.items() if count >= k]  # the cells that ran k times in both
            before = figures({key: one[key] for key in both}, k, design, pooled, drift, 1)
            after = figures({key: two[key] for key in both}, k, design, pooled, drift, 2)
            judged = [key for key in before if key in after and before[key].low is not None]
            inside = [before[key].low <= after[key].median <= before[key].high for key in judged]  # type: ignore[operator]
            ratios = [ratio(before[key], after[key]) for key in judged]
            rows.append(
                {
                    "design": name,
                    "k": k,
                    "cells": len(judged),
                    "inside": sum(inside) / len(judged),
                    "flagged": sum(bool(found and found.significant) for found in ratios) / len(judged),
                    "half_width": statistics.median(before[key].half_width or 0.0 for key in judged),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs=2, metavar="RUN")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    runs = [load(path / "results.json" if path.is_dir() else path) for path in args.runs]
    repeated = [repeated_cells(run) for run in runs]
    for path, cells in zip(args.runs, repeated, strict=True):
        if not cells:
            parser.error(
                f"{path}: no CPU-bound cell was measured more than once: there is no spread to take apart "
                "(give two runs of matrix_repeatability.py)"
            )
        windows = [sample.result for cell in cells.values() for sample in cell.samples if sample.result]
        if not any(len(window.timeline) > 1 for window in windows):
            parser.error(
                f"{path}: no window holds two seconds (the quick profile's are 1 s): the designs that drop or keep "
                "a window's first second need them (give two runs of matrix_repeatability.py)"
            )
    record = {
        "wall_time_s": [run.wall_time_s for run in runs],
        "time": [round_time(run) for run in runs],
        "spread": [spread(cells) for cells in repeated],
        "designs": designs(*repeated),
    }
    for number, rows in enumerate(record["time"], start=1):
        print(f"run {number}: {record['wall_time_s'][number - 1]:.0f} s")
        for row in rows:
            print("  " + ", ".join(f"{name} {value:.0f}" for name, value in row.items()))
    for number, found in enumerate(record["spread"], start=1):
        print(f"run {number} spread: " + json.dumps(found))
    print(f"{'design':38} {'k':>2} {'cells':>5} {'inside':>7} {'flagged':>7} {'half-width':>10}")
    for row in record["designs"]:
        print(
            f"{row['design']:38} {row['k']:>2} {row['cells']:>5} {row['inside']:>7.1%} {row['flagged']:>7.1%} "
            f"{row['half_width']:>10.1%}"
        )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
