"""When a cell has been measured enough, and why it stopped: the adaptive repetitions' rule, as data.

Sequential, as pyperf calibrates: a CPU-bound cell is measured its least number of times (2), then
again, one more repetition per round, until its 95% interval's half-width is within the run's
``--precision`` (5% of the median by default) or it reaches ``--max-repeat``. A cell with a tight
interval costs two runs, a noisy one the most; the rounds end when no cell needs more, or when the
next one would take the run past its ``--time-budget`` (the runner's, ``TIME_BUDGET``). ``--repeat N``
fixes the count; a gateway endpoint is measured once (its rate is known in advance). The reason is
recorded with the cell (results.json's ``stopped``). Pure: a cell and its rule in, a reason out.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_matrix.measuring.results import ERROR, OK, Cell
from server_matrix.planning.parameters import Repetitions

PRECISION = "precision"
MAX_REPEAT = "max-repeat"
REPEAT = "repeat"
ONCE = "once"
FAILED = "failed"
TIME_BUDGET = "time-budget"

MEANINGS: dict[str, str] = {
    PRECISION: "its 95% interval's half-width came within --precision of the median",
    MAX_REPEAT: "it reached --max-repeat with its interval still wider than --precision",
    REPEAT: "it reached the fixed --repeat count",
    ONCE: "a gateway endpoint, measured once: its closed-loop rate is known in advance, the run checks it",
    FAILED: "a repetition failed: more runs would not make it a measurement",
    TIME_BUDGET: "its interval was still wider than --precision, but another round would have taken the run past "
    "--time-budget",
}
REASONS = tuple(MEANINGS)


@dataclass(frozen=True)
class StoppingRule:
    """Called after every measurement of a cell (``MatrixRun.judge``): why it needs no more, or None."""

    precision: float  # the half-width to reach, as a share of the median

    def __call__(self, cell: Cell, repetitions: Repetitions) -> str | None:
        runs = len(cell.samples)
        if runs < repetitions.least:
            return None
        if cell.status == ERROR:
            return FAILED
        if cell.status != OK:
            return None  # skipped: nothing measured, nothing to say
        if not repetitions.adaptive:
            return ONCE if cell.window.ceiling_rps is not None and repetitions.most == 1 else REPEAT
        from server_matrix.statistics import estimates  # numpy: here, not for results.json's reader of the reasons

        figure = estimates.rate(cell)
        width = None if figure is None else figure.half_width
        if width is not None and width <= self.precision:
            return PRECISION
        return MAX_REPEAT if runs >= repetitions.most else None
