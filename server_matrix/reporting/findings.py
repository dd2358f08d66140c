"""The report's "Findings": the verdicts in plain words, a screenful at most, before any table. Pure."""

from __future__ import annotations

from collections import Counter

from server_matrix.measuring.results import ERROR, OK, MatrixResults
from server_matrix.planning.modetext import counted, plural
from server_matrix.reporting.cell_text import own_bound_text
from server_matrix.reporting.context import no_gil_comparison, version_difference_lines
from server_matrix.reporting.numbers import SIGNIFICANT, point_ratio_text, rate_interval_text, ratio_text, share_text
from server_matrix.statistics import estimates
from server_matrix.statistics.uncertainty import NOISE, POOLED_LEAST_CELLS
from server_matrix.statistics.verdicts import BoundCheck, GilRatio, Race, Reach, Verdicts

MAX_TIED_NAMED = 4


def _race_line(race: Race) -> str:
    fastest = race.fastest
    line = f"- **{race.endpoint}** {race.variant}: fastest `{fastest.label}`, {rate_interval_text(fastest.rate)} req/s"
    tied = race.tied
    if tied:
        named = ", ".join(f"`{other.label}` ({ratio_text(change)})" for other, change in tied[:MAX_TIED_NAMED])
        more = f" and {len(tied) - MAX_TIED_NAMED} more" if len(tied) > MAX_TIED_NAMED else ""
        line += f"; cannot be told apart from it: {named}{more}"
    if race.slower:
        line += f"; {counted(len(race.slower), 'other')} slower"
    if race.untold:
        line += f"; {len(race.untold)} not compared (measured once: no interval)"
    return line + "."


def _own_bound_part(server: Reach) -> str:
    """``wsgi-sync reached its own bound (4 at once / 20 ms = 200 req/s; 96%)``: a server judged by its limit."""
    own = server.window.own_bound
    bound = f"{own_bound_text(*own)}; " if own else ""
    verdict = "reached" if server.reached else "below"
    return f"`{server.label}` {verdict} its own bound ({bound}{share_text(server.share)})"


def _closed_loop_part(servers: list[Reach], *, others: bool) -> str:
    short = [server for server in servers if not server.reached]
    if not short:
        return f"every {'other ' if others else ''}server reached the closed-loop bound"
    named = ", ".join(f"`{server.label}` ({share_text(server.share)})" for server in short)
    reached = len(servers) - len(short)
    if not reached:  # the bound named: "below it" after a server's own bound read as below that one
        return f"below the closed-loop bound: {named}"
    return f"{reached} reached the closed-loop bound; below it: {named}"


def _bound_line(check: BoundCheck) -> str:
    """Each server that runs fewer requests at once than there are connections against its own bound, then the
    others against the closed-loop one."""
    own = check.against(own=True)
    parts = [_own_bound_part(server) for server in own]
    closed_loop = check.against(own=False)
    if closed_loop:
        parts.append(_closed_loop_part(closed_loop, others=bool(own)))
    return f"- **{check.endpoint}** {check.variant}: " + "; ".join(parts) + "."


def _gil_verdict(entries: list[GilRatio]) -> str:
    """``gil=0 faster on 2, slower on 0, no significant difference on 1 of 3 (json sync 1.52 [1.40, 1.66])``;
    ratios of single measurements shown, not judged."""
    judged = _judged_text(entries)
    return "; ".join(([judged] if judged else []) + _unjudged_texts(entries))


def _judged_text(entries: list[GilRatio]) -> str:
    """The ratios with an interval counted by verdict, the significant ones named; "" when none has one."""
    judged = [(e, e.ratio) for e in entries if e.ratio is not None]
    if not judged:
        return ""
    faster = [(e, change) for e, change in judged if change.significant and change.value > 1]
    slower = [(e, change) for e, change in judged if change.significant and change.value < 1]
    named = "; ".join(f"{e.endpoint} {e.variant} {ratio_text(change, mark=False)}" for e, change in faster + slower)
    return (
        f"gil=0 faster on {len(faster)}, slower on {len(slower)}, no significant difference on "
        f"{len(judged) - len(faster) - len(slower)} of {len(judged)}" + (f" ({named})" if named else "")
    )


