"""``--metrics-listen``: a Prometheus endpoint, ``/metrics``, serving the run's latest second while
it runs, then its final figures for ``--metrics-linger`` more seconds.

The server is bound when made, so that an address in use stops the run before it starts, in
one line. It runs in threads of its own; each scrape formats the latest second then
(:mod:`.openmetrics`), so a run that nobody scrapes formats nothing.
"""

from __future__ import annotations

import math
import socket
import socketserver
import threading

from ..errors import SetupError, UsageError, excerpt
from ..live.second import LiveSecond
from ..live.sinks import SinkProblem
from ..settings import Settings
from .openmetrics import CONTENT_TYPE, OPENMETRICS_TYPE, exposition

__all__ = ["PrometheusExporter", "parse_listen"]

MAX_HEAD = 16 * 1024
READ_TIMEOUT_S = 5.0


def parse_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a pair, or ValueError saying what is wrong. An
    empty host (``:9464``, the exporters' usual form) stays empty: binding it takes every IPv4
    interface. An IPv6 address without its brackets is refused, as Prometheus's own flags refuse
    it: ``::1:9464`` is an address of its own (it bound [::1]:9464), and ``[::1:0`` lacked one; a
    port above 65535 is said to be one."""
    host, sep, port = address.rpartition(":")
    # ASCII digits: str.isdigit() takes '²' (which int() refuses) and '١٢' (which int() reads as 12)
    if not sep or not (port.isascii() and port.isdigit()):
        raise ValueError(f"{excerpt(address)} is not HOST:PORT")
    if len(port.lstrip("0")) > 5 or int(port) > 65535:  # ':99999' was "not HOST:PORT", the form it has
        raise ValueError(f"{excerpt(address)}: the port is 0-65535 (0: a free one)")
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], int(port)
    if any(mark in host for mark in ":[]"):
        raise ValueError(f"{excerpt(address)} is not HOST:PORT: an IPv6 address goes in brackets, as [::1]:9464")
    return host, int(port)


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Handler(socketserver.BaseRequestHandler):
    """One scrape: a GET of /metrics, answered and closed. (http.server would do, but importing it
    costs more CPU than a whole run's scrapes: see benchmarks/README.md.)"""

    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(READ_TIMEOUT_S)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                head += chunk
            sock.sendall(self._answer(head.split(b"\r\n\r\n", 1)[0].decode("latin-1")))
        except OSError:
            pass  # the scraper went away

    def _answer(self, head: str) -> bytes:
        request_line, *fields = head.split("\r\n")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "GET":
            return _response("405 Method Not Allowed", "text/plain", b"GET /metrics only\n")
        if parts[1].split("?")[0] != "/metrics":
            return _response("404 Not Found", "text/plain", b"only /metrics is served here\n")
        latest = self.server.latest
        if latest is None:
            return _response("503 Service Unavailable", "text/plain", b"the run has not started\n")
        accept = next((value for name, _, value in (f.partition(":") for f in fields) if name.lower() == "accept"), "")
        openmetrics = "application/openmetrics-text" in accept
        body = exposition(latest, openmetrics=openmetrics).encode()
        return _response("200 OK", OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE, body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    latest: LiveSecond | None = None

    def __init__(self, address: tuple[str, int]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class PrometheusExporter:
    """Serves ``/metrics`` on ``host:port`` from now until :meth:`close`, or ``linger`` seconds
    after the run's end (``port`` 0: any free one, see :attr:`port`)."""

    name = "the Prometheus endpoint"

    def __init__(self, host: str = "127.0.0.1", port: int = 9464, linger: float = 0.0) -> None:
        if not isinstance(host, str) or type(port) is not int or not 0 <= port <= 65535:
            raise UsageError(
                f"PrometheusExporter takes a host (str) and a port from 0 to 65535, not {host!r}, {port!r}"
            )
        if type(linger) not in (int, float) or not 0 <= linger < math.inf:
            raise UsageError(f"linger must be seconds (a number >= 0), not {linger!r}")
        self.linger = linger
        try:
            self.server = _Server((host, port))
        except OSError as exc:
            raise SetupError(f"--metrics-listen {host}:{port}: {exc.strerror or exc}") from None
        self.port: int = self.server.server_address[1]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self.server.serve_forever, name="loadgen-metrics", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://[{host}]:{self.port}/metrics" if ":" in host else f"http://{host}:{self.port}/metrics"

    def start(self, settings: Settings) -> None:
        if self.closed.is_set():  # its run ended ``linger`` ago, or close(): a run would export to nothing
            raise SinkProblem(f"closed ({self.url}): a PrometheusExporter serves one run, give each run its own")
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
