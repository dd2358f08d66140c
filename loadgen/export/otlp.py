"""``--otlp-endpoint``: the run's figures pushed over OTLP/HTTP every ``--export-interval``, with
the OpenTelemetry SDK (the optional extra ``loadgen[otel]``).

The instruments are observable: the SDK's reader thread asks for the latest second at each
export, so nothing is recorded per request. Latency goes as gauges of its percentiles so far
(p50, p90, p99, max) beside the count and sum of the latencies; the SDK has no way to record a
histogram's counts other than one call per sample. The run's settings are the resource's
attributes. At the end the final second is exported once more, then the SDK is shut down.

The SDK sends one export at a time and counts the next interval from the end of the last: an
export waiting on a receiver that does not answer holds back the ones that fall due meanwhile.
One that cannot connect at all fails at once, not tried again after the SDK's backoff (see
:func:`_session`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ..errors import SetupError, UsageError, excerpt
from ..live.second import LiveSecond
from ..live.sinks import SinkProblem
from ..measurement import ErrorKind
from ..settings import Settings

__all__ = ["OtlpExporter", "metrics_url"]

# What an export waits for its answer, and the end of the run for the exports (the one in flight and
# the final one together): a receiver that does not answer must not hold the end for long.
EXPORT_TIMEOUT_S = 2.0
PERCENTILES = (("50", 50.0), ("90", 90.0), ("99", 99.0), ("max", 100.0))


def metrics_url(endpoint: str) -> str:
    """A base URL gets ``/v1/metrics`` (as in OTEL_EXPORTER_OTLP_ENDPOINT); a URL with a path is
    taken whole (as OTEL_EXPORTER_OTLP_METRICS_ENDPOINT), so any receiver's path can be given."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{excerpt(endpoint)} is not an http:// or https:// URL")
    if not parts.hostname or not _port_valid(parts):  # else every push fails, said only after the run
        raise ValueError(f"{excerpt(endpoint)} names no host, or a port that is not 1-65535")
    return endpoint.rstrip("/") + "/v1/metrics" if parts.path in ("", "/") else endpoint


def _port_valid(parts: SplitResult) -> bool:
    try:
        return parts.port != 0  # ValueError: not a number, or above 65535
    except ValueError:
        return False


def resource_attributes(settings: Settings) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "service.name": "loadgen",
        "loadgen.url": settings.url,
        "loadgen.threads": settings.threads,
        "loadgen.connections": settings.connections,
        "loadgen.method": settings.method,
        "loadgen.timeout_s": settings.timeout,
    }
    if settings.duration is not None:
        attributes["loadgen.duration_s"] = settings.duration
    if settings.rate is not None:
        attributes["loadgen.rate"] = settings.rate
    if settings.requests is not None:
        attributes["loadgen.requests"] = settings.requests
    return attributes


def _text_pairs(headers: object) -> bool:
    return isinstance(headers, dict) and all(isinstance(item, str) for pair in headers.items() for item in pair)


class _Unreachable(Exception):
    """No connection to the receiver could be made: an export's failure that no retry would change."""


