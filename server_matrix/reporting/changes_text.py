"""``server-matrix compare``'s outputs: a markdown table for a pull request, or JSON. Pure: data in, text out."""

from __future__ import annotations

import json

from server_matrix.planning.modetext import counted, plural
from server_matrix.planning.plan import CellKey
from server_matrix.reporting.numbers import SIGNIFICANT, plain_rate, ratio_text, share_text, time_text
from server_matrix.statistics.changes import ABSENT, CellChange, FigureChange, Lost, RunComparison
from server_matrix.statistics.uncertainty import CONFIDENCE, NOISE
from server_matrix.statistics.verdicts import AT_BOUND


def _label(key: CellKey, several_pythons: bool) -> str:
    return f"{key.label} [{key.python}]" if several_pythons else key.label


def _several_pythons(comparison: RunComparison) -> bool:
    """More than one interpreter path among the cells listed: each label then names its path, so that a cell
    measured in A only and one measured in B only under another interpreter do not read as the same cell."""
    keys = [change.key for change in comparison.changes] + [cell.key for cell in comparison.lost]
    return len({key.python for key in [*keys, *comparison.only_after]}) > 1


def _slowdown_text(change: CellChange) -> str:
    """``slower: req/s -20%, p99 +35%``: each significant change for the worse; for a cell measured once, how it
    stands against its closed-loop bound, or that it is not judged. A slowdown of a flagged cell names its flags
    (``; flagged: B interference``): its number may not be the server's, as the report says of it."""
    if change.single:
        return _single_text(change) + (_flags_text(change) if change.slowdown else "")
    figures = (("req/s", "-", change.rate), ("p99", "+", change.p99))
    parts = [
        f"{name} {sign}{worse:.0%}"
        for name, sign, figure in figures
        if figure is not None and (worse := figure.slowdown)
    ]
    return f"slower: {', '.join(parts)}{_flags_text(change)}" if parts else ""


def _flags_text(change: CellChange) -> str:
    """``; flagged: A unstable; B interference, unstable``, or nothing when neither run's cell is flagged."""
    named = [f"{run} {', '.join(flags)}" for run, flags in zip("AB", change.flags, strict=True) if flags]
    return f"; flagged: {'; '.join(named)}" if named else ""


def _single_text(change: CellChange) -> str:
    """``once: at the bound in both (A 98%, B 97%)``; ``once: slower: below the bound in B (A 98%, B 61%)``."""
    bound = change.bound
    if bound is None:
        return "once: no interval, not judged"
    shares = f"(A {share_text(bound.before)}, B {share_text(bound.after)} of the bound)"
    verdict = {
        (True, True): "at the bound in both",
        (True, False): "slower: below the bound in B",
        (False, True): "at the bound in B only",
        (False, False): "below the bound in both",
    }[bound.reached]
    return f"once: {verdict} {shares}"


def _rate_ratio_text(change: CellChange) -> str:
    """B/A with its interval; a single measurement's plain ratio, which has none."""
    rate = change.rate
    if change.single:
        return f"{rate.after.median / rate.before.median:.2f} (once)" if rate.before.median > 0 else "-"
    return ratio_text(rate.ratio)


def _p99_texts(change: FigureChange | None) -> tuple[str, str, str]:
    """A's and B's p99 (``≥ 241.12ms``: timeouts left out, a bound under it) and B/A, not judged on a bound."""
    if change is None:
        return "-", "-", "-"
    before, after = (
        time_text(figure.median, bounded)
        for figure, bounded in zip((change.before, change.after), change.bounded, strict=True)
    )
    return before, after, "timeouts: not judged" if any(change.bounded) else ratio_text(change.ratio)


def markdown(comparison: RunComparison, fail_above_pct: float | None = None) -> str:
    several = _several_pythons(comparison)
    lines = [
        *(f"> note: {note}" for note in comparison.notes),
        *([""] if comparison.notes else []),
        "| Cell | A req/s | B req/s | B/A req/s [95% CI] | A p99 | B p99 | B/A p99 [95% CI] | Slowdown |",
        "|---|---:|---:|---|---:|---:|---|---|",
    ]
    for change in comparison.changes:
        before_p99, after_p99, p99_ratio = _p99_texts(change.p99)
        lines.append(
            f"| {_label(change.key, several)} | {plain_rate(change.rate.before.median)} "
            f"| {plain_rate(change.rate.after.median)} | {_rate_ratio_text(change)} | {before_p99} "
            f"| {after_p99} | {p99_ratio} | {_slowdown_text(change)} |"
        )
    lines += ["", *_legend_lines(comparison), *_unmatched_lines(comparison, several)]
    if fail_above_pct is not None:
        verdict = "fails" if comparison.failed(fail_above_pct) else "passes"
        why = [_worst_text(comparison, several)]
        if comparison.lost:
            why.append(f"{counted(len(comparison.lost), 'cell')} measured in A not measured in B")
        lines.append(f"--fail-above {fail_above_pct:g}%: {verdict} ({'; '.join(why)}).")
    return "\n".join(lines) + "\n"


