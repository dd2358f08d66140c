"""Whatever ends the runner, no server outlives it: SIGHUP, SIGTERM and Ctrl-C (even inherited as ignored)
stop it like Ctrl-C, keeping the finished cells; kill -9 leaves the watchdog to kill the servers."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_matrix.servers.server import port_is_free
from server_matrix.servers.watchdog import WAIT_S, Watchdog
from tests.conftest import each_selected
from tests.matrix.conftest import MatrixCommand, described, kill_leftovers, load_results, make_command, server_ports

pytestmark = pytest.mark.slow

GONE_WITHIN_S = 3.0
RUN = ("--modes", "wsgi-sync,asgi-uvicorn-single", "--endpoints", "json,json_query", "--duration", "1")


def start_runner(matrix: MatrixCommand, out: Path, log: Path, *, sigint_ignored: bool = False) -> subprocess.Popen:
    """The runner as a shell would start it; ``sigint_ignored``: as a background job of a script (``trap "" INT``)."""
    argv = matrix.argv(*matrix.quick(out, *RUN))
    if sigint_ignored:
        argv = ["bash", "-c", 'trap "" INT; exec "$@"', "bash", *argv]
    with open(log, "wb") as output:
        return subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env=matrix.environment, cwd=matrix.workdir
        )


def wait_for_a_finished_cell(runner: subprocess.Popen, out: Path, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and runner.poll() is None:
        path = out / "results.json"
        if path.exists() and any(cell["status"] == "ok" for cell in json.loads(path.read_text())["cells"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"no cell finished: {log.read_text()[-3000:]}")


def is_watchdog(pid: int) -> bool:
    """The runner's watchdog (``server_matrix/servers/watchdog.py``): it leaves when its runner does."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"server_matrix.servers.watchdog" in cmdline.read()
    except OSError:
        return False


def left_and_listening(matrix: MatrixCommand, ports: set[int], *but: int) -> tuple[list[int], list[int]]:
    """The run's processes still alive (but ``but``), and its servers' ports still listening."""
    return [pid for pid in matrix.leftovers() if pid not in but], [port for port in ports if not port_is_free(port)]


def assert_all_gone(matrix: MatrixCommand, ports: set[int], after: str) -> None:
    """Within GONE_WITHIN_S: no process of the run, and no server port listening."""
    deadline = time.monotonic() + GONE_WITHIN_S
    while (gone := left_and_listening(matrix, ports)) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.1)
    left, busy = gone
    assert not left and not busy, f"{GONE_WITHIN_S:g} s {after}: processes {described(left)}, listening ports {busy}"


@dataclass
class Stopped:
    """A run sent a stop signal after its first finished cell: its results directory and log, its exit code, and
    what of it was alive (besides the runner) and listening at its exit."""

    out: Path
    log: Path
    code: int
    ports: set[int]
    left: list[int]
    busy: list[int]


def stop_after_a_cell(matrix: MatrixCommand, folder: Path, signum: int, sigint_ignored: bool) -> Stopped:
    """The runner sent ``signum`` in its second cell; nothing of it left within GONE_WITHIN_S of its exit."""
    out, log = folder / "out", folder / "runner.log"
    runner = start_runner(matrix, out, log, sigint_ignored=sigint_ignored)
    try:
        wait_for_a_finished_cell(runner, out, log)
        time.sleep(0.5)  # inside the next cell's loadgen run, which catches the interrupt and raises its own
        runner.send_signal(signum)
        # The runner stops its servers first, then writes the report (seconds of drawing on a busy machine), then
        # exits: once it has, no server is left. Its watchdog follows it out.
        code = runner.wait(60)
        ports = server_ports(load_results(out))
        left, busy = left_and_listening(matrix, ports, runner.pid)
        clean_exit = (
            code == 128 + signum and bool(ports) and not [pid for pid in left if not is_watchdog(pid)] and not busy
        )
        if clean_exit:  # else the test says what was wrong at the exit itself
            assert_all_gone(matrix, ports, "after the runner's exit")
        return Stopped(out, log, code, ports, left, busy)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)


