"""Faults around the run, not inside the server: signals to loadgen, its parent dying, a script
that never returns or calls sys.exit(), limits the machine cannot meet, bytes HTTP cannot carry.
Every case ends in one line on stderr and the documented exit code, with no process left."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import loadgen
import loadgen.cli
from loadgen import stopping
from loadgen._run import limits
from loadgen._run.engine import execute
from loadgen._run.limits import Ports, check_limits, check_ports, ports_in_use, time_wait_reused
from loadgen._run.plan import Plan, prepare
from loadgen._run.workerproc import ProgressBoard, _describe, _Slot, _stop_when_unheard
from loadgen.errors import ExitCode
from loadgen.measurement import Measurement
from loadgen.report.diagnosis import diagnose
from loadgen.target import Address

from .conftest import alive, dialing, run_loadgen, wait_for, workers_of

STOP_WITHIN_S = 2.0


def _start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_print_the_report_of_what_ran(server, signum: int) -> None:
    served = server.counters.responses  # the session's server: counted before this run
    run = _start("-t2", "-c4", "-d30s", server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 2)
    # the run's first hundred responses (and its 4 in flight) served, rather than a second's sleep
    assert wait_for(lambda: server.counters.responses > served + 104, timeout=30)
    started = time.monotonic()
    run.send_signal(signum)
    stdout, stderr = run.communicate(timeout=20)
    assert time.monotonic() - started < STOP_WITHIN_S + 1
    _no_traceback(stderr)
    assert run.returncode == 0, stderr
    assert "Requests/sec:" in stdout and int(stdout.split(" requests in ")[0].split()[-1]) > 100


def test_a_stop_signal_with_a_worker_held_stopped_ends_the_run_within_seconds(server) -> None:
    """A worker held stopped (SIGSTOP, a debugger) was waited for 15 s after a Ctrl-C (measured:
    15.07 s, a second and third signal ignored). It is killed once told to stop 1.5 s ago, named."""
    run = _start("-t2", "-c4", "-d30s", server.url("/"))
    try:
        assert wait_for(lambda: len(workers_of(run.pid)) == 2)
        held = workers_of(run.pid)[0]
        os.kill(held, signal.SIGSTOP)
        started = time.monotonic()
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=STOP_WITHIN_S + 2)
    finally:
        run.kill()
    assert time.monotonic() - started < STOP_WITHIN_S + 1
    assert run.returncode == 2 and f"(pid {held}) did not stop: it was held stopped" in stderr, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_before_the_run_say_interrupted(server, tmp_path: Path, signum: int) -> None:
    """Before the run's own handlers (the imports, the arguments, a --body-file being read), SIGTERM
    and SIGHUP killed loadgen without a word (-15, -1) where Ctrl-C said `loadgen: interrupted`, 130.
    The body file is a pipe no one writes: once this end is open, loadgen is in its read."""
    pipe = tmp_path / "body"
    os.mkfifo(pipe)
    run = _start("-d1s", "--body-file", str(pipe), server.url("/"))
    with pipe.open("w"):  # returns once loadgen has opened it to read
        time.sleep(0.2)  # into its read
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=30)
    assert (run.returncode, stderr) == (130, "loadgen: interrupted\n")


@pytest.mark.parametrize("flag", ["-s", "--cacert"])
def test_a_stop_signal_while_a_file_of_the_run_is_read_says_interrupted(server, tmp_path: Path, flag: str) -> None:
    """The script and the TLS files are read once the run's handlers are in place, which only ask the run
    to stop: one that is a pipe no one writes held loadgen through Ctrl-C, SIGTERM and SIGHUP until it was
    killed (measured: still waiting 9 min after a SIGTERM). The pipe is open here: loadgen is in its read."""
    pipe = tmp_path / "pending"
    os.mkfifo(pipe)
    run = _start("-d1s", flag, str(pipe), server.url("/").replace("http:", "https:" if flag == "--cacert" else "http:"))
    try:
        with pipe.open("w"):  # returns once loadgen has opened it to read
            time.sleep(0.2)  # into its read
            run.send_signal(signal.SIGTERM)
            _, stderr = run.communicate(timeout=5)
    finally:
        run.kill()
    assert (run.returncode, stderr) == (130, "loadgen: interrupted\n")


def test_a_stop_signal_while_the_report_is_written_loses_none_of_it(server, tmp_path: Path) -> None:
    """After the run, while the files it asked for are written (the HTML report takes a second),
    no handler was in place: SIGTERM killed loadgen (-15) and the report was never written. Now
    the signal asks it to end as during the run: every file, then the run's exit code."""
    html, document = tmp_path / "report.html", tmp_path / "run.json"
    run = _start("-d1s", "--html", str(html), "--json", str(document), server.url("/"))
    while "Transfer/sec" not in run.stdout.readline():  # type: ignore[union-attr]
        pass  # the wrk report is out: the files are being written
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    _no_traceback(stderr)
    assert run.returncode == 0, stderr
    assert "</html>" in html.read_text() and json.loads(document.read_text())["requests"] > 0


