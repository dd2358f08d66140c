"""Process-level behaviour: Ctrl-C, a worker that dies, workers started together."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import loadgen
from loadgen.api import run_settings

from .conftest import children_of, run_loadgen, stop_after_first_response, wait_for, workers_of

STALLED_S = 120.0  # a command of a second, on a machine that stalled a minute (two fit in the test's 300 s)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ctrl_c_prints_the_report_and_exits_0(server) -> None:
    served = server.counters.responses  # the session's server: counted before this run
    run = _start("-t2", "-c4", "-d30s", server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 2)
    # the run's first hundred responses (and its 4 in flight) served, rather than a second's sleep
    assert wait_for(lambda: server.counters.responses > served + 104, timeout=30)
    started = time.monotonic()
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=20)
    assert time.monotonic() - started < 5
    assert run.returncode == 0, stderr
    assert "Traceback" not in stderr
    requests = int(re.search(r"  (\d+) requests in ([\d.]+)(ms|s)", stdout).group(1))
    assert requests > 100 and "Requests/sec:" in stdout


CALLS_RUN = """\
import sys, loadgen
try:
    loadgen.run(sys.argv[1], threads=1, connections=1, duration=float(sys.argv[3]), script=sys.argv[2] or None)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
except loadgen.LoadgenError as exc:
    print(type(exc).__name__, exc)