@pytest.fixture(scope="module")
def stopped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Stopped]]]:
    """Each selected case of the test below, all at once, each a run of its own (its own marker, servers and ports),
    by the case's id: a case waits seconds for its first cell and its exit, which overlap (3 x 3.5 s one after
    another)."""
    commands: list[MatrixCommand] = []
    base = tmp_path_factory.mktemp("stopped")  # here: the factory is not made for threads (its first call races)

    def run(signum: int, sigint_ignored: bool) -> Stopped:
        folder = Path(tempfile.mkdtemp(dir=base))
        commands.append(make_command(folder))
        return stop_after_a_cell(commands[-1], folder, signum, sigint_ignored)

    cases = each_selected(request, "test_a_stop_signal_stops_the_servers_and_keeps_finished_cells", run)
    yield cases
    left = [pid for command in commands for pid in kill_leftovers(command)]
    assert not left, "the matrix left processes behind"


@pytest.mark.parametrize(
    ("signum", "sigint_ignored"),
    [
        (signal.SIGHUP, False),
        (signal.SIGTERM, False),
        (signal.SIGINT, True),
    ],
    ids=["SIGHUP", "SIGTERM", "Ctrl-C with SIGINT inherited as ignored"],
)
def test_a_stop_signal_stops_the_servers_and_keeps_finished_cells(
    stopped: dict[str, Future[Stopped]], request: pytest.FixtureRequest, signum: int, sigint_ignored: bool
) -> None:
    run = stopped[request.node.callspec.id].result()
    out, log = run.out, run.log
    assert run.code == 128 + signum, log.read_text()[-3000:]
    assert run.ports, "the run had started a server"
    servers = [pid for pid in run.left if not is_watchdog(pid)]
    assert not servers and not run.busy, (
        f"at the runner's exit: processes {described(servers)}, listening ports {run.busy}"
    )
    results = load_results(out)
    finished = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert finished and results["interrupted"] and not results["complete"]
    assert len(finished) < 8  # the run was really cut short
    assert "interrupted" in (out / "report.md").read_text()
    text = log.read_text()
    last = text.splitlines()[-1]
    assert f"interrupted: cells kept in {out / 'results.json'}: {len(finished)} ok" in last and "Traceback" not in text


