"""Failure handling: a server that cannot start, one killed mid-run, one not installed, and Ctrl-C to the runner."""

from __future__ import annotations

import json
import re
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from server_matrix.servers.server import ServerProcess, free_port, port_is_free
from tests.matrix.conftest import (
    MatrixCommand,
    assert_nothing_left,
    kill_leftovers,
    load_results,
    make_command,
    shown,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
KILL_AT = 20  # /myapp/sync/json requests: past warm-up (4), early in a 1 s measurement even on a busy machine
EXTRA_MODES = [
    {
        "id": "broken",
        "title": "Fails to start on purpose",
        "args": ["-c", "import sys; print('broken on purpose: no server here', file=sys.stderr); sys.exit(3)"],
    },
    {
        "id": "dying",
        "title": "Killed mid-run on purpose",
        "args": [str(HERE / "dying_server.py"), "{port}", str(KILL_AT)],
    },
    {
        "id": "absent",
        "title": "A server that is not installed",
        "requires": ["server_matrix_absent_server"],
        "args": ["-m", "server_matrix_absent_server", "--port", "{port}"],
    },
]


def cells_by(results: dict, mode: str) -> dict[tuple[str, str], dict]:
    return {
        (cell["endpoint"], cell["variant"]): cell
        for cell in results["cells"]
        if cell["mode"] == mode and cell["status"] != "skipped"
    }


def test_failed_start_and_death_mid_run_become_error_cells(matrix: MatrixCommand, tmp_path: Path) -> None:
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps(EXTRA_MODES))
    out = tmp_path / "out"
    # one endpoint: the dying server's first cell (json sync) is killed, its second (json async) gets a new server
    done = matrix.quick_run(
        out, "--modes-file", str(modes_file), "--modes", "broken,dying,absent,wsgi-sync", "--endpoints", "json",
        "--duration", "1", timeout=150,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    # of the 6 cells measured (broken's 2, dying's 2, wsgi-sync's 2), as the report counts them: the skipped ones
    # (absent's, gil=0 and gil=1 on a default build) were counted too ("3 of 24 cells failed")
    last = done.stderr.splitlines()[-1]
    assert re.fullmatch(r"server-matrix: 3 of 6 cells failed \(\d+ skipped; see report.md\)", last), last
    results = load_results(out)
    assert_nothing_left(matrix, results)

    broken = cells_by(results, "broken")
    assert len(broken) == 2 and all(cell["status"] == "error" for cell in broken.values())
    assert all("exited with status 3 before it was ready" in cell["reason"] for cell in broken.values())
    assert all("broken on purpose" in cell["log_tail"] for cell in broken.values())

    dying = cells_by(results, "dying")
    killed = dying[("json", "sync")]
    assert killed["status"] == "error" and "killed by signal 9 during the run" in killed["reason"]
    assert "dying on purpose" in killed["log_tail"]
    assert shown(killed)["result"] is not None  # what was measured before the death is kept
    others = [cell for key, cell in dying.items() if key != ("json", "sync")]
    assert all(cell["status"] == "ok" for cell in others), [cell["reason"] for cell in others]
    assert shown(others[0])["server"]["pid"] != shown(killed)["server"]["pid"]  # started again for the next cell

    assert all(cell["status"] == "ok" for cell in cells_by(results, "wsgi-sync").values())
    absent = [cell for cell in results["cells"] if cell["mode"] == "absent"]
    assert absent and all(cell["status"] == "skipped" for cell in absent)  # skipped, not failed
    not_installed = [cell for cell in absent if "not a free-threaded build" not in cell["reason"]]
    assert len(not_installed) >= 2
    assert all(
        cell["reason"].startswith("server_matrix_absent_server not installed for CPython") for cell in not_installed
    )
    report = (out / "report.md").read_text()
    assert "**Error:** server exited with status 3 before it was ready" in report
    assert "dying on purpose" in report


def test_ctrl_c_stops_every_server_and_keeps_finished_cells(matrix: MatrixCommand, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = matrix.start(
        *matrix.quick(
            out, "--modes", "wsgi-sync,asgi-uvicorn-single", "--endpoints", "json,json_query", "--duration", "1"
        ),
        log=tmp_path / "runner.log",
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and runner.poll() is None:
            path = out / "results.json"
            if path.exists() and any(cell["status"] == "ok" for cell in json.loads(path.read_text())["cells"]):
                break
            time.sleep(0.2)
        assert runner.poll() is None, (tmp_path / "runner.log").read_text()
        runner.send_signal(signal.SIGINT)
        assert runner.wait(60) == 130
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    results = load_results(out)
    assert_nothing_left(matrix, results)
    finished = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert finished and results["interrupted"] and not results["complete"]
    assert len(finished) < 8  # the run was really cut short
    assert "interrupted" in (out / "report.md").read_text()
    # the last line counts the kept cells by status: the skipped ones (gil=0 and gil=1 of a default build) apart
    statuses = Counter(cell["status"] for cell in results["cells"])
    assert statuses["skipped"], statuses
    counts = ", ".join(f"{statuses[status]} {status}" for status in ("ok", "error", "skipped") if statuses[status])
    last = (tmp_path / "runner.log").read_text().strip().splitlines()[-1]
    assert last.startswith(f"server-matrix: interrupted: cells kept in {out / 'results.json'}: {counts}; "), last


def test_a_server_that_daemonizes_is_refused_and_nothing_of_it_is_left(matrix: MatrixCommand, tmp_path: Path) -> None:
    """gunicorn --daemon: its first process exits at once, the server runs on in a session of its own."""
    daemon = {
        "id": "daemon",
        "title": "gunicorn --daemon",
        "args": ["-m", "gunicorn", "demo.wsgi:application", "-w", "1", "--bind", "{host}:{port}", "--daemon"],
    }
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([daemon]))
    out = tmp_path / "out"
    done = matrix.quick_run(
        out, "--modes-file", str(modes_file), "--modes", "daemon", "--endpoints", "json", timeout=150
    )
    assert done.returncode == 1, done.stderr
    results = load_results(out)
    failed = [cell for cell in results["cells"] if cell["status"] == "error"]
    said = "server exited with status 0 before it was ready, leaving "
    assert failed and all(cell["reason"].startswith(said) for cell in failed), [c["reason"] for c in failed]
    assert all("daemonized itself" in cell["reason"] for cell in failed)
    commands = [shown(cell)["server"]["command"] for cell in failed]
    ports = {int(command[command.index("--bind") + 1].rsplit(":", 1)[1]) for command in commands}
    assert ports and all(port_is_free(port) for port in ports)  # nothing left listening
    assert not matrix.leftovers()


def misbehaving_cell(matrix: MatrixCommand, tmp_path: Path, behaviour: str) -> dict:
    """The one cell (json sync, 0.5 s) of misbehaving_server.py's ``behaviour``, in a run that must fail with it."""
    mode = {"id": behaviour, "title": behaviour, "args": [str(HERE / "misbehaving_server.py"), "{port}", behaviour]}
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([mode]))
    out = tmp_path / "out"
    args = ("--modes-file", str(modes_file), "--modes", behaviour, "--endpoints", "json", "--variants", "sync")
    done = matrix.quick_run(out, *args, "--duration", "0.5", timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1].startswith("server-matrix: 1 of 1 cells failed"), done.stderr
    [cell] = cells_by(load_results(out), behaviour).values()
    assert cell["status"] == "error" and shown(cell)["result"]["requests"] > 0  # what was measured is kept
    return cell


# The tests below that each read the one cell of a misbehaving server (misbehaving_cell), by behaviour
MISBEHAVING_TESTS = {
    "test_a_server_answering_errors_is_a_failed_cell_with_what_it_measured": "failing",
    "test_a_server_held_stopped_mid_cell_is_a_failed_cell": "freezing",
    "test_a_server_whose_worker_fails_its_start_up_mid_cell_says_why": "late",
}


@pytest.fixture(scope="module")
def misbehaving(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[dict]]]:
    """The selected tests' runs at once, each its own command (marker, server, port) into its own directory, by
    behaviour: each is mostly waits (its runner's start, its 0.5 s window, the late server's HALT_S), which
    overlap, and the misbehaving servers are standard library only, a tenth of a second of CPU to start."""
    selected = {
        item.originalname
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    }
    commands: list[MatrixCommand] = []
    base = tmp_path_factory.mktemp("misbehaving")  # here: the factory is not made for threads (its first call races)

    def run(behaviour: str) -> dict:
        folder = Path(tempfile.mkdtemp(prefix=behaviour, dir=base))
        commands.append(make_command(folder))
        return misbehaving_cell(commands[-1], folder, behaviour)

    behaviours = [behaviour for test, behaviour in MISBEHAVING_TESTS.items() if test in selected]
    with ThreadPoolExecutor(max(1, len(behaviours))) as pool:
        runs = {behaviour: pool.submit(run, behaviour) for behaviour in behaviours}
    yield runs
    left = [pid for command in commands for pid in kill_leftovers(command)]
    assert not left, "the matrix left processes behind"


