"""The project's promises about itself: CI runs the README's command; the README's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"## Set-up: two commands.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    main_job, tests = readme_commands()
    assert "server-matrix run" in main_job and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_readme_api_example_runs(server) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api.py"), server.url("/")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Requests/sec:" in done.stdout and re.search(r"^merged: \d+ requests", done.stdout, re.M)
