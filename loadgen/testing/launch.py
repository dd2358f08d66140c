"""Starting and stopping a test server's process: a free loopback port, waiting until the server
listens, stopping it (and its worker processes) even when it does not stop by itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

__all__ = ["free_port", "stop", "wait_until_listening"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int, seconds: float) -> bool:
    """True once something accepts connections on the port; False if the process ended or the
    time ran out first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(process: subprocess.Popen[bytes] | None, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 10 s; ``group``: the whole process group (a server whose
    workers are its children, started with ``start_new_session=True``)."""
    if process is None or process.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
