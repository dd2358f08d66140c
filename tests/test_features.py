"""loadgen beyond wrk: API, JSON, merging, -n, methods and bodies, scripts, Unix sockets,
progress, per-status counts, constant rate. Every test runs against a real local server."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from concurrent.futures import Future
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import loadgen
from loadgen._stats.stats import Distribution, add_counts
from loadgen.testing.server import TestServer

from .conftest import at_once, run_loadgen, run_loadgen_together, selected_at_once

# The paced runs (the module fixture `paced`, run in its first test's turn) are held to their count and rate: their
# tests are marked alone (tests/alone.py); the rest of the module shares the machine
PACED = pytest.mark.alone

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCHEMA = json.loads((Path(loadgen.__file__).parent / "result.schema.json").read_text())


def test_json_output_follows_the_schema_and_round_trips(server, tmp_path) -> None:
    out = tmp_path / "result.json"
    done = run_loadgen("-t2", "-c4", "-d1s", "--status-codes", "--json", str(out), server.url("/status/404"))
    assert done.returncode == 0 and done.stdout.startswith("Running 1s test")
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["errors"]["status"] == document["requests"] == document["status_counts"]["404"]
    assert set(document["latency"]["percentiles"]) == {"50", "75", "90", "99", "99.9", "99.99", "99.999", "100"}
    result = loadgen.from_json(out.read_text())
    assert loadgen.to_json(result) == out.read_text().rstrip("\n")
    # the text report is rebuilt, byte for byte, from the JSON alone; by loadgen report with the
    # lines of --status-codes too, which it could not print
    assert done.stdout.startswith(loadgen.wrk_report(result))
    again = run_loadgen("report", str(out), "--status-codes")
    assert (again.returncode, again.stdout) == (0, done.stdout)
    assert done.stdout.endswith(f"  Status codes:\n    404: {document['requests']}\n")


def _histogram_values(document: object) -> int:
    """How many values the document's histograms hold (each a difference from the one before, and a count)."""
    if isinstance(document, dict):
        own = len(document["deltas"]) if "deltas" in document else 0
        return own + sum(_histogram_values(value) for value in document.values())
    if isinstance(document, list):
        return sum(_histogram_values(value) for value in document)
    return 0


def test_a_document_costs_a_few_bytes_per_histogram_value(fresh_server, tmp_path) -> None:
    """Issue 19: a -t3 -c3000 -d30s run wrote 50 MB of [value, count] pairs, indented, seconds after its
    report. Each histogram value now costs its difference from the one before and its count, unindented."""
    out = tmp_path / "run.json"
    done = run_loadgen("-t1", "-c50", "-d2s", "--json", str(out), fresh_server.url("/wait?ms=1"))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    values = _histogram_values(json.loads(text))
    assert values > 2_000  # latencies spread over many values
    assert "\n" not in text.rstrip("\n") and len(text) < 8 * values + 30_000, (len(text), values)


def test_json_to_stdout_moves_the_report_to_stderr(server) -> None:
    done = run_loadgen("-t1", "-c2", "-d300ms", "--json", "-", server.url("/"))
    assert json.loads(done.stdout)["requests"] > 0
    assert "Requests/sec:" in done.stderr


def test_json_to_stdout_carries_the_document_alone(server, tmp_path) -> None:
    """A script's prints, in the workers (init) and in the parent (done), go to stderr with
    ``--json -``: they once went into stdout around the document, which no JSON reader took."""
    script = tmp_path / "prints.py"
    script.write_text(
        "def init(args):\n    print('init printed')\n\n\n"
        "def done(summary, latency, requests):\n    print('done printed')\n"
    )
    done = run_loadgen("-t2", "-c2", "-d1s", "--json", "-", "-s", str(script), server.url("/"))
    assert done.returncode == 0, done.stderr  # (-d300ms: once 0 requests on a machine loaded 4-5 deep)
    assert json.loads(done.stdout)["requests"] > 0
    # two workers print at once: their lines may interleave on stderr (the text of one before the other's newline)
    assert done.stderr.count("init printed") == 2 and "done printed" in done.stderr_lines


def test_a_scripts_prints_before_the_run_come_in_wrks_order(server, tmp_path) -> None:
    """wrk loads the script, then for each thread loads it again, calls setup() and init(); the
    workers load theirs at once, in their own processes: the setups came first, then the inits."""
    script = tmp_path / "order.py"
    script.write_text(
        "print('loaded')\n"
        "def setup(thread):\n    thread.set('n', thread.id)\n    print('setup', thread.id)\n"
        "def init(args):\n    print('init', n)\n"
    )
    done = run_loadgen("-t3", "-c3", "-d1s", "-s", str(script), server.url("/"))
    assert done.returncode == 0, done.stderr
    threads = [line for i in range(3) for line in ("loaded", f"setup {i}", f"init {i}")]
    assert done.stdout.splitlines()[:11] == ["loaded", *threads, f"Running 1s test @ {server.url('/')}"]


