"""Scripts that misbehave during a run, and signals loadgen was told to ignore: a hook that never
returns is named (file:line, which hook) by the worker itself, with no signal sent, and what the
worker measured before is kept; KeyboardInterrupt raised by a hook is a script error; a script's
warnings are shown as Python shows them, the user's filters applied, even when the run fails;
``nohup`` keeps a run alive through SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

import loadgen
from loadgen._run.hookwatch import HookWatch, watched_top_level
from loadgen._run.plan import START_TIMEOUT_S, prepare
from loadgen._stats.stats import Distribution
from loadgen.measurement import WorkerCpu
from loadgen.report.diagnosis import diagnose
from loadgen.request import Request, format_request
from loadgen.script import (
    LEFT_RUNNING_WAIT_S,
    HookStuck,
    ScriptError,
    ScriptStats,
    SetupThread,
    WorkerThread,
    _batch_shape,
    load_worker_script,
    read_script,
)
from loadgen.target import Address, parse_url
from loadgen.testing.server import TestServer

from .conftest import Completed, run_loadgen, run_loadgen_together, wait_for, workers_of

HANGS_LATE = """\
import time
started = None
def {hook}({params}):
    global started
    if started is None:
        started = time.monotonic()
    if time.monotonic() - started > 0.5:  # late in the run (of 1 s)
        while True:
            pass
    return {value}
"""
HOOKS = {
    "request": ("", "wrk.format()"),
    "response": ("status, headers, body", "None"),
    "delay": ("", "0"),
}
PACINGS = [["-R", "100"], ["--stages", "1s:100"]]


SLOW_CALLS = (
    "import time\ncalls = 0\ndef request():\n    return wrk.format() * 30\n"
    "def response(status, headers, body):\n    global calls\n    calls += 1\n"
    "    time.sleep(0.5 if calls == 1 else 0.2)\n"
)
# the module's runs whose hooks sleep or pace them (none spins a core), by test: (script, the options before the URL)
ASLEEP: dict[str, tuple[str, tuple[str, ...]]] = {
    "response hangs": ("import time\ndef response(status, headers, body):\n    time.sleep(30)\n", ("-c2", "-d1s")),
    "slow calls": (SLOW_CALLS, ("-c1", "-d1s")),
    **{f"delay {ms}": (f"def delay():\n    return {ms}\n", ("-c2", "-d1s")) for ms in (10_000, 1_000)},
    # one call of 1.2 s spans the end of -d1s wherever the first response falls (back-to-back calls of
    # 0.3 s did not when it came 0.1 or 0.4 s late, as on a loaded machine: the run took 1.00 s)
    **{
        f"stretched {rate}": (
            "import time\nslept = False\ndef response(status, headers, body):\n    global slept\n"
            "    if not slept:\n        slept = True\n        time.sleep(1.2)\n",
            ("-c2", "-d1s", *rate),
        )
        for rate in ((), ("-R", "20"))
    },
    "naps": ("import time\ndef response(status, headers, body):\n    time.sleep(0.015)\n", ("-c2", "-d2s", "-R100")),
    **{f"replaced {pacing[0]}": ("def delay():\n    return 50\n", ("-c2", "-d1s", *pacing)) for pacing in PACINGS},
}


BATCH = 30  # SLOW_CALLS's request() batch
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"


class _WholeBatches(socketserver.BaseRequestHandler):
    """Answers a batch of BATCH pipelined requests in one write, once it has them all: the test server writes each
    response apart, so a read could take the first few of them and the rest another, and a first read of 4 to 7
    responses (0.5 s + 0.2 s each) ended after the run's end and before the watch looked (CI: exit 0)."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # loadgen resets the connection it stops with
            self._answer()

    def _answer(self) -> None:
        waiting = b""
        while data := self.request.recv(65536):
            waiting += data
            while waiting.count(b"\r\n\r\n") >= BATCH:
                for _ in range(BATCH):
                    waiting = waiting[waiting.index(b"\r\n\r\n") + 4 :]
                self.request.sendall(ANSWER * BATCH)


@pytest.fixture(scope="module")
def whole_batches() -> Iterator[str]:
    """The URL of a server that answers BATCH pipelined requests in one write."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _WholeBatches) as listening:
        listening.daemon_threads = True
        threading.Thread(target=listening.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{listening.server_address[1]}/"
        listening.shutdown()


@pytest.fixture(scope="module")
def asleep(
    tmp_path_factory: pytest.TempPathFactory, server: TestServer, whole_batches: str
) -> dict[str, Future[tuple[Completed, Path]]]:
    """The runs of :data:`ASLEEP`, each with its script and -t1 (those that keep a --json document, it beside the
    script as run.json), all at once: their hooks sleep, so each takes its own time, and all of them the longest's
    (2 s and the stuck hook's second), not their sum (18 s); each test takes its own (what its run raised is raised
    there), and its script's path."""

    def run(name: str, source: str, options: tuple[str, ...]) -> tuple[Completed, Path]:
        folder = tmp_path_factory.mktemp("asleep")
        script = folder / "hooks.py"
        script.write_text(source)
        document = ("--json", str(folder / "run.json")) if name == "naps" else ()
        url = whole_batches if name == "slow calls" else server.url("/")
        return run_loadgen("-t1", *options, "-s", str(script), *document, url), script

    with ThreadPoolExecutor(len(ASLEEP)) as pool:
        return {name: pool.submit(run, name, *case) for name, case in ASLEEP.items()}


@pytest.mark.parametrize(
    "hook", ["request", pytest.param("response", marks=pytest.mark.slow), pytest.param("delay", marks=pytest.mark.slow)]
)
def test_a_hook_that_hangs_late_in_a_run_is_named_and_what_ran_is_kept(
    server: TestServer, tmp_path: Path, hook: str
) -> None:
    params, value = HOOKS[hook]
    script = tmp_path / "hangs.py"
    script.write_text(HANGS_LATE.format(hook=hook, params=params, value=value))
    started = time.monotonic()
    done = run_loadgen("-t1", "-c2", "-d1s", "-s", str(script), server.url("/"))
    assert time.monotonic() - started < 8  # the run's end, a second late, then interrupted at once
    assert done.returncode == 2, done.stderr
    # what the worker measured before its hook hung is in the report, not lost with a killed worker
    assert int(re.search(r"(\d+) requests in", done.stdout)[1]) > 100, done.stdout  # type: ignore[index]
    stuck = [line for line in done.stderr_lines if "stuck" in line]
    assert len(stuck) == 1 and re.fullmatch(
        rf"loadgen: worker 0 \(pid \d+\) was stuck and interrupted: {re.escape(str(script))}:[89]: "
        rf"{hook}\(\) had not returned after \d+\.\ds when the run stopped",
        stuck[0],
    ), done.stderr


