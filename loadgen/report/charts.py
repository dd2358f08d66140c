"""The HTML report's charts, drawn by matplotlib as inline SVG: results in, SVG text out.

SVG keeps the report one self-contained file that needs no script and no network when opened,
and stays sharp when zoomed. Several results are drawn on the same axes, in the same colour on
every chart; a long name (a URL) is shortened in the legend (:func:`short_name`, which the page's
headings and rows use too). A latency is drawn only where there is one: a second without a
response is a gap, a run without one says "no responses" instead of a line at 0 ms. Each line
and each chart's frame carries an id (``rate-0``, ``rate-frame``, ...) for whoever checks the
drawing.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import accumulate

from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from ..result import Result

__all__ = ["short_name", "short_names", "spectrum_svg", "timeline_svg"]

Named = Sequence[tuple[str, Result]]
STEPS_PER_NINE = 40  # points per decade of 1/(1 - percentile): smooth lines, small files
NINES = ("0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%")
HEADROOM = 1.12  # above the highest point, so a flat line stays clear of the frame
NO_RESPONSES = "no responses"
LEGEND_NAME = 40  # characters: two columns of legend entries fit the chart's width
AROUND = 6  # characters kept of a name's start and end, and around where names differ


def _svg(figure: Figure, salt: str) -> str:
    """The figure as an ``<svg>`` element; ``salt`` keeps its ids apart from the other charts'."""
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def spectrum_points(counts: Mapping[int, int]) -> tuple[list[float], list[float]]:
    """The latency (ms) at percentiles spaced evenly on the 1/(1 - percentile) axis, up to the
    maximum: the HdrHistogram percentile plot, from the exact counts."""
    values = sorted(counts)
    cumulative = list(accumulate(counts[value] for value in values))
    total = cumulative[-1] if cumulative else 0
    xs: list[float] = []
    ys: list[float] = []
    step = 0
    while total and (x := 10 ** (step / STEPS_PER_NINE)) < total:
        rank = max(1, min(total, int((1 - 1 / x) * total) + 1))
        xs.append(x)
        ys.append(values[bisect_left(cumulative, rank)] / 1000)
        step += 1
    if total:
        xs.append(float(total))
        ys.append(values[-1] / 1000)
    return xs, ys


def short_name(name: str) -> str:
    """A result as the legend names it, and the page's headings and rows: a long name (a URL)
    loses its middle, since a legend wider than the chart would widen the SVG, which the page
    then scales down to a thumbnail to fit, and a URL in every row buries the figures beside it."""
    if len(name) > LEGEND_NAME:
        half = (LEGEND_NAME - 1) // 2
        return f"{name[:half]}\u2026{name[-half:]}"
    return name


def short_names(names: Sequence[str]) -> list[str]:
    """Each name as :func:`short_name` has it, unless two different ones would shorten alike (long
    file names that differ in the middle, ``runs-gunicorn-c100-2026-12-05-1.json`` and ``-c200-``):
    then each keeps where they all differ, what they share around it shortened."""
    shorts = [short_name(name) for name in names]
    if len(set(shorts)) == len(set(names)):
        return shorts
    shared_head = _shared_start(names)
    shared_tail = min(_shared_start([name[::-1] for name in names]), min(map(len, names)) - shared_head)
    return [_around(name, shared_head, len(name) - shared_tail) for name in names]


def _shared_start(names: Sequence[str]) -> int:
    """How many characters every name starts with alike."""
    return next((i for i, chars in enumerate(zip(*names, strict=False)) if len(set(chars)) > 1), min(map(len, names)))


def _around(name: str, start: int, end: int) -> str:
    """``name`` with its part ``[start:end]`` kept (as much as the room allows) and the ends of
    what comes before and after it."""
    side = AROUND
    head = name[:start] if start <= 2 * side + 1 else f"{name[:side]}\u2026{name[start - side : start]}"
    tail = name[end:] if len(name) - end <= 2 * side + 1 else f"{name[end : end + side]}\u2026{name[-side:]}"
    part, room = name[start:end], max(LEGEND_NAME - len(head) - len(tail), 2 * side + 1)
    if len(part) > room:
        part = f"{part[: (room - 1) // 2]}\u2026{part[-((room - 1) // 2) :]}"
    return head + part + tail


def _label(name: str, note: str = "") -> str:
    """A line's entry in the legend, its dollar signs escaped: matplotlib reads text between two as
    math (a URL's ``?a=$x^2$`` drawn as a formula, ``$\\frac$`` a traceback instead of the page)."""
    shown = short_name(name).replace("$", r"\$")
    return f"{shown} ({note})" if note else shown