def _legend_lines(comparison: RunComparison) -> list[str]:
    """What the table's marks mean, with how many changes are significant and how many cells were measured once."""
    significant = sum(
        1
        for change in comparison.changes
        for figure in (change.rate, change.p99)
        if figure is not None and figure.ratio is not None and figure.ratio.significant
    )
    lines = [
        f"{len(comparison.changes)} cells in both runs; {SIGNIFICANT}: significant, the {CONFIDENCE:.0%} interval "
        f"of B/A leaves out 1 and B/A is more than {NOISE:.0%} away from 1; "
        f"{significant} such {plural(significant, 'change')}.",
    ]
    singles = sum(change.single for change in comparison.changes)
    if singles:
        lines.append(
            f"{counted(singles, 'cell')} measured once (`once`): no interval and no significance; a gateway "
            f"cell is judged against its closed-loop bound instead (reached from {share_text(AT_BOUND)} of it), a "
            "slowdown when A reached it and B does not."
        )
    return lines


def _unmatched_lines(comparison: RunComparison, several: bool) -> list[str]:
    """The cells measured in one run only."""
    lines = []
    if comparison.lost:
        lost = ", ".join(f"{_label(cell.key, several)} ({_lost_text(cell)})" for cell in comparison.lost)
        lines.append(f"Measured in A, not measured in B: {lost}.")
    if comparison.only_after:
        lines.append(f"Measured in B only: {', '.join(_label(key, several) for key in comparison.only_after)}.")
    return lines


def _worst_text(comparison: RunComparison, several: bool) -> str:
    """``the worst significant slowdown is 21%, in wsgi-sync default build json sync``; when that cell was measured
    once, how far it fell below the bound A reached (a single measurement is never significant: the table counts
    none there)."""
    worst = comparison.worst_slowdown
    change = next((change for change in comparison.changes if worst and change.slowdown == worst), None)
    if change is None or not worst:
        return "no significant slowdown"
    what = "fall below the bound A reached" if change.single else "significant slowdown"
    return f"the worst {what} is {worst:.0%}, in {_label(change.key, several)}"


def _lost_text(cell: Lost) -> str:
    if cell.in_after == ABSENT:
        return "not in B"
    return f"{cell.in_after} in B" + (f": {cell.reason}" if cell.reason else "")


def _change_json(change: FigureChange | None) -> dict[str, object] | None:
    if change is None:
        return None
    return {
        "a": {"median": change.before.median, "ci95": change.before.to_json()["ci95"]},
        "b": {"median": change.after.median, "ci95": change.after.to_json()["ci95"]},
        "ratio": None if change.ratio is None else change.ratio.to_json(),
        "slowdown": change.slowdown,
    }


def _bound_json(change: CellChange) -> dict[str, object] | None:
    bound = change.bound
    if bound is None:
        return None
    reached = bound.reached
    return {"a_share": bound.before, "b_share": bound.after, "a_reached": reached[0], "b_reached": reached[1]}


def _key_json(key: CellKey) -> dict[str, object]:
    return {"python": key.python, "mode": key.mode, "gil": key.gil, "endpoint": key.endpoint, "variant": key.variant}


def as_json(comparison: RunComparison, fail_above_pct: float | None = None) -> str:
    document = {
        "cells": [
            {
                **_key_json(change.key),
                "requests_per_sec": _change_json(change.rate),
                "p99_us": _change_json(change.p99),
                "single": change.single,
                "bound": _bound_json(change),
                "slowdown": change.slowdown,
                "flags": {"a": list(change.flags[0]), "b": list(change.flags[1])},
            }
            for change in comparison.changes
        ],
        "lost": [{**_key_json(cell.key), "in_b": cell.in_after, "reason": cell.reason} for cell in comparison.lost],
        "only_b": [_key_json(key) for key in comparison.only_after],
        "notes": list(comparison.notes),
        "worst_slowdown": comparison.worst_slowdown,
        "fail_above_pct": fail_above_pct,
        "failed": comparison.failed(fail_above_pct),
    }
    return json.dumps(document, indent=2) + "\n"
