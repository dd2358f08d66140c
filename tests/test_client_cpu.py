"""The client's own load: each worker's CPU time over its window, the busy warning when loadgen
itself is the limit, and the line saying why a constant rate was not held."""

from __future__ import annotations

import json
import re
from pathlib import Path

import loadgen

from .conftest import run_loadgen

# Each request costs the client ~5 ms of CPU: far slower than the server, so the client is the
# limit. With 16 connections a response would have to take 80 ms for the worker to wait on the
# server, which a busy machine does not reach (with 1 ms and 4 connections it did).
BURN = """\
import time
def request():
    end = time.process_time() + 0.005
    while time.process_time() < end:
        pass
    return wrk.format()
"""
BUSY_LINE = "the client may be the bottleneck; add -t or move loadgen to its own cores"


def test_client_cpu_is_in_the_result_and_the_json(server) -> None:
    # 1,000 connections each: the first issues its 1,000 connects before the second is released, which then
    # measures 29-36 ms less on an idle machine; with 200 each it was 1.3-13 ms (1.3 in a quiet CI run, under
    # the 3 ms the timers' lateness may take), with 2 each 2-6 ms
    result = loadgen.run(server.url("/"), threads=2, connections=2000, duration=0.5)
    assert len(result.client_cpu.workers) == 2
    first, second = result.client_cpu.workers
    for worker in (first, second):
        assert 0 < worker.cpu_s <= worker.wall_s * 1.05
    # the second starts once the first has opened its connections, and both stop together: a shorter window
    # (were each window its own -d, the two would differ by their timers' lateness only, a ms or two)
    # (the first's window is the run's: -d, or longer when a busy machine held the worker across its end)
    assert first.wall_s > 0.497 and abs(first.wall_s - result.runtime_s) < 0.002, (first, result.runtime_s)
    assert second.wall_s < first.wall_s - 0.003, (first, second)
    document = json.loads(loadgen.to_json(result))["client_cpu"]
    assert document["max_utilization"] == result.client_cpu.max_utilization
    assert [w["cpu_s"] for w in document["workers"]] == [w.cpu_s for w in result.client_cpu.workers]


def test_a_client_bound_run_says_so(server, tmp_path: Path) -> None:
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    done = run_loadgen("-t1", "-c16", "-d2s", "-s", str(script), "--json", str(tmp_path / "out.json"), server.url("/"))
    assert done.returncode == 0, done.stderr
    # "(90% on a CPU, 10% waiting for one)" is added when another process took turns on its core
    busy = r"loadgen: worker 0 was \d+% busy( \(\d+% on a CPU, \d+% waiting for one\))?: "
    # Beside other work the hooks' 5 ms of CPU take longer, and the calls queued when -d passes end
    # the run late (0.49 s seen): a second line then says the hooks held the loop, which they did.
    said = [line for line in done.stderr_lines if not line.startswith("loadgen: the run took ")]
    assert re.fullmatch(busy + re.escape(BUSY_LINE), said[-1]), done.stderr_lines
    assert all("the script's hooks held" in line for line in done.stderr_lines if line not in said)
    (worker,) = json.loads((tmp_path / "out.json").read_text())["client_cpu"]["workers"]
    assert worker["busy"] >= 0.9
    # On a quiet core the worker's CPU time alone fills the window; where another process took
    # turns on its core, the time it waited for the CPU makes up the rest.
    assert worker["utilization"] >= 0.9 or worker["waiting_s"] > 0.05 * worker["wall_s"]
    assert "Requests/sec:" in done.stdout  # the report itself is unchanged


def test_a_server_bound_run_does_not(server) -> None:
    done = run_loadgen("-t2", "-c4", "-d1s", "--json", "-", server.url("/delay?ms=100"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["client_cpu"]["max_utilization"] < 0.5
    assert "busy" not in done.stderr


def test_a_run_too_short_to_judge_is_never_called_client_bound(server, tmp_path: Path) -> None:
    """A window of a few milliseconds is mostly the CPU of its start: no verdict on the worker."""
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    done = run_loadgen("-t1", "-c1", "-n1", "-s", str(script), server.url("/"))
    assert done.returncode == 0, done.stderr
    assert "busy" not in done.stderr


def test_busy_is_a_share_of_the_window_at_most_whole() -> None:
    """CPU counts every thread's, the wait the main thread's: their sum can pass the window."""
    from loadgen.measurement import WorkerCpu
    from loadgen.result import ClientCpu

    assert WorkerCpu(cpu_s=1.02, wall_s=1.0, waiting_s=0.01).busy == 1.0
    assert ClientCpu((WorkerCpu(cpu_s=0.95, wall_s=1.0),)).saturated
    assert not ClientCpu((WorkerCpu(cpu_s=0.0009, wall_s=0.001),)).saturated


def test_a_rate_the_server_cannot_take_is_reported_with_its_cause(server) -> None:
    done = run_loadgen("-t1", "-c2", "-d2s", "-R", "2000", server.url("/delay?ms=20"))
    assert done.returncode == 0, done.stderr
    shortfall = [line for line in done.stderr_lines if line.startswith("loadgen: achieved ")]
    assert len(shortfall) == 1, done.stderr
    assert "of the 2,000 requests/sec asked" in shortfall[0]
    assert "too few connections" in shortfall[0] and "and -c is 2" in shortfall[0]


def test_a_rate_that_is_held_says_nothing(server) -> None:
    # 4 s: the requests still in flight when the window closes (rate x latency, which a busy
    # machine stretches) stay well below the 2% that would be worth a word
    done = run_loadgen("-t1", "-c10", "-d4s", "-R", "100", server.url("/"))
    assert done.returncode == 0 and "achieved" not in done.stderr, done.stderr


# The check's call (sent first) goes out at once; the second, the other connection's, holds the
# loop 0.95 s by the wall clock: the worker is busy (running, or waiting for a CPU) all run long.
SPIN_ON_SECOND_CALL = """\
import time
calls = 0
def request():
    global calls
    calls += 1
    if calls == 2:
        end = time.monotonic() + 0.95
        while time.monotonic() < end:
            pass
    return wrk.format()
"""


def test_a_run_without_a_response_says_when_the_client_was_saturated(server, tmp_path: Path) -> None:
    """Not one response, and a worker busy all the window (as TLS handshakes on a starved core
    were: 'no response from the server in 1.34s', nothing else, though nginx was answering): the
    server is said silent, as it was, and the client busy too, which may be why."""
    script = tmp_path / "spin.py"
    script.write_text(SPIN_ON_SECOND_CALL)
    done = run_loadgen("-t1", "-c2", "-d1s", "-s", str(script), server.url("/hang"))
    assert done.returncode == 3, done.stderr
    assert done.stderr_lines[0].startswith("loadgen: no response from the server in "), done.stderr
    busy = r"loadgen: worker 0 was \d+% busy( \(\d+% on a CPU, \d+% waiting for one\))?: "
    assert any(re.fullmatch(busy + re.escape(BUSY_LINE), line) for line in done.stderr_lines), done.stderr