EXITING = """
import atexit, sys, time

def _slow_exit():
    print("exiting", file=sys.stderr, flush=True)
    time.sleep(0.5)

atexit.register(_slow_exit)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_a_stop_signal_while_python_exits_keeps_the_runs_exit_code(server, tmp_path: Path, signum: int) -> None:
    """Once the command is over, Python's exit runs without its handlers: a stop signal then killed loadgen (-2,
    -15, -1) after its report, or Ctrl-C raised in an exit function, a traceback. A script's exit function holds
    the exit half a second; the signal sent then is ignored."""
    script = tmp_path / "exiting.py"
    script.write_text(EXITING)
    run = _start("-t1", "-c1", "-d0.2s", "-s", str(script), server.url("/"), start_new_session=True)
    while "exiting" not in run.stderr.readline():  # type: ignore[union-attr]
        pass
    os.killpg(run.pid, signum)  # as a terminal sends them: to the process group
    stdout, stderr = run.communicate(timeout=10)
    _no_traceback(stderr)
    assert run.returncode == 0, stderr
    assert "Requests/sec:" in stdout


WAY_OUT = """
import os, signal, sys, time
import loadgen.cli

lost = loadgen.cli._stdout_lost

def ctrl_c_on_the_way_out(code, prog_name):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)  # the handler raises here
    return lost(code, prog_name)

loadgen.cli._stdout_lost = ctrl_c_on_the_way_out
from loadgen.__main__ import entry
sys.exit(entry())
"""


class _OverThenCtrlC:
    """A run's command whose work is done (``over``) when a Ctrl-C reaches it on its way out of typer."""

    params = ()

    def main(self, **_options: object) -> int:
        stopping.over(4)
        raise KeyboardInterrupt


def _ctrl_c_on_the_way_out(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Each loadgen command (its arguments) with a SIGINT as it checks its stdout, last: all at once."""
    started = [
        subprocess.Popen(
            [sys.executable, "-c", WAY_OUT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in commands
    ]
    said = [process.communicate(timeout=30) for process in started]
    return [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(started, said, strict=True)]


def test_a_stop_signal_once_the_command_is_over_keeps_its_exit_code(
    server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After the run's report, files and done(), its handlers given back, a Ctrl-C said 'loadgen: interrupted' and
    exit 130 (1 of 8 SIGINTs sent 0-30 ms after a 1 s run's report): on the way out of main() (a SIGINT sent as
    the command checks its stdout, last) or of typer (``_run``). The code the run earned stands. So does capacity's,
    after its summary line and --json (SIGINTs every 5 ms from its summary line to its exit: 130 in 2 of 10), and
    that of report, compare and merge, once their reports are out."""
    search = ["capacity", "--slo", "p99<1s", "--start", "100", "--max", "100", "--json", str(tmp_path / "c.json")]
    document = str(Path(__file__).parent / "documents" / "v2-closed.json")
    rereads = [["report", document], ["compare", document, document], ["merge", document, document, "--force"]]
    run, capacity, *reread = _ctrl_c_on_the_way_out(
        *[[*extra, "-t1", "-c1", "-d0.2s", server.url("/")] for extra in ([], search)], *rereads
    )
    assert [(done.returncode, done.stderr) for done in reread] == [(0, "")] * 3, [done.stderr for done in reread]
    assert all("equests/sec" in done.stdout for done in reread)  # each report out whole: Requests/sec, requests/sec
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert "Requests/sec:" in run.stdout
    client_limited = "the client, not the server" in capacity.stdout  # a busy machine: exit 5, earned as well
    assert (capacity.returncode, capacity.stderr) == (ExitCode.CLIENT if client_limited else 0, ""), capacity.stderr
    assert "capacity: " in capacity.stdout and json.loads((tmp_path / "c.json").read_text())
    monkeypatch.setattr(stopping, "_EARNED", [])
    assert loadgen.cli._run(_OverThenCtrlC(), [], "loadgen", None, None) == 4


def test_a_stop_in_the_warm_up_measures_nothing(server, tmp_path: Path) -> None:
    """The warm-up is left out of every figure, a stop in it too: the report counted its requests
    as measured (78,413 requests in 2.76s for a run stopped 3 s into a 1 h warm-up)."""
    served = server.counters.responses
    document = tmp_path / "run.json"
    run = _start("-t2", "-c4", "-d1s", "--warmup", "1h", "--json", str(document), server.url("/"))
    assert wait_for(lambda: server.counters.responses > served + 1000, timeout=30)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=20)
    _no_traceback(stderr)
    assert run.returncode == 0, stderr
    assert " 0 requests in " in stdout, stdout
    assert stderr == (
        "loadgen: stopped in the 3600s warm-up: nothing was measured (the warm-up is left out of every figure)\n"
    )
    measured = json.loads(document.read_text())
    assert measured["requests"] == 0 and measured["interrupted"], measured


def test_a_run_stopped_within_10ms_of_its_window_was_stopped_in_its_warm_up() -> None:
    """A worker's window opens as it stops: a run with a warm-up, stopped with no request and a window under
    10 ms, was stopped in the warm-up, and says so; a window of 10 ms or more was measured, and is no warm-up's."""
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=2, duration=1.0, warmup=3600.0)

    def lines(window_us: int) -> tuple[str, ...]:
        measured = Measurement(workers=1, connections_opened=2, peak_open=2)
        return diagnose(
            loadgen.Result(runs=(settings,), measured=measured, runtime_us=window_us, interrupted=True)
        ).lines

    stopped = ("loadgen: stopped in the 3600s warm-up: nothing was measured (the warm-up is left out of every figure)",)
    assert lines(0) == lines(9_999) == stopped
    assert not any("warm-up" in line for line in lines(10_000))


