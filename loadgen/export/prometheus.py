"""``--metrics-listen``: a Prometheus endpoint, ``/metrics``, serving the run's latest second while
it runs, then its final figures for ``--metrics-linger`` more seconds.

The server is bound when made, so that an address in use stops the run before it starts, in
one line. It runs in threads of its own; each scrape formats the latest second then
(:mod:`.openmetrics`), so a run that nobody scrapes formats nothing.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import SetupError
from ..live.second import LiveSecond
from ..settings import Settings
from .openmetrics import CONTENT_TYPE, OPENMETRICS_TYPE, exposition

__all__ = ["PrometheusExporter", "parse_listen"]


def parse_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a pair, or ValueError saying what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        latest = self.server.latest
        if latest is None:
            self.send_error(503, "the run has not started")
            return
        openmetrics = "application/openmetrics-text" in self.headers.get("Accept", "")
        body = exposition(latest, openmetrics=openmetrics).encode()
        self.send_response(200)
        self.send_header("Content-Type", OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # loadgen's stderr is its own


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    latest: LiveSecond | None = None


class PrometheusExporter:
    """Serves ``/metrics`` on ``host:port`` from now until :meth:`close`, or ``linger`` seconds
    after the run's end (``port`` 0: any free one, see :attr:`port`)."""

    name = "the Prometheus endpoint"

    def __init__(self, host: str = "127.0.0.1", port: int = 9464, linger: float = 0.0) -> None:
        self.linger = linger
        try:
            self.server = _Server((host, port), _Handler)
        except OSError as exc:
            raise SetupError(f"--metrics-listen {host}:{port}: {exc.strerror or exc}") from None
        self.port: int = self.server.server_address[1]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self.server.serve_forever, name="loadgen-metrics", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{host}:{self.port}/metrics"

    def start(self, settings: Settings) -> None:
        self.server.latest = LiveSecond.before(settings)

    def second(self, live: LiveSecond) -> None:
        self.server.latest = live

    def end(self, live: LiveSecond) -> None:
        """The final figures, served ``linger`` seconds more (:meth:`wait` waits for that)."""
        self.server.latest = live
        timer = threading.Timer(self.linger, self.close)
        timer.daemon = True
        timer.start()

    def wait(self) -> None:
        """Until the grace period after the run is over and the endpoint closed."""
        try:
            while not self.closed.wait(0.2):
                pass
        except KeyboardInterrupt:
            self.close()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.server.shutdown()
            self.server.server_close()