def test_a_script_imports_the_modules_beside_it_wherever_loadgen_runs(server, tmp_path) -> None:
    """As ``python dir/script.py``: the script's directory first on sys.path, in the parent (done()) and each
    worker (init()). Was `uses.py:1: ModuleNotFoundError: No module named 'beside_the_script'` from another
    directory, and from the script's own under the installed command (no current directory on its sys.path:
    ``python -P``); wrk's require looks in ./ (the current directory)."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "beside_the_script.py").write_text("GREETING = 'found beside the script'\n")
    script = folder / "uses.py"
    script.write_text(
        "import beside_the_script\n"
        "def init(args):\n    print('init', beside_the_script.GREETING)\n"
        "def done(summary, latency, requests):\n    print('done', beside_the_script.GREETING)\n"
    )
    args = ("-m", "loadgen", "-t1", "-c1", "-d300ms", "-s", str(script), server.url("/"))
    runs = [
        subprocess.run([sys.executable, *flags, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
        for flags, cwd in (((), tmp_path), (("-P",), folder))
    ]
    for done in runs:
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "init found beside the script" and lines[-1] == "done found beside the script"


def test_a_run_leaves_the_program_neither_its_scripts_directory_nor_its_modules(server, tmp_path) -> None:
    """loadgen.run(script=...) twice, each script beside its own `mylib`: the second's setup() (in the caller's
    process) read the first one's (`mylib`, already imported), and sys.path kept both directories."""
    path = list(sys.path)
    seen = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "mylib.py").write_text(f"NAME = {name!r}\n")
        (folder / "uses.py").write_text("import mylib\ndef setup(thread):\n    thread.set('parent', mylib.NAME)\n")
        result = loadgen.run(server.url("/"), threads=1, connections=1, duration=0.2, script=str(folder / "uses.py"))
        seen.append(result.script_globals[0]["parent"])
    assert seen == ["first", "second"] and sys.path == path and "mylib" not in sys.modules


def test_a_script_whose_prints_are_held_sees_the_terminal_it_prints_to(server, tmp_path) -> None:
    """Held, a script's prints went to a StringIO, which is no terminal: a script choosing colour by
    ``sys.stdout.isatty()`` chose none on a terminal (and its encoding was None)."""
    script = tmp_path / "colour.py"
    shown = "sys.stdout.isatty(), sys.stdout.encoding"
    script.write_text(f"import sys\nprint('loaded', {shown})\ndef setup(thread):\n    print('setup', {shown})\n"
                      f"def init(args):\n    print('init', {shown})\n")  # fmt: skip
    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", "-t1", "-c1", "-d300ms", "-s", str(script), server.url("/")],
            stdout=follower, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
        os.close(follower)
        written = b""
        while chunk := _read_terminal(terminal):
            written += chunk
    assert done.returncode == 0, done.stderr
    printed = written.decode().replace("\r\n", "\n").splitlines()[:4]
    real = printed[0].removeprefix("loaded ")  # the parent's first load prints to the terminal itself
    assert real.startswith("True ") and printed[1:] == [f"{hook} {real}" for hook in ("loaded", "setup", "init")]


def test_hdr_histogram_in_json_decodes_to_the_same_samples(server, workers: loadgen.Workers) -> None:
    from hdrh.histogram import HdrHistogram

    result = loadgen.run(server.url("/"), threads=1, connections=2, duration=0.5, workers=workers)
    document = json.loads(loadgen.to_json(result))
    histogram = HdrHistogram.decode(document["latency_uncorrected"]["hdr"].encode())
    assert histogram.get_total_count() == result.latency_uncorrected.count == result.requests


def test_merge_equals_the_statistics_of_the_union(server, workers: loadgen.Workers) -> None:
    a, b = at_once(
        lambda: loadgen.run(server.url("/delay?ms=1"), threads=1, connections=2, duration=0.5, workers=workers),
        lambda: loadgen.run(server.url("/"), threads=2, connections=4, duration=0.5, workers=workers),
    )
    merged = a + b
    union = Distribution(add_counts(a.measured.latency, b.measured.latency))
    assert merged.latency_uncorrected == union
    for p in (50, 90, 99, 99.9, 100):
        assert merged.latency_uncorrected.percentile(p) == union.percentile(p)
    assert (merged.latency_uncorrected.mean, merged.latency_uncorrected.stdev) == (union.mean, union.stdev)
    assert merged.requests == a.requests + b.requests and merged.bytes == a.bytes + b.bytes
    assert merged.status_counts[200] == a.status_counts[200] + b.status_counts[200]
    assert merged.req_per_sec == Distribution(add_counts(a.measured.req_per_sec, b.measured.req_per_sec))
    assert (merged.threads, merged.connections) == (3, 6)
    assert loadgen.merge([a, b]) == merged
    assert loadgen.from_json(loadgen.to_json(a)) + loadgen.from_json(loadgen.to_json(b)) == merged


def test_request_count_stops_at_exactly_n(fresh_server) -> None:
    done = run_loadgen("-t2", "-c8", "-n", "1001", "--json", "-", fresh_server.url("/"))
    result = json.loads(done.stdout)
    assert result["requests"] == 1001
    assert fresh_server.counters.responses == 1001  # nothing beyond N was even asked for


