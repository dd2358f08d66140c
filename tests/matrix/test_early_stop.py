"""A stop signal before the first cell (while interpreters are probed) says so and leaves nothing behind: it exited
143 with nothing printed, leaving the results directory with only its lock file."""

from __future__ import annotations

import os
import signal
import sys
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
    handlers back, and start each test with none noted."""
    monkeypatch.setattr(signals, "_received", [])
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


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
