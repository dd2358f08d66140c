"""loadgen.testing's servers never outlive the process that started them, however it dies, and say
what they run out of in a line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.testing.nginx import nginx_available

from .conftest import alive, wait_for

HOLDER = """\
import sys, time
from loadgen.testing.nginx import Nginx
with Nginx() as server:
    print(server.process.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_nginx_stops_when_its_starter_is_killed(signum: signal.Signals) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        nginx_pid = int(holder.stdout.readline())  # type: ignore[union-attr]
        assert alive(nginx_pid)
        holder.send_signal(signum)  # neither runs the with block's exit
        holder.wait(10)
        assert wait_for(lambda: not alive(nginx_pid)), "nginx outlived the process that started it"
    finally:
        holder.kill()
        holder.wait()


def test_the_test_server_out_of_file_descriptors_says_so_once(tmp_path: Path) -> None:
    """Past ``ulimit -n``, asyncio logged each failed accept with its traceback, tens of thousands
    of lines a second (loadgen -c20000 against it): now one line, and the server goes on."""

    few_descriptors = (
        "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40)); "
        "runpy.run_module('loadgen.testing.server', run_name='__main__')"
    )
    said = tmp_path / "stderr"  # a file: a pipe fills, and a server flooding it would block
    server = subprocess.Popen(
        [sys.executable, "-c", few_descriptors],
        stdout=subprocess.PIPE,
        stderr=said.open("w"),
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        for _ in range(60):  # more than it can accept
            clients.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.3)  # its accepts fail, again and again
        clients[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert clients[0].recv(100).startswith(b"HTTP/1.1 200")  # an accepted one is still served
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.communicate(timeout=10)
    assert said.read_text().splitlines() == [
        "loadgen.testing.server: out of file descriptors (Too many open files): new connections wait in the "
        "accept queue until others close (raise ulimit -n)"
    ]
