"""``server-matrix compare``: run B against run A, cell by cell, as data. Pure: results in, changes out.

For every cell both runs measured, B/A of requests/sec and of p99 latency with the bootstrap
interval of the ratio (:mod:`server_matrix.statistics.uncertainty`); B's cells draw from another stream than
A's, so a run compared with itself gets two independent draws, not one copied. A cell measured once in
either run has no interval and gets no significance: a gateway cell is judged against its closed-loop
bound instead (a slowdown when A reached it and B no longer does), any other is shown, not judged. A cell A measured
that B did not (an error there, skipped, or missing) is *lost*: ``--fail-above`` fails on it as on
a slowdown, since B's numbers can no longer vouch for that server. A cell measured once that is not a gateway
cell is *unjudged*: ``--fail-above`` refuses to gate on such runs rather than pass them.

A cell is matched by its interpreter's path, or, when the other run has no cell of that path, by the
interpreter's build (implementation, version, free-threaded), when that build is one interpreter in each run:
the same Python installed elsewhere is the same Python. The parameters the numbers depend on
(``Parameters.measured``), and the interpreters matched across paths or builds, are noted when they differ.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from server_matrix.measuring.results import OK, Cell, MatrixResults
from server_matrix.planning.parameters import KNOBS
from server_matrix.planning.plan import CALLER_DEMO_VARIABLES, CellKey
from server_matrix.statistics import estimates
from server_matrix.statistics.uncertainty import POOLED_LEAST_CELLS, Estimate, Ratio, ratio
from server_matrix.statistics.verdicts import AT_BOUND, share_of_bound

AFTER_STREAM = 1  # B's draws, independent of A's (stream 0)
ABSENT = "absent"


@dataclass(frozen=True)
class FigureChange:
    """One figure of one cell in both runs, and B/A."""

    before: Estimate
    after: Estimate
    ratio: Ratio | None  # None when A's figure can be zero, or either is a bound (a latency with timeouts left out)
    higher_is_better: bool
    bounded: tuple[bool, bool] = (False, False)  # A's, B's figure is a bound under the real one: not judged

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
    """A gateway cell measured once in either run, judged against its closed-loop bound instead of an interval
    (the server's own where that is lower: ``share_of_bound``): each run's share of the bound, and whether it
    reached it (within the bound's tolerance, ``AT_BOUND``)."""

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
    flags: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # A's and B's cell flags: a number not the server's

    @property
    def single(self) -> bool:
        """A run measured it once: no interval, no significance."""
        return self.rate.before.single or self.rate.after.single

    @property
    def judged(self) -> bool:
        """It has an interval in both runs, or a bound to be judged against: ``--fail-above`` can tell a
        slowdown here from noise."""
        return not self.single or self.bound is not None

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
    notes: tuple[str, ...] = ()  # how A and B differ beyond their numbers: parameters, interpreters

    @property
    def unjudged(self) -> int:
        """How many compared cells ``--fail-above`` cannot judge: measured once, without a bound."""
        return sum(not change.judged for change in self.changes)

    @property
    def worst_slowdown(self) -> float | None:
        return max((change.slowdown for change in self.changes if change.slowdown), default=None)

    def failed(self, fail_above_pct: float | None) -> bool:
        """A cell was lost, or some significant slowdown exceeds ``fail_above_pct`` (never when it is None)."""
        worst = self.worst_slowdown
        return fail_above_pct is not None and (bool(self.lost) or (worst is not None and worst * 100 > fail_above_pct))


def _change(
    before: Estimate | None,
    after: Estimate | None,
    *,
    higher_is_better: bool,
    bounded: tuple[bool, bool] = (False, False),
) -> FigureChange | None:
    if before is None or after is None:
        return None
    return FigureChange(before, after, None if any(bounded) else ratio(before, after), higher_is_better, bounded)


def _cell_change(before: Cell, after: Cell) -> CellChange | None:
    rate = _change(estimates.rate(before), estimates.rate(after, AFTER_STREAM), higher_is_better=True)
    if rate is None:
        return None
    share_before, share_after = share_of_bound(before, rate.before), share_of_bound(after, rate.after)
    judged = (rate.before.single or rate.after.single) and share_before is not None and share_after is not None
    return CellChange(
        before.key,
        rate,
        _change(
            estimates.latency(before, 99),
            estimates.latency(after, 99, AFTER_STREAM),
            higher_is_better=False,
            bounded=(estimates.latency_bounded(before), estimates.latency_bounded(after)),
        ),
        BoundChange(share_before or 0.0, share_after or 0.0) if judged else None,
        (tuple(estimates.cell_flags(before)), tuple(estimates.cell_flags(after))),
    )


def _measured(results: MatrixResults) -> dict[CellKey, Cell]:
    return {key: cell for key, cell in results.cells.items() if cell.status == OK and cell.measured_results()}


def _builds(results: MatrixResults) -> dict[str, str]:
    """Each interpreter path's build (``CPython 3.14.7t``), from its cells and the run's interpreter list."""
    implementations = {entry.get("requested"): entry.get("implementation") for entry in results.interpreters}
    return {
        cell.python: f"{implementations.get(cell.python) or 'Python'} {cell.python_version}"
        + ("t" if cell.free_threaded_build else "")
        for cell in results.cells.values()
    }


def _unique(builds: dict[str, str]) -> dict[str, str]:
    """The build to path, for the builds only one interpreter of the run is."""
    counts = Counter(builds.values())
    return {build: path for path, build in builds.items() if counts[build] == 1}


def _pythons(builds_before: dict[str, str], builds_after: dict[str, str]) -> dict[str, str]:
    """A's interpreter paths to B's: the same path when B has it, else B's interpreter of the same build when
    that build is one interpreter in each run (and its path none of A's); a path with neither is left itself."""
    unique_before, unique_after = _unique(builds_before), _unique(builds_after)
    pythons = {}
    for path, build in builds_before.items():
        other = unique_after.get(build, path) if unique_before.get(build) == path else path
        pythons[path] = path if path in builds_after or other in builds_before else other
    return pythons


def _interpreter_notes(
    builds_before: dict[str, str], builds_after: dict[str, str], pythons: dict[str, str]
) -> list[str]:
    notes = []
    for path, matched in pythons.items():
        build, other = builds_before[path], builds_after.get(matched)
        if matched != path:
            notes.append(f"A's {path} and B's {matched} are the same build ({build}): their cells are compared")
        elif other is not None and other != build:
            notes.append(f"{path} is {build} in A and {other} in B")
    return notes


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_settings(results: MatrixResults) -> dict[str, Any]:
    """The settings beyond the parameters that a run's cells were measured with (one set per results.json: a run
    drops the cells measured otherwise): the database, the demo's variables from the caller's environment."""
    names = ("database", *CALLER_DEMO_VARIABLES)
    measurement = next((cell.measurement for cell in results.cells.values() if "database" in cell.measurement), {})
    return {name: measurement.get(name) for name in names} if measurement else {}


def _parameter_notes(before: MatrixResults, after: MatrixResults) -> list[str]:
    """The parameters every cell's numbers depend on, where A's and B's differ: ``--connections 8 in A, 512 in B``;
    the database and the demo's variables too (a run on PostgreSQL against one on SQLite was compared without a
    word)."""
    differing = [
        f"{rule.flag or name} {_value(before.parameters.get(name))} in A, {_value(after.parameters.get(name))} in B"
        for name, rule in KNOBS.items()
        if rule.measured and before.parameters.get(name) != after.parameters.get(name)
    ]
    settings_before, settings_after = run_settings(before), run_settings(after)
    if settings_before and settings_after:
        differing += [
            f"{name} {settings_before[name] or 'unset'} in A, {settings_after[name] or 'unset'} in B"
            for name in settings_before
            if settings_before[name] != settings_after[name]
        ]
    if not differing:
        return []
    return [f"A and B were run with different parameters, their numbers are not like for like: {'; '.join(differing)}"]


def _unpooled_notes(before: MatrixResults, after: MatrixResults) -> list[str]:
    """A run too small to pool its spread: its intervals are its cells' own bootstraps, about their range."""
    alone = [
        f"{count} in {run}" for run, results in (("A", before), ("B", after)) if (count := estimates.unpooled(results))
    ]
    if not alone:
        return []
    return [
        f"fewer than {POOLED_LEAST_CELLS} repeated CPU-bound cells ({', '.join(alone)}): their intervals are their "
        "own repetitions' bootstrap, not widened to the run's spread, and hold less than 95% (74% of the cells at "
        "two repetitions in this project's measurements), so a change marked significant is less sure than it says"
    ]


def compare_runs(before: MatrixResults, after: MatrixResults) -> RunComparison:
    """Every cell measured in both runs, in A's order; and the cells measured in one run only."""
    measured_before, measured_after = _measured(before), _measured(after)
    builds_before, builds_after = _builds(before), _builds(after)  # each interpreter path's build
    pythons = _pythons(builds_before, builds_after)
    matched = {key: replace(key, python=pythons[key.python]) for key in measured_before}
    changes = [
        change
        for key, cell in measured_before.items()
        if matched[key] in measured_after and (change := _cell_change(cell, measured_after[matched[key]])) is not None
    ]
    lost = [
        Lost(key, after.cells[other].status, after.cells[other].reason)
        if (other := matched[key]) in after.cells
        else Lost(key, ABSENT, None)
        for key in measured_before
        if matched[key] not in measured_after
    ]
    compared = set(matched.values())
    notes = (
        _parameter_notes(before, after)
        + _interpreter_notes(builds_before, builds_after, pythons)
        + _unpooled_notes(before, after)
    )
    return RunComparison(
        tuple(changes), tuple(lost), tuple(key for key in measured_after if key not in compared), tuple(notes)
    )