STOPPED_THEN_HANGS = """\
import os, signal, time
calls, last, stopped, free = 0, None, False, 1
def _hang_once_stopped():
    global free
    if stopped and free:  # the request() of the callback that stopped: it runs before the stop is read
        free -= 1
    elif stopped:
        while True:
            pass
def request():
    _hang_once_stopped()
    return wrk.format()
def response(status, headers, body):
    global calls, last, stopped
    _hang_once_stopped()
    calls += 1
    now = time.monotonic()
    gap, last = (now - last if last is not None else 1.0), now
    if calls >= 4 and gap < 0.1:  # the other connection's response comes 0.25 to 0.35 s from now
        os.kill(os.getppid(), signal.SIGINT)  # Ctrl-C: the stop waits on the control socket within ms
        time.sleep(0.4)  # ...and that response behind it (not 0.75 s: the watch would interrupt this)
        stopped = True
"""


def test_no_hook_runs_once_a_stop_is_read(server: TestServer, tmp_path: Path) -> None:
    """The worker's watch sees a stop only while it waits on the control socket: once the loop has read it,
    no hook may run (here the other connection's response, come in behind the stop, would hang in
    response()), else the worker is killed as stuck and what it measured is lost. On a loaded machine
    that response may come before the stop: then it hangs with the stop waiting, and is interrupted."""
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED_THEN_HANGS)
    done = run_loadgen("-t1", "-c2", "-d10s", "-s", str(script), server.url("/delay?ms=350"))
    assert "killed" not in done.stderr, done.stderr
    assert done.returncode == 0 or (done.returncode == 2 and "stuck and interrupted" in done.stderr), done.stderr
    assert int(re.search(r"(\d+) requests in", done.stdout)[1]) >= 4, done.stdout  # type: ignore[index]


def test_a_response_hook_that_hangs_is_blamed_not_the_server(asleep: dict[str, Future[tuple[Completed, Path]]]) -> None:
    """The stuck worker did not read its other connections: no line says the server left them unanswered."""
    done, _ = asleep["response hangs"].result()
    assert done.returncode == 2
    assert len(done.stderr_lines) == 1 and "was stuck and interrupted" in done.stderr_lines[0], done.stderr


def test_slow_hook_calls_one_after_another_are_not_called_one_that_hangs(
    asleep: dict[str, Future[tuple[Completed, Path]]],
) -> None:
    """30 pipelined responses, written at once, come in one read: a first response() of 0.5 s, then
    response() calls of 0.2 s one after another in that read's callback: the loop is held past the
    parent's deadline by calls that each return (was: "response() had not returned after 2.9s").
    The hook's guard times each call, so the watch tells them apart. (Responses spread over several
    reads instead leave it to the loop whether the run's end comes between two of them: CI's run
    twice ended in time, exit 0, the second time with the test server's responses, written apart.)"""
    done, script = asleep["slow calls"].result()
    assert done.returncode == 2  # interrupted, so that it can stop and send what it measured
    (line,) = [line for line in done.stderr_lines if "interrupted" in line]
    assert re.fullmatch(
        rf"loadgen: worker 0 \(pid \d+\) was stuck and interrupted: {re.escape(str(script))}:8: response\(\) calls, "
        r"one after another, had held the loop \d+\.\ds when the run stopped",
        line,
    ), done.stderr


@pytest.mark.parametrize("delay_ms", [10_000, 1_000])
def test_a_delay_as_long_as_the_run_is_said_not_blamed_on_the_server(
    asleep: dict[str, Future[tuple[Completed, Path]]], delay_ms: int
) -> None:
    """A delay() of the run's length sends each connection's request at its very end, or not at all."""
    done, script = asleep[f"delay {delay_ms}"].result()
    assert done.returncode == 1  # was 3, "no response from the server": not one request had been sent in time
    assert re.fullmatch(
        r"loadgen: not one request was sent in time to be answered in 1\.\d\ds: the script held them back "
        rf"\(its delay\(\) returns milliseconds to wait before each request; {re.escape(str(script))}\)",
        "\n".join(done.stderr_lines),
    ), done.stderr


def test_requests_none_sent_by_a_worker_busy_all_its_window_are_not_blamed_on_delay(server, tmp_path: Path) -> None:
    """A script's worker kept busy its whole window (h199: 4% on a CPU, 95% waiting for one, on a loaded machine)
    sent nothing in time: the line blamed the script's delay(), which it did not have. The same run's result, its
    worker then saturated, says the worker had no time to send them."""
    script = tmp_path / "late.py"
    script.write_text("def delay():\n    return 10_000\n")
    result = loadgen.run(server.url("/"), threads=1, connections=1, duration=0.6, script=str(script))
    assert result.requests == 0 and "its delay() returns milliseconds" in diagnose(result).lines[0]
    busy = replace(result.measured, client_cpu=(WorkerCpu(cpu_s=0.03, wall_s=0.6, waiting_s=0.57),))  # 5% on a CPU
    lines = diagnose(replace(result, measured=busy)).lines
    assert lines[0] == (
        f"loadgen: not one request was sent in time to be answered in {result.runtime_s:.2f}s: loadgen's worker had "
        "no time to send them (how busy it was is said below): the script's hooks, or other processes on its CPU, "
        f"took the run ({script})"
    ), lines
    assert lines[1].startswith("loadgen: worker 0 was 100% busy (5% on a CPU, 95% waiting for one)"), lines


@pytest.mark.parametrize("rate", [(), ("-R", "20")], ids=["closed", "paced"])
def test_a_slow_response_hook_that_stretches_the_run_is_said(
    asleep: dict[str, Future[tuple[Completed, Path]]], rate: tuple[str, ...]
) -> None:
    """-R too: a paced worker's late end is not taken for the machine holding it off its CPU."""
    done, _ = asleep[f"stretched {rate}"].result()
    assert done.returncode == 0
    runtime = re.search(r"requests in (\d\.\d\d)s", done.stdout)[1]  # type: ignore[index]
    assert float(runtime) > 1.1  # a response() of 1.2 s ends the 1 s run late, and stretches it
    held = (
        r"loadgen: the script's hooks held worker 0's loop \d\.\d\ds of its \d\.\d\ds window; "
        rf"the run took {runtime}s, \d\.\d\ds past -d 1s \(they run in it: .*"
    )
    *others, last = done.stderr_lines
    assert re.fullmatch(held, last), done.stderr
    # A connection whose response came while the hook held the loop may be left unread (as the event loop
    # orders the reads and the end): said of the hooks too (was: "its accept queue or its concurrency limit").
    assert all("the script's hooks held the worker's loop (below)" in line for line in others), done.stderr
    if rate:  # the rate it missed is the hooks' doing too (was: "too few connections")
        assert any(line.endswith("): the script's hooks held the worker's loop (below)") for line in others), others


