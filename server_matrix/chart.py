"""chart.png and chart.svg: requests/sec per endpoint, one bar per server (mode and GIL setting),
sync and async side by side."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt

from server_matrix.endpoints import ENDPOINTS, VARIANTS
from server_matrix.report import Section, sections
from server_matrix.results import ERROR, OK, MatrixResults

VARIANT_COLOURS = {"sync": "#4c72b0", "async": "#dd8452"}
COLUMNS = 2


def _rate(section: Section, endpoint: str, variant: str) -> tuple[float, str]:
    """Requests/sec and a marker: "" for a run, "error" or "" (skipped/absent) otherwise."""
    for cell in section.cells:
        if cell.endpoint == endpoint and cell.variant == variant:
            if cell.status == OK:
                return cell.loadgen_result.requests_per_sec, ""
            return 0.0, "error" if cell.status == ERROR else ""
    return 0.0, ""


def draw_chart(results: MatrixResults, out_dir: Path) -> list[Path]:
    """Write the chart files and return their paths (none when nothing ran)."""
    shown = [section for section in sections(results) if any(cell.status == OK for cell in section.cells)]
    endpoints = [endpoint for endpoint in ENDPOINTS
                 if any(cell.endpoint == endpoint.name for section in shown for cell in section.cells)]
    if not shown or not endpoints:
        return []
    rows = math.ceil(len(endpoints) / COLUMNS)
    height = max(3.0, 0.35 * len(shown) + 1.5)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(7 * COLUMNS, height * rows), squeeze=False,
                                layout="constrained")  # leaves room for the title above the subplots
    labels = [section.label for section in shown]
    positions = range(len(shown))
    bar = 0.4
    for index, endpoint in enumerate(endpoints):
        axis = axes[index // COLUMNS][index % COLUMNS]
        for offset, variant in enumerate(VARIANTS):
            rates, markers = zip(*(_rate(section, endpoint.name, variant) for section in shown), strict=True)
            ys = [position + (offset - 0.5) * bar for position in positions]
            axis.barh(ys, rates, height=bar, color=VARIANT_COLOURS[variant], label=variant)
            for y, marker in zip(ys, markers, strict=True):
                if marker:
                    axis.text(0, y, f" {marker}", va="center", fontsize=7, color="#c44e52")
        axis.set_title(endpoint.title, fontsize=9)
        axis.set_yticks(list(positions), labels, fontsize=7)
        axis.invert_yaxis()
        axis.set_xlabel("requests/sec", fontsize=8)
        axis.tick_params(axis="x", labelsize=7)
        axis.grid(axis="x", alpha=0.3)
    for index in range(len(endpoints), rows * COLUMNS):
        axes[index // COLUMNS][index % COLUMNS].axis("off")
    axes[0][0].legend(fontsize=8)
    scale = results.parameters.get("gateway_scale", 1.0)
    scaled = f" (gateway delays x{scale:g})" if scale != 1.0 else ""
    figure.suptitle(f"Requests/sec per endpoint: profile {results.parameters.get('profile')}{scaled}", fontsize=11)
    paths = [out_dir / "chart.png", out_dir / "chart.svg"]
    for path in paths:
        figure.savefig(path, dpi=110)
    plt.close(figure)
    return paths
