"""The lint and type gate (.ci/gate: ruff and mypy) passes: part of the one test command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_ruff_and_mypy_pass() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run .ci/gate")
    done = subprocess.run(["bash", str(ROOT / ".ci" / "gate")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