def test_a_rate_missed_behind_a_sleeping_hook_is_put_on_the_hooks_not_the_server(
    asleep: dict[str, Future[tuple[Completed, Path]]],
) -> None:
    """A response() that sleeps 15 ms at -R100 holds the loop 1.5 s of every second, but ends each
    call in time: the run does not end late, and the shortfall read "the server did not keep up
    (its latency grew ...)". The guard times the hooks: the JSON keeps it, the lines say it."""
    done, script = asleep["naps"].result()
    document = script.parent / "run.json"
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"loadgen: achieved \d+ of the 100 requests/sec asked \(\d+% short(; \d+% with the requests in flight on "
        r"schedule)?\): the script's hooks held "
        r"the worker's loop \(below\)",
        done.stderr_lines[0],
    ), done.stderr
    assert re.fullmatch(
        # 66 responses a second sleep 15 ms each: the hooks hold 1.98 s of a 2 s window (2.00s seen)
        r"loadgen: the script's hooks held worker 0's loop [12]\.\d\ds of its 2\.\d\ds window \(they run .*",
        done.stderr_lines[1],
    ), done.stderr
    (worker,) = json.loads(document.read_text())["client_cpu"]["workers"]
    assert worker["hooks_s"] > 0.75 * worker["wall_s"] and worker["hooks_s"] > worker["cpu_s"], worker


def test_quick_hooks_are_not_said_to_hold_the_loop(server: TestServer, tmp_path: Path) -> None:
    """Hooks that return at once take a share of the loop's time that is its CPU's: no line."""
    script, document = tmp_path / "quick.py", tmp_path / "run.json"
    script.write_text("count = 0\ndef response(status, headers, body):\n    global count\n    count += 1\n")
    done = run_loadgen("-t1", "-c2", "-d1s", "-s", str(script), "--json", str(document), server.url("/"))
    assert (done.returncode, done.stderr) == (0, "")
    (worker,) = json.loads(document.read_text())["client_cpu"]["workers"]
    assert 0 < worker["hooks_s"] < worker["cpu_s"], worker


@pytest.mark.slow
def test_an_init_that_never_returns_is_named_within_seconds_with_no_signal(server: TestServer, tmp_path: Path) -> None:
    """At --script-timeout (1 s here; its default, 10 s, is the next test's)."""
    script = tmp_path / "init.py"
    script.write_text("def init(args):\n    while True:\n        pass\n")
    started = time.monotonic()
    done = run_loadgen("-t2", "-c2", "-d5s", "--script-timeout", "1s", "-s", str(script), server.url("/"))
    assert time.monotonic() - started < 20  # was: 60 s, then "worker 0 did not start within 60s"
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr_lines) == 1
    assert re.fullmatch(rf"{re.escape(str(script))}:[23]: init\(\) did not return within 1s", done.stderr_lines[0])


def test_a_top_level_that_never_finishes_is_named_at_the_script_timeout(server: TestServer, tmp_path: Path) -> None:
    """loadgen's own process runs the top level first, where no worker's watch is: it spun until a signal came."""
    script = tmp_path / "spins.py"
    script.write_text("import sys\nwhile True:\n    pass\n")
    done = run_loadgen("-t1", "-c1", "-d1s", "--script-timeout", "0.5s", "-s", str(script), server.url("/"), timeout=10)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr_lines == [f"{script}:2: the script's top level did not finish within 0.5s"]


def test_the_top_levels_watch_gives_a_programs_alarm_back() -> None:
    """loadgen.run() called from a program's main thread: its SIGALRM handler and timer are its own again,
    the timer with what was left of it (not more), and one that came due meanwhile fires as the watch ends."""
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with watched_top_level("script.py", 10):
            time.sleep(0.1)
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        time.sleep(0.6)
        assert fired == [1] and left <= 0.4, left
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with watched_top_level("script.py", 10):
            time.sleep(0.1)
        time.sleep(0.05)
        assert fired == [1, 1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_hook_is_stuck_after_ten_seconds_unless_told(server: TestServer, tmp_path: Path) -> None:
    """--script-timeout's default, from the option to the worker's watch, which names a call stuck
    at it and not before: checked on the watch itself, its clock given, not by waiting 10 s."""
    script = tmp_path / "init.py"
    script.write_text("def init(args):\n    look()\n")
    plan = prepare(loadgen.Settings(server.url("/"), threads=1, connections=1, script=str(script)))
    assert plan.specs[0].script is not None
    limit = plan.specs[0].script.timeout_s
    assert limit == 10
    # a longer limit is the workers' too: the parent waits for their start that long and more
    longer = prepare(loadgen.Settings(server.url("/"), threads=1, connections=1, script=str(script), script_timeout=90))
    assert longer.specs[0].script is not None and longer.specs[0].script.timeout_s == 90
    assert (plan.start_timeout_s, longer.start_timeout_s) == (START_TIMEOUT_S + 10, START_TIMEOUT_S + 90)
    # init()'s limit is added only where there is an init() to wait for: a run without -s waits the forks' time
    assert prepare(loadgen.Settings(server.url("/"), threads=1, connections=1)).start_timeout_s == START_TIMEOUT_S
    for held in (9.9, 10.0):
        watch = HookWatch(str(script), limit, lambda held=held: held, lambda: False)
        hooks = {"look": lambda watch=watch: watch._look(signal.SIGALRM, sys._getframe())}
        exec(compile(script.read_text(), str(script), "exec"), hooks)  # init() at its line in its file
        if held < 10:
            hooks["init"](())
        else:
            with pytest.raises(HookStuck, match=rf"^{re.escape(str(script))}:2: init\(\) did not return within 10s$"):
                hooks["init"](())


@pytest.mark.parametrize(("hook", "ran"), [("response(status, headers, body)", True), ("init(args)", False)])
def test_keyboard_interrupt_raised_by_a_hook_is_a_script_error(
    server: TestServer, tmp_path: Path, hook: str, ran: bool
) -> None:
    """In a worker, which ignores Ctrl-C, a KeyboardInterrupt is the script's own: init()'s too, before the run
    (taken for a stop signal's, it would be "worker 0 failed before it started: KeyboardInterrupt: at ...", exit 2)."""
    script = tmp_path / "interrupts.py"
    script.write_text(f"def {hook}:\n    raise KeyboardInterrupt\n")
    done = run_loadgen("-t1", "-c1", "-d5s", "-s", str(script), server.url("/"))
    assert done.returncode == 1 and done.stdout.startswith("Running 5s test") == ran
    assert done.stderr_lines == [f"{script}:2: KeyboardInterrupt"]


@pytest.mark.parametrize(
    "source",
    [
        "raise KeyboardInterrupt\n",
        "def setup(thread):\n    raise KeyboardInterrupt\n",
        "def done(summary, latency, requests):\n    raise KeyboardInterrupt\n",
    ],
    ids=["top level", "setup()", "done()"],
)
def test_keyboard_interrupt_raised_by_the_parents_script_code_is_a_script_error(
    server: TestServer, tmp_path: Path, source: str
) -> None:
    """The code loadgen's own process runs (README: exit 1 for a script that raises KeyboardInterrupt):
    was 'loadgen: interrupted while the script's top level ran', exit 130, as if Ctrl-C had come."""
    script = tmp_path / "interrupts.py"
    script.write_text(source)
    done = run_loadgen("-t1", "-c1", "-n1", "-d5s", "-s", str(script), server.url("/"))
    line = source.count("\n")
    assert (done.returncode, done.stderr_lines) == (1, [f"{script}:{line}: KeyboardInterrupt"])


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ("float('nan')", "ValueError: delay() must return milliseconds (a number), not nan"),
        ("None", "TypeError: delay() must return milliseconds (a number), not NoneType"),
        # were float()'s words, naming no hook: "could not convert string to float: 'soon'", "int too large ..."
        ("'soon'", "ValueError: delay() must return milliseconds (a number), not 'soon'"),
        (
            "10**400",
            "ValueError: delay() must return milliseconds (a number), not 100000000000000000...0000000000000000000",
        ),
    ],
)
def test_a_delay_that_is_no_time_names_the_script(
    server: TestServer, tmp_path: Path, returns: str, message: str
) -> None:
    """What delay() returned, refused in the script's words, at the line of its definition."""
    script = tmp_path / "delays.py"
    script.write_text(f"def delay():\n    return {returns}\n")
    done = run_loadgen("-t1", "-c1", "-d5s", "-s", str(script), server.url("/"))
    # was: NaN failed the worker (the loop's timer refused it: `worker 0 (pid N) failed: ValueError:
    # cannot convert float NaN to integer`, exit 2), None said float()'s words without a line
    assert (done.returncode, done.stderr_lines) == (1, [f"{script}:1: {message}"])


