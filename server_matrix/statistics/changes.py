"""``server-matrix compare``: run B against run A, cell by cell, as data. Pure: results in, changes out.

For every cell both runs measured, B/A of requests/sec and of p99 latency with the bootstrap
interval of the ratio (:mod:`server_matrix.statistics.uncertainty`); B's cells draw from another stream than
A's, so a run compared with itself gets two independent draws, not one copied. A cell measured once in
either run has no interval and gets no significance: a gateway cell is judged against its closed-loop
bound instead (a slowdown when A reached it and B no longer does), any other is shown, not judged. A cell A measured
that B did not (an error there, skipped, or missing) is *lost*: ``--fail-above`` fails on it as on
a slowdown, since B's numbers can no longer vouch for that server.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_matrix.measuring.results import OK, Cell, MatrixResults
from server_matrix.planning.plan import CellKey
from server_matrix.statistics import estimates
from server_matrix.statistics.uncertainty import Estimate, Ratio, ratio
from server_matrix.statistics.verdicts import AT_BOUND, share_of_bound

AFTER_STREAM = 1  # B's draws, independent of A's (stream 0)
ABSENT = "absent"


@dataclass(frozen=True)
class FigureChange:
    """One figure of one cell in both runs, and B/A."""

    before: Estimate
    after: Estimate
    ratio: Ratio | None  # None when A's figure can be zero
    higher_is_better: bool

    @property
    def slowdown(self) -> float | None:
        """How much worse B is (0.25: 25%) when the change is significant and for the worse; else None."""
        change = self.ratio
        if change is None or not change.significant:
            return None
        worse = 1 - change.value if self.higher_is_better else change.value - 1
        return worse if worse > 0 else None


@dataclass(frozen=True)
class BoundChange:
    """A gateway cell measured once in either run, judged against its closed-loop bound instead of an interval:
    each run's share of the bound, and whether it reached it (within the bound's tolerance, ``AT_BOUND``)."""

    before: float
    after: float

    @property
    def reached(self) -> tuple[bool, bool]:
        return self.before >= AT_BOUND, self.after >= AT_BOUND

    @property
    def slowdown(self) -> float | None:
        """B no longer reaches the bound A reached: how far it fell (0.3: 30%)."""
        if self.reached != (True, False):
            return None
        return 1 - self.after / self.before


@dataclass(frozen=True)
class CellChange:
    key: CellKey
    rate: FigureChange
    p99: FigureChange | None  # None when a run has no latency (every request failed)
    bound: BoundChange | None = None  # a gateway cell with a single measurement: judged against its bound

    @property
    def single(self) -> bool:
        """A run measured it once: no interval, no significance."""
        return self.rate.before.single or self.rate.after.single

    @property
    def slowdown(self) -> float | None:
        """The larger of the two significant slowdowns, or the fall below the bound, if any."""
        changes = (self.rate, self.p99, self.bound)
        found = [change.slowdown for change in changes if change is not None and change.slowdown]
        return max(found, default=None)


@dataclass(frozen=True)
class Lost:
    """A cell A measured and B did not: what became of it in B."""

    key: CellKey
    in_after: str  # error, skipped, or absent
    reason: str | None


@dataclass(frozen=True)
class RunComparison:
    changes: tuple[CellChange, ...]
    lost: tuple[Lost, ...]  # measured in A, not in B
    only_after: tuple[CellKey, ...]

    @property
    def worst_slowdown(self) -> float | None:
        return max((change.slowdown for change in self.changes if change.slowdown), default=None)

    def failed(self, fail_above_pct: float | None) -> bool:
        """A cell was lost, or some significant slowdown exceeds ``fail_above_pct`` (never when it is None)."""
        worst = self.worst_slowdown
        return fail_above_pct is not None and (bool(self.lost) or (worst is not None and worst * 100 > fail_above_pct))


def _change(before: Estimate | None, after: Estimate | None, *, higher_is_better: bool) -> FigureChange | None:
    if before is None or after is None:
        return None
    return FigureChange(before, after, ratio(before, after), higher_is_better)


def _cell_change(before: Cell, after: Cell) -> CellChange | None:
    rate = _change(estimates.rate(before), estimates.rate(after, AFTER_STREAM), higher_is_better=True)
    if rate is None:
        return None
    share_before, share_after = share_of_bound(before, rate.before), share_of_bound(after, rate.after)
    judged = (rate.before.single or rate.after.single) and share_before is not None and share_after is not None
    return CellChange(
        before.key,
        rate,
        _change(estimates.latency(before, 99), estimates.latency(after, 99, AFTER_STREAM), higher_is_better=False),
        BoundChange(share_before or 0.0, share_after or 0.0) if judged else None,
    )


def _measured(results: MatrixResults) -> dict[CellKey, Cell]:
    return {key: cell for key, cell in results.cells.items() if cell.status == OK and cell.measured_results()}


def compare_runs(before: MatrixResults, after: MatrixResults) -> RunComparison:
    """Every cell measured in both runs, in A's order; and the cells measured in one run only."""
    measured_before, measured_after = _measured(before), _measured(after)
    changes = [
        change
        for key, cell in measured_before.items()
        if key in measured_after and (change := _cell_change(cell, measured_after[key])) is not None
    ]
    lost = [
        Lost(key, after.cells[key].status, after.cells[key].reason) if key in after.cells else Lost(key, ABSENT, None)
        for key in measured_before
        if key not in measured_after
    ]
    return RunComparison(
        tuple(changes), tuple(lost), tuple(key for key in measured_after if key not in measured_before)
    )
