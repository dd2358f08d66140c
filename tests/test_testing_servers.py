"""loadgen.testing's servers never outlive the process that started them, however it dies."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from loadgen.testing.nginx import nginx_available

from .conftest import alive, wait_for

pytestmark = pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")

HOLDER = """\
import sys, time
from loadgen.testing.nginx import Nginx
with Nginx() as server:
    print(server.process.pid, flush=True)
    time.sleep(60)
"""


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