@pytest.fixture
def listening_port() -> Iterator[tuple[int, threading.Event]]:
    """A port whose server accepts connections and never answers, and an event set once one has
    sent a byte: a check before the run (TLS's ClientHello, HTTP/2's preface) then waits for its
    answer. Seen at once: read from /proc/net/tcp (14,000 lines beside other tests' runs), a
    connection took 0.3 s a look on a busy machine, and the TLS check waits only a second."""
    heard = threading.Event()
    held: list[socket.socket] = []

    def hear(conn: socket.socket) -> None:
        held.append(conn)
        with contextlib.suppress(OSError):
            if conn.recv(1):
                heard.set()

    def accept(listening: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=hear, args=(listening.accept()[0],), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as listening:
        threading.Thread(target=accept, args=(listening,), daemon=True).start()
        yield listening.getsockname()[1], heard
    for conn in held:
        conn.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    ("check", "port"),
    [("--http2", "listening_port"), ("--tls-version=1.3", "listening_port"), ("--latency", "full_port")],
    ids=["HTTP/2 probe", "TLS check", "test connection"],
)
def test_a_stop_during_a_check_before_the_run_ends_it_at_once(
    request: pytest.FixtureRequest, check: str, port: str, signum: int
) -> None:
    """The server accepts and never answers, or never accepts: a check before the run would wait 5 s for it
    (the TLS check a second)."""
    scheme = "https" if check.startswith("--tls") else "http"
    if port == "listening_port":  # inside the check once it has written (the test connection writes nothing)
        number, heard = request.getfixturevalue(port)
        run = _start("-d5s", check, f"{scheme}://127.0.0.1:{number}/")
        assert heard.wait(timeout=30)
    else:  # inside the test connection once its SYN is out (a busy machine may take a second to import)
        number = request.getfixturevalue(port)
        run = _start("-d5s", check, f"{scheme}://127.0.0.1:{number}/")
        assert wait_for(lambda: dialing(number) > 0, timeout=30)
    started = time.monotonic()
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=20)
    assert time.monotonic() - started < STOP_WITHIN_S, stderr
    assert run.returncode == 130 and stderr == "loadgen: interrupted\n"


def test_a_stop_during_the_dask_schedulers_test_connection_ends_it_at_once(full_port: int) -> None:
    """A scheduler address whose host does not answer: its test connection waited 5 s through Ctrl-C."""
    run = _start("-t1", "-c1", "-d5s", "--dask", f"tcp://127.0.0.1:{full_port}", "http://127.0.0.1:1/")
    assert wait_for(lambda: dialing(full_port) > 0, timeout=30)  # past importing distributed: in the test connection
    started = time.monotonic()
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=20)
    assert time.monotonic() - started < STOP_WITHIN_S, stderr
    assert run.returncode == 130 and stderr == "loadgen: interrupted\n"


SIGINT_IN_IMPORT = """\
import builtins, os, signal, sys
imported = builtins.__import__
signalled = False
def interrupting(name, *args, **kwargs):
    global signalled
    if signalled:
        sys.stderr.write(f"{name} imported after the Ctrl-C\\n")
        builtins.__import__ = imported
    elif name == MODULE:
        signalled = True
        os.kill(os.getpid(), signal.SIGINT)
    return imported(name, *args, **kwargs)
from loadgen.__main__ import entry
builtins.__import__ = interrupting
sys.exit(entry())
"""


@pytest.mark.parametrize(
    ("module", "args"),
    [("loadgen.cli", ["-d1s"]), ("distributed", ["-d1s", "--dask", "tcp://127.0.0.1:1"])],
    ids=["the command", "distributed"],
)
def test_a_ctrl_c_during_an_import_ends_it_and_says_so(module: str, args: list[str]) -> None:
    """A busy machine takes seconds to import: a Ctrl-C while the command's own modules were
    importing ended with exit 130 and nothing on stderr; while distributed was (1 s into a --dask
    run), it only set the run's stop, the import went on to its end, and the command took 2.4 s
    to stop (the Ctrl-C within 2 s of README broken). Now the import ends there, with the line."""
    if importlib.util.find_spec(module) is None:
        pytest.skip("pip install 'loadgen[dask]'")
    setup = f"MODULE = {module!r}\nimport sys\nsys.argv = {['loadgen', *args, 'http://127.0.0.1:1/']!r}\n"
    done = subprocess.run([sys.executable, "-c", setup + SIGINT_IN_IMPORT], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "loadgen: interrupted\n")


@pytest.mark.parametrize(
    ("flags", "asked", "absent"),
    [
        (["-R", "10"], "the report of a constant-rate run, -R or --stages", "hdrh"),
        (["--json", "-"], "--json", "pyhdrh"),
    ],
    ids=["-R", "--json"],
)
def test_a_missing_hdrhistogram_is_said_before_the_run(flags: list[str], asked: str, absent: str) -> None:
    """hdrhistogram has no free-threaded wheel: installed without it (``--no-deps``), a -R or --json
    run went to its end and then lost its report to a traceback (No module named 'hdrh'). Its C
    module (pyhdrh) missing beside its Python package lost the run the same way, said only after it."""
    argv = ["loadgen", "-d1s", *flags, "http://127.0.0.1:1/"]
    setup = f"import sys\nsys.modules[{absent!r}] = None\nsys.argv = {argv!r}\n"
    setup += "from loadgen.__main__ import entry\nsys.exit(entry())\n"
    done = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True, timeout=60)
    said = f"loadgen: hdrhistogram is not installed: pip install hdrhistogram (for {asked})\n"
    assert (done.returncode, done.stderr) == (1, said)


