"""A stop signal before the first cell (while interpreters are probed) says so and leaves nothing behind: it exited
143 with nothing printed, leaving the results directory with only its lock file. One after the command is over is
ignored."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_matrix import cli
from server_matrix.measuring import signals
from server_matrix.planning import discovery
from server_matrix.reporting import outdir


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The run installs its stop handlers in this process, and notes the signals it got: put the test process's
    handlers back, and keep what each test notes or holds to itself."""
    monkeypatch.setattr(signals, "_received", [])
    monkeypatch.setattr(signals, "_holding", [])
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


def test_a_run_after_one_that_held_its_stop_signals_can_be_stopped(handlers: None) -> None:
    """A run ends holding the stop signals (noted, not obeyed, while its files are written): a run after it in the
    same process (test_rounds.py's MatrixRun, then this file's runs) was not stopped by SIGTERM (20 of 20)."""
    hurried: list[str] = []
    signals.hold_stop_signals(lambda: hurried.append("hurried"))
    signals.stop_on_signals()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs between bytecodes: at once
    assert not hurried and signals.exit_code() == 128 + signal.SIGTERM


def test_sigterm_while_interpreters_are_probed_says_so_and_leaves_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], handlers: None
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def probing(*_args: object) -> object:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(discovery, "choose_interpreters", probing)
    out = tmp_path / "results"
    argv = ["server-matrix", "run", "--profile", "quick", "--modes", "wsgi-sync", "--no-discover", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    assert cli.main() == 128 + signal.SIGTERM
    assert (
        f"server-matrix: interrupted before any cell was measured (nothing written to {out})" in capsys.readouterr().err
    )
    assert not out.exists()  # nor its lock file: the run created both


def test_an_earlier_runs_directory_and_lock_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], handlers: None
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(discovery, "choose_interpreters", lambda *_args: os.kill(os.getpid(), signal.SIGINT))
    out = tmp_path / "results"
    out.mkdir()
    (out / outdir.LOCK_FILE).touch()
    monkeypatch.setattr(sys, "argv", ["server-matrix", "run", "--profile", "quick", "--no-discover", "--out", str(out)])
    assert cli.main() == 128 + signal.SIGINT
    assert "interrupted before any cell was measured" in capsys.readouterr().err
    assert (out / outdir.LOCK_FILE).exists()


EXITING = """
import atexit, sys, time

def slow_exit():
    print("exiting", file=sys.stderr, flush=True)
    time.sleep(0.5)

atexit.register(slow_exit)  # the first registered: the last to run
from server_matrix.__main__ import entry
sys.exit(entry())
"""


def test_a_stop_signal_while_python_exits_keeps_the_status(tmp_path: Path) -> None:
    """Once the command is over, its handlers stayed through Python's exit (a SIGTERM then raised in an exit function:
    a traceback) until CPython put the defaults back (then it killed the command: -15). A run refused (another holds
    its --out: exit 2) after its handlers are in place, an exit function held half a second: the signal is ignored."""
    out = tmp_path / "results"
    out.mkdir()
    with open(out / outdir.LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a run writing there holds it
        run = subprocess.Popen(
            [sys.executable, "-c", EXITING, "run", "--profile", "quick", "--no-discover", "--out", str(out)],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        said = [run.stderr.readline()]  # type: ignore[union-attr]
        while "exiting" not in said[-1]:
            said.append(run.stderr.readline())  # type: ignore[union-attr]
        run.send_signal(signal.SIGTERM)
        stderr = "".join(said) + run.communicate(timeout=10)[1]
    assert "Traceback" not in stderr, stderr
    assert run.returncode == 2, stderr
    assert "another server-matrix run is writing there" in stderr


HANGING_UP = """
import os, signal
from server_matrix.measuring import signals

signals.stop_on_signals()
print("before", flush=True)
try:
    os.kill(os.getpid(), signal.SIGHUP)
except KeyboardInterrupt:
    print("after", flush=True)
    raise SystemExit(129)
"""


def test_a_hang_up_stops_the_run_and_sends_what_it_writes_to_its_terminal_nowhere() -> None:
    """The terminal gone, a write to it fails with EIO half-way through the clean-up: from the hang-up on, what the
    command writes to its terminal goes to /dev/null, and the hang-up stops it as Ctrl-C does."""
    terminal, command_side = pty.openpty()
    try:
        argv = [sys.executable, "-c", HANGING_UP]
        hung_up = subprocess.run(argv, stdout=command_side, stderr=command_side, timeout=30)
    finally:
        os.close(command_side)
    written = b""
    with contextlib.suppress(OSError):  # EIO: every byte read, the other side closed
        while chunk := os.read(terminal, 4096):
            written += chunk
    os.close(terminal)
    assert (hung_up.returncode, written) == (129, b"before\r\n")
