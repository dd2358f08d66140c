"""The report's summary: one table per endpoint (sync then async, fastest first), the gil=0 / gil=1 ratios, and
one line per reason for the servers and endpoints that never ran. Pure."""

from __future__ import annotations

from server_matrix.measuring.results import OK, SKIPPED, Cell
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.reporting.cell_text import (
    ceiling_text,
    errors_text,
    flags_text,
    gil_text,
    informational_mark,
    latency_text,
    rate_cell_text,
)
from server_matrix.reporting.numbers import point_ratio_text, ratio_text
from server_matrix.statistics import estimates
from server_matrix.statistics.sections import Section
from server_matrix.statistics.verdicts import GilRatio, Race, Verdicts


def _versus_fastest(cell: Cell, race: Race | None) -> str:
    if race is None or cell.informational:
        return ""
    if cell is race.fastest.cell:
        return "fastest"
    other, change = next(((other, change) for other, change in race.others if other.cell is cell), (None, None))
    if other is not None and change is None and race.single(other) and race.fastest.rate.median > 0:
        return point_ratio_text(other.rate.median / race.fastest.rate.median, None)  # no interval: not judged
    if change is None:
        return ""
    return ("≈ " if not change.significant else "") + ratio_text(change, mark=False)


def _rows(all_sections: list[Section], endpoint: str) -> list[tuple[Section, Cell]]:
    """The endpoint's cells, sync then async, each fastest first; failed cells last."""

    def order(pair: tuple[Section, Cell]) -> tuple[int, int, float]:
        cell = pair[1]
        rate = estimates.rate(cell)
        return VARIANTS.index(cell.variant), cell.status != OK, -(rate.median if rate else 0.0)

    rows = [
        (section, cell)
        for section in all_sections
        if section.shared_outcome is None
        for cell in section.cells
        if cell.endpoint == endpoint and cell.status != SKIPPED
    ]
    return sorted(rows, key=order)


def endpoint_table(all_sections: list[Section], endpoint: str, races: dict[tuple[str, str], Race]) -> list[str]:
    gateway = any(cell.window.ceiling_rps is not None for _, cell in _rows(all_sections, endpoint))
    comparison = (
        "Closed-loop ceiling (the server's own where lower), req/s (within the run; share)"
        if gateway
        else "vs fastest [95% CI]"
    )
    lines = [
        f"| Server | Variant | Requests/sec [95% CI] | n | CV | {comparison} | p50 | p99 | Errors "
        "| GIL asked → reported | Flags |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|---|",
    ]
    for section, cell in _rows(all_sections, endpoint):
        rate = estimates.rate(cell)
        cv = "-" if rate is None or rate.cv is None else f"{rate.cv:.0%}"
        versus = ceiling_text(cell) if gateway else _versus_fastest(cell, races.get((endpoint, cell.variant)))
        label = section.label + informational_mark(cell.informational)
        lines.append(
            f"| {label} | {cell.variant} | {rate_cell_text(cell)} | {len(cell.measured_results())}"
            f"{f' {cell.stopped}' if cell.stopped else ''} | {cv} "
            f"| {versus} | {latency_text(cell, 50)} | {latency_text(cell, 99)} | {errors_text(cell)} "
            f"| {gil_text(cell)}{' ⚠' if cell.gil_mismatch else ''} | {flags_text(cell)} |"
        )
    return lines


def _significant_text(entry: GilRatio) -> str:
    if entry.silent:
        return "not judged (gil=0 got no response: no ratio)"
    if entry.unbounded:
        return "not judged (a gil=1 repetition got no response: no interval)"
    if entry.ratio is None:
        return "not judged (measured once: no interval)"
    return "yes" if entry.ratio.significant else "no"


def gil_table(ratios: tuple[GilRatio, ...]) -> list[str]:
    """Every gil=0 / gil=1 ratio of requests/sec, with its interval and the mark when it is significant (measured
    once: the plain ratio, not judged)."""
    if not ratios:
        return []
    lines = [
        "### GIL: gil=0 / gil=1",
        "",
        "| Server | Endpoint | Variant | gil=0 / gil=1 [95% CI] | Significant |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {entry.label} | {entry.endpoint} | {entry.variant} "
        f"| {point_ratio_text(entry.value, entry.ratio, once=entry.once)} | {_significant_text(entry)} |"
        for entry in ratios
    ]
    return [*lines, ""]


def summary_lines(all_sections: list[Section], found: Verdicts) -> list[str]:
    """One table per endpoint, the GIL ratios, then one line per reason for the servers that never ran."""
    by_key = {(race.endpoint, race.variant): race for race in found.races}
    lines = []
    for endpoint in ENDPOINTS:
        if any(cell.endpoint == endpoint.name for _, cell in _rows(all_sections, endpoint.name)):
            lines += [
                f"### {endpoint.name}: {endpoint.title}",
                "",
                *endpoint_table(all_sections, endpoint.name, by_key),
                "",
            ]
    return lines + gil_table(found.gil_ratios) + outcome_lines(all_sections)


def outcome_lines(all_sections: list[Section]) -> list[str]:
    """``**Skipped** (reason): a, b``: the servers with no cell run, then the endpoints skipped on servers that ran
    (``**Skipped** gateway_1s, gateway_3s (reason): c, d``), one line per outcome, reason and endpoints."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for section in all_sections:
        if section.shared_outcome is not None:
            status, reason, _ = section.shared_outcome
            grouped.setdefault((status, reason or "", ""), []).append(section.label)
            continue
        skipped: dict[str, list[str]] = {}
        for cell in section.cells:
            if cell.status == SKIPPED:
                endpoints = skipped.setdefault(cell.reason or "", [])
                if cell.endpoint not in endpoints:
                    endpoints.append(cell.endpoint)
        for reason, endpoints in skipped.items():
            grouped.setdefault((SKIPPED, reason, ", ".join(endpoints)), []).append(section.label)
    lines = [
        f"**{'Skipped' if status == SKIPPED else 'Failed'}**{f' {endpoints}' if endpoints else ''} "
        f"({cell_escape(reason)}): {', '.join(f'`{label}`' for label in labels)}."
        for (status, reason, endpoints), labels in grouped.items()
    ]
    return [line for pair in zip(lines, [""] * len(lines), strict=True) for line in pair]


def cell_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