def test_a_delay_drops_its_fraction_of_a_millisecond_as_wrks(server: TestServer, tmp_path: Path) -> None:
    """0.9 ms is no wait, as in wrk (whole milliseconds); the loop's timer rounded it to 1 ms, and asked 1.5
    waited 2.5 ms (wrk 1.2)."""
    script = tmp_path / "delays.py"
    script.write_text("def delay():\n    return 0.9\n")
    result = loadgen.run(server.url("/"), threads=1, connections=1, duration=1.0, script=str(script))
    assert result.requests > 1100  # a millisecond a request allows 1,000 at most


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ("response", "response() must take 3 arguments (status, headers, body), as wrk calls it"),
        ("done", "done() must take 3 arguments (summary, latency, requests), as wrk calls it"),
        ("request(path)", "request() must take no arguments, as wrk calls it"),
        ("setup", "setup() must take 1 argument (thread), as wrk calls it"),  # was "1 arguments"
        ("init", "init() must take 1 argument (args), as wrk calls it"),
    ],
)
def test_a_hook_that_cannot_take_wrks_arguments_is_refused_before_the_run(
    server: TestServer, tmp_path: Path, hook: str, message: str
) -> None:
    """wrk's stop.lua has `function response()`: Lua drops the arguments, Python refuses them.
    Said when the script loads, at the hook's line, not once the run calls it."""
    script = tmp_path / "hooks.py"
    script.write_text(f"count = 0\ndef {hook if '(' in hook else hook + '()'}:\n    pass\n")
    done = run_loadgen("-t1", "-c1", "-d2s", "-s", str(script), server.url("/"))
    # was: Python's TypeError without a line, once the run had begun (done(): after all of it)
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:2: {message}"])


def test_setup_sends_a_worker_to_the_address_it_sets(
    server: TestServer, fresh_server: TestServer, tmp_path: Path
) -> None:
    """wrk's addr.lua: thread.addr, set in setup() to one of wrk.lookup()'s, is where that worker connects."""
    script = tmp_path / "addr.py"
    elsewhere = f"wrk.lookup('127.0.0.1', {fresh_server.port})[0]"
    script.write_text(f"def setup(thread):\n    if thread.id == 1:\n        thread.addr = {elsewhere}\n")
    done = run_loadgen("-t2", "-c2", "-d300ms", "-s", str(script), server.url("/"))
    assert done.returncode == 0, done.stderr
    assert fresh_server.counters.connections == 1 and fresh_server.counters.requests_received > 0


def test_a_worker_whose_init_fails_ends_the_run_at_once_the_other_killed(server: TestServer, tmp_path: Path) -> None:
    """One worker's init() raises while the other, its init() slower, waits to be released: one line, exit
    1, at once; the other is killed, not waited for (waited for, the command hung, SIGTERM included)."""
    script = tmp_path / "init.py"
    script.write_text(
        "import time\ndef setup(thread):\n    thread.set('n', thread.id)\ndef init(args):\n"
        "    if wrk.thread.get('n') == 1:\n        raise ValueError('only the second')\n    time.sleep(0.5)\n"
    )
    done = run_loadgen("-t2", "-c2", "-d1s", "-s", str(script), server.url("/"), timeout=20)
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:6: ValueError: only the second"])


def test_a_thread_addr_that_is_no_address_names_the_line_that_set_it(server: TestServer, tmp_path: Path) -> None:
    script = tmp_path / "addr.py"
    script.write_text(f"def setup(thread):\n    thread.addr = '127.0.0.1:{server.port}'\n")
    done = run_loadgen("-t1", "-c1", "-d2s", "-s", str(script), server.url("/"))
    # was: the worker failed as it connected (`AttributeError: 'str' object has no attribute 'family'`, exit 2)
    message = "TypeError: thread.addr must be an address from wrk.lookup(), not str"
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:2: {message}"])