"""


def test_ctrl_c_in_setup_raises_keyboard_interrupt_from_run(server, tmp_path: Path) -> None:
    """As a Ctrl-C anywhere else in run(). Was: loadgen.Interrupted, a LoadgenError, which a program's
    `except loadgen.LoadgenError` around each of its runs took for one run's failure, and went on."""
    script = tmp_path / "hooks.py"
    script.write_text("import sys, time\ndef setup(thread):\n    sys.stderr.write('in setup\\n')\n    time.sleep(30)\n")
    run = subprocess.Popen(
        [sys.executable, "-c", CALLS_RUN, server.url("/"), str(script), "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr.readline() == "in setup\n"
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=20)
    assert stdout == "KeyboardInterrupt\n", stderr


def test_ctrl_c_during_the_run_raises_keyboard_interrupt_from_run(server) -> None:
    """As in setup: run() stops the workers, then raises the KeyboardInterrupt (engine.execute); it never returns
    the run's result as if the caller's ``stop`` had ended it."""
    served = server.counters.responses  # the session's server: counted before this run
    run = subprocess.Popen(
        [sys.executable, "-c", CALLS_RUN, server.url("/"), "", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: server.counters.responses > served + 10, timeout=30)  # the run's window begun
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=20)
    assert stdout == "KeyboardInterrupt\n", stderr


LOST = r"; the ([\d,]+) requests it had counted are lost with it"


def test_a_worker_that_dies_is_named_and_the_run_ends(server, tmp_path: Path) -> None:
    """Named with what was lost with it: the line said it was killed, not that the figures leave
    out the requests it had counted (the JSON did not say whose measurement is missing)."""
    out = tmp_path / "result.json"
    served = server.counters.responses  # the session's server: counted before this run
    run = _start("-t2", "-c4", "-d3s", "--json", str(out), server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 2)
    assert wait_for(lambda: server.counters.responses > served + 500, timeout=30)
    time.sleep(0.3)  # three of its ticks on the board at least, with what it counted
    victim = workers_of(run.pid)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 2
    named = re.search(rf"^loadgen: worker 0 \(pid {victim}\) was killed by SIGKILL{LOST}$", stderr, re.M)
    assert named and int(named[1].replace(",", "")) > 0, stderr
    assert "Traceback" not in stderr
    assert "Requests/sec:" in stdout  # the surviving worker's results are still reported
    (failure,) = json.loads(out.read_text())["worker_failures"]
    assert failure["lost"] is True and failure["lost_requests"] == int(named[1].replace(",", ""))


def test_a_run_whose_only_worker_dies_reports_no_numbers(server, tmp_path: Path) -> None:
    """What it measured died with it: a report, or a document, of 0 requests would be false."""
    out = tmp_path / "result.json"
    run = _start("-t1", "-c4", "-d5s", "--json", str(out), server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 1)
    time.sleep(0.5)
    victim = workers_of(run.pid)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 2 and "requests in" not in stdout and not out.exists(), stdout
    first, *rest = stderr.splitlines()
    assert re.fullmatch(rf"loadgen: worker 0 \(pid {victim}\) was killed by SIGKILL(?:{LOST})?", first), stderr
    assert rest == ["loadgen: no worker's result could be collected: nothing was measured that can be reported"]


def test_an_api_run_whose_only_worker_dies_raises_what_the_command_says(server) -> None:
    """The API's side of the test above: it returned a Result of 0 requests (the failure in
    worker_failures), which a caller reads as a measurement of 0 requests/sec."""
    import threading

    outcome: list[loadgen.Result | BaseException] = []

    def measure(workers: loadgen.Workers) -> None:
        try:
            outcome.append(loadgen.run(server.url("/"), threads=1, connections=4, duration=10, workers=workers))
        except BaseException as error:  # the test looks at it below
            outcome.append(error)

    with loadgen.Workers() as workers:
        running = threading.Thread(target=measure, args=(workers,))
        running.start()
        assert workers.pid is not None and wait_for(lambda: len(children_of(workers.pid)) == 1)  # its worker
        time.sleep(0.5)
        (victim,) = children_of(workers.pid)
        os.kill(victim, signal.SIGKILL)
        running.join(30)
    assert not running.is_alive()
    (error,) = outcome
    assert isinstance(error, loadgen.WorkerError), error
    assert re.fullmatch(
        "no worker's result could be collected: nothing was measured that can be reported "
        rf"\(worker 0 \(pid {victim}\) was killed by SIGKILL(?:{LOST})?\)",
        str(error),
    ), error


def test_no_worker_outlives_the_run(server) -> None:
    run = _start("-t4", "-c8", "-d1s", server.url("/"))
    assert wait_for(lambda: len(workers_of(run.pid)) == 4)
    workers = workers_of(run.pid)
    run.communicate(timeout=30)
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_api_stop_event_ends_the_run_early(fresh_server) -> None:
    stop = stop_after_first_response(fresh_server, 0.5)
    result = loadgen.run(fresh_server.url("/"), threads=2, connections=4, duration=30, stop=stop)
    assert result.interrupted and result.requests > 0
    assert result.runtime_s < 15  # of the 30 asked for


def test_workers_report_their_loop(server) -> None:
    result = loadgen.run(server.url("/"), threads=1, connections=1, duration=0.2)
    assert result.loop in ("uvloop", "asyncio") and result.workers == 1


def test_falls_back_to_asyncio_without_uvloop(server, tmp_path) -> None:
    (tmp_path / "uvloop.py").write_text("raise ImportError('uvloop is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    version = run_loadgen("-v", env=env, timeout=STALLED_S)
    assert "[asyncio]" in version.stdout.splitlines()[0]
    done = run_loadgen("-t2", "-c4", "-d500ms", "--json", "-", server.url("/"), env=env, timeout=STALLED_S)
    result = json.loads(done.stdout)
    assert result["loop"] == "asyncio" and result["requests"] > 100 and result["errors"]["read"] == 0


def _hold_workers(start_s: float, for_s: float) -> Callable[[], None]:
    """An ``on_start`` that holds every worker off its CPU (SIGSTOP) from ``start_s`` after the release,
    for ``for_s``: what a loaded machine does to a process now and then."""

    def hold() -> None:
        pids = workers_of(os.getpid())
        assert pids

        def signal_all(signum: int) -> None:
            for pid in pids:
                os.kill(pid, signum)

        threading.Timer(start_s, signal_all, (signal.SIGSTOP,)).start()
        threading.Timer(start_s + for_s, signal_all, (signal.SIGCONT,)).start()

    return hold


def test_a_worker_held_off_its_cpu_when_released_measures_its_whole_window(server) -> None:
    # The parent's deadline (the run's end and a second) counted from the release: a worker that ran 2 s
    # later was told "late" as it began, and stopped at once ("0 requests in 0.00s", at load 7-8)
    settings = loadgen.Settings(server.url("/"), threads=1, connections=1, duration=0.5)
    result = run_settings(settings, on_start=_hold_workers(0.0, 2.0))
    assert 0.5 <= result.runtime_s < 0.9 and result.requests > 0, (result.runtime_s, result.requests)


def test_a_worker_held_across_its_warmups_end_measures_its_whole_window(server) -> None:
    # the window opened when the held loop got to it, and ended on time: 0.6 s of -d 1s (0.66 s at load 7-8)
    settings = loadgen.Settings(server.url("/delay?ms=5"), threads=1, connections=2, duration=1.0, warmup=0.5)
    result = run_settings(settings, on_start=_hold_workers(0.3, 0.6))
    assert 0.95 <= result.runtime_s <= 1.2, result.runtime_s
