"""Python servers that speak HTTP/2 (hypercorn, and granian with ``--http 2``) serving a tiny
ASGI app, for tests: started on a free loopback port, access log in a temporary directory,
always stopped. Both accept h2c with prior knowledge.

The app's paths::

    /                 200 "hello world\\n"
    /bytes?size=N     N bytes of body
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from .launch import free_port, start, stop, wait_until_listening

__all__ = ["SERVERS", "AsgiServer", "app", "server_available"]

HELLO = b"hello world\n"
SERVERS = ("hypercorn", "granian")

Message = MutableMapping[str, Any]


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    body = HELLO
    if scope["path"] == "/bytes":
        body = b"b" * int(parse_qs(scope["query_string"].decode()).get("size", ["0"])[0])
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def server_available(name: str) -> bool:
    return shutil.which(name) is not None


class AsgiServer:
    """``with AsgiServer("granian") as server: server.port``; :meth:`requests_logged` counts its
    access log's lines."""

    def __init__(self, name: str) -> None:
        if name not in SERVERS:
            raise ValueError(f"unknown server {name!r}: one of {', '.join(SERVERS)}")
        self.name = name
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"loadgen-{name}-")
        self._log = Path(self._tmp.name) / "access.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        target = "loadgen.testing.asgiservers:app"
        if self.name == "hypercorn":
            # Its default GOAWAY after 1,000 requests on a connection then answers the streams
            # already in flight with a PROTOCOL_ERROR; the tests want its plain behaviour.
            config = Path(self._tmp.name) / "hypercorn.toml"
            config.write_text("keep_alive_max_requests = 1000000000\n")
            bind = f"127.0.0.1:{self.port}"
            options = ["--bind", bind, "--access-logfile", str(self._log), "--config", str(config)]
            return [sys.executable, "-m", "hypercorn", target, *options]
        options = ["--interface", "asgi", "--http", "2", "--host", "127.0.0.1", "--port", str(self.port)]
        return ["granian", *options, "--access-log", "--log-level", "warning", target]

    def requests_logged(self) -> int:
        """Requests in the access log; call :meth:`stop` first, so that all of it is written."""
        return sum(1 for line in self._log.read_text().splitlines() if '"GET ' in line)

    def __enter__(self) -> AsgiServer:
        with self._log.open("ab") as log:  # granian writes its access log to standard output
            output = log if self.name == "granian" else subprocess.DEVNULL
            self.process = start(self._command(), stdout=output, stderr=subprocess.DEVNULL, start_new_session=True)
        if wait_until_listening(self.process, self.port, 30):
            return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"{self.name} did not start on port {self.port}")

    def stop(self, logged: int = 0) -> None:
        """Stop it, hypercorn once its access log holds ``logged`` requests (or after 10 s): it writes
        a response's line after sending its last frame, and stopped in between (a loaded machine's
        delay) never writes it, though the client counted the response."""
        deadline = time.monotonic() + 10
        while self.name == "hypercorn" and self.requests_logged() < logged and time.monotonic() < deadline:
            time.sleep(0.05)
        stop(self.process, group=True)  # granian's workers are its children

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()