@pytest.mark.parametrize(
    ("hook", "call", "message"),
    [
        ("setup(thread)", "thread.set(5, 1)", "thread.set() takes a variable's name (str), not int"),
        ("init(args)", "wrk.thread.set(5, 1)", "wrk.thread.set() takes a variable's name (str), not int"),
        ("init(args)", "wrk.thread.addr = 5", "thread.addr must be an address from wrk.lookup(), not int"),
    ],
)
def test_a_thread_helper_given_the_wrong_type_names_the_scripts_line(
    server: TestServer, tmp_path: Path, hook: str, call: str, message: str
) -> None:
    """A variable named by an int was kept, and failed the worker as it sent its globals back (`worker 0 failed:
    AttributeError: 'int' object has no attribute 'startswith' at script.py:546; the 6,787 requests it had counted
    are lost with it`, exit 2); an int addr set in init() failed it as it connected."""
    script = tmp_path / "types.py"
    script.write_text(f"def {hook}:\n    {call}\n")
    done = run_loadgen("-t1", "-c1", "-d300ms", "-s", str(script), server.url("/"))
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:2: TypeError: {message}"])


def test_a_thread_get_of_a_name_that_is_no_str_names_its_call() -> None:
    """get() as set() above, in both places (no run: the error is the call's own)."""
    addr = Address(socket.AF_INET, "127.0.0.1", 80)
    for thread, call in ((SetupThread(0, addr), "thread.get"), (WorkerThread(0, addr, {}), "wrk.thread.get")):
        with pytest.raises(TypeError, match=rf"^{re.escape(call)}\(\) takes a variable's name \(str\), not int$"):
            thread.get(5)  # type: ignore[arg-type]
    thread = SetupThread(0, addr)  # what setup() sets, it gets back; a name never set is None (Lua's nil)
    thread.set("n", 1)
    assert (thread.get("n"), thread.get("other")) == (1, None)


def test_wrk_headers_has_the_urls_host_in_init_as_wrks(tmp_path: Path) -> None:
    """wrk.lua's init sets wrk.headers["Host"] from the URL (host:port) before the script's init(), which can read
    it (a KeyError before); a Host given with -H is kept, in any case, and no second one is added. The request is
    the same: Host first, once (no run: load_worker_script is what a worker calls)."""
    script = tmp_path / "host.py"
    script.write_text("seen = []\ndef init(args):\n    seen.append(dict(wrk.headers))\n")
    addr = Address(socket.AF_INET, "127.0.0.1", 8080)
    url = parse_url("http://127.0.0.1:8080/a")
    cases = (
        ({"X-A": "1"}, {"X-A": "1", "Host": "127.0.0.1:8080"}, "Host: 127.0.0.1:8080\r\nX-A: 1\r\n"),
        ({"host": "h"}, {"host": "h"}, "host: h\r\n"),
    )
    for headers, seen, fields in cases:
        loaded = load_worker_script(str(script), script.read_text(), (), url, 0, addr, {}, "GET", headers, None)
        assert loaded.module.seen == [seen]
        assert loaded.module.wrk.request() == f"GET /a HTTP/1.1\r\n{fields}\r\n".encode()


def test_a_script_that_is_no_text_is_said_so_at_its_path(tmp_path: Path) -> None:
    """read_script's refusal of a file that is not UTF-8 text, in one line (no run: it reads the file first)."""
    script = tmp_path / "binary.py"
    script.write_bytes(b"\xff\xfe")
    with pytest.raises(ScriptError, match=rf"^{re.escape(str(script))}: not a text file \(invalid start byte\)$"):
        read_script(str(script))


def test_a_request_as_data_is_one_request_as_its_text_is() -> None:
    """A batch's shape (how many requests, whether HEAD) is the same for a request as data and for its text: a
    script may return either in turn under HTTP/1.1, each call as many requests as the first (see _as_batch)."""
    for method in ("GET", "HEAD"):
        request = Request(method, "/", (("Host", "h"),))
        text = format_request(method, "/", request.headers)
        assert _batch_shape(request) == _batch_shape(text) == (1, method == "HEAD")


def test_done_sees_each_distribution_as_wrks_stats() -> None:
    """done(summary, latency, requests) reads wrk's stats: min, max, mean, stdev (of a sample, as
    wrk's), percentile(p) (wrk's rank: round(p/100 * count + 0.5)), and ``latency(i)`` the i-th
    distinct value and its count, from 1, ``len(latency)`` how many there are (wrk's ``#latency``)."""
    stats = ScriptStats(Distribution({10: 3, 20: 1}))
    assert (stats.min, stats.max, stats.mean, stats.stdev) == (10, 20, 12.5, 5.0)
    assert [stats.percentile(p) for p in (50, 74, 75, 99)] == [10, 10, 20, 20]
    assert len(stats) == 2 and [stats(i) for i in range(4)] == [(0, 0), (10, 3), (20, 1), (0, 0)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("wrk.format('GET', '/', [('a', 'b')])", "a request's headers must be a dict, not list"),
        (
            "wrk.lookup('localhost', [80])",
            "wrk.lookup(host, service) takes a host (str) and a port (int or str), not (str, list)",
        ),
        ("wrk.connect('127.0.0.1:80')", "wrk.connect() takes an address from wrk.lookup(), not str"),
        ("wrk.connect(wrk.lookup('127.0.0.1', 80)[0], '1s')", "wrk.connect()'s timeout is seconds (a number), not str"),
    ],
)
def test_a_wrk_helper_given_the_wrong_type_says_what_it_takes(
    server: TestServer, tmp_path: Path, call: str, message: str
) -> None:
    """Python's own words, naming nothing of the call: `TypeError: 'list' object is not a mapping`, `OSError: Int or
    String expected`, `AttributeError: 'str' object has no attribute 'host'`, `TypeError: 'str' object cannot be
    interpreted as an integer`."""
    script = tmp_path / "types.py"
    script.write_text(f"{call}\n")
    done = run_loadgen("-t1", "-c1", "-d300ms", "-s", str(script), server.url("/"))
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:1: TypeError: {message}"])


def test_a_lookup_that_fails_names_what_it_looked_up_as_wrks(server: TestServer, tmp_path: Path) -> None:
    """wrk: `unable to resolve HOST:SERVICE ...`; getaddrinfo's own line named neither."""
    script = tmp_path / "lookup.py"
    script.write_text("def setup(thread):\n    wrk.lookup('127.0.0.1', 'no-such-service')\n")
    done = run_loadgen("-t1", "-c1", "-d2s", "-s", str(script), server.url("/"))
    assert (done.returncode, done.stdout, len(done.stderr_lines)) == (1, "", 1), done.stderr
    assert done.stderr.startswith(f"{script}:2: gaierror: ")
    assert "unable to resolve 127.0.0.1:no-such-service: " in done.stderr


