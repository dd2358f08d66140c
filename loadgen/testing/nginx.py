"""nginx as a fast reference server for tests and benchmarks: one worker, ``return 200``,
loopback only, everything in a temporary directory, stopped on exit.

A server much faster than any client is what it takes to see a client's own limits (its CPU,
its connection handling); nginx from the distribution's packages is that server. It speaks
HTTP/2 too: ``http2=True`` is h2c with prior knowledge, with ``tls=True`` h2 negotiated by ALPN
(with a self-signed certificate made for the run). Its locations::

    /                 200 "hello world\\n"
    /files/NAME       the bytes given as ``files={"NAME": ...}``
    /reset            nginx's 444: the connection closed, or over HTTP/2 the stream reset

``access_log=True`` logs one line per request, ``PROTOCOL STATUS BODY_BYTES`` (read them with
:meth:`Nginx.access_log`, after :meth:`Nginx.stop` to be sure the last lines are written);
``keepalive_requests`` is how many requests a connection serves before nginx closes it (over
HTTP/2, with a GOAWAY); ``max_streams`` is HTTP/2's MAX_CONCURRENT_STREAMS. With ``tls=True``,
``certificate`` is its certificate and key (a CA's: see :class:`~loadgen.testing.certificate.Authority`),
and ``client_ca`` makes it require a client certificate that CA signed (``ssl_verify_client on``:
nginx answers a request without one with 400).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .certificate import self_signed
from .launch import free_port, start, stop, wait_until_listening

__all__ = ["Nginx", "nginx_available"]

CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 16384; }}
worker_rlimit_nofile 20000;
http {{
  log_format counts '$server_protocol $status $body_bytes_sent';
  access_log {access_log};
  keepalive_requests {keepalive_requests};
  keepalive_timeout 120s;
  client_max_body_size 0;
  client_body_temp_path {tmp};
  proxy_temp_path {tmp};
  fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp};
  scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port}{listen_options} backlog=4096;
{server_options}    location / {{ return 200 "hello world\\n"; }}
    location /files/ {{ alias {tmp}/files/; }}
    location /reset {{ return 444; }}
  }}
}}
"""


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


class Nginx:
    """``with Nginx(core=1) as server: server.url("/")``; ``core`` pins it with taskset."""

    def __init__(
        self,
        core: int | None = None,
        *,
        http2: bool = False,
        tls: bool = False,
        keepalive_requests: int = 100_000_000,
        max_streams: int | None = None,
        access_log: bool = False,
        files: Mapping[str, bytes] | None = None,
        certificate: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
        tls_versions: str | None = None,
    ) -> None:
        self.core = core
        self.http2 = http2
        self.tls = tls
        self.keepalive_requests = keepalive_requests
        self.max_streams = max_streams
        self.logs = access_log
        self.files = dict(files or {})
        self.certificate = certificate  # (cert, key) for TLS; None: a self-signed one
        self.client_ca = client_ca  # TLS: require a client certificate signed by this CA
        self.tls_versions = tls_versions  # TLS: nginx's ssl_protocols ("TLSv1.2"); None: its default
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="loadgen-nginx-")
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    @property
    def _log_path(self) -> Path:
        return Path(self._tmp.name) / "access.log"

    def access_log(self) -> list[tuple[str, int, int]]:
        """(protocol, status, body bytes) of every request logged so far."""
        entries = []
        for line in self._log_path.read_text().splitlines():
            protocol, status, sent = line.split()
            entries.append((protocol, int(status), int(sent)))
        return entries

    def _conf(self) -> str:
        tmp = Path(self._tmp.name)
        listen_options = (" ssl" if self.tls else "") + (" http2" if self.http2 else "")
        server_options = ""
        if self.tls:
            cert, key = self.certificate or self_signed(tmp)
            server_options += f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
            if self.tls_versions is not None:
                server_options += f"    ssl_protocols {self.tls_versions};\n"
            if self.client_ca is not None:
                server_options += f"    ssl_verify_client on;\n    ssl_client_certificate {self.client_ca};\n"
        if self.max_streams is not None:
            server_options += f"    http2_max_concurrent_streams {self.max_streams};\n"
        return CONF.format(
            tmp=tmp,
            port=self.port,
            listen_options=listen_options,
            server_options=server_options,
            keepalive_requests=self.keepalive_requests,
            access_log=f"{self._log_path} counts" if self.logs else "off",
        )

    def __enter__(self) -> Nginx:
        tmp = Path(self._tmp.name)
        (tmp / "files").mkdir()
        for name, content in self.files.items():
            (tmp / "files" / name).write_bytes(content)
        conf = tmp / "nginx.conf"
        conf.write_text(self._conf())
        pin = ["taskset", "-c", str(self.core)] if self.core is not None else []
        self.process = start([*pin, "nginx", "-c", str(conf), "-p", str(tmp)], stderr=subprocess.DEVNULL)
        if wait_until_listening(self.process, self.port, 10):
            return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"nginx did not start on port {self.port}")

    def stop(self) -> None:
        """Stop nginx (its access log is then complete; the files stay until the ``with`` ends)."""
        stop(self.process)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()
