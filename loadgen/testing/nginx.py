"""nginx as a fast reference server for tests and benchmarks: one worker, ``return 200``,
loopback only, everything in a temporary directory, stopped on exit.

A server much faster than any client is what it takes to see a client's own limits (its CPU,
its connection handling); nginx from the distribution's packages is that server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Nginx", "nginx_available"]

CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 16384; }}
worker_rlimit_nofile 20000;
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path {tmp};
  proxy_temp_path {tmp};
  fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp};
  scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ return 200 "hello world\\n"; }}
  }}
}}
"""


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """``with Nginx(core=1) as server: server.url("/")``; ``core`` pins it with taskset."""

    def __init__(self, core: int | None = None) -> None:
        self.core = core
        self.port = _free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="loadgen-nginx-")
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Nginx:
        tmp = self._tmp.name
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(CONF.format(tmp=tmp, port=self.port))
        pin = ["taskset", "-c", str(self.core)] if self.core is not None else []
        self.process = subprocess.Popen([*pin, "nginx", "-c", str(conf), "-p", tmp], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"nginx did not start on port {self.port}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._tmp.cleanup()