def test_request_count_below_the_threads_sends_exactly_n(fresh_server, workers) -> None:
    """-n 1 with -t2: worker 1's share is none. A share of 0 read as "no -n" let it send without
    limit until -d (756,487 requests for -n 1 in a 5 s run); now it sends nothing and the run ends
    at the one response."""
    started = time.monotonic()
    result = loadgen.run(fresh_server.url("/"), threads=2, connections=2, requests=1, duration=3, workers=workers)
    assert (result.requests, fresh_server.counters.responses) == (1, 1)
    assert time.monotonic() - started < 2.5  # not -d: the quota ended it


def test_post_with_a_body_reaches_the_server(fresh_server) -> None:
    done = run_loadgen(
        "-t1",
        "-c1",
        "-n",
        "3",
        "-m",
        "POST",
        "-b",
        "name=loadgen&x=1",
        "-H",
        "Content-Type:text/plain",
        fresh_server.url("/echo"),
    )
    assert done.returncode == 0
    method, target, headers, body = fresh_server.counters.last_request
    assert (method, target, body) == ("POST", "/echo", b"name=loadgen&x=1")
    assert headers["content-length"] == "16" and headers["content-type"] == "text/plain"


def test_a_body_not_utf8_is_sent_as_given(fresh_server) -> None:
    """``-b $'\\xff'``: the command line's bytes, as wrk sends them (was a UnicodeEncodeError's traceback)."""
    done = run_loadgen("-t1", "-c1", "-n", "1", "-m", "POST", "-b", os.fsdecode(b"a\xff"), fresh_server.url("/echo"))
    assert done.returncode == 0, done.stderr
    assert fresh_server.counters.last_request[3] == b"a\xff"


def test_credentials_in_the_url_are_sent(fresh_server) -> None:
    """``http://user:password@host/``: HTTP Basic authentication, as curl and k6 send it (wrk drops it)."""
    url = fresh_server.url("/echo").replace("http://", "http://alice:s%3Acret@")
    done = run_loadgen("-t1", "-c1", "-n", "2", url)
    assert done.returncode == 0, done.stderr
    _, target, headers, _ = fresh_server.counters.last_request
    assert target == "/echo" and headers["authorization"] == "Basic YWxpY2U6czpjcmV0"  # alice:s:cret


def test_body_file(fresh_server, tmp_path) -> None:
    payload = tmp_path / "body.bin"
    payload.write_bytes(b"\x00\x01binary\xff" * 100)
    done = run_loadgen("-t1", "-c1", "-n", "2", "-m", "PUT", "--body-file", str(payload), fresh_server.url("/echo"))
    assert done.returncode == 0
    assert fresh_server.counters.last_request[0] == "PUT"
    assert fresh_server.counters.last_request[3] == payload.read_bytes()
    # - is standard input, as curl's --data-binary @- (it read a file named '-': No such file or directory)
    done = run_loadgen("-t1", "-c1", "-n", "2", "--body-file", "-", fresh_server.url("/echo"), input='{"ü": 1}\n')
    assert done.returncode == 0, done.stderr
    assert fresh_server.counters.last_request[3] == '{"ü": 1}\n'.encode()
    closed = run_loadgen("-n1", "--body-file", "-", fresh_server.url("/echo"), preexec_fn=lambda: os.close(0))
    assert (closed.returncode, closed.stderr) == (1, "loadgen: cannot read body file -: standard input is closed\n")


def test_example_script_done_output_follows_the_report(server) -> None:
    done = run_loadgen("-t2", "-c4", "-d500ms", "-s", str(EXAMPLES / "setup.py"), server.url("/"))
    assert done.returncode == 0
    report_end = done.stdout.index("Transfer/sec:")
    tail = done.stdout[report_end:].splitlines()[1:]
    assert len(tail) == 2
    for line, thread_id in zip(tail, (1, 2), strict=True):
        made, got = map(
            int, re.fullmatch(rf"thread {thread_id} made (\d+) requests and got (\d+) responses", line).groups()
        )
        # each of the worker's 2 connections may have one in flight when the run ends (dropped, as wrk does)
        assert got > 0 and 0 <= made - got <= 2


