"""The lint and type gate (.ci/gate: ruff and mypy) passes: part of the one test command."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / ".ci" / "gate"
# .ci/run sets it, after its gate passed, to `.ci/gate digest` of the files that passed
PASSED_VARIABLE = "LOADGEN_GATE_PASSED"


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(GATE), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ruff_and_mypy_pass() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run .ci/gate")
    passed = os.environ.get(PASSED_VARIABLE)
    if passed and passed == gate("digest").stdout.strip():  # the same files' gate, seconds ago: CI's second run of it
        pytest.skip(f".ci/run passed the gate on these very files ({PASSED_VARIABLE})")
    done = gate()
    assert done.returncode == 0, done.stdout + done.stderr