def test_a_server_answering_errors_is_a_failed_cell_with_what_it_measured(
    misbehaving: dict[str, Future[dict]],
) -> None:
    """A demo whose database is gone (the SQLite file removed, PostgreSQL stopped) answers 500 to every request:
    that was an "ok" cell, its rate of 500s in the summary (the fastest, when the others worked), and exit 0. The
    reason names the log's last error: it said "see its log", whose tail is a traceback's frames."""
    cell = misbehaving["failing"].result()
    requests = shown(cell)["result"]["requests"]
    assert cell["reason"] == (
        f"{requests} of {requests} responses were HTTP errors ({requests} x 500): the server failed them, the last "
        "error in its log: django.db.utils.OperationalError: no connection after 0.25 sec: the last attempt failed: "
        "Connection refused"
    )


def test_a_server_held_stopped_mid_cell_is_a_failed_cell(misbehaving: dict[str, Future[dict]]) -> None:
    """SIGSTOP (a user's, a debugger's) mid-cell: the cell was "ok" at a tenth of the server's rate, restarted for
    being "still busy ... with requests the client abandoned", after a 5 s wait for an answer that could not come."""
    cell = misbehaving["freezing"].result()
    assert cell["reason"] == "server held stopped (SIGSTOP, a debugger) at the end of the run"


