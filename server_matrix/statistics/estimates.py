"""Each cell's figures over its repetitions (requests/sec, latency percentiles, with their intervals) and flags.

The figures are computed once per cell and number of samples (a running matrix appends samples)
and kept beside the cell, not in it: the results model knows nothing of statistics. A CPU-bound
cell's requests/sec and latency percentiles also draw on its run's spread of the same figure
(``uncertainty.pooled_spread`` of the run's repeated CPU-bound cells: a p99 that two repetitions
happen to agree on is no surer than their requests/sec), so they are computed again when the run
has more samples. Seeds come
from the cell's name and the figure, so a report is reproducible; another ``stream`` draws
independently (``compare`` of a run with itself).
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakKeyDictionary

import numpy as np

import loadgen
from server_matrix.measuring.results import Cell, MatrixResults, Sample
from server_matrix.statistics import flags
from server_matrix.statistics.uncertainty import (
    Draws,
    Estimate,
    estimate,
    generator,
    percentile_replicates,
    pooled_spread,
    rate_replicates,
)

# per cell and figure: the samples and run samples it was computed over, and the figure (the latest only)
_KEPT: WeakKeyDictionary[Cell, dict[tuple[object, ...], tuple[tuple[int, int], Estimate | None]]] = WeakKeyDictionary()
# per run and figure ("rate", "p99"): the count of samples the run's spread was computed from, and the spread
_SPREADS: WeakKeyDictionary[MatrixResults, dict[str, tuple[int, Draws | None]]] = WeakKeyDictionary()

Figure = Callable[[loadgen.Result], float | None]


def _seed(cell: Cell) -> str:
    return f"{cell.python}|{cell.key.label}"


def _repeated(cell: Cell) -> bool:
    """A CPU-bound cell (no closed-loop bound) with more than one repetition measured."""
    return cell.window.ceiling_rps is None and len(cell.measured_results()) > 1


def requests_per_sec(result: loadgen.Result) -> float | None:
    return result.requests_per_sec


def run_spread(
    run: MatrixResults, figure: str = "rate", value_of: Figure = requests_per_sec
) -> tuple[int, Draws | None]:
    """The run's pooled spread of a figure over its repeated CPU-bound cells, and the count of samples it was
    computed from (a running matrix adds samples: a new count, a new spread)."""
    count = sum(len(cell.samples) for cell in run.cells.values())
    spreads = _SPREADS.setdefault(run, {})
    kept = spreads.get(figure)
    if kept is None or kept[0] != count:
        values = [
            [value for _, result in cell.measured_results() if (value := value_of(result)) is not None]
            for cell in run.cells.values()
            if _repeated(cell)
        ]
        kept = spreads[figure] = (count, pooled_spread(values))
    return kept


def unpooled(run: MatrixResults) -> int:
    """How many repeated CPU-bound cells have intervals from their own repetitions alone: every one when the run has
    too few of them to pool its spread (``uncertainty.POOLED_LEAST_CELLS``), else none."""
    repeated = sum(_repeated(cell) for cell in run.cells.values())
    return repeated if repeated and run_spread(run)[1] is None else 0


def _estimate(
    cell: Cell,
    name: tuple[object, ...],
    value_of: Figure,
    replicates_of: Callable[[float, loadgen.Result, np.random.Generator], np.ndarray],
) -> Estimate | None:
    kept = _KEPT.setdefault(cell, {})
    figure = str(name[0])
    count, spread = run_spread(cell.run, figure, value_of) if cell.run is not None and _repeated(cell) else (0, None)
    over = (len(cell.samples), count)
    if name not in kept or kept[name][0] != over:
        pairs = [(value, result) for _, result in cell.measured_results() if (value := value_of(result)) is not None]
        replicates = [
            replicates_of(value, result, generator(_seed(cell), *name, index))
            for index, (value, result) in enumerate(pairs)
            if len(pairs) > 1  # a single measurement gets no bootstrap
        ]
        values = [value for value, _ in pairs]
        kept[name] = (over, estimate(values, replicates, generator(_seed(cell), *name), spread) if pairs else None)
    return kept[name][1]


def rate(cell: Cell, stream: int = 0) -> Estimate | None:
    """Requests/sec over the repetitions (None when none ran to its end); a CPU-bound cell's interval at least as
    wide as its run's spread gives."""
    return _estimate(
        cell,
        ("rate", stream),
        requests_per_sec,
        lambda value, result, rng: rate_replicates(value, result.req_per_sec.counts, rng),
    )


def latency(cell: Cell, percentile: float, stream: int = 0) -> Estimate | None:
    """A latency percentile (µs) over the repetitions, as :func:`rate` (its interval at least as wide as the run's
    spread of that percentile gives)."""

    def replicates(value: float, result: loadgen.Result, rng: np.random.Generator) -> np.ndarray:
        distribution = result.latency
        return percentile_replicates(value, distribution.bins, distribution.hidden, percentile, rng)

    def value(result: loadgen.Result) -> float | None:
        return float(result.latency.percentile(percentile)) if result.latency.count else None

    return _estimate(cell, (f"p{percentile:g}", stream), value, replicates)


def latency_bounded(cell: Cell) -> bool:
    """A repetition the percentiles are of had timeouts: wrk leaves those responses, each slower than every one kept,
    out of the latency, so the cell's percentiles are bounds under the real ones (a ratio of them is no change in
    latency). A failed repetition's timeouts left nothing out of them: it is not among their repetitions."""
    return any(result.errors.timeout for _, result in cell.measured_results())


def sample_flags(sample: Sample) -> list[str]:
    """One repetition's own flags (``unstable`` and ``gil-mismatch`` belong to the cell)."""
    found = set()
    result = sample.result
    if result is not None and result.requests == 0:
        found.add(flags.NO_RESPONSE)
    if result is not None and result.client_cpu.saturated:
        found.add(flags.CLIENT_BOUND)
    if sample.starvation is not None:
        found.add(flags.STARVED)
    machine = sample.machine or {}
    if machine.get("other_share", 0) > flags.OTHER_CPU or machine.get("steal_share", 0) > flags.STEAL:
        found.add(flags.INTERFERENCE)
    server = sample.server
    signals = {
        flags.SERVER_RESTARTED: server.restarted,
        flags.WORKER_RESTARTS: server.worker_restarts,
        flags.WORKER_TIMEOUTS: server.worker_timeouts,
        flags.TRACEBACKS: server.tracebacks,
    }
    found.update(flag for flag, present in signals.items() if present)
    return [flag for flag in flags.ORDER if flag in found]


def flag_counts(cell: Cell) -> dict[str, int]:
    """Each flag with the number of repetitions that raised it (the cell's own flags count 1)."""
    counts: dict[str, int] = {}
    for sample in cell.samples:
        for flag in sample_flags(sample):
            counts[flag] = counts.get(flag, 0) + 1
    figure = rate(cell)
    if figure is not None and figure.cv is not None and figure.cv > flags.UNSTABLE_CV:
        counts[flags.UNSTABLE] = 1
    if cell.gil_mismatch:
        counts[flags.GIL_MISMATCH] = sum(sample.gil_mismatch(cell.gil_requested) for sample in cell.samples)
    return {flag: counts[flag] for flag in flags.ORDER if flag in counts}


def cell_flags(cell: Cell) -> list[str]:
    return list(flag_counts(cell))