ALTERNATES = """\
calls = 0
def request():
    global calls
    calls += 1
    return {first} if calls % 2 else {then}
"""


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (
            "wrk.format()",
            "wrk.format() + wrk.format()",
            "request() returned 2 pipelined requests after 1 at first: each call must return as many "
            "(the responses are read by the first's count, as wrk's pipeline depth)",
        ),
        (
            "wrk.format('GET')",
            "wrk.format('HEAD')",
            "request() returned HEAD and other methods in turn: a run's requests are all HEAD or none",
        ),
    ],
    ids=["depth", "head"],
)
def test_a_request_shaped_unlike_the_first_is_the_scripts_error_not_the_servers(
    server: TestServer, tmp_path: Path, first: str, then: str, message: str
) -> None:
    script = tmp_path / "alternates.py"
    script.write_text(ALTERNATES.format(first=first, then=then))
    done = run_loadgen("-t1", "-c1", "-d2s", "-s", str(script), server.url("/"))
    # was: read by the first's shape, blamed on the server (`the server sent 1,671 malformed responses
    # (a response to no request: ...)`, exit 3); wrk counts the depth's miscounted, and hangs on HEAD
    assert (done.returncode, done.stderr_lines) == (1, [f"{script}:2: {message}"])


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("async def response(status, headers, body):\n    print(status)\n", "async"),
        ("def response(status, headers, body):\n    yield status\n", "a generator (it yields)"),
    ],
    ids=["async", "generator"],
)
def test_a_hook_whose_call_runs_nothing_is_refused(server: TestServer, tmp_path: Path, source: str, kind: str) -> None:
    script = tmp_path / "hooks.py"
    script.write_text(source)
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(script), server.url("/"))
    # was: a run with response() never run, exit 0, not a word (the coroutines never awaited)
    message = f"response() is {kind}: calling it does not run its body; use a plain def"
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:1: {message}"])


@pytest.mark.parametrize("pacing", PACINGS, ids=["rate", "stages"])
def test_a_delay_a_rate_replaces_is_said(asleep: dict[str, Future[tuple[Completed, Path]]], pacing: list[str]) -> None:
    done, _ = asleep[f"replaced {pacing[0]}"].result()
    assert done.returncode == 0, done.stderr
    # was: nothing said, and the rate's requests sent without the script's pauses
    warning = f"loadgen: warning: {pacing[0]} paces the requests: the script's delay() is not called"
    # said once, first; after it, on a loaded machine, the rate's own diagnosis may come (a server held 70-80 ms
    # off its CPU near the end of a 1s:100 stage, two connections busy with it: "stage 1 (1s to 100/s): achieved
    # 35 of the 50 requests/sec asked ...: the server did not keep up", 2 runs of 30 under two CPU hogs)
    assert done.stderr_lines[0] == warning and warning not in done.stderr_lines[1:], done.stderr
    diagnosis = ("loadgen: achieved ", "loadgen: stage 1 ")
    assert all(line.startswith(diagnosis) for line in done.stderr_lines[1:]), done.stderr


def test_run_warns_what_the_command_says_before_the_run(
    server: TestServer, tmp_path: Path, workers: loadgen.Workers
) -> None:
    """The plan's notices, printed by the command, were dropped by run(): a script's delay() that rate
    replaced went uncalled without a word. A RuntimeWarning now, on the caller's line, from run_async too."""
    script = tmp_path / "delays.py"
    script.write_text("def delay():\n    return 10\n")
    said = r"^-R paces the requests: the script's delay\(\) is not called$"

    async def run_async() -> loadgen.Result:
        return await loadgen.run_async(
            server.url("/"), threads=1, connections=1, duration=0.2, rate=20, script=str(script), workers=workers
        )

    with pytest.warns(RuntimeWarning, match=said) as caught:
        loadgen.run(
            server.url("/"), threads=1, connections=1, duration=0.2, rate=20, script=str(script), workers=workers
        )
        asyncio.run(run_async())
    assert [warning.filename for warning in caught] == [__file__, __file__]


RAISES_LATE = """\
count = 0
def response(status, headers, body):
    global count
    count += 1
    if count > 20:
        raise ValueError('late')
"""


def test_a_hook_that_raises_during_the_run_raises_from_the_api(
    server: TestServer, tmp_path: Path, workers: loadgen.Workers
) -> None:
    """As the command, which prints its line and no report (exit 1): the Result of a run a hook cut
    short is no measurement."""
    script = tmp_path / "raises.py"
    script.write_text(RAISES_LATE)
    with pytest.raises(loadgen.SetupError, match=rf"^{re.escape(str(script))}:6: ValueError: late$"):
        loadgen.run(server.url("/"), threads=1, connections=1, duration=5, script=str(script), workers=workers)
    # was: a Result of the 21 requests, its script_error the only sign


def test_a_hook_that_raises_during_a_capacity_step_stops_the_search(server: TestServer, tmp_path: Path) -> None:
    script = tmp_path / "raises.py"
    script.write_text(RAISES_LATE)
    done = run_loadgen("capacity", "--slo", "p99<1s", "-t1", "-c2", "-d1s", "-s", str(script), server.url("/"))
    # was: each step judged as if whole (`capacity: 3,700 req/s`, exit 0), the error unsaid
    assert (done.returncode, done.stdout, done.stderr_lines) == (1, "", [f"{script}:6: ValueError: late"])


WARNS = """\
import warnings
def setup(thread):
    warnings.warn("setup was called", UserWarning)
    warnings.warn("setup is old", DeprecationWarning)
    warnings.warn("setup left a file open", ResourceWarning)
    {then}
"""


def test_a_scripts_warnings_are_shown_with_the_users_filters(server: TestServer, tmp_path: Path) -> None:
    script = tmp_path / "warns.py"
    script.write_text(WARNS.format(then="pass"))
    environment = {**os.environ, "PYTHONWARNINGS": "default::DeprecationWarning"}
    done = run_loadgen("-t1", "-c1", "-d300ms", "-s", str(script), server.url("/"), env=environment)
    assert done.returncode == 0, done.stderr
    assert "Requests/sec:" in done.stdout
    # was: every warning raised in the parent during the run silently dropped
    assert [line for line in done.stderr_lines if not line.startswith(" ")] == [
        f"{script}:3: UserWarning: setup was called",
        f"{script}:4: DeprecationWarning: setup is old",
    ]  # the ResourceWarning stays ignored, as Python's default filters say