def _session() -> Any:
    """The exporter's HTTP session (a ``requests.Session``, the SDK's transport): a receiver that
    cannot be connected to (nothing listens on its port) fails the export at once. The SDK took
    that for a passing fault and tried again after a backoff of a second, and the end of the run
    waited for it (1.0-1.2 s, a 1 s run's command 1.0-1.8 s longer). A retry would change nothing:
    the next export, an interval later, carries the same figures so far, and the final one has no
    next one. Any other connection error (a pooled connection the receiver closed) the SDK still
    tries again at once."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().request(*args, **kwargs)
            except requests.ConnectionError as exc:
                reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
                if isinstance(reason, NewConnectionError):
                    raise _Unreachable(str(reason)) from exc  # not a ConnectionError: the SDK does not retry it
                raise

    return Session()


class OtlpExporter:
    """Pushes to ``endpoint`` (see :func:`metrics_url`) every ``interval`` seconds."""

    name = "the OTLP export"

    def __init__(self, endpoint: str, interval: float = 1.0, headers: dict[str, str] | None = None) -> None:
        if not isinstance(endpoint, str):  # urlsplit's AttributeError, or a traceback once the SDK read them
            raise UsageError(f"endpoint must be an http(s) URL (str), not {endpoint!r}")
        if headers is not None and not _text_pairs(headers):
            raise UsageError(f"headers must be a dict of str to str, not {headers!r}")
        if type(interval) not in (int, float) or not 0 < interval < math.inf:
            raise UsageError(f"interval must be seconds (a number > 0), not {interval!r}")
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: F401
        except ImportError:
            raise SetupError("--otlp-endpoint needs the OpenTelemetry SDK: pip install 'loadgen[otel]'") from None
        try:
            self.url = metrics_url(endpoint)
        except ValueError as exc:
            raise SetupError(f"--otlp-endpoint: {exc}") from None
        logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # loadgen says what failed, in one line
        self.headers = headers
        self.interval = interval
        self.sent = self.answered = 0  # the run's exports begun; those the receiver took
        self.waited_s = 0.0  # how long the failed exports took while the run ran: the intervals they held back
        self.ended: float | None = None
        self.latest: LiveSecond | None = None
        self.pid = 0  # the process that started the run: the one whose figures these are
        self.provider: Any = None

    def _exporter(self) -> Any:
        """The SDK's exporter for one run, counting its exports: the SDK shuts it down with the run's
        provider (a second run given the same OtlpExporter pushed nothing, and its line blamed the
        receiver with the first run's exports counted in: "8 of 12 exports to URL failed")."""
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        sink = self

        class Counted(OTLPMetricExporter):
            def export(self, metrics_data: Any, timeout_millis: float | None = None, **kwargs: Any) -> Any:
                began = time.monotonic()
                sink.sent += 1
                try:
                    result = super().export(metrics_data, timeout_millis, **kwargs)
                except BaseException:
                    sink.waited(began)
                    raise
                if result.name == "SUCCESS":
                    sink.answered += 1
                else:  # only a failed export held the next ones back (a healthy one takes milliseconds)
                    sink.waited(began)
                return result

        return Counted(endpoint=self.url, headers=self.headers, timeout=EXPORT_TIMEOUT_S, session=_session())

    def start(self, settings: Settings) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        # zeros until the first second ends, and through a warm-up, as the Prometheus endpoint serves them: with
        # nothing observed, nothing was pushed until then (3.9 s into a run with --warmup 2s), and the SDK dated each
        # counter's start at that first push, the first second's 1,000 requests counted in the 4 ms before it
        self.latest = LiveSecond.before(settings)
        self.pid = os.getpid()
        self.sent = self.answered = 0
        self.waited_s = 0.0
        self.ended = None
        reader = PeriodicExportingMetricReader(self._exporter(), export_interval_millis=self.interval * 1000)
        self.provider = MeterProvider(
            metric_readers=[reader], resource=Resource.create(resource_attributes(settings)), shutdown_on_exit=False
        )
        self._instruments(self.provider.get_meter("loadgen"))

    def _instruments(self, meter: Any) -> None:
        from opentelemetry.metrics import Observation

        def observe(read: Any) -> Any:
            def callback(options: Any) -> Iterable[Observation]:
                live = self.latest
                # a worker forked after this has the SDK's reader too (the SDK restarts it in a fork's child), and a
                # copy of the zeros above, not its figures: it pushed them, as the same resource, every interval
                if live is None or os.getpid() != self.pid:
                    return []
                return [Observation(value, attributes) for value, attributes in read(live)]

            return [callback]

        counter, gauge = meter.create_observable_counter, meter.create_observable_gauge
        counter("loadgen.requests", observe(lambda live: [(live.requests, {})]), "{request}", "Responses received")
        counter(
            "loadgen.responses",
            observe(lambda live: [(n, {"http.response.status_code": s}) for s, n in live.status_counts.items()]),
            "{response}",
            "Responses by status code",
        )
        counter(
            "loadgen.errors",
            observe(lambda live: [(live.errors.get(kind, 0), {"error.type": str(kind)}) for kind in ErrorKind]),
            "{error}",
            "Errors by kind",
        )
        counter("loadgen.received", observe(lambda live: [(live.bytes, {})]), "By", "Bytes read from the server")
        counter(
            "loadgen.latency.sum", observe(lambda live: [(live.latency_sum_us / 1e6, {})]), "s", "Latencies added up"
        )
        counter("loadgen.latency.count", observe(lambda live: [(live.distribution.count, {})]), "{request}")
        gauge(
            "loadgen.latency",
            observe(  # none before a latency is measured: not a 0 s that no response took
                lambda live: (
                    [(live.percentile_us(p) / 1e6, {"percentile": name}) for name, p in PERCENTILES]
                    if live.distribution.count
                    else []
                )
            ),
            "s",
            "Latency percentiles so far",
        )
        gauge("loadgen.rate.achieved", observe(lambda live: [(live.requests_per_sec, {})]), "{request}/s")
        gauge(
            "loadgen.rate.asked",
            observe(lambda live: [] if live.asked_rate is None else [(live.asked_rate, {})]),
            "{request}/s",
        )
        gauge("loadgen.connections.open", observe(lambda live: [(live.connections_open, {})]), "{connection}")
        counter("loadgen.connections.opened", observe(lambda live: [(live.connections_opened, {})]), "{connection}")
        counter(
            "loadgen.worker.cpu.time",
            observe(lambda live: [(w.cpu.cpu_s, {"worker": w.index, "host": w.host}) for w in live.workers]),
            "s",
        )
        gauge(
            "loadgen.worker.busy",
            observe(lambda live: [(w.busy, {"worker": w.index, "host": w.host}) for w in live.workers]),
            "1",
        )
        gauge(
            "loadgen.workers.behind",
            observe(lambda live: [(len(live.behind), {})]),
            "{worker}",
            "Workers not heard from for 2 s (held stopped, or their loop blocked): the last second is the others'",
        )
        counter(
            "loadgen.worker.lost_requests",
            observe(lambda live: [(w.requests, {"worker": w.index, "host": w.host}) for w in live.lost]),
            "{request}",
            "Requests a worker that died had posted: kept in the counts, not in the run's result",
        )

    def second(self, live: LiveSecond) -> None:
        self.latest = live

    def waited(self, began: float) -> None:
        """A failed export begun at ``began`` is over: the part of it before the run's end held intervals back."""
        until = time.monotonic() if self.ended is None else min(time.monotonic(), self.ended)
        self.waited_s += max(0.0, until - began)

    def end(self, live: LiveSecond) -> None:
        """Export the final second, then shut the SDK down (its reader exports once more as it does),
        waiting at most one export's timeout for the export in flight and the final one together:
        past it, an export not answered has failed."""
        self.latest = live
        self.ended = time.monotonic()
        if self.provider is not None:
            self.provider.shutdown(timeout_millis=EXPORT_TIMEOUT_S * 1000)
            self.provider = None
        if self.sent > self.answered:
            raise SinkProblem(self._lost())

    def _lost(self) -> str:
        """The failed exports, and the ones due that were not sent while another waited."""
        failed = self.sent - self.answered
        held = int(self.waited_s / self.interval)
        if not held:
            return f"{failed} of {self.sent} exports to {self.url} failed"
        return (
            f"{failed + held} of {self.sent + held} exports due to {self.url} failed or were not sent: "
            f"{failed} failed, {held} fell due while another waited for the receiver"
        )