def _responses_label(name: str, result: Result) -> str:
    """A run's own line: "no responses" beside the name of a run without one (no line is drawn)."""
    return _label(name, "" if result.latency.counts else NO_RESPONSES)


def _frame(axes: Axes, gid: str, highest: float) -> None:
    """From 0 to a little above the highest point; "no responses" on an empty chart."""
    axes.patch.set_gid(f"{gid}-frame")
    axes.set_ylim(0, highest * HEADROOM if highest > 0 else 1)
    axes.grid(True, alpha=0.3)
    if math.isnan(highest):
        axes.text(0.5, 0.5, NO_RESPONSES, transform=axes.transAxes, ha="center", va="center", color="0.4")


def _colours(count: int) -> list[str]:
    """A colour per result, each its own: matplotlib's ten, then (their 11th would be the 1st
    again: two results drawn alike) twenty, then as many as needed, spread over a colour map."""
    if count <= 10:
        return [f"C{index}" for index in range(count)]
    if count <= 20:
        return [to_hex(colormaps["tab20"](index)) for index in range(count)]
    return [to_hex(colormaps["turbo"](index / (count - 1))) for index in range(count)]


def _highest(values: list[float]) -> float:
    """The highest point, or NaN when there is none to draw."""
    drawn = [value for value in values if not math.isnan(value)]
    return max(drawn) if drawn else math.nan


def spectrum_svg(results: Named) -> str:
    """Latency by percentile, log scale; for constant-rate runs the uncorrected latency too,
    dashed (measured from the actual write instead of the intended send time)."""
    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.add_subplot()
    drawn: list[float] = []
    for index, ((name, result), colour) in enumerate(zip(results, _colours(len(results)), strict=True)):
        xs, ys = spectrum_points(result.latency.counts)
        axes.plot(xs, ys, color=colour, label=_responses_label(name, result), gid=f"spectrum-{index}")
        drawn += ys
        if result.paced and result.latency_uncorrected.counts:
            xs, ys = spectrum_points(result.latency_uncorrected.counts)
            axes.plot(xs, ys, color=colour, linestyle="--", label=_label(name, "uncorrected"))
            drawn += ys
    axes.set_xscale("log")
    axes.set_xticks([10.0**k for k in range(len(NINES))], NINES)
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlim(1, max(10, *(result.latency.count for _, result in results)))
    axes.set_xlabel("percentile")
    axes.set_ylabel("latency (ms)")
    _frame(axes, "spectrum", _highest(drawn))
    figure.legend(loc="outside lower center", ncols=2, fontsize="small")
    return _svg(figure, "spectrum")


def _nan_if_none(value: float | None) -> float:
    """A second with no rate asked (none of its own length) is a gap in the line; one whose stage asks 0 is a 0."""
    return math.nan if value is None else value


def timeline_svg(results: Named) -> str:
    """Requests/sec and p99 latency second by second; for a run with a rate asked (-R, --stages),
    the rate it asked each second, dashed beside the one achieved."""
    figure = Figure(figsize=(9, 6.5), layout="constrained")
    rate_axes, p99_axes = figure.subplots(2, 1, sharex=True)
    rates: list[float] = []
    p99s: list[float] = []
    for index, ((name, result), colour) in enumerate(zip(results, _colours(len(results)), strict=True)):
        seconds = [second.index for second in result.timeline]
        rate = [s.requests_per_sec for s in result.timeline]
        p99 = [s.latency.percentile(99) / 1000 if s.latency.counts else math.nan for s in result.timeline]
        rate_axes.plot(
            seconds, rate, marker=".", color=colour, label=_responses_label(name, result), gid=f"rate-{index}"
        )
        p99_axes.plot(seconds, p99, marker=".", color=colour, gid=f"p99-{index}")
        if result.paced:
            asked = [_nan_if_none(result.asked_per_sec(second)) for second in result.timeline]
            rate_axes.plot(
                seconds, asked, color=colour, linestyle="--", label=_label(name, "asked"), gid=f"asked-{index}"
            )
            rates += asked
        rates += rate
        p99s += p99
    rate_axes.set_ylabel("requests/sec")
    p99_axes.set_ylabel("p99 latency (ms)")
    p99_axes.set_xlabel("second of the run")
    # whole seconds: a 1-second run's axis is 0 alone (it was -0.045 ... 0.045)
    p99_axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    rate_top = _highest(rates)
    _frame(rate_axes, "rate", 0.0 if math.isnan(rate_top) else rate_top)
    _frame(p99_axes, "p99", _highest(p99s))
    figure.legend(*rate_axes.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize="small")
    return _svg(figure, "timeline")