@pytest.mark.parametrize("command", [["report"], ["merge", "--force", "--json", "-"]], ids=["report", "merge"])
def test_a_missing_hdrhistogram_is_one_line_when_a_result_is_read(command: list[str]) -> None:
    """Reading a constant-rate result (its wrk2 report) or merging (the JSON's latencies) without
    hdrhistogram ended in a traceback (No module named 'hdrh')."""
    paced = str(Path(__file__).parent / "documents" / "v2-paced.json")
    argv = ["loadgen", *command, paced, *([paced] if command[0] == "merge" else [])]
    setup = f"import sys\nsys.modules['hdrh'] = None\nsys.argv = {argv!r}\n"
    setup += "from loadgen.__main__ import entry\nsys.exit(entry())\n"
    done = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True, timeout=60)
    said = f"loadgen {command[0]}: hdrhistogram is not installed: pip install hdrhistogram\n"  # the command named
    assert (done.returncode, done.stderr) == (1, said)


@pytest.mark.parametrize("command", [["-d1s", "http://127.0.0.1:1/"], ["report", "any.json"]], ids=["run", "report"])
def test_a_missing_matplotlib_is_said_before_the_html_report_is_asked(command: list[str], tmp_path: Path) -> None:
    """README: --html needs loadgen[html]; without matplotlib, the command says so before the run (or the
    reading), in one line, exit 1, and writes no page (no test held it: mutation testing, h212)."""
    page = tmp_path / "page.html"
    argv = ["loadgen", "--html", str(page), *command]
    setup = f"import sys\nsys.modules['matplotlib'] = None\nsys.argv = {argv!r}\n"
    setup += "from loadgen.__main__ import entry\nsys.exit(entry())\n"
    done = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True, timeout=60)
    said = "loadgen: the HTML report draws its charts with matplotlib: pip install 'loadgen[html]'\n"
    assert (done.returncode, done.stderr, page.exists()) == (1, said, False)


def test_the_apis_stop_ends_the_http2_probe_at_once(silent_port: int) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(loadgen.Interrupted):
        loadgen.run(f"http://127.0.0.1:{silent_port}/", http2=True, duration=5, stop=stop)
    assert time.monotonic() - started < 0.5 + STOP_WITHIN_S


def test_a_stop_as_the_workers_are_released_stops_those_not_released_yet_and_each_reports(server) -> None:
    """A stop the moment the workers are ready (the engine's "within two seconds in every phase"): the
    workers not released yet are released and told to stop at once, and every one reports its measurement."""
    stop = threading.Event()
    plan = prepare(loadgen.Settings(server.url("/"), threads=3, connections=3, duration=30))
    started = time.monotonic()
    result = execute(plan, stop=stop, on_start=stop.set)
    assert time.monotonic() - started < 2 + STOP_WITHIN_S
    assert result.interrupted and result.measured.workers == 3 and not result.worker_failures


def test_a_worker_that_does_not_start_in_time_is_named_with_the_time_it_had(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine waits plan.start_timeout_s for the workers' start (their script loaded, their request checked)."""
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(0.2)\n")  # each worker loads it: ready 0.2 s after its fork at least
    plan = prepare(loadgen.Settings(server.url("/"), threads=1, connections=1, duration=1, script=str(script)))
    monkeypatch.setattr(Plan, "start_timeout_s", 0.001)
    with pytest.raises(loadgen.WorkerError, match=r"^worker 0 did not start within 0\.001s$"):
        execute(plan)


def test_sigkill_of_loadgen_leaves_no_worker_and_no_traceback(server) -> None:
    run = _start("-t2", "-c4", "-d30s", server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 2)
    workers = workers_of(run.pid)
    run.kill()
    _, stderr = run.communicate(timeout=20)
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=STOP_WITHIN_S)
    _no_traceback(stderr)


STUCK_REQUEST = """\
calls = 0
def request():
    global calls
    calls += 1
    if calls > 1:  # the first call is loadgen's check of the request, before the run
        while True:
            pass
    return wrk.format()
"""
STUCK_INIT = """\
def init(args):
    while True:
        pass
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("script", [STUCK_REQUEST, STUCK_INIT], ids=["request", "init"])
def test_a_script_that_never_returns_is_stopped_within_two_seconds(
    server, tmp_path: Path, script: str, signum: int
) -> None:
    path = tmp_path / "stuck.py"
    path.write_text(script)
    run = _start("-t2", "-c2", "-d30s", "-s", str(path), server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 2)
    workers = workers_of(run.pid)
    time.sleep(1.0)  # inside the stuck hook by now
    started = time.monotonic()
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=20)
    assert time.monotonic() - started < STOP_WITHIN_S + 0.5, stderr
    assert not any(alive(pid) for pid in workers)
    _no_traceback(stderr)
    if script == STUCK_INIT:
        assert run.returncode == 130 and stderr.strip() == "loadgen: interrupted"
    else:  # interrupted inside the hook, by the worker itself, which sent what it measured
        assert run.returncode == 2
        lines = [line for line in stderr.splitlines() if "stuck" in line]  # (a spinning hook also saturates)
        assert len(lines) == 2 and all(
            re.fullmatch(
                rf"loadgen: worker \d \(pid \d+\) was stuck and interrupted: {re.escape(str(path))}:6: "
                r"request\(\) had not returned after \d+\.\ds when the run stopped",
                line,
            )
            for line in lines
        ), lines


def test_connections_beyond_the_open_file_limit_are_refused_before_starting(server) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))

    started = time.monotonic()
    done = run_loadgen("-t1", "-c2000", "-d10s", server.url("/"), preexec_fn=low_limit)
    assert time.monotonic() - started < 5
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr_lines == [
        "loadgen: 2,000 connections per worker need 2,032 open files, but the limit is 512: raise it "
        "(ulimit -n, or the hard limit in /etc/security/limits.conf) or spread the "
        "connections over more threads (-t)"
    ]


@pytest.mark.parametrize(
    ("flag", "said"),
    [
        ("--body-file", "loadgen: cannot read body file /dev/zero: too large to hold in memory"),
        ("-s", "/dev/zero: too large to hold in memory"),
        ("--cacert", "loadgen: cannot read --cacert /dev/zero: too large to hold in memory"),
        ("--targets", "loadgen: /dev/zero:1: a line longer than 1 MiB (a body goes in a file: @FILE)"),  # no line end
    ],
)
def test_a_file_without_an_end_is_refused_in_one_line(flag: str, said: str) -> None:
    """/dev/zero read whole fills the memory: a MemoryError's traceback, where an unreadable file is one line."""

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))

    done = run_loadgen("-d1s", flag, "/dev/zero", "https://127.0.0.1:1/", preexec_fn=low_limit)
    assert (done.returncode, done.stderr_lines) == (1, [said])


