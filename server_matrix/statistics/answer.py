"""The original question on one screen, as data: which server mode, and does turning the GIL off help?

Per CPU-bound endpoint and variant, the fastest default-build mode with its interval, and the other default-build
modes that cannot be told apart from it (the fastest by its median alone is no ranking); then one row
per mode: its default-build requests/sec with its interval, and, when it ran under both gil=0 and
gil=1 on a free-threaded interpreter, the gil=0 / gil=1 ratio with its interval and a verdict
(helps, hurts, cannot be told apart; not judged when a setting was measured once, which gives the
ratio of the two measurements and no interval), with the flags of the cells behind them. A mode's
default-build figures are Python as most run it, with the GIL on: its default interpreter's, or,
with none, its gil=1 on a free-threaded one; never a gil=0 cell. Where that cell is informational (the mode is not
meaningful under its GIL setting: out of the race, marked as the summary marks it), its figure says so. The report's
first table, results.json's ``answer`` and the chart's GIL panel all read it. Pure: sections and verdicts in, the
table out.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_matrix.measuring.results import OK, Cell
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.statistics import estimates
from server_matrix.statistics.sections import Section
from server_matrix.statistics.uncertainty import Estimate, ratio
from server_matrix.statistics.verdicts import Contender, GilRatio, Race, Verdicts, cannot_be_told_apart

Column = tuple[str, str]  # endpoint, variant


def _gil_json(gil: GilRatio) -> dict[str, object]:
    """``{ratio, ci95, significant}``; measured once: the ratio of the two measurements, no interval, not judged."""
    if gil.ratio is None:
        return {"ratio": gil.value, "ci95": None, "significant": None}
    return gil.ratio.to_json()


@dataclass(frozen=True)
class Entry:
    """One mode on one endpoint and variant."""

    rate: Estimate | None  # its default build's requests/sec (see :func:`_default_build_sections`)
    gil: GilRatio | None  # gil=0 / gil=1, when both ran
    flags: tuple[str, ...]  # of the cells behind the figures
    # Why ``rate`` is informational (its cell's ``informational``, as the summary marks it): the mode is not meaningful
    # under that GIL setting, so it is out of the race for the fastest.
    informational: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "default_build": None if self.rate is None else self.rate.to_json(),
            "informational": self.informational,
            "gil0_over_gil1": None if self.gil is None else _gil_json(self.gil),
            "verdict": None if self.gil is None else self.gil.verdict,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Row:
    label: str  # the mode
    entries: dict[Column, Entry]


@dataclass(frozen=True)
class Answer:
    columns: tuple[Column, ...]
    fastest: dict[Column, Contender]  # the fastest default-build mode; no entry when every mode ran with gil=0 only
    rows: tuple[Row, ...]
    tied: dict[Column, tuple[Contender, ...]]  # the default-build modes that cannot be told apart from the fastest
    # The modes measured in these columns only with the GIL off (gil=0): no default-build figure and no ratio, so no
    # row; named under the tables, else they vanished from the answer (not in ``to_json``: its rows are unchanged).
    gil0_only: tuple[str, ...] = ()

    @property
    def gil_compared(self) -> bool:
        return any(entry.gil is not None for row in self.rows for entry in row.entries.values())

    @property
    def gil_single(self) -> bool:
        """Some gil=0 / gil=1 ratio rests on single measurements: no interval, no verdict."""
        return any(entry.gil is not None and entry.gil.once for row in self.rows for entry in row.entries.values())

    def to_json(self) -> dict[str, object]:
        return {
            "columns": [
                {
                    "endpoint": endpoint,
                    "variant": variant,
                    "fastest": None
                    if (fastest := self.fastest.get((endpoint, variant))) is None
                    else {
                        "server": fastest.label,
                        **fastest.rate.to_json(),
                        "tied": [other.label for other in self.tied.get((endpoint, variant), ())],
                    },
                }
                for endpoint, variant in self.columns
            ],
            "rows": [
                {
                    "mode": row.label,
                    "cells": [
                        {"endpoint": endpoint, "variant": variant, **entry.to_json()}
                        for (endpoint, variant), entry in row.entries.items()
                    ],
                }
                for row in self.rows
            ],
        }


def _default_build_sections(all_sections: list[Section]) -> dict[str, Section]:
    """Each mode's section with the GIL on, as most run Python: its default build's (the first, when several ran),
    or, when it ran on free-threaded interpreters only, its gil=1 section; a gil=0 section never."""
    found: dict[str, Section] = {}
    for gil in (None, 1):
        for section in all_sections:
            if section.cells[0].gil_requested == gil and section.shared_outcome is None:
                found.setdefault(section.mode, section)
    return found


def _default_build_contenders(race: Race, default_build: dict[str, Section]) -> list[Contender]:
    """The race's contenders that are the modes' default-build cells, fastest first."""
    chosen = [cell for section in default_build.values() if (cell := section.cell(race.endpoint, race.variant))]
    everyone = [race.fastest, *(other for other, _ in race.others)]
    return [contender for contender in everyone if any(contender.cell is cell for cell in chosen)]


def _tied(fastest: Contender, contenders: list[Contender]) -> tuple[Contender, ...]:
    """The other default-build modes that cannot be told apart from the fastest of them, fastest first."""
    tied = [
        other
        for other in contenders
        if other is not fastest and cannot_be_told_apart(fastest, other, ratio(fastest.rate, other.rate))
    ]
    return tuple(sorted(tied, key=lambda contender: -contender.rate.median))


def _flags(cells: list[Cell | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for cell in cells:
        if cell is not None:
            seen.update(dict.fromkeys(estimates.cell_flags(cell)))
    return tuple(seen)


def answer(all_sections: list[Section], found: Verdicts) -> Answer:
    """The table from the sections and their verdicts (:func:`~.verdicts.verdicts`)."""
    columns = tuple(
        (race.endpoint, race.variant)
        for endpoint in ENDPOINTS
        for variant in VARIANTS
        for race in found.races
        if (race.endpoint, race.variant) == (endpoint.name, variant)
    )
    default_build = _default_build_sections(all_sections)
    fastest, tied = _fastest(found.races, default_build)
    gil_of: dict[tuple[str, Column], GilRatio] = {}  # by mode: the first free-threaded interpreter's
    for gil in found.gil_ratios:
        gil_of.setdefault((gil.cells[0].mode, (gil.endpoint, gil.variant)), gil)
    modes = dict.fromkeys(section.mode for section in all_sections)
    rows = tuple(row for label in modes if (row := _row(label, columns, default_build.get(label), gil_of)).entries)
    return Answer(columns, fastest, rows, tied, _gil0_only(all_sections, columns, {row.label for row in rows}))


def _gil0_only(all_sections: list[Section], columns: tuple[Column, ...], with_rows: set[str]) -> tuple[str, ...]:
    """The modes without a row that have a measured gil=0 cell in a column: run only with the GIL off."""
    found = [
        section.mode
        for section in all_sections
        if section.mode not in with_rows
        and section.cells[0].gil_requested == 0
        and any((cell := section.cell(*column)) is not None and cell.status == OK for column in columns)
    ]
    return tuple(dict.fromkeys(found))


def _fastest(
    races: tuple[Race, ...], default_build: dict[str, Section]
) -> tuple[dict[Column, Contender], dict[Column, tuple[Contender, ...]]]:
    """Per column, the fastest default-build mode and those that cannot be told apart from it."""
    fastest: dict[Column, Contender] = {}
    tied: dict[Column, tuple[Contender, ...]] = {}
    for race in races:
        if contenders := _default_build_contenders(race, default_build):
            fastest[race.endpoint, race.variant] = contenders[0]
            tied[race.endpoint, race.variant] = _tied(contenders[0], contenders)
    return fastest, tied


def _row(
    label: str, columns: tuple[Column, ...], section: Section | None, gil_of: dict[tuple[str, Column], GilRatio]
) -> Row:
    """A mode's entries, in the columns where it has a measured default-build rate or a gil=0 / gil=1 ratio."""
    entries = {}
    for column in columns:
        cell = None if section is None else section.cell(*column)
        rate = estimates.rate(cell) if cell is not None and cell.status == OK else None
        gil = gil_of.get((label, column))
        if rate is not None or gil is not None:
            why = None if cell is None or rate is None else cell.informational
            entries[column] = Entry(rate, gil, _flags([cell, *(gil.cells if gil else ())]), why)
    return Row(label, entries)
