"""The command line's ways to watch a run (``--tui``, ``--metrics-listen``, ``--metrics-linger``,
``--otlp-endpoint``, ``--export-interval``, declared with wrk's command's own options in
:class:`loadgen.commands.run.Output`): checked, then built into the run's sinks. Every problem
is found before the run starts, in one line. The views and exporters are imported only by the
runs that ask for them: a run that is not watched starts without them."""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import SetupError, UsageError
from ..report.wrk import format_time_s
from ..settings import AT_MOST_LONGEST, LONGEST_S

if TYPE_CHECKING:
    from ..export.prometheus import PrometheusExporter
    from ..live.sinks import Exporter
    from ..report.live_view import TuiView
    from .run import Output

__all__ = ["Watching", "check_watching"]

EXPORT_INTERVAL_S = 1.0  # the OTLP push interval when --export-interval is not given


def check_watching(output: Output) -> None:
    """The flags' values, before anything starts."""
    if output.metrics_linger is not None:
        if not 0 <= output.metrics_linger <= LONGEST_S:
            raise UsageError(f"--metrics-linger must be >= 0 and {AT_MOST_LONGEST}")
        if output.metrics_listen is None:
            raise UsageError("--metrics-linger is --metrics-listen's: give --metrics-listen too")
    if output.export_interval is not None:
        if not 0 < output.export_interval <= LONGEST_S:
            raise UsageError(f"--export-interval must be > 0 and {AT_MOST_LONGEST}")
        if output.otlp_endpoint is None:
            raise UsageError("--export-interval is --otlp-endpoint's: give --otlp-endpoint too")
    if output.metrics_listen is not None:
        from ..export.prometheus import parse_listen

        try:
            parse_listen(output.metrics_listen)
        except ValueError as exc:
            raise UsageError(f"--metrics-listen: {exc}") from None


class Watching:
    """The sinks of one command-line run, made (the endpoint bound, the SDK found) before it starts."""

    def __init__(self, output: Output) -> None:
        if output.tui and not sys.stdout.isatty():  # with --json -, sys.stdout is stderr (stdout carries the JSON)
            stream = "stderr (stdout carries the JSON)" if output.json_path == "-" else "stdout"
            raise SetupError(f"--tui draws on the terminal, and {stream} is not one")
        self.sinks: list[Exporter] = []
        self.metrics: PrometheusExporter | None = None
        chosen = False  # the system chose the port: where to scrape is known only from here
        if output.metrics_listen is not None:
            from ..export.prometheus import PrometheusExporter, parse_listen

            host, port = parse_listen(output.metrics_listen)
            self.metrics = PrometheusExporter(host, port, output.metrics_linger or 0.0)
            self.sinks.append(self.metrics)
            chosen = port == 0
        if output.otlp_endpoint is not None:
            from ..export.otlp import OtlpExporter

            self.sinks.append(OtlpExporter(output.otlp_endpoint, output.export_interval or EXPORT_INTERVAL_S))
        self.tui: TuiView | None = None
        if output.tui:
            from ..report.live_view import TuiView

            self.tui = TuiView(sys.stdout)
            self.sinks.append(self.tui)
        if chosen and self.metrics is not None:  # once every sink is made: else a refusal of the OTLP one came
            print(f"loadgen: metrics at {self.metrics.url}", file=sys.stderr)  # after it, an endpoint never served

    def started(self) -> None:
        """The run starts: the view takes the screen."""
        if self.tui is not None:
            self.tui.open()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around the run: the terminal is given back however it ends, then the warnings raised
        meanwhile are shown, even when the run failed: a sink that failed in one ``loadgen: ``
        line, any other warning (a script's, Python's) as Python shows it, the user's filters
        applied."""
        live_warning = self._live_warning()
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                if live_warning is not None:
                    warnings.simplefilter("always", live_warning)
                yield
        finally:
            if self.tui is not None:
                self.tui.close()
            for warning in caught:
                if live_warning is not None and issubclass(warning.category, live_warning):
                    print(f"loadgen: warning: {warning.message}", file=sys.stderr)
                else:
                    warnings.showwarning(
                        warning.message, warning.category, warning.filename, warning.lineno, warning.file, warning.line
                    )

    def _live_warning(self) -> type[Warning] | None:
        """What a failing sink warns with; None when there is no sink to fail (nothing imported)."""
        if not self.sinks:
            return None
        from ..live.sinks import LiveWarning

        return LiveWarning

    def linger(self, stop: threading.Event) -> None:
        """After the report: serve the final figures for the grace period asked, which Ctrl-C,
        SIGTERM and SIGHUP end as they end the run (they set ``stop``, the command's handlers in
        place from the run's start to here: in the gap, SIGTERM killed the command, exit 143), the
        exit code unchanged. None after a run that one of them stopped, or a signal during the
        report: it asked loadgen to end (it lingered on, and took a second signal), and the
        report and --json hold the final figures."""
        if self.metrics is None:
            return
        if self.metrics.linger and not stop.is_set() and not self.metrics.closed.is_set():
            # else the prompt came back only after it, the report printed: as if the command hung
            print(
                f"loadgen: serving the final figures at {self.metrics.url} for "
                f"{format_time_s(self.metrics.linger)} more (--metrics-linger; Ctrl-C ends it)",
                file=sys.stderr,
            )
        while not stop.is_set() and not self.metrics.closed.wait(0.2):
            pass
        self.metrics.close()  # at once when stopped; a second time, nothing, when the grace period is over