def test_a_scripts_warnings_are_shown_when_the_run_fails(server: TestServer, tmp_path: Path) -> None:
    script = tmp_path / "warns.py"
    script.write_text(WARNS.format(then="raise ValueError('no')"))
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(script), server.url("/"))
    assert done.returncode == 1 and done.stdout == ""
    assert [line for line in done.stderr_lines if not line.startswith(" ")] == [
        f"{script}:3: UserWarning: setup was called",
        f"{script}:6: ValueError: no",
    ]


STEP_WARNS = """\
import warnings
def setup(thread):
    warnings.warn("setup was called", UserWarning)
def init(args):
    warnings.warn("init was called", UserWarning)
"""


def test_a_capacity_search_shows_each_warning_once(server: TestServer, tmp_path: Path) -> None:
    script = tmp_path / "warns.py"
    script.write_text(STEP_WARNS)
    flags = ["--slo", "p99<1s", "-t2", "-c4", "-d500ms", "--start", "50", "--max", "100", "--precision", "50"]
    done = run_loadgen("capacity", *flags, "-s", str(script), server.url("/"))
    assert len(re.findall(r"^step \d+: ", done.stdout, re.MULTILINE)) >= 2, done.stdout
    # was: both again at every step (each step is a run: setup() in this process, init() in each worker)
    assert [line for line in done.stderr_lines if not line.startswith(" ")] == [
        f"{script}:3: UserWarning: setup was called",
        f"{script}:5: UserWarning: init was called (from 2 workers)",
    ]


def _hang_up(run: subprocess.Popen[str], group: bool) -> None:
    """SIGHUP to loadgen alone, or as a closing terminal sends it: to its group and to each worker's."""
    if group:
        os.killpg(run.pid, signal.SIGHUP)
        for worker in workers_of(run.pid):  # each worker is in a group of its own
            os.kill(worker, signal.SIGHUP)
    else:
        run.send_signal(signal.SIGHUP)


