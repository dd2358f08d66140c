"""``--tui``: the run on the whole terminal, redrawn four times a second, with rich.

:func:`screen` draws a second as rich renderables (no I/O); :class:`TuiView` is the sink that
holds the latest second and lets rich's own thread redraw it. The view takes the terminal's
alternate screen, so that leaving it (at the end, or on Ctrl-C) gives the terminal back as it
was: wrk's header above, wrk's report below, as without the view.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, TextIO

from ..live.collate import WAIT_S
from ..live.second import LiveSecond, LostWorker
from ..settings import Settings
from .figures import rate_text, short_time

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

__all__ = ["TuiView", "screen"]

BARS = "▁▂▃▄▅▆▇█"
SPARK_SECONDS = 60
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0))
HISTOGRAM_US = (100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
BAR_WIDTH = 40
REFRESH_PER_SECOND = 4
LATE_S = 1.0  # past -d by this much, the view says the run waits for its workers (the final frame comes sooner)


def sparkline(values: tuple[int, ...]) -> str:
    """The last :data:`SPARK_SECONDS` values as a line of block characters, the highest full."""
    shown = values[-SPARK_SECONDS:]
    top = max(shown, default=0)
    if not top:
        return BARS[0] * len(shown)
    return "".join(BARS[min(len(BARS) - 1, value * len(BARS) // top)] for value in shown)


def histogram_rows(live: LiveSecond) -> list[tuple[str, int]]:
    """(upper bound, count) per latency bucket, from the first to the last one with a count."""
    bins = live.distribution.bins
    counts = [0] * (len(HISTOGRAM_US) + 1)
    for value, count in bins:
        counts[bisect_right(HISTOGRAM_US, value - 1)] += count
    labels = [f"≤ {short_time(bound)}" for bound in HISTOGRAM_US] + [f"> {short_time(HISTOGRAM_US[-1])}"]
    used = [i for i, count in enumerate(counts) if count]
    if not used:
        return []
    return [(labels[i], counts[i]) for i in range(used[0], used[-1] + 1)]


def screen(settings: Settings, live: LiveSecond | None, elapsed_s: float) -> RenderableType:
    """The whole view for the latest second (None: none has ended yet), ``elapsed_s`` into the run
    (its warm-up first: the time shown was the run's, "remaining 0s" once the warm-up ended)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    title = _title(settings, elapsed_s)
    if live is None:
        return Panel(Group(title, Text("waiting for the first second...")), title="loadgen --tui")
    spark = Text(sparkline(live.history), style="cyan")
    parts: list[Any] = [title, _rate(live), spark, _latency(live), _histogram(live), *_counts(live)]
    if live.error_reasons:
        parts.append(_reasons(live))
    connections = Text.assemble(
        ("Connections ", "bold"), f"{live.connections_open:,} open, {live.connections_opened:,} opened"
    )
    parts += [connections, _workers(live), *map(behind_line, live.behind), *map(lost_line, live.lost)]
    return Panel(Group(*parts), title="loadgen --tui")


def _title(settings: Settings, elapsed_s: float) -> Text:
    """What runs, and its clock."""
    from rich.text import Text

    return Text.assemble(
        ("loadgen ", "bold"),
        settings.title,  # a run of targets: their server and how many, as the report's first line
        f"   {settings.threads} threads, {settings.connections} connections   {_clock(settings, elapsed_s)}",
    )


def _clock(settings: Settings, elapsed_s: float) -> str:
    """The warm-up's clock, then the measured window's, and once -d is over (a second late, the final frame's
    lag aside) what the run waits for: a worker held at the end (SIGSTOP, its loop blocked) showed "elapsed 11s
    remaining 0s" under -d3s, the window said longer than it was."""
    measured_s = elapsed_s - settings.warmup  # the window's, as the report's: it opens after the warm-up
    if measured_s < 0:
        return f"warming up for {settings.warmup:g}s (not measured)   elapsed {elapsed_s:.0f}s"
    if settings.duration is None:
        return f"elapsed {measured_s:.0f}s"
    late_s = measured_s - settings.duration
    if late_s >= LATE_S:
        return f"elapsed {settings.duration:.0f}s   ended {late_s:.0f}s ago: waiting for the workers to stop"
    return f"elapsed {min(measured_s, settings.duration):.0f}s   remaining {max(0.0, -late_s):.0f}s"


def _rate(live: LiveSecond) -> Text:
    from rich.text import Text

    return Text.assemble(
        ("Requests/sec ", "bold"),
        f"{rate_text(live.requests_per_sec)} in second {live.second + 1}",
        f"   asked {rate_text(live.asked_rate)}" if live.asked_rate is not None else "",
        f"   requests {live.requests:,}   errors {live.error_count:,}",
    )


def _latency(live: LiveSecond) -> Text:
    from rich.text import Text

    return Text.assemble(
        ("Latency ", "bold"),
        "   ".join(f"{name} {short_time(live.percentile_us(p))}" for name, p in PERCENTILES)
        if live.distribution.count
        else "none measured" + ("" if live.final else " yet"),  # not "p50 0us": a time no response took
    )


def _histogram(live: LiveSecond) -> Table:
    """:func:`histogram_rows` as bars, the longest :data:`BAR_WIDTH` wide."""
    from rich.table import Table
    from rich.text import Text

    rows = histogram_rows(live)
    histogram = Table.grid(padding=(0, 1))
    top = max((count for _, count in rows), default=1)
    for label, count in rows:
        histogram.add_row(label, Text("█" * max(1 if count else 0, count * BAR_WIDTH // top), "green"), f"{count:,}")
    return histogram


def _counts(live: LiveSecond) -> tuple[Text, Text]:
    """The status codes and the errors, each a line."""
    from rich.text import Text

    codes = "   ".join(f"{status}: {count:,}" for status, count in sorted(live.status_counts.items())) or "none yet"
    errors = "   ".join(f"{kind} {count:,}" for kind, count in sorted(live.errors.items()) if count) or "none"
    return Text.assemble(("Status codes ", "bold"), codes), Text.assemble(("Errors ", "bold"), errors)


def _reasons(live: LiveSecond) -> Text:
    """The five commonest causes of the errors."""
    from rich.text import Text

    return Text(
        "\n".join(
            f"  {count:,} {reason.kind} ({reason.stage}): {reason.cause}{': ' + reason.detail if reason.detail else ''}"
            for reason, count in sorted(live.error_reasons.items(), key=lambda item: -item[1])[:5]
        ),
        style="red",
    )


def _workers(live: LiveSecond) -> Table:
    """A row a worker, with a warning on those whose own CPU may be what the numbers measure."""
    from rich.table import Table
    from rich.text import Text

    workers = Table("worker", "host", "CPU", "busy", "req/s", "", box=None, header_style="bold")
    for worker in live.workers:
        warning = Text("client-bound: the numbers may be the client's", "bold red") if worker.client_bound else ""
        workers.add_row(
            str(worker.index),
            worker.host,
            f"{worker.cpu.utilization:.0%}",
            f"{worker.busy:.0%}",
            rate_text(worker.requests_per_sec),
            warning,
        )
    return workers


def behind_line(index: int) -> Text:
    """A worker the second was given out without: not dead (its line would say so), but silent."""
    from rich.text import Text

    return Text(
        f"worker {index} is behind: nothing from it for {WAIT_S:g}s (held stopped, or its loop blocked?): "
        "this second's figures are the other workers'",
        "bold yellow",
    )


def lost_line(lost: LostWorker) -> Text:
    """A worker that died, in the final frame: the counts above keep what it posted, the report cannot."""
    from rich.text import Text

    return Text(
        f"worker {lost.index} died: the {lost.requests:,} requests it posted in {lost.seconds}s are counted "
        "here, not in the report (its measurement was lost with it)",
        "bold red",
    )


class TuiView:
    """The full-screen view: :meth:`open` once the run starts, then each second redraws it; the
    view closes at the end (or with :meth:`close`) and the terminal is as it was."""

    name = "the terminal view"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.settings: Settings | None = None
        self.latest: LiveSecond | None = None
        self.live: Any = None
        self.opened_at = 0.0

    def start(self, settings: Settings) -> None:
        self.settings = settings

    def open(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.opened_at = time.monotonic()
        console = Console(file=self.stream, force_terminal=True)
        self.live = Live(get_renderable=self._draw, console=console, screen=True, refresh_per_second=REFRESH_PER_SECOND)
        self.live.start()

    def _draw(self) -> RenderableType:
        assert self.settings is not None
        return screen(self.settings, self.latest, time.monotonic() - self.opened_at)

    def second(self, live: LiveSecond) -> None:
        self.latest = live

    def end(self, live: LiveSecond) -> None:
        """The run's end (its final second, the totals) as the last frame, up as long as any other:
        the seconds come as they end, so the view was a second behind, and leaving the alternate
        screen draws nothing more."""
        self.latest = live
        if self.live is not None:
            self.live.refresh()
            time.sleep(1 / REFRESH_PER_SECOND)
        self.close()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
