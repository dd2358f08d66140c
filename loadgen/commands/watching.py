"""The command line's ways to watch a run (``--tui``, ``--metrics-listen``, ``--metrics-linger``,
``--otlp-endpoint``, ``--export-interval``): checked, then built into the run's sinks. Every
problem is found before the run starts, in one line."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..errors import SetupError, UsageError
from ..live.sinks import Exporter, Hub
from ..report.live_view import TuiView
from ..settings import Settings

__all__ = ["Watch", "Watching"]


@dataclass(frozen=True)
class Watch:
    """What the flags asked for (durations in seconds)."""

    tui: bool = False
    metrics_listen: str | None = None
    metrics_linger: float = 0.0
    otlp_endpoint: str | None = None
    export_interval: float = 1.0

    def check(self) -> None:
        if self.metrics_linger < 0:
            raise UsageError("--metrics-linger must be >= 0")
        if not self.export_interval > 0:
            raise UsageError("--export-interval must be > 0")
        if self.metrics_listen is not None:
            from ..export.prometheus import parse_listen

            try:
                parse_listen(self.metrics_listen)
            except ValueError as exc:
                raise UsageError(f"--metrics-listen: {exc}") from None

    @property
    def any(self) -> bool:
        return self.tui or self.metrics_listen is not None or self.otlp_endpoint is not None


class Watching:
    """The sinks of one command-line run: made (and the endpoint bound) before the run starts."""

    def __init__(self, watch: Watch, settings: Settings, workers: int) -> None:
        if watch.tui and not sys.stdout.isatty():
            raise SetupError("--tui draws on the terminal, and stdout is not one")
        sinks: list[Exporter] = []
        self.metrics = None
        if watch.metrics_listen is not None:
            from ..export.prometheus import PrometheusExporter, parse_listen

            host, port = parse_listen(watch.metrics_listen)
            self.metrics = PrometheusExporter(host, port, watch.metrics_linger)
            sinks.append(self.metrics)
        if watch.otlp_endpoint is not None:
            from ..export.otlp import OtlpExporter

            sinks.append(OtlpExporter(watch.otlp_endpoint, watch.export_interval))
        self.tui = TuiView(sys.stdout) if watch.tui else None
        if self.tui is not None:
            sinks.append(self.tui)
        self.hub = Hub(settings, workers, sinks)

    def started(self) -> None:
        """The run starts: the view takes the screen."""
        if self.tui is not None:
            self.tui.open()

    def close_view(self) -> None:
        """Give the terminal back (the run ended, or failed): the report follows."""
        if self.tui is not None:
            self.tui.close()

    def linger(self) -> None:
        """After the report: serve the final figures for the grace period asked."""
        if self.metrics is not None:
            self.metrics.wait()
