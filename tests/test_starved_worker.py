"""A worker the machine starves at the end of its run (a busy core, 10,000 connections to close) is waited
for, not killed as stuck: what it measured reaches the report. SIGSTOP stands in for the starved core."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from .conftest import wait_for, workers_of

DURATION_S = 2.0
STOPPED_S = 4.0  # past the deadline, the parent's stop (1 s later) and the stuck rule's 1.5 s of silence


def test_a_worker_silent_past_its_deadline_without_a_script_is_waited_for(server) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "-t2", "-c4", f"-d{DURATION_S:g}s", server.url("/")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: len(workers_of(run.pid)) == 2)
        victim = workers_of(run.pid)[0]
        time.sleep(DURATION_S / 2)
        os.kill(victim, signal.SIGSTOP)
        time.sleep(STOPPED_S)
        with contextlib.suppress(ProcessLookupError):  # killed as stuck: the assertions below say so
            os.kill(victim, signal.SIGCONT)
        stdout, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert "killed" not in stderr and "failed" not in stderr, stderr
    assert "Requests/sec:" in stdout, stdout