def test_workers_beyond_the_open_file_limit_of_loadgens_process_are_refused_before_starting(server) -> None:
    """-t64 -c64 under ulimit -n 64 passed the check (1 connection a worker) and failed at the 57th
    worker, exit 2: loadgen's own process keeps a descriptor a worker."""

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    done = run_loadgen("-t64", "-c64", "-d10s", server.url("/"), preexec_fn=low_limit)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr_lines
    said = re.fullmatch(
        r"loadgen: -t 64 needs (\d+) open files in loadgen's own process \(one a worker, and (\d+) of its own\), "
        r"but the limit is 64: raise it \(ulimit -n, or the hard limit in /etc/security/limits.conf\) "
        r"or give fewer threads \(-t\)",
        line,
    )
    assert said, line
    needed, held = map(int, said.groups())
    assert needed == 64 + held and held >= 5  # stdio, and the board and the pair being made


def test_ports_held_to_an_address_are_counted(server) -> None:
    port = loadgen.Settings(server.url("/")).check().effective_port
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        assert ports_in_use(Address(socket.AF_INET, "127.0.0.1", port), low, high) >= 20
    finally:
        for sock in held:
            sock.close()


def test_ports_in_time_wait_that_connect_takes_again_are_not_held() -> None:
    """A server that answers HTTP/1.0 without keep-alive leaves each connection for loadgen to close,
    in TIME-WAIT on its side for a minute: 14,104 such ports to 127.0.0.1 refused -c14500 ("only
    14,128 of the ephemeral range ... are free"), where 14,500 connect() calls to it then succeeded
    (Linux takes a TIME-WAIT port to a loopback address again, net.ipv4.tcp_tw_reuse 2, its default).
    An open connection's port is still held."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = Address(socket.AF_INET, "127.0.0.1", listener.getsockname()[1])
        if not time_wait_reused(address):
            pytest.skip("this kernel does not reuse TIME-WAIT ports to 127.0.0.1 (net.ipv4.tcp_tw_reuse)")
        clients = [socket.create_connection(("127.0.0.1", address.port)) for _ in range(20)]
        served = [listener.accept()[0] for _ in clients]
        for sock in clients:  # the client closes first: its side ends in TIME-WAIT
            sock.close()
        for sock in served:
            sock.recv(1)
            sock.close()
        with socket.create_connection(("127.0.0.1", address.port)) as kept, listener.accept()[0]:
            low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
            remote = f"0100007F:{address.port:04X}"
            lines = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
            assert sum(columns[2] == remote and columns[3] == "06" for columns in lines) >= 20
            assert kept.fileno() >= 0 and ports_in_use(address, low, high) == 1


@pytest.mark.parametrize(
    ("reuse", "timestamps", "host", "reused"),
    [
        ("2", "1", "127.0.0.1", True),
        ("2", "1", "10.0.0.1", False),
        ("1", "1", "10.0.0.1", True),
        ("0", "1", "127.0.0.1", False),
        ("2", "0", "127.0.0.1", False),
        ("2", "1", "::1", True),
    ],
)
def test_time_wait_ports_are_reused_as_the_kernels_settings_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reuse: str, timestamps: str, host: str, reused: bool
) -> None:
    (tmp_path / "reuse").write_text(reuse + "\n")
    (tmp_path / "timestamps").write_text(timestamps + "\n")
    monkeypatch.setattr(limits, "TW_REUSE", tmp_path / "reuse")
    monkeypatch.setattr(limits, "TIMESTAMPS", tmp_path / "timestamps")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    assert time_wait_reused(Address(family, host, 80)) is reused


def test_connections_past_half_the_port_range_are_warned_of(
    fresh_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past half the ephemeral range, Linux's connect() searches the range for each port: -c20000 to one
    address spent 10 s of kernel time opening its connections (wrk's as long), and a 1-second run took
    seconds without a word why. Said before the run now; nothing below half, nor where no range can be read."""
    address = Address(socket.AF_INET, "127.0.0.1", loadgen.Settings(fresh_server.url("/")).check().effective_port)
    low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    half, workers = (high - low + 1) // 2, 8
    past = (half - ports_in_use(address, low, high)) // workers + 1
    [line] = check_limits(past, workers, address)
    assert line.startswith(f"loadgen: warning: {past * workers:,} connections to {address}"), line
    assert line.endswith(
        f"of the ephemeral port range {low}-{high}: past half, Linux's connect() searches the range for each port, "
        "and opening them can take seconds; widen net.ipv4.ip_local_port_range (sysctl)"
    ), line
    assert check_limits(half // 2 // workers, workers, address) == ()
    monkeypatch.setattr(limits, "PORT_RANGE", tmp_path / "absent")  # no ip_local_port_range: not Linux
    assert check_limits(past, workers, address) == ()


def test_connections_beyond_the_free_ports_of_the_range_are_refused_before_starting() -> None:
    """Each connection to one address takes a local port of the ephemeral range that none to it holds: as many
    as are free run, one more is refused in one line (found at run time, it was thousands of EADDRNOTAVAIL)."""
    address = Address(socket.AF_INET, "127.0.0.1", 8080)
    ports = Ports(40000, 40099, 30)  # 100 ports, 30 held to the address: 70 free
    assert check_ports(70, ports, address)  # they fit, past half the range: warned of
    with pytest.raises(loadgen.SetupError) as refused:
        check_ports(71, ports, address)
    assert str(refused.value) == (
        "71 connections to 127.0.0.1:8080 need as many local ports, but only 70 of the ephemeral range 40000-40099 "
        "are free for it (the others are held, many in TIME-WAIT): widen net.ipv4.ip_local_port_range (sysctl), "
        "or wait a minute for TIME-WAIT to clear"
    )


def test_the_files_loadgen_holds_are_stdios_three_where_no_listing_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither /proc/self/fd nor /dev/fd to list (limits._open_now): stdin, stdout and stderr are taken as open."""

    def unlisted(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(limits.os, "listdir", unlisted)
    assert limits._open_now() == 3


def test_far_more_workers_than_cpus_are_warned_of(fresh_server) -> None:
    """Each worker is a process: on 2 CPUs -t5000 -c5000 -d1s took 64 s before its first line and 102 s in all,
    -t1000 13 s and 3.7 GB, without a word (the diagnosis said to add -t). Said before the run now."""
    address = Address(socket.AF_INET, "127.0.0.1", loadgen.Settings(fresh_server.url("/")).check().effective_port)
    cpus = len(os.sched_getaffinity(0))
    [line] = check_limits(1, 5000, address)
    assert line == (
        f"loadgen: warning: -t 5,000 starts 5,000 worker processes on {cpus} CPU{'s' if cpus > 1 else ''}: beyond one "
        f"a CPU they add no capacity, and each takes its time to start and its memory (-t {cpus} uses every CPU)"
    )
    assert check_limits(1, cpus, address) == check_limits(1, 64, address) == ()


def test_https_to_a_plain_http_port_exits_3_in_one_line(server) -> None:
    done = run_loadgen("-t1", "-c2", "-d1s", server.url("/").replace("http://", "https://"))
    assert done.returncode == 3, done.stderr
    # this server waits for a request head that never comes; others answer 400 and close. The time is the
    # run's, as its report says: -d1s, and what a busy machine adds to the workers' stop.
    runtime = re.search(r" requests in (\S+), ", done.stdout)
    assert runtime, done.stdout
    assert done.stderr_lines[-1] in (
        "loadgen: not one request succeeded",
        f"loadgen: no response from the server in {runtime.group(1)}",
    )


def test_a_url_outside_ascii_is_encoded_as_a_browser_would(fresh_server) -> None:
    done = run_loadgen("-t1", "-c1", "-n1", "-d5s", fresh_server.url("/echo/ünï code?q=é"))
    assert done.returncode == 0, done.stderr
    method, target, _, _ = fresh_server.counters.last_request
    assert (method, target) == ("GET", "/echo/%C3%BCn%C3%AF%20code?q=%C3%A9")


def test_a_header_outside_latin1_is_a_usage_error(server) -> None:
    done = run_loadgen("-H", "X-Price: 5 €", server.url("/"))
    assert done.returncode == 1
    assert done.stderr_lines == ["loadgen: invalid header X-Price: '5 €': a header can carry only Latin-1 characters"]


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("response", "def response(status, headers, body):\n    import sys\n    sys.exit(3)\n"),
        ("top level", "import sys\nsys.exit('bye')\n"),
    ],
)
def test_sys_exit_in_a_script_stops_the_run_once_with_its_line(server, tmp_path: Path, where: str, line: str) -> None:
    path = tmp_path / "leaves.py"
    path.write_text(line)
    done = run_loadgen("-t2", "-c4", "-d5s", "-s", str(path), server.url("/"))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr_lines) == 1 and done.stderr_lines[0].startswith(
        f"{path}:3: SystemExit" if where == "response" else f"{path}:2: SystemExit"
    )


def test_a_result_of_several_megabytes_from_each_of_four_workers_arrives_whole(server, tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text(
        "def init(args):\n"
        "    global payload\n"
        "    payload = [wrk.thread.id] * 1_500_000\n"
        "def done(summary, latency, requests):\n"
        "    import json\n"
        "    print(json.dumps([(len(t.get('payload')), sum(t.get('payload'))) for t in threads]))\n"
        "threads = []\n"
        "def setup(thread):\n"
        "    threads.append(thread)\n"
    )
    # -d2s: in a 1 s window, four workers and the test server on a machine loaded 7 deep answered nothing (exit 3)
    done = run_loadgen("-t4", "-c4", "-d2s", "-s", str(path), server.url("/"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [[1_500_000, i * 1_500_000] for i in range(4)]
    assert "worker" not in done.stderr


def test_a_worker_looking_through_its_globals_for_seconds_is_not_taken_for_stuck(server, tmp_path: Path) -> None:
    """After its window a worker looks through its script's globals for what ``done()`` may read: seconds for a
    large one on a loaded core (at load 9 one of four workers' 1.5-million-item global took long enough), its
    loop stopped and silent meanwhile. Neither its own hook watch nor the parent takes that for a stuck hook (the
    watch interrupted it after 0.75 s, and the worker's measurement was lost), and what it measured arrives."""
    path = tmp_path / "slow_globals.py"
    path.write_text(
        "import time\n"
        "class Slow(list):\n"
        "    def __iter__(self):\n"
        "        time.sleep(3)  # as long as a huge global on a loaded core\n"
        "        yield object()  # and not shareable after all\n"
        "def init(args):\n"
        "    global slow, mark\n"
        "    slow = Slow()\n"
        "    mark = wrk.thread.id + 100\n"
        "threads = []\n"
        "def setup(thread):\n"
        "    threads.append(thread)\n"
        "def done(summary, latency, requests):\n"
        "    print([t.get('mark') for t in threads], summary['requests'] > 0)\n"
    )
    done = run_loadgen("-t2", "-c2", "-d1s", "-s", str(path), server.url("/"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[100, 101] True", done.stdout
    assert done.stderr == "", done.stderr  # no worker killed, none lost


HANGS = {  # the script's code the parent runs, hung: where it prints its first word (stderr is not held)
    "top level": "import sys, time\nprint('begins', file=sys.stderr, flush=True)\nwhile True:\n    time.sleep(0.1)\n",
    "setup()": "def setup(thread):\n",
    "done()": "def done(summary, latency, requests):\n",
}
IN_A_HOOK = (
    "    import sys, time\n    print('begins', file=sys.stderr, flush=True)\n    while True:\n        time.sleep(0.1)\n"
)


@pytest.mark.parametrize(
    ("where", "signum", "ignored"),
    [
        ("done()", signal.SIGINT, False),
        ("done()", signal.SIGTERM, False),
        ("done()", signal.SIGINT, True),
        ("setup()", signal.SIGINT, False),
        ("setup()", signal.SIGTERM, False),
        ("top level", signal.SIGINT, False),
    ],
    ids=["done-SIGINT", "done-SIGTERM", "done-SIGINT-ignored", "setup-SIGINT", "setup-SIGTERM", "top-SIGINT"],
)
def test_a_stop_while_the_parent_runs_a_hung_script_names_it_and_exits_as_interrupted(
    server, tmp_path: Path, where: str, signum: int, ignored: bool
) -> None:
    """The parent runs the script's top level, setup() and, after the report and its files, done(), where no stop
    event reaches. Was: in done(), Ctrl-C exited 130 without a word, SIGTERM killed loadgen without one (-15), and a
    Ctrl-C the shell had loadgen start ignoring was lost (it hung); in setup() or the top level, every signal was
    lost. Then: interrupted in done(), the --status-codes and --json asked for were never written."""
    path = tmp_path / "hangs.py"
    path.write_text(HANGS[where] if where == "top level" else HANGS[where] + IN_A_HOOK)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None
    document = tmp_path / "result.json"
    asked = ("--status-codes", "--json", str(document))
    with _start("-t1", "-c1", "-d300ms", *asked, "-s", str(path), server.url("/"), preexec_fn=ignore) as run:
        try:
            assert run.stderr is not None
            assert run.stderr.readline() == "begins\n"
            time.sleep(0.3)  # in its loop by now, past the print
            run.send_signal(signum)
            stdout, stderr = run.communicate(timeout=10)
        finally:
            run.kill()
    lines = "[34]" if where == "top level" else "[45]"
    said = rf"loadgen: interrupted while the script's {re.escape(where)} ran \({re.escape(str(path))}:{lines}\)"
    assert run.returncode == 130 and re.fullmatch(said, stderr.splitlines()[-1]), stderr
    assert all(line.startswith("loadgen: ") for line in stderr.splitlines()), stderr  # a diagnosis's lines before
    measured = where == "done()"  # done() comes after the report and its files
    assert ("Requests/sec:" in stdout, "Status codes:" in stdout, document.exists()) == (measured,) * 3, stdout
    if measured:
        assert loadgen.from_json(document.read_text()).requests > 0


def test_a_done_that_raises_loses_no_output_asked_for(server, tmp_path: Path) -> None:
    """The measurement is whole when done() runs: was no --status-codes and no --json file after it raised."""
    path = tmp_path / "raises.py"
    path.write_text("def done(summary, latency, requests):\n    raise ValueError('late')\n")
    document = tmp_path / "result.json"
    asked = ("--status-codes", "--json", str(document))
    done = run_loadgen("-t1", "-c1", "-d300ms", *asked, "-s", str(path), server.url("/"))
    assert done.returncode == 1 and done.stderr_lines[-1] == f"{path}:2: ValueError: late", done.stderr
    assert "Status codes:" in done.stdout and loadgen.from_json(document.read_text()).requests > 0


OUT_OF_MEMORY_IN = {
    # uvloop's read callback could only print a MemoryError (a traceback a read, the worker running on)
    "unraisable": "sys.unraisablehook = workerproc._unraisable\n"
    "class Boom:\n    def __del__(self):\n        raise MemoryError\nBoom()",
    # the loop's error handler: its own MemoryError was "Unhandled error in exception handler", then SIGSEGV
    "loop": "workerproc._loop_error(print, None, {'exception': MemoryError()})",
}


@pytest.mark.parametrize("where", OUT_OF_MEMORY_IN)
def test_a_worker_out_of_memory_exits_at_once_and_is_said_to_have_run_out(where: str) -> None:
    """Under ulimit -v 62000, -t1 -c5000 printed 30 lines of uvloop's tracebacks and said the worker
    'was killed by SIGSEGV'; it now ends at once with the code the parent says in words."""
    from loadgen._run.workerproc import OUT_OF_MEMORY, WorkerProcess

    code = f"import sys\nfrom loadgen._run import workerproc\n{OUT_OF_MEMORY_IN[where]}\nprint('ran on')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert (done.returncode, done.stdout, done.stderr) == (OUT_OF_MEMORY, "", "")
    worker = WorkerProcess.__new__(WorkerProcess)
    worker.exit_code = OUT_OF_MEMORY
    assert worker.describe_exit().startswith("ran out of memory")


def test_a_worker_a_signal_killed_under_an_address_space_limit_is_said_most_likely_out_of_memory() -> None:
    """Below about 55 MB of ulimit -v an allocation fails where no handler is: CPython aborts, or a C extension
    faults (ulimit -v 52000, -t1 -c5000: "worker 0 (pid N) was killed by SIGSEGV", not a word of the limit)."""
    code = (
        "import resource, signal\n"
        "from loadgen._run.workerproc import WorkerProcess\n"
        "def said(code):\n"
        "    worker = WorkerProcess.__new__(WorkerProcess)\n"
        "    worker.exit_code = code\n"
        "    return worker.describe_exit()\n"
        "print(said(-signal.SIGSEGV))\n"
        "resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
        "for signum in (signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL):\n"
        "    print(said(-signum))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    limit = "most likely out of memory (its address space was limited to 8,388,608 KiB: ulimit -v)"
    assert done.stdout.splitlines() == [
        "was killed by SIGSEGV",  # no limit: no guess
        f"was killed by SIGSEGV, {limit}",
        f"was killed by SIGABRT, {limit}",
        "was killed by SIGKILL",  # a kill is no allocation that failed
    ], done.stderr


def test_an_unexpected_error_in_a_worker_is_one_line_saying_where_it_was_raised() -> None:
    """A bug outside the worker's loop reaches the user as one line, never a traceback (workerproc's
    docstring): the error's type, its message, and the file and line it was raised at, when it was raised."""
    try:
        raise ValueError("no such field")
    except ValueError as raised:
        said, line = _describe(raised), raised.__traceback__.tb_lineno  # type: ignore[union-attr]
    assert said == f"ValueError: no such field at test_faults.py:{line}"
    assert _describe(KeyError("latency")) == "KeyError: 'latency'"  # never raised: no place to name
    try:
        _raise_from_a_frame_of_its_own()
    except ValueError as raised:
        said, line = _describe(raised), raised.__traceback__.tb_next.tb_lineno  # type: ignore[union-attr]
    assert said == f"ValueError: deeper at test_faults.py:{line}"  # where it was raised, not where it was caught


def _raise_from_a_frame_of_its_own() -> None:
    raise ValueError("deeper")


def test_a_worker_whose_parent_is_not_heard_from_stops_by_itself_and_says_why() -> None:
    """README (--dask): a worker's engine process, which only its Dask worker can tell to stop, stops by
    itself once that Dask worker has been silent past its limit, "so that nothing loads the server once
    loadgen has given the worker up"; until then it looks again every 0.1 s."""
    board = ProgressBoard(1)
    slot = _Slot(os.dup(board.fileno()), 0)
    timers: list[tuple[Any, ...]] = []
    stopped: list[bool] = []
    worker = SimpleNamespace(loop=SimpleNamespace(call_later=lambda *timer: timers.append(timer)))
    worker.stop = lambda: stopped.append(True)
    said: list[str] = []
    try:
        _stop_when_unheard(worker, slot, 14.0, said)  # type: ignore[arg-type]
        board.looked()
        delay_s, look = timers.pop()
        look()
        assert delay_s == 0.1 and len(timers) == 1 and not stopped and not said, (timers, said)
        board.slots[-1] -= 14_100  # the parent's last look, 14.1 s ago
        timers.pop()[1]()
        assert stopped == [True] and not timers, timers
        [why] = said
        assert re.fullmatch(
            r"stopped by itself: its Dask worker was not heard from for 14\.\ds \(held stopped, or its machine "
            r"hung\) and could no longer tell it to stop",
            why,
        ), why
    finally:
        slot.slots.release()
        slot.map.close()
        board.close()


def test_a_worker_that_stopped_itself_unheard_says_why_in_the_runs_failures(server) -> None:
    """The reason a worker stopped by itself (its parent unheard past its limit: a Dask worker's engine)
    reaches the run's result as that worker's failure, its measurement kept; a limit already past (-1 s)
    stands for a parent never heard, so that its first look, 0.1 s after its release, stops it."""
    plan = prepare(loadgen.Settings(server.url("/"), threads=1, connections=1, duration=30))
    plan = replace(plan, specs=tuple(replace(spec, stop_unheard_s=-1.0) for spec in plan.specs))
    started = time.monotonic()
    result = execute(plan)
    assert time.monotonic() - started < 2 + STOP_WITHIN_S
    (failure,) = result.worker_failures
    assert re.fullmatch(
        r"stopped by itself: its Dask worker was not heard from for \d+\.\ds \(held stopped, or its machine "
        r"hung\) and could no longer tell it to stop",
        failure.what,
    ), failure.what
    assert not failure.lost and result.measured.workers == 1


def test_a_worker_released_late_is_silent_from_its_release_only_and_counts_nothing_yet() -> None:
    """The board's heartbeat of a worker released 5 s after the board was made (a slow start) is its
    release: its loop is silent from then only, else the run's watch took it for stuck ("waiting for
    worker 0 to stop (silent)", a scripted one killed as blocked); nothing counted before its first post."""
    board = ProgressBoard(2)
    try:
        board.slots[2] = board.slots[6] = board.slots[-1] - 5_000  # both beat 5 s ago
        board.released(0)
        assert board.silent_for(0) < 1 <= board.silent_for(1)
        assert (board.requests(0), board.totals()) == (0, (0, 0))
    finally:
        board.close()
