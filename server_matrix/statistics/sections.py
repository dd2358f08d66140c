"""Cells grouped by the server they ran against (mode, interpreter, GIL setting), in report order.

The report's ``##`` sections, the chart's bars and the findings' labels all follow this grouping:
a mode's GIL settings sit next to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_matrix.measuring.results import OK, Cell, MatrixResults
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.planning.gil import describe, heading_suffix

GIL_ORDER = {0: 0, 1: 1, None: 2}


@dataclass(frozen=True)
class Section:
    """The cells measured against one server: one ``##`` heading."""

    heading: str
    label: str  # short, for the summary and the chart
    cells: tuple[Cell, ...]

    @property
    def mode(self) -> str:
        return self.cells[0].mode

    @property
    def shared_outcome(self) -> tuple[str, str | None, str | None] | None:
        """(status, reason, log tail) when no cell ran and all failed or were skipped alike."""
        outcomes = {(cell.status, cell.reason, cell.log_tail) for cell in self.cells}
        if len(outcomes) == 1 and all(cell.status != OK and cell.result is None for cell in self.cells):
            return next(iter(outcomes))
        return None

    def cell(self, endpoint: str, variant: str) -> Cell | None:
        return next((cell for cell in self.cells if cell.endpoint == endpoint and cell.variant == variant), None)


def sections(results: MatrixResults) -> list[Section]:
    """Cells grouped by server, in report order: mode, interpreter, GIL setting; endpoints as in the notes."""
    mode_order = {mode["id"]: index for index, mode in enumerate(results.modes)}
    python_order = {entry["requested"]: index for index, entry in enumerate(results.interpreters)}
    endpoint_order = {endpoint.name: index for index, endpoint in enumerate(ENDPOINTS)}
    several_pythons = len({cell.python for cell in results.cells.values()}) > 1
    grouped: dict[tuple[str, str, int | None], list[Cell]] = {}
    for cell in results.cells.values():
        grouped.setdefault((cell.python, cell.mode, cell.gil_requested), []).append(cell)

    def section_order(key: tuple[str, str, int | None]) -> tuple[int, int, int]:
        python, mode, gil = key
        return mode_order.get(mode, len(mode_order)), python_order.get(python, len(python_order)), GIL_ORDER[gil]

    found = []
    for key in sorted(grouped, key=section_order):
        cells = sorted(grouped[key], key=lambda c: (endpoint_order.get(c.endpoint, 99), VARIANTS.index(c.variant)))
        first = cells[0]
        build = "t" if first.free_threaded_build else ""
        python = f" [Python {first.python_version}{build}]" if several_pythons else ""
        found.append(
            Section(
                f"{first.mode_title} {heading_suffix(first.gil_requested)}{python}",
                f"{first.mode} {describe(first.gil_requested)}{python}",
                tuple(cells),
            )
        )
    return found