def _point_text(entry: GilRatio) -> str:
    """``json sync 0.98 (once)``; ``json sync - (gil=0 got no response)``: no ratio over 0 req/s."""
    text = f"{entry.endpoint} {entry.variant} {point_ratio_text(entry.value, None, once=entry.once)}"
    return text + (" (gil=0 got no response)" if entry.silent else "")


def _unjudged_texts(entries: list[GilRatio]) -> list[str]:
    """The ratios with no interval, shown: of a setting measured once, or over a gil=1 repetition at 0 req/s."""
    once = [_point_text(e) for e in entries if e.once]
    unbounded = [_point_text(e) for e in entries if e.unbounded]
    texts = []
    if once:
        texts.append(f"measured once, so no interval and not judged: {'; '.join(once)}")
    if unbounded:
        texts.append(
            f"a gil=1 repetition got no response (0 req/s), so no interval and not judged: {'; '.join(unbounded)}"
        )
    return texts


def _gil_lines(ratios: tuple[GilRatio, ...], no_gil_comparison: str) -> list[str]:
    if not ratios:
        return [f"- **GIL**: no mode ran under both gil=0 and gil=1 ({no_gil_comparison})."]
    by_mode: dict[str, list[GilRatio]] = {}
    for entry in ratios:
        by_mode.setdefault(entry.label, []).append(entry)
    return [f"- **`{label}` gil=0 / gil=1**: {_gil_verdict(entries)}." for label, entries in by_mode.items()]


def _flag_line(results: MatrixResults) -> str:
    counts = Counter(
        flag for cell in results.cells.values() if cell.status == OK for flag in estimates.cell_flags(cell)
    )
    if not counts:
        return "- No measured cell is flagged."
    listed = ", ".join(f"{count} {flag}" for flag, count in counts.items())
    return f"- Flagged cells (their numbers are not the server's alone; see the Flags column): {listed}."


def _nothing_measured(results: MatrixResults) -> str:
    """No cell ok: none ran, or every one failed (a DATABASE_URL of no server: "Nothing was measured." under a first
    line of "3 cells measured, 3 of them failed")."""
    failed = sum(cell.status == ERROR for cell in results.cells.values())
    if not failed:
        return "Nothing was measured."
    return (
        f"{counted(failed, 'cell')} measured, and every one failed: no figure to compare. The Summary and "
        "each cell's **Error:** line below say why."
    )


def findings_lines(results: MatrixResults, found: Verdicts) -> list[str]:
    if not any(cell.status == OK for cell in results.cells.values()):
        return [_nothing_measured(results)]
    rates = [
        rate for cell in results.cells.values() if cell.status == OK and (rate := estimates.rate(cell)) is not None
    ]
    lines = [
        f"Requests/sec as the median of the repetitions with a 95% interval; {SIGNIFICANT} marks a significant "
        f'ratio: its interval leaves out 1 and it is more than {NOISE:.0%} away from 1. "Cannot be told apart": '
        "the ratio to the fastest is not significant (see *How the numbers are computed*)."
    ]
    if rates and all(rate.single for rate in rates):
        lines.append(
            "One repetition per cell: single measurements, with no interval and no verdict (one run says "
            "nothing of the next); leave out `--repeat 1` before choosing a server."
        )
    if alone := estimates.unpooled(results):
        lines.append(
            f"Only {alone} repeated CPU-bound {plural(alone, 'cell')} (fewer than {POOLED_LEAST_CELLS}): each "
            "interval is its own repetitions' bootstrap, not widened to the run's spread, and with few repetitions "
            "that is about their range (two repetitions' intervals held the next run's median for 74% of the cells "
            "in this project's measurements, not 95%); a verdict here is weaker than its 95% says."
        )
    lines += [
        "",
        *map(_race_line, found.races),
        *map(_bound_line, found.bounds),
        *_gil_lines(found.gil_ratios, no_gil_comparison(results)),
        _flag_line(results),
        *version_difference_lines(results),
    ]
    return lines
