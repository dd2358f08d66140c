"""What one save of results.json costs at the end of a full run: every cell serialised again (a new
``ResultsFile``) against only the cell that changed (the runner's ``ResultsFile``, which keeps each cell's text).

    python benchmarks/matrix_save.py matrix-results/default/results.json [--saves 20]

The runner saves after every measurement, so the first figure, times the number of measurements,
is what a run spent saving; it grows with the run. Prints medians and the range in milliseconds.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from server_matrix.measuring.results import MatrixResults
from server_matrix.reporting.resultsfile import ResultsFile, load


def timed(action: Callable[[], object], saves: int) -> list[float]:
    times = []
    for _ in range(saves):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    results: MatrixResults = load(args.results)
    cell = next(cell for cell in results.cells.values() if cell.samples)
    kept = ResultsFile(args.results)
    kept.text(results)  # every cell's text kept, as after the previous save

    def every_cell() -> object:
        return ResultsFile(args.results).text(results)

    repetitions = [copy.deepcopy(cell) for _ in range(args.saves)]

    def changed_cell_only() -> object:
        results.add_samples(repetitions.pop())  # one more repetition of one cell, as after a measurement
        return kept.text(results)

    size = len(kept.text(results))
    for name, action in (("every cell serialised", every_cell), ("the changed cell only", changed_cell_only)):
        times = timed(action, args.saves)
        print(
            f"{name:>22}: {statistics.median(times):7.1f} ms per save [{min(times):.1f}, {max(times):.1f}], "
            f"{len(results.cells)} cells, {size / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
