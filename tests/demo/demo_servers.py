"""Real demo processes for the tests: start, wait until ready, fetch, judge their output, always stop."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo_expectations import TEST_GATEWAY_SCALE, Observed

from demo.startup import STARTUP_FAILURE_PREFIX

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
READY_PATH = "/myapp/sync/json"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
# Variables of the caller's environment that would change what the demo does.
DEMO_VARIABLES = ("DATABASE_URL", "WEB_CONCURRENCY", "DJANGO_SETTINGS_MODULE")


def _gunicorn(app: str, *worker_args: str) -> list[str]:
    return [
        "-m",
        "gunicorn",
        app,
        *worker_args,
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--no-control-socket",
        "--log-level",
        "warning",
    ]


def _uvicorn() -> list[str]:
    return ["-m", "uvicorn", "demo.asgi:application", "--lifespan", "on", "--no-access-log", "--log-level", "warning"]


# Server kind -> interpreter arguments, without the bind address and the worker count. The ASGI ones require the
# lifespan protocol ("on"): a server refuses to start when the application does not complete it.
SERVER_KINDS: dict[str, list[str]] = {
    "gunicorn-uvicorn-worker": _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker"),
    "gunicorn-sync": _gunicorn("demo.wsgi:application", "-k", "sync"),
    "gunicorn-gthread": _gunicorn("demo.wsgi:application", "-k", "gthread", "--threads", "8"),
    "gunicorn-asgi": _gunicorn("demo.asgi:application", "-k", "asgi", "--asgi-lifespan", "on"),
    "uvicorn": _uvicorn(),
    # uvicorn's own supervisor: spawned children import the app inside their running event loop.
    "uvicorn-workers": _uvicorn(),
}


# Kinds started by one test each, not by every test of SERVER_KINDS: hypercorn warns per worker, and serves on, when
# the application fails the lifespan protocol.
OTHER_KINDS: dict[str, list[str]] = {"hypercorn": ["-m", "hypercorn", "demo.asgi:application", "--error-logfile", "-"]}


def server_command(kind: str, port: int, workers: int) -> list[str]:
    """The full command line of a server of ``kind`` on 127.0.0.1:``port``."""
    args = {**SERVER_KINDS, **OTHER_KINDS}[kind]
    if kind.startswith("uvicorn"):
        # Plain `uvicorn` stays one process, which imports the app before starting its loop.
        worker_args = ["--workers", str(workers)] if kind == "uvicorn-workers" else []
        return [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port), *worker_args]
    return [sys.executable, *args, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_environment(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without demo knobs, plus a private data dir and a fast gateway."""
    env = {key: value for key, value in os.environ.items() if key not in DEMO_VARIABLES and not key.startswith("DEMO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["DEMO_DATA_DIR"] = str(data_dir)
    env["DEMO_GATEWAY_SCALE"] = str(TEST_GATEWAY_SCALE)
    env.update(extra or {})
    return env


def fetch(port: int, path: str, *, headers: Mapping[str, str] | None = None) -> Observed:
    """GET ``path`` from 127.0.0.1:``port`` over a fresh connection; bodies are not decoded."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return Observed(
            status=response.status,
            content_type=response.getheader("Content-Type", ""),
            content_encoding=response.getheader("Content-Encoding"),
            body=response.read(),
        )
    finally:
        connection.close()


@dataclass
class DemoServer:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def fetch(self, path: str, *, headers: Mapping[str, str] | None = None) -> Observed:
        return fetch(self.port, path, headers=headers)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# The `start_server` fixture: ``start_server(kind, workers=2, extra_env=None) -> DemoServer``.
StartServer = Callable[..., DemoServer]


def wait_until_ready(server: DemoServer, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.kind} exited with {server.process.returncode}:\n{server.log()}")
        try:
            if server.fetch(READY_PATH).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.kind} not ready after {READY_TIMEOUT:g} s:\n{server.log()}")
        time.sleep(0.1)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers, and reap the leader."""
    for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    # Workers orphaned by a dead master are still in the group: make sure none survives.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def running_server(
    kind: str, work_dir: Path, *, workers: int = 2, extra_env: Mapping[str, str] | None = None
) -> Iterator[DemoServer]:
    """A ready demo server of ``kind`` with a fresh data dir under ``work_dir``; stopped on exit."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work_dir / f"{kind}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            server_command(kind, port, workers),
            cwd=REPO_ROOT,
            env=demo_environment(work_dir / "data", extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DemoServer(kind=kind, port=port, process=process, log_path=log_path)
    try:
        wait_until_ready(server, time.monotonic() + READY_TIMEOUT)
        yield server
    finally:
        stop_process_group(process)


def run_until_exit(
    command: list[str], env: Mapping[str, str], timeout: float, *, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a process that is expected to exit by itself; its whole group is killed if it does not."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(process)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{command} still running after {timeout:g} s\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ) from None
    finally:
        stop_process_group(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def startup_failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(STARTUP_FAILURE_PREFIX)]


def app_traceback_frames(stderr: str) -> list[str]:
    """Traceback frames in the demo or in Django.

    gunicorn's master may print its own traceback when several workers fail to boot at once
    (a long-standing arbiter quirk: ``HaltServer`` raised again while halting); that one says
    nothing about the app and is tolerated.
    """
    app_paths = (str(REPO_ROOT / "demo"), f"{os.sep}django{os.sep}")
    return [line for line in stderr.splitlines() if 'File "' in line and any(path in line for path in app_paths)]


def assert_clear_boot_failure(result: subprocess.CompletedProcess[str], *, names: str, reason: str) -> None:
    assert result.returncode != 0, result
    lines = startup_failure_lines(result.stderr)
    assert lines, result.stderr
    assert all(names in line and reason in line for line in lines), lines
    assert not app_traceback_frames(result.stderr), result.stderr
