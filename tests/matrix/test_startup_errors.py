"""What stops a run before or as it starts ends in one line (exit 2) or in error cells, never a traceback:
bad numbers and CPU lists, empty lists, an --out that cannot be written, an interpreter too old or not Python, no
free port; and what a run makes of a mode named twice."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from demo.errors import STARTUP_FAILURE_PREFIX
from server_matrix.planning import preflight
from server_matrix.planning.modes import MODES, with_http2
from server_matrix.planning.modetext import HTTP2_ONLY
from server_matrix.reporting import oneline
from server_matrix.reporting.resultsfile import save
from server_matrix.servers.server import ALL_WORKERS_WAIT_S, ServerFailed, ServerProcess, free_port
from tests.conftest import each_selected
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results
from tests.matrix.test_report import synthetic_results

NEW_MODES = ("granian-wsgi", "granian-asgi", "uvicorn-workers", "hypercorn", "daphne")
# Takes every port the kernel would hand out (a network namespace's range narrowed to two), then runs the command.
TAKE_EVERY_PORT = """
import os, socket, sys
held = []
while True:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
    except OSError:
        break
    sock.set_inheritable(True)
    held.append(sock)
os.execv(sys.argv[1], sys.argv[1:])
"""


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("server-matrix: "), done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert len(lines[0]) <= 2 * oneline.SHOWN, lines[0][:200]  # a value of 5,000 characters is not quoted whole


@pytest.fixture(scope="module")
def bad_options(
    request: pytest.FixtureRequest, module_matrix: MatrixCommand, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[tuple[Path, subprocess.CompletedProcess[str]]]]:
    """Every selected case of the test below, a few at once, each into an --out of its own: that --out and the
    command's result."""

    folder = tmp_path_factory.mktemp("bad-options")

    def run(args: list[str], words: list[str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        out = Path(tempfile.mkdtemp(dir=folder)) / "out"
        return out, module_matrix.run("run", "--no-discover", "--out", str(out), *args, timeout=30)

    return each_selected(request, "test_bad_options_are_one_line_and_exit_2", run)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--connections", "0"], ["--connections", "at least 1"]),
        (["--workers", "-2"], ["--workers"]),
        (["--duration", "-1"], ["--duration", "more than 0"]),
        (["--duration", "nan"], ["--duration"]),
        (["--duration", "inf"], ["--duration must be a finite number of seconds more than 0 (got inf)"]),
        # A window loadgen does not judge: ~2300 req/s from 10 ms, with no flag on the cell
        (["--duration", "0.01"], ["--duration must be at least 0.25 (got 0.01)", "too short"]),
        # Above the open-file limit: every cell erred, each telling to raise -t, which server-matrix calls otherwise
        (["--connections", "99999999", "--client-threads", "2"], ["--connections: ", "(--client-threads)"]),
        (["--timeout", "0"], ["--timeout"]),
        (["--startup-timeout", "-5"], ["--startup-timeout"]),
        (["--gateway-scale", "0"], ["--gateway-scale"]),
        (["--connections", "lots"], ["--connections"]),
        (["--server-cpus", "9999"], ["--server-cpus", "9999", "not available"]),
        (["--client-cpus", "1-0"], ["--client-cpus", "bad CPU list"]),
        (["--server-cpus", "0,x"], ["--server-cpus", "bad CPU list"]),
        (["--gil", "2"], ["--gil"]),
        (["--modes", "nope"], ["unknown mode"]),
        (["--modes", "a\nb"], ["unknown mode(s) a\\nb;"]),  # the line break written out: one line
        (["--rows", "9" * 5000], ["Invalid value for '--rows': '" + "9" * 79 + "...", "is not a valid int"]),
        (["--profile", "x" * 5000], ["--profile must be one of original, default, quick (got 'x" + "x" * 78 + "..."]),
        (["--modes", "wsgi-gthread-h2"], ["wsgi-gthread-h2: HTTP/2 sibling", "--modes wsgi-gthread --http2"]),
        # Not taken for "not given" (the whole profile): --python stops such a run at once, after --out is made
        (["--modes", "", "--python", "/no/python"], ["--modes: empty list"]),
        (["--modes", ",", "--python", "/no/python"], ["--modes: empty list"]),
        (["--endpoints", ""], ["--endpoints: empty list"]),
        # Not an address of this machine, an IPv6 one, a name that does not resolve: not "no free port" in each group
        (["--bind", "192.0.2.1"], ["--bind: cannot listen on 192.0.2.1", "IPv4 address of this machine"]),
        (["--bind", "::1"], ["--bind: cannot listen on ::1"]),
        (["--bind", "no-such-host.invalid"], ["--bind: cannot listen on no-such-host.invalid"]),
        # Empty: the servers listened on every interface (a name below, refused before they start)
        (["--bind", "", "--python", "/no/python"], ["--bind: an empty address listens on every interface"]),
        # Taken, and the servers listened on every interface (--python stops it unfixed before a server starts)
        (["--bind", "0.0.0.0", "--python", "/no/python"], ["--bind: 0.0.0.0 listens on every interface"]),
        # As a Path, "" was the current directory, which the run filled; a program named "" was "Permission denied"
        (["--out", "", "--python", "/no/python"], ["--out needs a directory name"]),
        (["--python", ""], ["--python needs an interpreter's path"]),
        (["--no-such-option"], ["--no-such-option"]),
        # A cluster loadgen cannot use: every server started, and every cell erred with the same line
        (["--client-dask", "nope://x"], ["--client-dask nope://x: not a Dask scheduler's address"]),
        (["--client-dask", "tcp://127.0.0.1:1"], ["--client-dask tcp://127.0.0.1:1: cannot reach the Dask scheduler"]),
        (
            ["--client-dask", "local:1", "--client-threads", "2"],
            ["--client-dask local:1 starts 1 Dask worker and --client-threads 2 needs 2"],
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    bad_options: dict[str, Future[tuple[Path, subprocess.CompletedProcess[str]]]],
    request: pytest.FixtureRequest,
    args: list[str],
    words: list[str],
) -> None:
    out, done = bad_options[request.node.callspec.id].result()
    assert_one_line(done, 2, *words)
    assert not out.exists()  # refused before anything was done


def test_a_database_url_no_server_could_start_on_is_one_line_and_exit_2(
    matrix: MatrixCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DATABASE_URL of a port nobody listens on (a wrong password, a database not there): every cell said the demo's
    line, one line each (154 on the quick profile, in 22.6 s), and the run exited 1. It is asked once, before any
    server starts, as the demo asks it; a malformed one is the demo's line too. CI's own cluster (DATABASE_URL, when
    set) is not refused."""
    url = f"postgres://demo:secret-word@127.0.0.1:{free_port()}/demo"
    out = tmp_path / "out"
    with_url = replace(matrix, environment={**matrix.environment, "DATABASE_URL": url})
    began = time.monotonic()
    done = with_url.quick_run(out, timeout=30)
    assert_one_line(done, 2, "DATABASE_URL: no server could start on it: PostgreSQL database 'demo' at demo@127.0.0.1:")
    assert "Connection refused" in done.stderr and "secret-word" not in done.stderr
    assert not out.exists() and time.monotonic() - began < 10  # refused before anything was done: no server started
    if ci_cluster := os.environ.get("DATABASE_URL", "").strip():
        assert preflight.database_failure() is None, ci_cluster.rpartition("@")[2]
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(preflight, "find_spec", lambda name: None)  # a runner without psycopg: the cells tell
    assert preflight.database_failure() is None
    monkeypatch.setenv("DATABASE_URL", "mysql://demo@127.0.0.1/demo")
    malformed = "DATABASE_URL must start with postgres:// or postgresql://, got scheme 'mysql'"
    assert preflight.database_failure() == malformed


def test_a_cache_the_servers_import_links_cannot_be_made_in_is_one_line_and_exit_2(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    """XDG_CACHE_HOME read-only, or a file in its place: the run made --out, saved its first results.json and stopped
    at its first server start, ``server-matrix: ~/.cache/loadgen-matrix: Read-only file system``, exit 1."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.write_text("a file in the way\n")
    in_the_way = replace(matrix, environment={**matrix.environment, "XDG_CACHE_HOME": str(cache)})
    done = in_the_way.quick_run(out, timeout=30)
    reason = f"{cache / 'loadgen-matrix' / 'import-roots'}"
    assert_one_line(done, 2, f"the servers import the demo through links in {cache / 'loadgen-matrix'}, which cannot")
    assert f"be made: {reason}" in done.stderr and "Not a directory" in done.stderr and not out.exists()


def test_a_stdout_that_refuses_what_is_written_is_said_and_exit_1(matrix: MatrixCommand) -> None:
    """``> /dev/full`` (a full disk): ``compare``'s table, ``modes``' list, ``run``'s paths were lost, exit 0 without a
    word (loadgen says it, exit 1)."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(matrix.argv("modes"), stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)
    lost = "server-matrix: cannot write to stdout: No space left on device: what went there is lost\n"
    assert (done.returncode, done.stderr) == (1, lost)


def test_modes_lists_the_new_servers_and_the_http2_siblings(matrix: MatrixCommand) -> None:
    done = matrix.run("modes", timeout=30)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    siblings = [sibling.id for sibling in with_http2(list(MODES))[1::2] if sibling.refusal(None) is None]
    assert siblings == ["wsgi-gthread-h2", "asgi-gunicorn-h2", "granian-wsgi-h2", "granian-asgi-h2", "hypercorn-h2"]
    assert list(lines) == [
        name for mode in MODES for name in (mode.id, f"{mode.id}-h2") if name != f"{mode.id}-h2" or name in siblings
    ]
    assert set(NEW_MODES) <= set(lines)
    marked = [name for name, line in lines.items() if HTTP2_ONLY in line]
    assert marked == siblings  # only run --http2 measures them


def test_modes_lists_a_modes_files_modes_after_the_built_in_ones(matrix: MatrixCommand, tmp_path: Path) -> None:
    """`run` takes --modes-file, and `modes` refused it (No such option): the file's modes, checked as `run` checks
    them, follow the built-in ones, each with its ``about`` (or its title, when the file gives none) and its HTTP/2
    sibling when it has ``h2c_args``."""
    extra = tmp_path / "modes.json"
    entries = [
        {"id": "own", "title": "own server, {workers} workers", "args": ["-m", "own"], "h2c_args": ["-m", "own", "-2"]},
        {"id": "plain", "title": "plain", "args": ["-m", "plain"], "about": "a plain server"},
    ]
    extra.write_text(json.dumps(entries))
    done = matrix.run("modes", "--modes-file", str(extra), timeout=30)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ["own", "own-h2", "plain"]
    assert lines[-3].endswith(" own server, {workers} workers") and lines[-1].endswith(" a plain server")
    assert HTTP2_ONLY in lines[-2]
    extra.write_text(json.dumps([{"id": "own", "title": "own"}]))
    assert_one_line(matrix.run("modes", "--modes-file", str(extra), timeout=30), 2, "modes.json: [0]: missing args")


def test_an_out_directory_that_cannot_be_written(matrix: MatrixCommand, tmp_path: Path) -> None:
    target = tmp_path / "read-only"
    target.mkdir()
    argv = matrix.argv("run", "--no-discover", "--profile", "quick", "--out", str(target / "out"))
    if os.geteuid() == 0:  # root writes through permission bits: a read-only mount, in a mount namespace of its own
        script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
        argv = ["unshare", "--mount", "sh", "-c", script, str(target), *argv]
    else:
        target.chmod(0o555)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=matrix.environment, cwd=matrix.workdir)
    if done.returncode != 2 and "unshare" in done.stderr:
        pytest.skip(f"cannot make a read-only directory here: {done.stderr.strip()}")
    assert_one_line(done, 2, "--out", "cannot write there", "Read-only file system" if os.geteuid() == 0 else "")


def test_a_bind_address_other_than_127_0_0_1_is_served(matrix: MatrixCommand, tmp_path: Path) -> None:
    """The demo allowed only 127.0.0.1, localhost and [::1] as Host: every server answered 400 to the runner's checks
    until --startup-timeout, in every group (README's --client-dask example, --bind 10.0.0.4)."""
    args = ("--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", "--startup-timeout", "20")
    args += ("--duration", "0.25")  # the shortest window: a cell with responses is what is asserted
    done = matrix.quick_run(tmp_path / "out", *args, "--bind", "127.0.0.2", timeout=60)
    assert done.returncode == 0, done.stderr
    (cell,) = [cell for cell in load_results(tmp_path / "out")["cells"] if cell["status"] != "skipped"]
    assert cell["status"] == "ok" and cell["requests_per_sec"]["median"] > 0, cell["reason"]


@pytest.mark.parametrize("command", ["run", "report"])
def test_an_out_that_is_a_file(matrix: MatrixCommand, tmp_path: Path, command: str) -> None:
    """Said so, not as mkdir's "File exists"."""
    (tmp_path / "out").write_text("a file")
    results = tmp_path / "results.json"
    save(synthetic_results(tmp_path, free_threaded=False), results)
    args = ["run", "--no-discover"] if command == "run" else ["report", str(results), "--no-chart"]
    done = matrix.run(*args, "--out", str(tmp_path / "out"), timeout=30)
    assert_one_line(done, 2, "--out", "cannot write there (a file, not a directory)")


def test_an_out_whose_name_is_too_long_is_refused_in_one_line(matrix: MatrixCommand, tmp_path: Path) -> None:
    """Whether it was there (the lock file, the folder), then whether it was a file, raised ENAMETOOLONG: 'run --out
    <300 characters>' ended in a traceback (53 lines) where a --out that cannot be written to is said in one."""
    done = matrix.run("run", "--no-discover", "--out", str(tmp_path / ("a" * 300)), timeout=30)
    assert_one_line(done, 2, "--out", "cannot write there (File name too long)")


def test_an_empty_out_is_refused_by_report(matrix: MatrixCommand, tmp_path: Path) -> None:
    """As a Path, "" was the current directory: report.md written there, unasked (run's: test_bad_options...)."""
    results = tmp_path / "results.json"
    save(synthetic_results(tmp_path, free_threaded=False), results)
    done = matrix.run("report", str(results), "--no-chart", "--out", "", timeout=30)
    assert_one_line(done, 2, "--out needs a directory name")


def test_a_server_not_ready_within_the_startup_timeout(matrix: MatrixCommand, tmp_path: Path) -> None:
    """Its cell says the timeout as given (0.3 s was "after 0s") and what was missing: "last status 200" alone did
    not say whether it was the 200s in a row or the workers' boot lines."""
    args = ("--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", "--startup-timeout", "0.01")
    done = matrix.quick_run(tmp_path / "out", *args, timeout=60)
    assert done.returncode == 1, done.stderr
    (cell,) = [cell for cell in load_results(tmp_path / "out")["cells"] if cell["status"] == "error"]
    expected = r"server not ready after 0\.01 s \(\d of 3 answers 200 in a row, last status [^;]+; \d of 2 workers'"
    assert re.fullmatch(expected + r" boot lines in its log\)", cell["reason"]), cell["reason"]


def test_a_second_run_into_the_same_directory_is_refused(matrix: MatrixCommand, tmp_path: Path) -> None:
    """Both exited 0, and results.json kept only the last one to save: the first run's cells were lost."""
    out, log = tmp_path / "out", tmp_path / "first.log"
    # One cell of 1 s: the second run is refused at its start, long before the first's window ends. From the line
    # waited for, the second needs its interpreter's start and imports to the refusal (0.5 s quiet, 1.4 s at load 14:
    # the time a run takes to its "measurements to run"), the first its server's start and warm-up (Django in two
    # workers: 1.3 s quiet, 4 s at load 14) and then the window: three times the second's, whatever the load (3 s
    # of window added nothing but its wait).
    first_args = matrix.quick(out, "--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", "--duration=1")
    first = matrix.start(*first_args, log=log)
    deadline = time.monotonic() + 60
    while "measurements to run" not in log.read_text() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    second = matrix.run(*matrix.quick(out, "--modes", "asgi-gunicorn", "--endpoints", "json"), timeout=60)
    assert first.wait(timeout=60) == 0, log.read_text()
    assert_one_line(second, 2, f"--out {out}: another server-matrix run is writing there")
    kept = {(cell["mode"], cell["status"]) for cell in load_results(out)["cells"]}
    assert kept == {("wsgi-sync", "ok"), ("wsgi-sync", "skipped")}


def test_an_interpreter_too_old(matrix: MatrixCommand, tmp_path: Path) -> None:
    old = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[6-9].*/bin/python3")))
    if not old:
        pytest.skip("no Python older than 3.10 on this machine (looked in ~/.pyenv/versions)")
    done = matrix.run("run", "--profile", "quick", "--python", old[-1], "--out", str(tmp_path / "out"), timeout=60)
    assert_one_line(done, 2, old[-1], "needs CPython 3.10 or newer")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("python9", "No such file or directory"),
        ("plain", "Permission denied"),
        ("folder", "a directory, not a program"),  # was "Permission denied", of a directory
    ],
)
def test_an_interpreter_that_does_not_exist_or_cannot_run(
    matrix: MatrixCommand, tmp_path: Path, name: str, why: str
) -> None:
    """The path named once: "cannot run X: [Errno 2] No such file or directory: 'X'" said it twice."""
    (tmp_path / "plain").write_text("not a program")
    (tmp_path / "folder").mkdir()
    python = str(tmp_path / name)
    done = matrix.run("run", "--profile", "quick", "--python", python, "--out", str(tmp_path / "out"), timeout=60)
    assert_one_line(done, 2, f"server-matrix: cannot run {python}: {why}")
    assert done.stderr.count(python) == 1


@pytest.mark.parametrize("program", ["/bin/true", "json-but-not-facts"])
def test_a_program_that_is_not_python(matrix: MatrixCommand, tmp_path: Path, program: str) -> None:
    if program == "json-but-not-facts":
        script = tmp_path / program
        script.write_text('#!/bin/sh\necho \'{"version": "3.13.0"}\'\n')
        script.chmod(0o755)
        program = str(script)
        why = "its probe printed JSON without executable, free_threaded, implementation, importable"
    else:
        why = "its probe printed no JSON"
    done = matrix.quick_run(
        tmp_path / "out", "--python", program, "--modes", "wsgi-sync", "--endpoints", "json", "--duration", "0.5",
        timeout=60,
    )  # fmt: skip
    assert_one_line(done, 2, f"{program} is not a Python interpreter this matrix can use: {why}")


@pytest.mark.slow
def test_a_mode_named_twice_runs_once(matrix: MatrixCommand, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = matrix.quick_run(
        out, "--modes", "wsgi-sync,wsgi-sync", "--endpoints", "json", "--variants", "sync", "--duration", "0.25",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = load_results(out)
    assert_nothing_left(matrix, results)
    assert results["parameters"]["modes"] == ["wsgi-sync"]
    assert "server-matrix: 1 measurements to run" in done.stderr
    assert done.stderr.count("wsgi-sync default build on") == 1
    assert "[1/1, under 5 s left]" in done.stderr  # nothing is left after the last cell: not "about 5 s"


@pytest.mark.slow
def test_no_free_port_gives_error_cells(matrix: MatrixCommand, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip to run in a network namespace without free ports")
    out = tmp_path / "out"
    argv = matrix.argv(*matrix.quick(out, "--modes", "wsgi-sync", "--endpoints", "json"))
    script = 'ip link set lo up && echo "40000 40001" > /proc/sys/net/ipv4/ip_local_port_range && exec "$@"'
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, "sh", argv[0], "-c", TAKE_EVERY_PORT, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=matrix.environment,
        cwd=matrix.workdir,
    )
    if "unshare" in done.stderr or not out.exists():
        pytest.skip(f"cannot run in a network namespace here: {done.stderr.strip()[-500:]}")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "cells failed" in done.stderr.splitlines()[-1]
    ran = [cell for cell in load_results(out)["cells"] if cell["status"] != "skipped"]
    assert ran and all(cell["status"] == "error" and "no free port" in cell["reason"] for cell in ran)


# The command as a core install (`pip install loadgen`, without the `matrix` extra) runs it: a module set to None
# in sys.modules is one Python cannot import (ModuleNotFoundError), as when it is not installed.
WITHOUT_MATRIX_EXTRA = (
    "import runpy, sys; sys.modules.update(numpy=None, matplotlib=None, jsonschema=None); "
    "runpy.run_module('server_matrix', run_name='__main__')"
)


@pytest.mark.parametrize("command", ["run", "report", "compare"])
def test_without_the_matrix_extra(matrix: MatrixCommand, tmp_path: Path, command: str) -> None:
    """Which extra to install, in one line and before any work (run planned its cells, then a traceback: numpy)."""
    results = tmp_path / "results.json"
    save(synthetic_results(tmp_path, free_threaded=False), results)
    args = {
        "run": matrix.quick(tmp_path / "out", "--modes", "wsgi-sync", "--endpoints", "json"),
        "report": ("report", str(results), "--out", str(tmp_path / "out")),
        "compare": ("compare", str(results), str(results)),
    }[command]
    argv = [sys.executable, "-c", WITHOUT_MATRIX_EXTRA, *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=matrix.environment, cwd=tmp_path)
    assert_one_line(done, 2, "numpy, matplotlib, jsonschema not installed", "pip install 'loadgen[matrix]'")
    assert not (tmp_path / "out").exists()
    modes = subprocess.run([*argv[:3], "modes"], capture_output=True, text=True, timeout=60, env=matrix.environment)
    assert modes.returncode == 0 and "wsgi-sync" in modes.stdout, modes.stderr
    listed = [*argv[:3], "modes", "--modes-file", str(tmp_path / "modes.json")]  # checked with jsonschema: not there
    listing = subprocess.run(listed, capture_output=True, text=True, timeout=60, env=matrix.environment)
    assert_one_line(listing, 2, "jsonschema not installed", "pip install 'loadgen[matrix]'")


def test_readiness_is_waited_for_no_longer_than_the_limit(tmp_path: Path) -> None:
    """A server that accepts connections and never answers held each readiness probe its 5 s: a start-up
    limit of 1 s took 5."""
    port = free_port()
    listening = f"import socket, time; s = socket.create_server(('127.0.0.1', {port})); time.sleep(30)"
    server = ServerProcess([sys.executable, "-c", listening], dict(os.environ), tmp_path / "server.log", port)
    try:
        began = time.monotonic()
        with pytest.raises(ServerFailed, match="server not ready after 1 s"):
            server.wait_ready(1.0)
        assert time.monotonic() - began < 3.0
    finally:
        server.stop(1.0)


def test_a_server_whose_log_is_on_a_full_disk_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """out/logs on a full disk once the log's header was in: the server answered, its boot lines could not be
    written, and the cell waited for them to the limit, a minute, then said "server not ready after 60 s (2654 of 3
    answers 200 in a row, last status 200; 0 of 2 workers' boot lines in its log)"; on a disk with room, the 200s are
    counted to the 3 needed."""
    port = free_port()
    handler = "{'do_GET': lambda s: (s.send_response(200), s.end_headers()), 'log_message': lambda *a: None}"
    answering = f"import http.server as h; h.HTTPServer(('127.0.0.1', {port}), type('H', (h.BaseHTTPRequestHandler,), "
    answering += f"{handler})).serve_forever()"
    log = tmp_path / "server.log"
    server = ServerProcess([sys.executable, "-c", answering], dict(os.environ), log, port, expected_boots=2)
    monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result((4096,) * 3 + (0,) * 7))  # not a block free
    try:
        began = time.monotonic()
        with pytest.raises(ServerFailed, match=f"^its log {re.escape(str(log))} cannot be written, its disk full"):
            server.wait_ready(5.0)
        assert time.monotonic() - began < 3.0
        monkeypatch.undo()  # a disk with room: the boot lines may be late, the 200s counted to the 3 needed, not on
        with pytest.raises(ServerFailed, match=r"^server not ready after 0\.5 s \(3 of 3 answers 200 in a row, last"):
            server.wait_ready(0.5)
    finally:
        server.stop(1.0)


def test_a_demo_that_cannot_start_under_a_supervisor_that_respawns_it_fails_at_once(tmp_path: Path) -> None:
    """uvicorn --workers respawns a worker that exits at boot, for ever: with a DATABASE_URL nothing answers at, the
    cell waited the whole start-up limit (a minute) and said "not ready", not the demo's own reason."""
    port = free_port()
    why = f"{STARTUP_FAILURE_PREFIX} PostgreSQL database 'nothing' at nobody@127.0.0.1:1: connection refused"
    respawning = f"import sys, time\nwhile True:\n    print({why!r}, file=sys.stderr, flush=True)\n    time.sleep(0.2)"
    server = ServerProcess([sys.executable, "-c", respawning], dict(os.environ), tmp_path / "server.log", port)
    try:
        began = time.monotonic()
        with pytest.raises(ServerFailed, match=re.escape(why)):
            server.wait_ready(10.0)
        assert time.monotonic() - began < 3.0
    finally:
        server.stop(1.0)


def test_a_server_that_exits_while_a_probe_waits_says_it_exited(tmp_path: Path) -> None:
    """Another listener on its port that never answers held the last probe past the limit, by which time the server
    had exited (gunicorn gives up binding after 5 s): the cell said "not ready", with no word of the exit."""
    taken = socket.create_server(("127.0.0.1", 0))  # listens, never answers
    port = taken.getsockname()[1]
    exiting = "import sys, time; time.sleep(0.3); print('cannot bind', file=sys.stderr); sys.exit(1)"
    server = ServerProcess([sys.executable, "-c", exiting], dict(os.environ), tmp_path / "server.log", port)
    try:
        with pytest.raises(ServerFailed, match=r"^server exited with status 1 before it was ready"):
            server.wait_ready(2.0)  # 1 s: at load 7 the interpreter's start and 0.3 s sleep outlasted it (not ready)
    finally:
        taken.close()  # before the stop, which waits for the port to be free
        server.stop(1.0)


def test_a_server_log_that_cannot_be_written_starts_no_server(tmp_path: Path) -> None:
    """A full disk under out/logs (a link to /dev/full): the log's header failed as the file closed, after the server
    had started, and the run's line named nothing (``server-matrix: cannot start: No space left on device``), the
    server left to the runner's exit. Now no server starts and the error names the log."""
    log, started = tmp_path / "server.log", tmp_path / "started"
    log.symlink_to("/dev/full")
    with pytest.raises(OSError) as failure:
        ServerProcess([sys.executable, "-c", f"open({str(started)!r}, 'w')"], dict(os.environ), log, free_port())
    assert (failure.value.filename, failure.value.strerror) == (str(log), "No space left on device")
    time.sleep(0.3)  # a server started in spite of it would have made its file by now
    assert not started.exists()


def test_a_server_killed_at_boot_with_its_workers_still_up_did_not_daemonize(tmp_path: Path) -> None:
    """Its workers, still in its process group as they wind down, were taken for a daemon's: uvicorn --workers killed
    at boot read "killed by signal 9 ..., leaving 3 process(es) ...: it daemonized itself"."""
    port = free_port()
    worker = "import time; time.sleep(9)"
    master = f"import os, signal, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {worker!r}])"
    master += "\nos.kill(os.getpid(), signal.SIGKILL)"
    server = ServerProcess([sys.executable, "-c", master], dict(os.environ), tmp_path / "server.log", port)
    try:
        with pytest.raises(ServerFailed) as failed:
            server.wait_ready(3.0)
        assert failed.value.reason == "server was killed by signal 9 before it was ready"
    finally:
        server.stop(1.0)


def _scripted(script: str, port: int, tmp_path: Path, boots: int) -> ServerProcess:
    """A server run from ``script``, ready once it has logged ``boots`` 'worker up' lines and answers, as a mode is."""
    return ServerProcess(
        [sys.executable, "-c", script],
        dict(os.environ),
        tmp_path / "server.log",
        port,
        expected_boots=boots,
        boot_line="worker up",
    )


def test_the_readiness_wait_reads_the_servers_log_once_a_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It read the whole log twice a probe once the answers were 200s (what it says of the start, then the workers'
    boot lines), a log that grows with every request the server logs."""
    from server_matrix.servers import server as servers

    port = free_port()
    answering = (
        "import http.server, sys\nprint('worker up', file=sys.stderr, flush=True)\n"
        "class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()\n"
        "        self.wfile.write(b'{}')\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()"
    )
    reads: list[int] = []
    probes: list[int] = []
    log_text, http_get = ServerProcess.log_text, servers.http_get
    monkeypatch.setattr(ServerProcess, "log_text", lambda self: reads.append(1) or log_text(self))
    monkeypatch.setattr(servers, "http_get", lambda *args, **kw: probes.append(1) or http_get(*args, **kw))
    server = _scripted(answering, port, tmp_path, boots=1)
    try:
        server.wait_ready(10.0)
        assert len(probes) >= 3 and len(reads) == len(probes)
    finally:
        server.stop(1.0)


# A test server's handler (a script's text): every GET answered 200 with its process id, as the runtime endpoint does
PID_ANSWER = (
    "class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n"
    "        body = json.dumps({'pid': os.getpid()}).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
)


def test_readiness_waits_for_every_worker_to_answer_not_only_for_its_boot_line(tmp_path: Path) -> None:
    """A gunicorn worker logs its boot line before it loads the app: the run after a restart began while the second
    of two gthread workers was still loading, and the first took all 32 connections (`ss -tnp`), 3.2 req/s of the
    6.4 both reach. Here two workers share a socket and log at once; the second answers 0.8 s later."""
    port, late = free_port(), tmp_path / "late-worker-answers"
    workers = (
        "import http.server, json, os, socket, sys, time\n"
        f"listener = socket.create_server(('127.0.0.1', {port}))\n" + PID_ANSWER + "for delay in (0, 0.8):\n"
        "    if os.fork() == 0:\n"
        "        print('worker up', file=sys.stderr, flush=True)\n"
        "        time.sleep(delay)\n"
        "        if delay:\n"
        f"            open({str(late)!r}, 'w').close()\n"
        "        server = http.server.HTTPServer(listener.getsockname(), H, bind_and_activate=False)\n"
        "        server.socket = listener\n"
        "        server.serve_forever()\n"
        "os.wait()\n"
    )
    server = _scripted(workers, port, tmp_path, boots=2)
    try:
        server.wait_ready(10.0)
        assert late.exists()
    finally:
        server.stop(1.0)


def test_readiness_does_not_wait_for_pids_a_one_process_server_cannot_have(tmp_path: Path) -> None:
    """granian's workers on a free-threaded build are threads of one process: two boot lines, every answer one pid.
    Waiting for a second pid held every such server start the whole ALL_WORKERS_WAIT_S (3 s)."""
    port = free_port()
    one_process = (
        "import http.server, json, os, sys\n" + PID_ANSWER + "    def log_message(self, *args): pass\n"
        "print('worker up\\nworker up', file=sys.stderr, flush=True)\n"
        f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    server = _scripted(one_process, port, tmp_path, boots=2)
    try:
        started = time.monotonic()
        server.wait_ready(10.0)
        assert time.monotonic() - started < ALL_WORKERS_WAIT_S
    finally:
        server.stop(1.0)