def test_a_second_ctrl_c_while_the_first_is_handled_keeps_the_chart_and_the_closing_line(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    """It was raised in the middle of the chart: exit 130 with neither the chart nor the line saying what was kept."""
    out, log = tmp_path / "out", tmp_path / "runner.log"
    with open(log, "wb") as output:
        runner = subprocess.Popen(
            matrix.argv(*matrix.quick(out, *RUN, chart=True)), stdout=output, stderr=subprocess.STDOUT,
            env=matrix.environment, cwd=matrix.workdir,
        )  # fmt: skip
    try:
        wait_for_a_finished_cell(runner, out, log)
        runner.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while not (out / "report.md").exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        runner.send_signal(signal.SIGINT)  # written just before the chart, which takes a second or more to draw
        assert runner.wait(60) == 130, log.read_text()[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert "interrupted: cells kept in" in log.read_text().splitlines()[-1], log.read_text()[-3000:]
    assert (out / "chart.png").exists() and (out / "chart.svg").exists()


def test_kill_9_of_the_runner_leaves_no_server(matrix: MatrixCommand, tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "runner.log"
    runner = start_runner(matrix, out, log)
    try:
        wait_for_a_finished_cell(runner, out, log)
        runner.kill()
        runner.wait(10)
        ports = server_ports(load_results(out))
        assert ports, "the run had started a server"
        assert_all_gone(matrix, ports, "after kill -9 of the runner")
    finally:
        runner.kill()
        runner.wait(10)
    assert "Traceback" not in log.read_text()


def test_the_watchdog_leaves_as_its_pipe_closes_and_a_word_before_its_start_is_to_nobody() -> None:
    """A run's end closes the pipe and the watchdog leaves at once, of itself (not killed after WAIT_S); a server
    started outside a run tells a watchdog never started nothing, and goes on."""
    watchdog = Watchdog()
    watchdog.watch(1)
    watchdog.start()
    process = watchdog.process
    assert process is not None
    started = time.monotonic()
    watchdog.close()
    assert process.returncode == 0 and time.monotonic() - started < WAIT_S


@pytest.mark.parametrize("closed", ["stderr", "stdout"])
def test_a_reader_gone_ends_no_run(matrix: MatrixCommand, tmp_path: Path, closed: str) -> None:
    """``2>&1 | head -3``: the next progress line's write ended the run with exit 1, no report.md, results.json
    neither complete nor interrupted; ``| true``: the closing list of files did. Now the run goes on to its end,
    its files and the exit code it earned, its output into the closed pipe gone."""
    out, kept = tmp_path / "out", tmp_path / "kept.txt"
    args = ("--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", "--duration", "0.5")
    with open(kept, "wb") as other:
        streams = {"stdout": other, "stderr": other, closed: subprocess.PIPE}
        runner = subprocess.Popen(
            matrix.argv(*matrix.quick(out, *args)), env=matrix.environment, cwd=matrix.workdir, **streams
        )
        pipe = getattr(runner, closed)
        if closed == "stderr":
            assert pipe.readline().startswith(b"server-matrix: ")  # the first of several lines
        pipe.close()
        code = runner.wait(120)
    text = kept.read_text()
    assert code == 0 and not any(word in text for word in ("Traceback", "Exception ignored", "BrokenPipe")), text
    results = load_results(out)
    assert results["complete"] and not results["interrupted"]
    assert [cell["status"] for cell in results["cells"] if cell["status"] != "skipped"] == ["ok"]
    assert (out / "report.md").exists()
    assert closed == "stdout" or str(out / "report.md") in text


MISBEHAVING = str(Path(__file__).resolve().parent / "misbehaving_server.py")
HURRIED_WITHIN_S = 8.0  # a stop cut to its 1 s grace, the report: seconds; a graceful one of a stubborn server: 15 s


def stop_stubborn_run(matrix: MatrixCommand, tmp_path: Path, modes: str, line: str, signum: int) -> tuple[dict, Path]:
    """The quick profile on servers that ignore SIGTERM (``stubborn``: measured; ``silent``: never ready), sent
    ``signum`` 0.3 s after its log has ``line``: it must end within HURRIED_WITHIN_S with 128 + ``signum``, its last
    line saying what was kept, and nothing of it left. Its results.json, and its results directory."""
    modes_file, out, log = tmp_path / "modes.json", tmp_path / "out", tmp_path / "runner.log"
    entries = [{"id": kind, "title": kind, "args": [MISBEHAVING, "{port}", kind]} for kind in ("stubborn", "silent")]
    modes_file.write_text(json.dumps(entries))
    args = ("--modes-file", str(modes_file), "--modes", modes, "--endpoints", "json", "--variants", "sync")
    runner = matrix.start(*matrix.quick(out, *args, "--duration", "0.5", "--startup-timeout", "60"), log=log)
    try:
        deadline = time.monotonic() + 60
        while line not in log.read_text() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert line in log.read_text(), log.read_text()[-3000:]
        time.sleep(0.3)  # past what follows the line: the booting server's start, the last group's stop
        runner.send_signal(signum)
        sent = time.monotonic()
        assert runner.wait(60) == 128 + signum, log.read_text()[-3000:]
        took = time.monotonic() - sent
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert took < HURRIED_WITHIN_S, f"{took:.1f} s from the signal to the exit"
    text = log.read_text()
    assert "Traceback" not in text
    assert f"interrupted: cells kept in {out / 'results.json'}: 1 ok" in text.splitlines()[-1], text[-3000:]
    results = load_results(out)
    assert_all_gone(matrix, server_ports(results), "after the runner's exit")
    return results, out


def test_ctrl_c_while_a_server_boots_and_the_last_one_stops_gives_each_a_second(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    """Both were given their 15 s graceful stop: the one booting (stopped as a failed start) and the last group's,
    stopping beside it; a Ctrl-C held for 15 s with servers that ignore SIGTERM."""
    results, _ = stop_stubborn_run(matrix, tmp_path, "stubborn,silent", "silent default build on", signal.SIGINT)
    assert results["interrupted"]
    assert [cell["mode"] for cell in results["cells"] if cell["status"] == "ok"] == ["stubborn"]


def test_a_signal_while_the_last_server_stops_hurries_it_and_ends_the_run_as_interrupted(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    """SIGTERM after the last cell, as the run stops its last server: it cut that wait short and with it the last
    save (results.json neither complete nor interrupted, without its answer); once the report was being drawn it
    gave exit 130, no closing line and no chart. Now it is held: the server stop hurried, every file written, 143."""
    results, out = stop_stubborn_run(matrix, tmp_path, "stubborn", "stubborn default build json sync:", signal.SIGTERM)
    assert "answer" in results and (results["complete"] or results["interrupted"])  # the last save was made
    assert (out / "report.md").exists()
