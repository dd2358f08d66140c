"""Edges of a run: Unix socket paths that cannot be, a server that switches protocols or says
both keep-alive and close, and the one form of every line loadgen writes to stderr."""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.errors import SetupError, UsageError
from loadgen.target import UNIX_PATH_MAX, Address, from_anywhere, parse_url, resolve
from loadgen.testing.server import TestServer

from .conftest import run_loadgen

# wrk's own messages, printed as wrk prints them (wrk-spec.md, section 2); and a script's errors,
# which name the file first, as wrk's
WRK_FORMS = ("unable to connect to ", "unable to resolve ", "invalid URL: ", "number of connections must be")


def test_an_empty_unix_socket_path_is_a_usage_error(fresh_server: TestServer) -> None:
    done = run_loadgen("--unix-socket", "", "-d1s", fresh_server.url("/"))
    assert done.returncode == 1 and done.stderr_lines == ["loadgen: the Unix socket path is empty"]
    assert fresh_server.counters.requests_received == 0  # not quietly run over TCP


def test_a_unix_socket_with_an_https_url_is_a_usage_error(fresh_server: TestServer) -> None:
    """The socket's connection is plain HTTP: an https:// URL would be sent unencrypted, silently."""
    done = run_loadgen("--unix-socket", "/tmp/x.sock", "-d1s", "https://localhost/")
    assert done.returncode == 1 and done.stderr_lines == [
        "loadgen: --unix-socket speaks plain HTTP: give an http:// URL"
    ]


def test_a_unix_socket_path_longer_than_the_kernel_takes_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / ("s" * (UNIX_PATH_MAX + 1 - len(str(tmp_path)) - 1))
    assert len(str(path)) == UNIX_PATH_MAX + 1
    started = time.monotonic()
    done = run_loadgen("--unix-socket", str(path), "-d1s", "http://localhost/")
    assert time.monotonic() - started < 5
    assert done.returncode == 1
    assert done.stderr_lines == [
        f"loadgen: the Unix socket path is {UNIX_PATH_MAX + 1} bytes long, and a Unix socket address holds at "
        f"most {UNIX_PATH_MAX}: give a shorter path (a relative one, or a symbolic link to its directory)"
    ]


def test_a_unix_socket_nothing_listens_on_is_unreachable_as_a_port_is(tmp_path: Path) -> None:
    """The test connection before the run, as for a TCP address (README's exit code 1: an unreachable target)."""
    path = str(tmp_path / "none.sock")
    with pytest.raises(
        SetupError, match=rf"^unable to connect to {re.escape(path)} No such file or directory$"
    ) as refused:
        resolve(parse_url("http://localhost/"), unix_socket=path)
    assert refused.value.wrk_message  # printed as wrk prints its own, without 'loadgen: '
    assert str(Address(socket.AF_UNIX, path, 0)) == f"unix:{path}"  # as other lines name such an address
    # a path with a line break, in one line (it split the message in two)
    broken = f"{path}\nb"
    with pytest.raises(SetupError) as refused:
        resolve(parse_url("http://localhost/"), unix_socket=broken)
    assert str(refused.value) == f"unable to connect to {broken!r} No such file or directory"


def test_a_relative_unix_socket_that_a_dask_worker_could_not_name_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path that fits, made absolute for the Dask workers (which run elsewhere), may no longer fit:
    said, before the run, with what to do; one that fits is given to them absolute (tests/test_dask.py)."""
    monkeypatch.chdir(tmp_path)
    assert from_anywhere(Address(socket.AF_UNIX, "s.sock", 0)) == Address(socket.AF_UNIX, f"{tmp_path}/s.sock", 0)
    deep = tmp_path / ("d" * (UNIX_PATH_MAX - len(str(tmp_path))))
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert from_anywhere(Address(socket.AF_UNIX, "/abs.sock", 0)) == Address(socket.AF_UNIX, "/abs.sock", 0)
    assert from_anywhere(Address(socket.AF_INET, "127.0.0.1", 80)) == Address(socket.AF_INET, "127.0.0.1", 80)
    with pytest.raises(UsageError, match=r"^--unix-socket s\.sock: the Dask workers run in directories of their own"):
        from_anywhere(Address(socket.AF_UNIX, "s.sock", 0))


def test_a_101_ends_http_on_its_connection(fresh_server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = run_loadgen("-t1", "-c2", "-d1s", "--json", str(out), fresh_server.url("/status/101"))
    assert done.returncode == 0 and done.stderr_lines == [], done.stderr
    document = json.loads(out.read_text())
    assert document["requests"] > 10 and document["status_counts"] == {"101": document["requests"]}
    assert document["errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    assert document["connections"]["opened"] >= document["requests"]  # a new one after each 101


class _OncePerConnection(socketserver.BaseRequestHandler):
    """Answers the first request of a connection in HTTP/1.0 with ``Connection: keep-alive,
    close``, then keeps the connection open and silent: only a client that closes gets more."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok")
        self.request.settimeout(5)
        try:
            while self.request.recv(65536):  # until the client closes
                pass
        except OSError:
            pass


@pytest.fixture
def once_per_connection() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _OncePerConnection)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_close_wins_over_keep_alive_in_http_1_0(once_per_connection: int) -> None:
    done = run_loadgen("-t1", "-c2", "-d1s", f"http://127.0.0.1:{once_per_connection}/")
    assert done.returncode == 0, done.stderr
    requests = int(done.stdout.split(" requests in ", 1)[0].rsplit(maxsplit=1)[-1])
    assert requests > 20, done.stdout  # kept open, each connection would have had one response
    assert "Socket errors" not in done.stdout  # closed by loadgen, not by the server


@pytest.fixture
def listening_nowhere() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ["--body-file", "/no/such/body"],
        ["--json", "/no/such/dir/out.json"],
        ["--html", "/no/such/dir/out.html"],
        ["--dask", "local:0"],
        ["--dask", "tcp://127.0.0.1"],
        ["-R", "0"],
        ["-t0"],
        ["-c10k", "-t1"],  # more than the open-file limit the test sets
        ["-s", "/no/such/script.py"],
        ["--fail-on", "p99<"],
        ["-H", "no colon"],
        ["--unix-socket", ""],
        ["-c1", "-t2"],
        ["http://[::1"],
    ],
)
def test_every_stderr_line_is_loadgens_or_wrks(fresh_server: TestServer, args: list[str]) -> None:
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    url = [] if any(arg.startswith("http") for arg in args) else [fresh_server.url("/")]
    done = run_loadgen("-d1s", *args, *url, preexec_fn=low_limit)
    assert done.returncode != 0 and len(done.stderr_lines) == 1, done.stderr
    line = done.stderr_lines[0]
    assert line.startswith(("loadgen: ", "/no/such/script.py: ", *WRK_FORMS)), line


def test_a_run_of_nothing_but_timeouts_says_so(server: TestServer) -> None:
    """Every response slower than --timeout: the report's latency is empty, and stderr says why."""
    done = run_loadgen("-t1", "-c2", "-d1s", "--timeout", "10ms", server.url("/delay?ms=30"))
    assert done.returncode == 0, done.stderr
    assert "timeout" in done.stdout
    assert (
        "loadgen: every response took longer than --timeout 10ms: all counted as timeouts, none in the latency figures"
    ) in done.stderr_lines
