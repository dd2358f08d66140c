"""chart.png and chart.svg: one panel per endpoint, a pair of bars (sync, async) per server with its 95% interval
(none on a single measurement, which has no interval).

Servers keep the report's order, so a mode's GIL settings sit together; each mode gets a shaded
band, and the figure grows with the number of servers so that a dozen modes stay legible. The figure is made
without pyplot (files only, never a window: each format's own canvas draws it).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, NullFormatter

from server_matrix.measuring.results import ERROR, OK, SKIPPED, Cell, MatrixResults
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS, Endpoint
from server_matrix.reporting import outdir
from server_matrix.statistics import estimates
from server_matrix.statistics.answer import Answer, Entry, answer
from server_matrix.statistics.sections import Section, sections
from server_matrix.statistics.uncertainty import Estimate
from server_matrix.statistics.verdicts import GilRatio, verdicts

VARIANT_COLOURS = {"sync": "#4c72b0", "async": "#dd8452"}
MARK_COLOUR = "#c44e52"
COLUMNS = 2
BAR = 0.4
MODE_GAP = 0.6  # extra space between two modes
INCH_PER_SERVER = 0.32
# The same results draw the same chart.svg, byte for byte (as report.md and chart.png): matplotlib writes the time of
# drawing into it and names its clip paths from a random salt, so each `report` changed 8 lines of an unchanged chart.
SVG_SALT = "server-matrix"
SVG_METADATA = {"Date": None}
RATIO_TICKS_FINER_BELOW = 0.6  # decades: a GIL panel narrower than this (under 4x) gets finer ticks than 1-2-5


def _positions(shown: list[Section]) -> list[float]:
    """One y per server, with a gap where the mode changes."""
    positions, y = [], 0.0
    for index, section in enumerate(shown):
        if index and section.mode != shown[index - 1].mode:
            y += MODE_GAP
        positions.append(y)
        y += 1
    return positions


def _shade_modes(axis: Axes, shown: list[Section], positions: list[float]) -> None:
    """A light band behind every second mode, so that its GIL settings read as one group."""
    modes = list(dict.fromkeys(section.mode for section in shown))
    for number, mode in enumerate(modes):
        ys = [y for y, section in zip(positions, shown, strict=True) if section.mode == mode]
        if number % 2:
            axis.axhspan(min(ys) - 0.5, max(ys) + 0.5, color="#f0f0f0", zorder=0)


def _measured(section: Section, endpoint_name: str) -> bool:
    """The server measured this endpoint (a gateway endpoint left to a mode's first server is not drawn)."""
    return any(cell.endpoint == endpoint_name and cell.status != SKIPPED for cell in section.cells)


def _error_bar(rate: Estimate) -> dict[str, Any]:
    """The 95% interval as an error bar; none for a single measurement, which has no interval."""
    if rate.low is None or rate.high is None:
        return {}
    return {
        "xerr": [[rate.median - rate.low], [rate.high - rate.median]],
        "error_kw": {"elinewidth": 0.8, "capsize": 1.5, "zorder": 3},
    }


def _end(rate: Estimate | None) -> float:
    return 0.0 if rate is None else rate.high if rate.high is not None else rate.median


def _mark(cell: Cell | None) -> str:
    """``error`` beside a failed cell, ``!`` beside a flagged one (the report says why)."""
    if cell is None:
        return ""
    return "error" if cell.status == ERROR else "!" if estimates.cell_flags(cell) else ""


def _panel(axis: Axes, endpoint_name: str, title: str, shown: list[Section], rows_of_tallest: float) -> None:
    """The servers that measured the endpoint, from the top, on the scale of the panel with the most servers; an
    informational cell (a mode meaningless under its GIL setting) hatched and marked (i), as the report marks it, so
    that its bar does not read as a contender."""
    positions = _positions(shown)
    _shade_modes(axis, shown, positions)
    for offset, variant in enumerate(VARIANTS):
        for y, section in zip(positions, shown, strict=True):
            cell = section.cell(endpoint_name, variant)
            bar_y = y + (offset - 0.5) * BAR
            rate = estimates.rate(cell) if cell is not None and cell.status == OK else None
            informational = cell is not None and cell.informational is not None
            if rate is not None:
                colour = VARIANT_COLOURS[variant]
                look: dict[str, Any] = (
                    {"color": "none", "edgecolor": colour, "hatch": "///"} if informational else {"color": colour}
                )
                axis.barh(bar_y, rate.median, height=BAR, zorder=2, **look, **_error_bar(rate))
            mark = " ".join(filter(None, (_mark(cell), "(i)" if informational and rate is not None else "")))
            if mark:
                axis.text(_end(rate), bar_y, f" {mark}", va="center", fontsize=7, color=MARK_COLOUR)
    axis.set_title(title, fontsize=9)
    axis.set_yticks(positions, [section.label for section in shown], fontsize=7)
    axis.set_ylim(rows_of_tallest + 0.8, -0.8)
    axis.set_xlabel("requests/sec (median, 95% interval)", fontsize=8)
    axis.tick_params(axis="x", labelsize=7)
    axis.grid(axis="x", alpha=0.3, zorder=1)


def _gil(entry: Entry | None) -> GilRatio | None:
    return None if entry is None else entry.gil


def _gil_panel(axis: Axes, found: Answer) -> None:
    """gil=0 / gil=1 per mode (a row each), one marker per CPU-bound endpoint and variant with its 95% interval (none
    on a ratio of single measurements, which has no interval)."""
    compared = [row for row in found.rows if any(entry.gil for entry in row.entries.values())]
    labels = [row.label for row in compared]
    markers = "os^vD<>p"
    for index, column in enumerate(found.columns):
        offset = (index - (len(found.columns) - 1) / 2) * 0.08
        points = [(y + offset, gil) for y, row in enumerate(compared) if (gil := _gil(row.entries.get(column)))]
        if points:
            style = {"fmt": markers[index % len(markers)], "color": VARIANT_COLOURS[column[1]], "markersize": 4}
            _gil_markers(axis, points, style, " ".join(column))
    axis.axvline(1.0, color="#555555", linewidth=0.8)
    axis.set_xscale("log")
    _ratio_ticks(axis)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    axis.set_ylim(len(labels) - 0.5, -0.5)
    axis.set_title("Does turning the GIL off help? gil=0 / gil=1 (right of 1: it helps)", fontsize=9)
    axis.set_xlabel("gil=0 / gil=1 requests/sec (95% interval; none when measured once)", fontsize=8)
    axis.tick_params(axis="x", labelsize=7)
    axis.legend(fontsize=6, ncol=2)
    axis.grid(axis="x", alpha=0.3, zorder=1)


def _gil_markers(axis: Axes, points: list[tuple[float, GilRatio]], style: dict[str, Any], label: str) -> None:
    """One column's markers at their heights: a ratio with its interval, a ratio of single measurements
    without; one legend entry for both."""
    ratios = [(y, gil.ratio) for y, gil in points if gil.ratio is not None]
    if ratios:
        axis.errorbar(
            [change.value for _, change in ratios],
            [y for y, _ in ratios],
            xerr=[
                [change.value - change.low for _, change in ratios],
                [change.high - change.value for _, change in ratios],
            ],
            elinewidth=0.8,
            capsize=1.5,
            label=label,
            **style,
        )
    once = [(y, gil.value) for y, gil in points if gil.ratio is None]
    if once:
        axis.errorbar([value for _, value in once], [y for y, _ in once], label=None if ratios else label, **style)


def _ratio_ticks(axis: Axes) -> None:
    """Ratios written plainly (0.5, 1, 2) at 1-2-5 steps, or at finer ones when the panel spans under ~4x: the log
    scale's own labels were its decades only, a lone ``10^0`` on a panel of ratios from 0.15 to 5, and its minor
    ones overlap."""
    low, high = axis.get_xlim()
    if math.log10(high / low) > RATIO_TICKS_FINER_BELOW:
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        ticks = [step * 10.0**decade for decade in decades for step in (1, 2, 5)]
    else:
        ticks = list(MaxNLocator(nbins=6).tick_values(low, high))
    shown = [tick for tick in ticks if low <= tick <= high]
    axis.set_xticks(shown, [f"{tick:g}" for tick in shown])
    axis.xaxis.set_minor_formatter(NullFormatter())


def draw_chart(results: MatrixResults, out_dir: Path) -> list[Path]:
    """Write the chart files and return their paths (none when nothing ran); the GIL panel first when a mode ran
    under both gil=0 and gil=1."""
    all_sections = sections(results)
    panels = _panels(all_sections)
    endpoints = list(panels)
    if not endpoints:
        return []
    found = answer(all_sections, verdicts(all_sections))
    first = 1 if found.gil_compared else 0
    tallest = max(_positions(panels[endpoint])[-1] for endpoint in endpoints)
    rows = math.ceil((len(endpoints) + first) / COLUMNS)
    height = max(3.0, INCH_PER_SERVER * (tallest + 1) + 1.5)
    figure = Figure(figsize=(7.5 * COLUMNS, height * rows))
    axes = figure.subplots(rows, COLUMNS, squeeze=False)
    places = [axis for row in axes for axis in row]  # left to right, then down
    if first:
        _gil_panel(places[0], found)
    for axis, endpoint in zip(places[first:], endpoints, strict=False):
        _panel(axis, endpoint.name, endpoint.title, panels[endpoint], tallest)
    for axis in places[len(endpoints) + first :]:
        axis.axis("off")
    handles = [Rectangle((0, 0), 1, 1, color=VARIANT_COLOURS[variant]) for variant in VARIANTS]
    places[first].legend(handles, VARIANTS, fontsize=8)
    figure.suptitle(_title(results.parameters), fontsize=11)
    return _save(figure, out_dir)


def _panels(all_sections: list[Section]) -> dict[Endpoint, list[Section]]:
    """Each endpoint measured, in the notes' order, with the servers measured on it (a server none of whose
    cells is ok is left out)."""
    shown = [section for section in all_sections if any(cell.status == OK for cell in section.cells)]
    panels = {endpoint: [section for section in shown if _measured(section, endpoint.name)] for endpoint in ENDPOINTS}
    return {endpoint: measured for endpoint, measured in panels.items() if measured}


def _title(parameters: dict[str, Any]) -> str:
    """The figure's title: the profile, and the gateway delays' scale when it is not 1."""
    scale = parameters.get("gateway_scale", 1.0)
    scaled = f" (gateway delays x{scale:g})" if scale != 1.0 else ""
    return (
        f"Requests/sec per endpoint: profile {parameters.get('profile')}{scaled}; ! flagged, (i) informational "
        "(see report.md)"
    )


def _save(figure: Figure, out_dir: Path) -> list[Path]:
    """The figure written as chart.png and chart.svg (an SVG the same bytes for the same figure); their paths."""
    # Laid out once for both files (room for the title above the panels): a figure that keeps a layout engine is
    # laid out again, with a draw of its own, by each save.
    ConstrainedLayoutEngine().execute(figure)
    paths = [out_dir / "chart.png", out_dir / "chart.svg"]
    with rc_context({"svg.hashsalt": SVG_SALT}):
        for path in paths:
            drawn = io.BytesIO()
            kind = path.suffix[1:]
            figure.savefig(drawn, format=kind, dpi=100, metadata=SVG_METADATA if kind == "svg" else None)
            outdir.write_whole(path, drawn.getvalue())
    return paths