@pytest.fixture(scope="module")
def nohup_runs(server: TestServer) -> dict[bool, tuple[int, str, str]]:
    """Both runs under nohup at once (SIGHUP to loadgen alone, and to its whole group), each hung up a second into
    its load: their exit status, stdout and stderr, by ``group``. Together, they take one run's 3 s, not two."""
    runs = {
        group: subprocess.Popen(
            ["nohup", sys.executable, "-m", "loadgen", "-t2", "-c4", "-d3s", server.url("/")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for group in (False, True)
    }
    try:
        for run in runs.values():
            assert wait_for(lambda run=run: len(workers_of(run.pid)) == 2)
        time.sleep(1.0)
        for group, run in runs.items():
            _hang_up(run, group)
        outputs = {group: run.communicate(timeout=20) for group, run in runs.items()}
        return {group: (run.returncode, *outputs[group]) for group, run in runs.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.wait(10)


@pytest.mark.parametrize("group", [False, True], ids=["loadgen", "its-group"])
def test_nohup_keeps_a_run_alive_through_sighup(nohup_runs: dict[bool, tuple[int, str, str]], group: bool) -> None:
    returncode, stdout, stderr = nohup_runs[group]
    assert returncode == 0 and "Traceback" not in stderr, stderr
    assert float(re.search(r" requests in (\d+\.\d+)s", stdout)[1]) >= 3.0, stdout  # type: ignore[index]  # all of it
    assert [line for line in stderr.splitlines() if not line.startswith("nohup:")] == []


@pytest.mark.parametrize("hook", ["init", "response"])
def test_a_script_error_whose_message_has_line_breaks_is_one_line(
    server: TestServer, tmp_path: Path, hook: str
) -> None:
    script = tmp_path / "breaks.py"
    params = "args" if hook == "init" else "status, headers, body"
    script.write_text(f"def {hook}({params}):\n    raise ValueError('first part\\n  second part\\n')\n")
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(script), server.url("/"))
    assert done.returncode == 1, done.stderr
    named = [line for line in done.stderr_lines if "ValueError" in line]
    assert named == [f"{script}:2: ValueError: first part second part"], done.stderr
    assert not any(line.strip() == "second part" for line in done.stderr_lines), done.stderr


CLOSES = {  # where the script closes a stream: its source, and who warns of it, of -t2 (the parent, both workers)
    "top": ("import sys\nsys.stdout.close()\n", ("",)),  # the parent and each worker load it: said once (was twice)
    "setup": ("import sys\ndef setup(thread):\n    sys.stdout.close()\n", ("",)),
    "init": ("import sys\ndef init(args):\n    sys.stdout.close()\n", (" (from 2 workers)",)),
    "response": ("import sys\ndef response(status, headers, body):\n    sys.stdout.close()\n", (" (from 2 workers)",)),
    "done": ("import sys\ndef done(summary, latency, requests):\n    sys.stdout.close()\n", ("",)),
    "done-stderr": ("import sys\ndef done(summary, latency, requests):\n    sys.stderr.close()\n", ("",)),
}


def test_a_script_that_closes_stdout_leaves_it_open_as_wrk(server: TestServer, tmp_path: Path) -> None:
    """wrk refuses io.stdout:close() (`cannot close standard file`) and runs on. Was: closed in response(),
    `worker 0 (pid N) failed: ValueError: I/O operation on closed file. at closedoutput.py:33` and no report
    (exit 2); in init(), the same at script.py:453; at the top level or in done(), a traceback (exit 1). A
    worker's warnings were recorded in the worker and never shown (the parent records its run's, to show them last);
    then shown once per worker (each worker's once, with how many raised it, since)."""
    scripts = {}
    for place, (source, _) in CLOSES.items():
        scripts[place] = tmp_path / f"{place}.py"
        scripts[place].write_text(source)
    args = ("-t2", "-c2", "-d300ms", "--status-codes", "-s")
    runs = run_loadgen_together(*[(*args, str(script), server.url("/")) for script in scripts.values()])
    for (place, (source, said_by)), done in zip(CLOSES.items(), runs, strict=True):
        assert done.returncode == 0 and "Requests/sec:" in done.stdout, (place, done.stderr)
        assert done.stdout.rstrip().splitlines()[-1].startswith("    200: "), place  # --status-codes, last
        stream = "stderr" if "stderr" in source else "stdout"
        warned = [line for line in done.stderr_lines if "RuntimeWarning" in line]
        said = f"RuntimeWarning: sys.{stream}.close() does nothing: loadgen writes there after the script"
        line = len(source.splitlines())
        where = f"{scripts[place]}:{line}: {said} (wrk: cannot close standard file)"
        assert warned == [where + by for by in said_by], place


def test_a_script_that_closes_stdout_in_a_worker_of_the_api_leaves_it_open(
    server: TestServer, tmp_path: Path, workers: loadgen.Workers
) -> None:
    """The fork server's workers, not forked by the command: was `WorkerError: ... worker 0 (pid N) failed:
    ValueError: I/O operation on closed file. at workerproc.py:288`, nothing measured. The worker's warning is
    raised in the caller's process once the run ends (it was written on the worker's stderr)."""
    script = tmp_path / "closes.py"
    script.write_text(CLOSES["response"][0])
    url = server.url("/")
    with pytest.warns(RuntimeWarning, match=r"^sys\.stdout\.close\(\) does nothing: .*standard file\)$"):
        result = loadgen.run(url, threads=1, connections=1, duration=0.3, script=str(script), workers=workers)
    assert result.requests > 0


def test_thread_stop_in_setup_stops_nothing_as_wrks(server: TestServer, tmp_path: Path) -> None:
    """wrk's thread:stop() in setup() is undone when the thread's loop starts: the run goes on. Was
    `stop.py:2: AttributeError: 'SetupThread' object has no attribute 'stop'`, exit 1, no run."""
    script = tmp_path / "stop.py"
    script.write_text("def setup(thread):\n    thread.stop()\n")
    done = run_loadgen("-t2", "-c2", "-d300ms", "-s", str(script), server.url("/"))
    assert done.returncode == 0 and "Requests/sec:" in done.stdout, done.stderr
    said = "RuntimeWarning: thread.stop() in setup() stops nothing, as wrk's: the worker runs; call "
    said += "wrk.thread.stop() in it"
    assert [line for line in done.stderr_lines if not line.startswith(" ")] == [f"{script}:2: {said}"]  # once


def test_runs_at_once_hold_each_setups_prints_and_leave_stdout_as_it_was(
    server: TestServer, workers: loadgen.Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs' setup() at once (run_async's, as README's "several at once"): each thread's prints are
    held apart. Was: each swapped sys.stdout for the whole process, the swaps crossed, and the program was
    left with a held buffer for stdout (its prints lost from then on), one run's setup() prints in the other's."""
    script = tmp_path / "hooks.py"
    script.write_text("import time\ndef setup(thread):\n    time.sleep(0.3)\n    print('setup', thread.id)\n")
    before = sys.stdout

    async def both() -> list[loadgen.Result]:
        shape = {"script": str(script), "threads": 2, "connections": 2, "duration": 0.2, "workers": workers}
        return list(await asyncio.gather(*(loadgen.run_async(server.url(), **shape) for _ in range(2))))

    asyncio.run(both())
    print("after the runs")
    assert sys.stdout is before
    printed = capsys.readouterr().out.splitlines()
    assert sorted(printed) == ["after the runs", "setup 0", "setup 0", "setup 1", "setup 1"]


def test_a_base_exception_of_the_scripts_own_is_a_script_error(server: TestServer, tmp_path: Path) -> None:
    """As pytest.fail()'s (a BaseException, not an Exception): at the top level and in setup() it was a
    traceback from loadgen's process, and in a worker `worker 0 (pid N) failed: Stop: now`, exit 2, the
    script named nowhere."""
    raised = "class Stop(BaseException):\n    pass\n{}"
    sources = {  # the script's name, its text and the line that raises
        "top": (raised.format("raise Stop('now')\n"), 3),
        "setup": (raised.format("def setup(thread):\n    raise Stop('now')\n"), 4),
        "response": (raised.format("def response(status, headers, body):\n    raise Stop('now')\n"), 4),
    }
    for name, (source, _) in sources.items():
        (tmp_path / f"{name}.py").write_text(source)
    runs = run_loadgen_together(
        *(("-t1", "-c1", "-d1s", "-s", str(tmp_path / f"{name}.py"), server.url("/")) for name in sources),
        checked=False,
    )
    for (name, (_, line)), done in zip(sources.items(), runs, strict=True):
        assert (done.returncode, done.stderr_lines) == (1, [f"{tmp_path / name}.py:{line}: Stop: now"]), done.stderr


def test_a_thread_the_script_left_running_does_not_hold_loadgen_after_its_report(
    server: TestServer, tmp_path: Path
) -> None:
    """Python's exit waited for it: the command never ended after its report, and a Ctrl-C then was a
    traceback (`Exception ignored in: <module 'threading'>`). Now it waits 10 s at most,
    Ctrl-C ending the wait at once, with a line; a thread that ends meanwhile is waited for (done()'s upload)."""
    script = tmp_path / "hooks.py"
    script.write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='poller').start()\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "-t1", "-c1", "-d0.2s", "-s", str(script), server.url("/")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert any(line.startswith("Transfer/sec:") for line in iter(run.stdout.readline, ""))  # the report is out
    time.sleep(1)  # into the wait: what the command does after its report takes milliseconds
    run.send_signal(signal.SIGINT)
    asked = time.monotonic()
    _, stderr = run.communicate(timeout=30)
    said = "loadgen: not waiting longer for the 1 thread (poller) the script left running (start one with daemon=True)"
    assert (run.returncode, stderr) == (0, said + "\n")
    assert time.monotonic() - asked < LEFT_RUNNING_WAIT_S / 2  # the Ctrl-C ended the wait


def test_wrk_fields_http_cannot_carry_are_a_script_error(server: TestServer, tmp_path: Path) -> None:
    """A header HTTP/1.1 cannot carry (its bytes are Latin-1). Was: `worker 0 failed before it started:
    UnicodeEncodeError: 'latin-1' codec can't encode character '\\u2028' ... at request.py:92`, exit 2."""
    script = tmp_path / "hooks.py"
    script.write_text('wrk.headers["X-Note"] = "a\\u2028b"\n')
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(script), server.url("/"))
    said = f"{script}: its wrk fields make no request: a request's header X-Note can carry only Latin-1 characters"
    assert (done.returncode, done.stderr_lines) == (1, [said + ": 'X-Note: a\\u2028b'"])


def test_wrk_fields_that_make_no_request_are_a_script_error(server: TestServer, tmp_path: Path) -> None:
    """Lua's `#5` refuses wrk.body = 5 in wrk.format. Was: `worker 0 failed before it started: TypeError:
    object of type 'int' has no len() at request.py:70`, exit 2, the script named nowhere."""
    script = tmp_path / "hooks.py"
    script.write_text("wrk.body = 5\n")
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(script), server.url("/"))
    said = f"{script}: its wrk fields make no request: a request's body must be str or bytes, not int"
    assert (done.returncode, done.stderr_lines) == (1, [said])