def test_the_request_called_to_check_a_script_is_sent(fresh_server) -> None:
    """Each worker calls request() once before the run, to check it; that request is the first
    sent, so a script's count of its calls is the count of requests (wrk loses thread 0's)."""
    done = run_loadgen("-t2", "-c4", "-n", "100", "-s", str(EXAMPLES / "setup.py"), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    counts = re.findall(r"^thread \d made (\d+) requests and got (\d+) responses$", done.stdout, re.M)
    assert [(int(made), int(got)) for made, got in counts] == [(50, 50), (50, 50)]
    assert fresh_server.counters.responses == 100


def test_pipelining_script(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(
        server.url("/"), threads=1, connections=2, duration=0.5, script=str(EXAMPLES / "pipeline.py"), workers=workers
    )
    assert result.requests > 30 and result.errors.socket == 0
    assert result.status_counts[204] * 2 == pytest.approx(result.status_counts[200], abs=4)
    # wrk records one latency sample per pipelined batch of three
    assert result.latency_uncorrected.count == pytest.approx(result.requests / 3, abs=2)


def test_the_api_gives_each_workers_globals_and_leaves_done_to_the_command(
    server, workers: loadgen.Workers, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: run() calls the hooks but done(); Result.script_globals is what thread.get() reads."""
    result = loadgen.run(
        server.url("/"), threads=2, connections=2, duration=0.5, script=str(EXAMPLES / "setup.py"), workers=workers
    )
    assert [each["id"] for each in result.script_globals] == [1, 2]
    assert sum(each["responses"] for each in result.script_globals) == result.requests
    assert "made" not in capsys.readouterr().out  # done()'s lines


def test_a_count_with_a_pipelining_script_is_whole_batches(fresh_server) -> None:
    """-n 100 over two workers with batches of three: each share of 50 rounded up to 51 (README)."""
    done = run_loadgen("-t2", "-c2", "-n", "100", "-s", str(EXAMPLES / "pipeline.py"), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    assert " 102 requests in " in done.stdout and fresh_server.counters.responses == 102


def test_a_count_with_a_pipelining_script_counts_every_batch_it_sent(fresh_server, tmp_path) -> None:
    """-n 4 on two connections, batches of three: both go out (the share rounded up to 6), and the run
    stops once both are answered. It stopped at the first batch whose end brought the count to 4 (nginx's
    log: 20,004 answered, the report 20,003), dropping the other's last response: here the slow one."""
    script = tmp_path / "uneven.py"
    script.write_text(
        "calls = 0\n\n\ndef request():\n    global calls\n    calls += 1\n"
        "    return wrk.format(None, '/') * 2 + wrk.format(None, f'/wait?ms={100 if calls % 2 else 600}')\n"
    )
    done = run_loadgen("-t1", "-c2", "-n", "4", "-d5s", "-s", str(script), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    assert " 6 requests in " in done.stdout and fresh_server.counters.responses == 6


def test_script_header_values_are_sent_as_text_and_none_leaves_one_out(fresh_server, tmp_path) -> None:
    """wrk's counter.lua sets a number; Lua's nil removes a header, as None does here."""
    script = tmp_path / "headers.py"
    script.write_text("wrk.headers['X-Number'] = 7\nwrk.headers['X-Gone'] = 'x'\nwrk.headers['X-Gone'] = None\n")
    done = run_loadgen("-t1", "-c1", "-n", "3", "-s", str(script), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    headers = fresh_server.counters.last_request[2]
    assert headers["x-number"] == "7" and "x-gone" not in headers  # was: `X-Gone: None`


def test_headers_given_to_wrk_format_replace_wrk_headers_as_wrks(fresh_server, tmp_path) -> None:
    """wrk.lua's format(): ``headers or wrk.headers``, of which only Host is kept; they were merged."""
    script = tmp_path / "format.py"
    script.write_text(
        "wrk.headers['X-Base'] = '1'\ndef request():\n    return wrk.format(None, '/echo', {'X-A': 'a'})\n"
    )
    done = run_loadgen("-t1", "-c1", "-n", "3", "-H", "X-Cli: 1", "-s", str(script), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    headers = fresh_server.counters.last_request[2]
    assert headers["x-a"] == "a" and "host" in headers
    assert "x-base" not in headers and "x-cli" not in headers  # was: both sent


def test_wrk_request_is_the_request_init_left_as_wrks(fresh_server, tmp_path) -> None:
    """wrk.lua fixes wrk.request() after init(): a header set in response() does not change it."""
    script = tmp_path / "late.py"
    script.write_text(
        "def request():\n    return wrk.request()\n"
        "def response(status, headers, body):\n    wrk.headers['X-Late'] = '1'\n"
    )
    done = run_loadgen("-t1", "-c1", "-n", "4", "-s", str(script), fresh_server.url("/"))
    assert done.returncode == 0, done.stderr
    assert "x-late" not in fresh_server.counters.last_request[2]  # was: sent from the second request on


def test_a_stop_in_init_stops_nothing_as_wrks(fresh_server, tmp_path) -> None:
    """wrk's thread loop clears a stop made in init(); here it stopped the run before its first request."""
    script = tmp_path / "stop.py"
    script.write_text("def init(args):\n    wrk.thread.stop()\ndef request():\n    return wrk.request()\n")
    done = run_loadgen("-t1", "-c1", "-n", "5", "-s", str(script), fresh_server.url("/"))
    assert done.returncode == 0 and "  5 requests in" in done.stdout, done.stderr  # was: 0 requests, exit 1
    assert "stop.py:2: RuntimeWarning: wrk.thread.stop() in init() stops nothing" in done.stderr


def test_post_example_and_report_example(fresh_server) -> None:
    done = run_loadgen("-t1", "-c1", "-n", "5", "-s", str(EXAMPLES / "post.py"), fresh_server.url("/echo"))
    method, _, headers, body = fresh_server.counters.last_request
    assert (method, headers["content-type"], body) == ("POST", "application/json", b'{"name": "loadgen", "value": 1}')
    done = run_loadgen("-t1", "-c1", "-d300ms", "-s", str(EXAMPLES / "report.py"), fresh_server.url("/"))
    assert re.search(r"^99\.999%,\d+$", done.stdout, re.M)


@PACED
def test_delay_script_paces_requests(paced: dict[str, Future[Any]]) -> None:
    """2 connections for 1 s, 10-50 ms apart: at most 2 x 101 requests, about 66 on an idle machine. The bound below
    is what no load can take away: more than each connection's first request (a delay read as seconds sends those
    alone). It was 20, which a worker given a sliver of a core missed (17, load average 15: each wake-up late)."""
    result = paced["test_delay_script_paces_requests"].result()
    assert 2 < result.requests < 130


def test_unix_socket(tmp_path) -> None:
    path = str(tmp_path / "server.sock")
    with TestServer(unix_path=path) as server:
        done = run_loadgen("-t1", "-c2", "-d300ms", "--unix-socket", path, "http://localhost/")
        assert done.returncode == 0
        requests = int(re.search(r"  (\d+) requests in", done.stdout).group(1))
        assert requests > 10 and server.counters.responses >= requests
        assert server.counters.last_request[2]["host"] == "localhost"


def test_status_codes_after_the_report(server) -> None:
    done = run_loadgen("-t1", "-c1", "-n", "10", "--status-codes", server.url("/status/418"))
    assert done.stdout.endswith("  Status codes:\n    418: 10\n")


PROGRESS = r" +\d+\.\ds +\d+ requests +\d+ req/s +0 errors"


def test_progress_goes_to_stderr_only_as_plain_lines_when_not_a_terminal(server) -> None:
    plain, shown, warmed = run_loadgen_together(
        ("-t1", "-c2", "-d1200ms", server.url("/")),
        ("-t1", "-c2", "-d1200ms", "--progress", server.url("/")),
        ("-t1", "-c2", "-d600ms", "--warmup", "600ms", "--progress", server.url("/")),
    )
    assert re.search(f"^{PROGRESS}$", shown.stderr, re.MULTILINE), shown.stderr  # a log file gets whole lines
    # the warm-up said as one, its requests in no count: the rate as the window opened was "-42230 req/s"
    warming = r" +\d+\.\ds  warming up for 0\.6s \(not measured\)"
    assert all(re.fullmatch(f"{PROGRESS}|{warming}", line) for line in warmed.stderr.splitlines()), warmed.stderr
    assert "\x1b" not in shown.stderr and "\r" not in shown.stderr
    assert "\x1b" not in shown.stdout
    assert shown.stdout.count("\n") == plain.stdout.count("\n")
    # the last line is the end's (was: the last tick's, 1.0 s and a count short)
    last = re.fullmatch(r" +(\d+\.\d)s +(\d+) requests .*", shown.stderr.splitlines()[-1])
    assert last and float(last[1]) >= 1.2 and last[2] == re.search(r"(\d+) requests in", shown.stdout)[1]  # type: ignore[index]
    # a line each half second (PROGRESS_INTERVAL_S) and the end's: not one per 50 ms poll of the workers
    assert 2 <= len(shown.stderr.splitlines()) <= int(float(last[1]) / 0.5) + 1, shown.stderr


def test_each_progress_line_reaches_a_pipe_as_it_is_written() -> None:
    """Each update is flushed: on a stream that holds what it is given (a pipe's open(), fully buffered), the reader
    got nothing until the run's end. The command's sys.stderr is line-buffered, flushed at '\\n' and '\\r' alike: a
    run on a pipe or a terminal read its lines at once with the flush gone too (1.2 s runs, h216)."""
    from loadgen._run.engine import Progress
    from loadgen.report.progress import ProgressLine

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    with open(read_end, "rb", buffering=0) as reader, open(write_end, "w") as stream:
        ProgressLine(stream).update(Progress(0.5, 100, 0))
        assert re.fullmatch(f"{PROGRESS}\n", (reader.read() or b"").decode()), "nothing reached the pipe"


def _progress_on_a_terminal(server, columns: int | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """A 1.2 s run with stderr on a terminal of its own (``columns`` wide, or of no size): the
    run, and all it wrote on the terminal."""
    leader, follower = pty.openpty()
    if columns is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", "-t1", "-c2", "-d1200ms", server.url("/")],
            stdout=subprocess.PIPE, stderr=follower, timeout=60,
        )  # fmt: skip
        os.close(follower)
        written = b""
        while chunk := _read_terminal(terminal):
            written += chunk
    assert done.returncode == 0
    return done, written.decode()


@pytest.fixture(scope="module")
def terminals(server) -> dict[int | None, tuple[subprocess.CompletedProcess, str]]:
    """The two runs on a terminal of the tests below, at once (each its own terminal): by width."""
    widths = (None, 40)
    return dict(
        zip(widths, at_once(*[partial(_progress_on_a_terminal, server, width) for width in widths]), strict=True)
    )


def test_progress_rewrites_one_line_on_a_terminal(terminals) -> None:
    done, text = terminals[None]
    assert re.search(f"\r\x1b\\[K{PROGRESS}", text), text  # on by default on a terminal, rewritten in place
    assert text.endswith("\r\x1b[K")  # cleared before the report
    assert "\x1b" not in done.stdout.decode()


def test_progress_fits_a_narrow_terminal(terminals) -> None:
    """40 columns: a line that wrapped left a row behind at each update, its rate cut short."""
    _, text = terminals[40]
    lines = text.split("\r\x1b[K")[1:-1]
    assert lines, text
    for line in lines:  # whole fields only, unpadded, within 39 columns: the cursor never wraps
        assert len(line) < 40 and re.fullmatch(r"\d+\.\ds \d+ requests( \d+ req/s( 0 errors)?)?", line), line


def _read_terminal(terminal) -> bytes:
    try:
        return terminal.read(4096)
    except OSError:  # EIO: the terminal's last writer is gone
        return b""


def test_run_async_leaves_the_loop_free(server, workers: loadgen.Workers) -> None:
    async def main() -> tuple[loadgen.Result, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        result = await loadgen.run_async(server.url("/"), threads=1, connections=2, duration=0.5, workers=workers)
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.requests > 0 and ticks >= 20


def test_run_async_cancelled_before_its_run_started_leaves_nothing_logged(server, workers: loadgen.Workers) -> None:
    """Cancelled at once, the run ends Interrupted in its thread: the cancelled call takes that,
    where asyncio logged it with a traceback as a future's exception never retrieved."""
    logged: list[dict[str, object]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: logged.append(context))
        task = asyncio.create_task(loadgen.run_async(server.url("/"), threads=1, connections=1, workers=workers))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    gc.collect()
    assert [context["message"] for context in logged] == []


def test_cancelling_run_async_leaves_the_callers_stop_unset(server, workers: loadgen.Workers) -> None:
    """A program's one stop event (its Ctrl-C switch) given to two runs: cancelling one set it, which
    ended the other at once (interrupted, 0.12 s of its 3 s) and made the next run raise Interrupted."""
    stop = threading.Event()

    async def main() -> loadgen.Result:
        def run(duration: float) -> Any:
            return loadgen.run_async(
                server.url("/"), threads=1, connections=1, duration=duration, stop=stop, workers=workers
            )

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run(5), timeout=0.3)
        return await run(0.3)

    result = asyncio.run(main())
    assert not stop.is_set() and not result.interrupted and result.requests > 0


def test_cancelling_run_async_waits_for_one_setup_not_all(server, tmp_path: Path, workers: loadgen.Workers) -> None:
    """Cancelled during the first of 4 setup() calls of 0.5 s, the run waited for all of them (1.5 s
    more); it ends after the one running now."""
    script = tmp_path / "slow_setup.py"
    script.write_text("import time\ndef setup(thread):\n    time.sleep(0.5)\n")

    async def main() -> float:
        task = asyncio.create_task(
            loadgen.run_async(server.url("/"), threads=4, connections=4, script=str(script), workers=workers)
        )
        await asyncio.sleep(0.3)
        task.cancel()
        cancelled = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - cancelled

    assert asyncio.run(main()) < 1.2


RATES = [(3, 100), (2, 101), (2, 7), (4, 1000)]  # (threads, -R) of test_constant_rate_asks_for_exactly_rate_x_duration


@pytest.fixture(scope="module")
def paced(request: pytest.FixtureRequest, server, workers: loadgen.Workers) -> dict[str, Future[Any]]:
    """The module's runs paced by their schedule or a script's delay (7 to 400 requests/sec, and -R1000 for a
    second), whose test the session runs, at once: they wait on their clock nearly all the time, so each takes its
    own time, and all of them the longest's (2 s), not their sum (10 s). By test (see selected_at_once); the
    exact count's four runs by (threads, rate)."""

    def paced_at(threads: int, rate: int) -> loadgen.Result:
        """Connections enough for a response of 100 ms (rate x latency, as -R asks): a loaded machine's test server
        answers in tens of milliseconds."""
        connections = max(8, rate // 10)
        return loadgen.run(
            server.url("/"), threads=threads, connections=connections, duration=1, rate=rate, workers=workers
        )

    delay = str(EXAMPLES / "delay.py")
    return selected_at_once(
        request,
        {
            "test_delay_script_paces_requests": lambda: loadgen.run(
                server.url("/"), threads=1, connections=2, duration=1, script=delay, workers=workers
            ),
            "test_constant_rate_sends_at_the_rate": lambda: loadgen.run(
                server.url("/"), threads=2, connections=8, duration=2, rate=400, workers=workers
            ),
            "test_constant_rate_asks_for_exactly_rate_x_duration": lambda: dict(
                zip(RATES, at_once(*[partial(paced_at, *case) for case in RATES]), strict=True)
            ),
            "test_constant_rate_latency_counts_the_wait_for_a_free_connection": lambda: loadgen.run(
                server.url("/delay?ms=50"), threads=1, connections=1, duration=2, rate=40, workers=workers
            ),
            "test_constant_rate_report_has_the_wrk2_spectrum": lambda: run_loadgen(
                "-t1", "-c4", "-d1s", "-R", "200", "--latency", server.url("/")
            ),
        },
    )


@PACED
def test_constant_rate_sends_at_the_rate(paced: dict[str, Future[Any]]) -> None:
    result = paced["test_constant_rate_sends_at_the_rate"].result()
    assert result.requests == pytest.approx(800, rel=0.05)
    assert result.latency.count == result.latency_uncorrected.count == result.requests


@PACED
@pytest.mark.parametrize(("threads", "rate"), RATES)
def test_constant_rate_asks_for_exactly_rate_x_duration(paced: dict[str, Future[Any]], threads: int, rate: int) -> None:
    """Whatever -t: the workers' due times interleave (each is index/threads of an interval late),
    so none is due at or after the end and they add up to the rate (was: -t3 -R100 -d1s made 102,
    each worker's 34). Counted as sent: the responses, and the requests the window's end cut off (no rate
    counts these, as wrk2's does not; up to -c of them). With connections enough for rate x latency, as -R
    asks (see paced): -R1000 on 8, beside three busy loops, waited for a free connection (latency from the
    intended send time: median 25 ms, 200 ms at most) and sent 851 of 1,000 in 1 of 10 runs."""
    result = paced["test_constant_rate_asks_for_exactly_rate_x_duration"].result()[threads, rate]
    sent = result.requests + result.measured.in_flight_at_end  # on schedule: answered, or cut off by the window's end
    assert 0.9 * rate <= sent <= rate, (result.requests, result.measured.in_flight_at_end, result.latency.max)


@PACED
def test_constant_rate_latency_counts_the_wait_for_a_free_connection(paced: dict[str, Future[Any]]) -> None:
    # One connection, 50 ms per response, asked for 40 req/s: only 20/s can be served, so
    # requests queue and latency from the intended send time grows while the write-to-response
    # latency stays at the server's 50 ms. Medians: with some 40 responses, p99 is the slowest
    # one, which a busy machine can delay by itself.
    result = paced["test_constant_rate_latency_counts_the_wait_for_a_free_connection"].result()
    assert 50_000 <= result.latency_uncorrected.percentile(50) < 80_000
    assert result.latency.percentile(50) > 250_000
    assert result.latency.percentile(99) > 500_000


@PACED
def test_constant_rate_report_has_the_wrk2_spectrum(paced: dict[str, Future[Any]]) -> None:
    done = paced["test_constant_rate_report_has_the_wrk2_spectrum"].result()
    out = done.stdout
    assert "  Latency Distribution (HdrHistogram - Recorded Latency)\n" in out
    assert " 99.999%" in out and "  Detailed Percentile spectrum:\n" in out
    assert "Uncorrected Latency (measured without taking delayed starts into account)" in out
    assert out.count("-" * 58 + "\n") == 2
    assert re.search(r"^#\[Buckets = +27, SubBuckets     = +2048\]$", out, re.M)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "/no/such/script.py"], "/no/such/script.py: No such file or directory"),
        (["--body-file", "/no/such/body"], "loadgen: cannot read body file /no/such/body: No such file or directory"),
        (
            ["--json", "/no/such/dir/out.json"],
            "loadgen: cannot write JSON to /no/such/dir/out.json: No such file or directory",
        ),
        # a name too long to look up: a traceback (ENAMETOOLONG from the check whether it existed)
        # and quoted in part (80 characters): it was quoted whole, as long as it was
        (["--json", "n" * 300], f"loadgen: cannot write JSON to {'n' * 300}: File name too long"),
        # a newline in a name split the line: quoted, as an invalid URL's is
        (["-s", "/no/such\nscript.py"], "'/no/such\\nscript.py': No such file or directory"),
        (["--body-file", "/no/a\nb"], "loadgen: cannot read body file '/no/a\\nb': No such file or directory"),
        (["--targets", "/no/a\tb"], "loadgen: cannot read targets file '/no/a\\tb': No such file or directory"),
        (["--json", "/no/a\nb"], "loadgen: cannot write JSON to '/no/a\\nb': No such file or directory"),
        (["--html", "/no/a\nb"], "loadgen: cannot write HTML to '/no/a\\nb': No such file or directory"),
    ],
)
def test_bad_feature_input(server, args: list[str], message: str) -> None:
    done = run_loadgen("-d1s", *args, server.url("/"))
    assert (done.returncode, done.stderr_lines, done.stdout) == (1, [message], "")


def test_rate_must_be_positive(server) -> None:
    done = run_loadgen("-d1s", "-R", "0", server.url("/"))
    assert done.returncode == 1 and done.stderr_lines == ["loadgen: rate must be > 0 requests/sec"]


def test_script_errors_name_file_and_line(server, tmp_path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\ndef request(:\n")
    done = run_loadgen("-d1s", "-s", str(broken), server.url("/"))
    assert (done.returncode, done.stderr_lines) == (1, [f"{broken}:2: SyntaxError: invalid syntax"])

    raising = tmp_path / "raising.py"
    raising.write_text("def response(status, headers, body):\n    raise ValueError('bad ' + str(status))\n")
    done = run_loadgen("-t1", "-c1", "-d2s", "-s", str(raising), server.url("/"))
    assert (done.returncode, done.stderr_lines) == (1, [f"{raising}:2: ValueError: bad 200"])


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "def request():\n    return 'GARBAGE\\r\\n\\r\\n'\n",
            ":1: request() returned an invalid request: invalid request line at 1:9",  # where it is defined
        ),
        ("wrk.method = 'G@T'\n", ": its wrk fields make an invalid request: invalid HTTP method at 1:1"),
    ],
)
def test_an_invalid_request_names_the_script(server, tmp_path, script: str, message: str) -> None:
    """wrk's words for the bytes (it gives them alone), after the file and what made them."""
    path = tmp_path / "makes.py"
    path.write_text(script)
    done = run_loadgen("-t1", "-c1", "-d1s", "-s", str(path), server.url("/"))
    assert (done.returncode, done.stderr_lines, done.stdout) == (1, [f"{path}{message}"], "")


def test_unwritable_json_path(server) -> None:
    # /sys refuses new files even to root, so this holds for every user
    done = run_loadgen("-d1s", "--json", "/sys/loadgen-result.json", server.url("/"))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr_lines == ["loadgen: cannot write JSON to /sys/loadgen-result.json: Permission denied"]


def test_json_to_a_directory_is_refused(server, tmp_path) -> None:
    done = run_loadgen("-d1s", "--json", str(tmp_path), server.url("/"))
    assert (done.returncode, done.stderr_lines) == (1, [f"loadgen: cannot write JSON to {tmp_path}: Is a directory"])


def test_run_raises_loadgen_errors(server) -> None:
    with pytest.raises(loadgen.UsageError, match="invalid URL"):
        loadgen.run("nope://", duration=1)
    with pytest.raises(loadgen.SetupError, match="Connection refused"):
        loadgen.run("http://127.0.0.1:1/", duration=1)
    started = time.monotonic()
    result = loadgen.run(server.url("/"), threads=1, connections=1, requests=5, duration=None)
    assert result.requests == 5 and time.monotonic() - started < 10


STOP_TAKES = "stop must be an event (threading.Event: its is_set()) or None"
EXPORTERS_TAKE = "exporters must be a list of loadgen.Exporter (start, second, end) or functions"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"duration": "soon"}, "duration='soon': invalid -d: not a number: 'soon'"),
        ({"duration": True}, "duration must be float | None or the text -d takes, not True"),
        ({"headers": "X: y"}, "headers must be tuple[tuple[str, str], ...] or a dict, not 'X: y'"),
        ({"method": 10}, "method must be str, not 10"),
        ({"body": 123}, "body must be bytes | None or str, not 123"),
        ({"script_args": "a b"}, "script_args must be tuple[str, ...] or a list of str, not 'a b'"),
        ({"url": 123}, "url must be str, not 123"),
        ({"duration": float("inf")}, "duration must be > 0 and finite"),  # no limit is duration=None
        ({"workers": "yes"}, "workers must be a loadgen.Workers or None, not 'yes'"),
        ({"stop": "x"}, f"{STOP_TAKES}, not 'x'"),
        ({"on_second": 5}, "on_second must be a function or None, not 5"),
        ({"stop": threading.Event}, f"{STOP_TAKES}, not <class 'threading.Event'>"),
        ({"exporters": None}, f"{EXPORTERS_TAKE}, not None"),
        ({"exporters": [1]}, f"{EXPORTERS_TAKE}, not [1]"),
        ({"dask": 1}, "dask must be a scheduler's address (tcp://HOST:PORT), local:N or a distributed.Client, not 1"),
        # as -H's text is checked: the line break was sent (a header of its own), the name refused in other words
        ({"headers": {"X": "1\r\nY: 2"}}, "invalid header X: '1\\r\\nY: 2': line breaks are not allowed in a value"),
        ({"headers": [("X\n", "1")]}, "invalid header name 'X\\n': a name is letters, digits and !#$%&'*+-.^_`|~"),
        # as the command refuses a URL with --targets: the URL's path was never sent
        ({"targets": ["http://127.0.0.1:1/a"]}, "give either url or targets, not both (http://127.0.0.1:1/)"),
    ],
    ids=[
        "duration-text",
        "duration-bool",
        "headers",
        "method",
        "body",
        "script_args",
        "url",
        "duration-inf",
        "workers",
        "stop",
        "on_second",
        "stop-class",
        "exporters-none",
        "exporters-item",
        "dask",
        "header-line-break",
        "header-name",
        "url-and-targets",
    ],
)
def test_run_names_an_argument_of_the_wrong_type(given: dict[str, object], message: str) -> None:
    """Refused at the call, naming the argument and what it takes, not deep inside the run."""
    with pytest.raises(loadgen.UsageError) as raised:
        loadgen.run(**{"url": "http://127.0.0.1:1/", **given})  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_run_takes_numbers_as_the_command_line_writes_them(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(server.url("/"), threads="1", connections="2", duration="1s", workers=workers)  # type: ignore[arg-type]
    assert (result.threads, result.connections, result.duration) == (1, 2, 1.0)


def test_run_stores_a_number_as_its_fields_type(server, workers: loadgen.Workers) -> None:
    """numpy's int64 and a Fraction are numbers run() takes: kept as given, to_json could not write the
    result ('numpy.int64' object has no attribute 'bit_length'; a duration found as the string "1/2")."""
    numpy = pytest.importorskip("numpy")
    given = {"connections": numpy.int64(2), "duration": Fraction(1, 2)}
    result = loadgen.run(server.url("/"), threads=1, workers=workers, **given)
    assert (type(result.connections), type(result.duration)) == (int, float)
    assert loadgen.from_json(loadgen.to_json(result)) == result
    with pytest.raises(loadgen.UsageError, match=r"^duration is too large: 1000"):  # was an OverflowError in the checks
        loadgen.run(server.url("/"), duration=10**400)


@pytest.mark.parametrize("function", [loadgen.run, loadgen.run_async])
def test_run_names_itself_for_an_unknown_keyword(function) -> None:
    name = function.__name__
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'bogus'$"):
        function("http://127.0.0.1:1/", bogus=1)
    with pytest.raises(TypeError, match=rf"^{name}\(\) too many positional arguments$"):
        function("http://127.0.0.1:1/", 2)
