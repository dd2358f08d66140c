"""Starting and stopping a test server's process: a free loopback port, waiting until the server
listens, stopping it (and its worker processes) even when it does not stop by itself, or when
whatever started it is killed before it could (a ``with`` block sees Ctrl-C, not SIGTERM or SIGKILL)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["free_port", "start", "stop", "wait_until_listening"]

PR_SET_PDEATHSIG = 1
# Looked up now, not between fork and exec, where a loader lock another thread holds would hang
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _terminated_with_parent() -> None:
    """In the child, between fork and exec: SIGTERM from the kernel when the parent's thread ends."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)  # type: ignore[misc]


def start(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(command, **options)`` for a server that must not outlive this process:
    started from the main thread on Linux, the kernel sends it SIGTERM when this process dies,
    however it dies. (The signal follows the thread that started it: from another thread, which
    may end while the server is still wanted, the server is only stopped by :func:`stop`.)"""
    main_thread = threading.current_thread() is threading.main_thread()
    preexec = _terminated_with_parent if _PRCTL is not None and main_thread else None
    # only a system call between fork and exec (prctl looked up at import): no lock to deadlock on
    return subprocess.Popen(command, preexec_fn=preexec, **options)  # noqa: PLW1509


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
