"""Fixtures of the server-matrix tests: the real CLI in a subprocess, and a check that nothing it started is left.

Every command runs with a unique marker variable in its environment. The servers it starts
inherit it, so afterwards the tests find any leftover process by that marker (in
/proc/<pid>/environ), fail on it, and kill it, so a failing test never leaves a server behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_matrix.servers.server import port_is_free

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER_VARIABLE = "SERVER_MATRIX_TEST_RUN"
# A command given no timeout is bounded by its silence instead: a run prints a line on stderr as each cell
# starts and ends, and a cell takes at most its server's start (up to a minute) and its measurement. Its total
# time is the machine's: a busy one doubled the quick profile's.
QUIET_S = 150.0


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker``."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


@dataclass
class MatrixCommand:
    """Runs ``python -m server_matrix`` as a user would, in a private environment."""

    marker: str
    environment: dict[str, str]
    workdir: Path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "server_matrix", *args]

    @staticmethod
    def quick(out: Path, *extra: str, chart: bool = False) -> tuple[str, ...]:
        """``run``'s arguments for the quick profile on this interpreter alone into ``out``, then ``extra``; without
        the chart unless the test looks at it (matplotlib's import and drawing cost a run over a second)."""
        drawn = () if chart else ("--no-chart",)
        return ("run", "--profile", "quick", "--no-discover", "--out", str(out), *drawn, *extra)

    def quick_run(
        self,
        out: Path,
        *extra: str,
        chart: bool = False,
        timeout: float | None = None,
        watch: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """:meth:`run` of :meth:`quick`'s arguments."""
        return self.run(*self.quick(out, *extra, chart=chart), timeout=timeout, watch=watch)

    def run(
        self, *args: str, timeout: float | None = None, watch: Callable[[str], None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The command to its end: within ``timeout`` seconds when given, else while it keeps printing (QUIET_S).
        ``watch`` (no timeout only) is given its stderr so far each time it grows: a test acts on its progress."""
        if timeout is not None:
            return subprocess.run(
                self.argv(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.environment,
                cwd=self.workdir,
            )
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:  # files: nothing blocks
            process = subprocess.Popen(self.argv(*args), stdout=out, stderr=err, env=self.environment, cwd=self.workdir)
            printed, quiet_since = 0, time.monotonic()
            while process.poll() is None:
                if os.fstat(err.fileno()).st_size != printed:
                    printed, quiet_since = os.fstat(err.fileno()).st_size, time.monotonic()
                    if watch is not None:  # pread: the command writes at the offset it shares with ``err``
                        watch(os.pread(err.fileno(), printed, 0).decode(errors="replace"))
                elif time.monotonic() - quiet_since > QUIET_S:
                    process.kill()
                    process.wait()
                    err.seek(0)
                    raise AssertionError(f"silent for {QUIET_S:g} s, killed: {err.read()[-3000:]}")
                time.sleep(0.2)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read())

    def run_together(self, *commands: Sequence[str], timeout: float = 60) -> list[subprocess.CompletedProcess[str]]:
        """Several commands that only read files (``compare``, ``report``) at once, results in order: a test's
        several take about one's time on two cores, not their sum."""
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self.run(*args, timeout=timeout), commands))

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as output:
            return subprocess.Popen(
                self.argv(*args), stdout=output, stderr=subprocess.STDOUT, env=self.environment, cwd=self.workdir
            )

    def leftovers(self) -> list[int]:
        return processes_with_marker(self.marker)


def matrix_environment(marker: str, data_dir: Path) -> dict[str, str]:
    """This environment, on SQLite in a private data dir, without knobs that would change the demo."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DEMO_") and name not in ("DATABASE_URL", "WEB_CONCURRENCY")
    }
    environment.update(
        {
            MARKER_VARIABLE: marker,
            "DEMO_DATA_DIR": str(data_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    return environment


def kill_leftovers(command: MatrixCommand) -> list[int]:
    """SIGKILL whatever the command left behind (by pid), and say what it was."""
    left = command.leftovers()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def make_command(tmp_path: Path) -> MatrixCommand:
    marker = uuid.uuid4().hex
    return MatrixCommand(marker, matrix_environment(marker, tmp_path / "demo-data"), tmp_path)


@pytest.fixture
def matrix(tmp_path: Path) -> Iterator[MatrixCommand]:
    command = make_command(tmp_path)
    yield command
    assert not kill_leftovers(command), "the matrix left processes behind"


@pytest.fixture(scope="module")
def module_matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixCommand]:
    command = make_command(tmp_path_factory.mktemp("matrix"))
    yield command
    assert not kill_leftovers(command), "the matrix left processes behind"


def load_results(out_dir: Path) -> dict:
    return json.loads((out_dir / "results.json").read_text())


def samples(results: dict) -> list[dict]:
    """Every repetition of every cell."""
    return [sample for cell in results["cells"] for sample in cell["samples"]]


def shown(cell: dict) -> dict:
    """The repetition the report shows in full (the median one, or the first that failed)."""
    return cell["samples"][cell["representative"]]


def described(pids: list[int]) -> list[str]:
    """Each process as ``pid: command line``, for a failure's message."""
    lines = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            lines.append(f"{pid}: {command[:200]}")
        except OSError:
            lines.append(f"{pid}: gone")
    return lines


def server_ports(results: dict) -> set[int]:
    return {sample["server"]["port"] for sample in samples(results) if sample["server"].get("port")}


def assert_nothing_left(command: MatrixCommand, results: dict) -> None:
    """No process of the run alive, and no port its servers used still listening."""
    assert not command.leftovers(), f"left behind: {described(command.leftovers())}"
    busy = [port for port in server_ports(results) if not port_is_free(port)]
    assert not busy, f"ports still listening: {busy}"


def headings(markdown: str, start: str = "# Django Workers") -> list[str]:
    """The heading lines of ``markdown`` from ``start`` on (code blocks skipped)."""
    lines, inside_code, started = [], False, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and line.startswith("#"):
            started = started or line == start
            if started:
                lines.append(line)
    return lines