def test_a_server_whose_worker_fails_its_start_up_mid_cell_says_why(misbehaving: dict[str, Future[dict]]) -> None:
    """gunicorn is ready when one worker answers; another that then fails the demo's start-up (max_connections
    below the workers' pools) stops it mid-cell: the cell said "server exited with status 4 during the run". Its
    master closes its socket and exits a moment later: the runner's probe, refused at once from the live server, was
    taken for a server "still busy 5s after the run", and the cell was "ok"."""
    cell = misbehaving["late"].result()
    # HALT_S after its 20th request it exits: after the 0.5 s cell, or within it on a machine slow to end the run
    assert re.fullmatch(
        "server exited with status 4 (after|during) the run: demo: startup failed: PostgreSQL database 'bench' at "
        r"demo@127.0.0.1:5432: too many clients already( \(loadgen: .*\))?",  # within it, what loadgen saw too
        cell["reason"],
    ), cell["reason"]
    assert shown(cell)["server"]["restarted"] is None


def test_a_live_server_that_refuses_every_probe_is_not_listening_not_busy() -> None:
    """gunicorn halting (a worker failed the demo's start-up) closes its socket and exits, 6 s later on a busy machine:
    after the runner's 5 s of refused probes it was "still busy ... (requests the client abandoned)", the cell "ok"."""

    class Halting:  # alive, its socket closed
        port, host = free_port(), "127.0.0.1"

        def alive(self) -> bool:
            return True

    started = time.monotonic()
    assert ServerProcess.answer(Halting(), 0.3) is None  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.3  # asked again until the wait's end


def test_what_a_server_logs_as_the_runner_stops_it_busy_is_not_the_runs(matrix: MatrixCommand, tmp_path: Path) -> None:
    """A server busy with the requests the client abandoned is stopped after the cell; granian, so stopped, fails the
    demo's queued async views, a traceback each (9 after gateway_10s async), and the cell was flagged `tracebacks`."""
    mode = {"id": "loud", "title": "loud", "args": [str(HERE / "misbehaving_server.py"), "{port}", "loud"]}
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([{**mode, "slots": ["workers"]}]))  # 8 connections x 10 s / 2: restarted
    args = ("--modes-file", str(modes_file), "--modes", "loud", "--endpoints", "gateway_10s", "--variants", "sync")
    done = matrix.quick_run(tmp_path / "out", *args, "--gateway-scale", "1", "--duration-factor", "0", timeout=60)
    assert done.returncode == 0, done.stderr
    [cell] = cells_by(load_results(tmp_path / "out"), "loud").values()
    server = shown(cell)["server"]
    assert server["restarted"].startswith("busy with about 40s") and server["tracebacks"] == 0
