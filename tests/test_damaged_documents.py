"""Damaged result documents: ``loadgen report``, ``merge`` and ``compare`` (and ``from_json``)
refuse each in one line that names the file and the field, exit 1, within a second; never a
traceback, never minutes of work, never a figure printed from a value no run can measure.

The documents are real: one written by this loadgen (a fresh run) and two written by the
loadgen of schema version 2 (``tests/documents/``), which this one still reads. Before the
checks, each damage below was a traceback, minutes of work (a latency of 10^30) or a report
of impossible figures (negative counts, a zero runtime)."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import loadgen
from loadgen.commands.inputs import read_result
from loadgen.errors import SetupError
from loadgen.report.resultcheck import MAX_BYTES
from loadgen.schemacheck import JsonError, parse_json
from loadgen.testing.server import TestServer

from .conftest import Completed, run_loadgen

DOCUMENTS = Path(__file__).resolve().parent / "documents"
# The bound, on CPU time: a busy machine stretches wall time, not CPU. In this process, the
# reading thread's own CPU time (time.thread_time): the process's would count its servers' threads too.
CPU_LIMIT_S = 1.0


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, workers: loadgen.Workers) -> Path:
    """A document this loadgen writes: a real 3-second run."""
    path = tmp_path_factory.mktemp("fresh") / "fresh.json"
    with TestServer() as server:
        path.write_text(
            loadgen.to_json(loadgen.run(server.url("/"), threads=1, connections=2, duration=3.0, workers=workers))
        )
    return path


def timed_loadgen(*args: str) -> tuple[Completed, float]:
    """The command, and the CPU time (user + system) its process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run_loadgen(*args, timeout=30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _set(document: dict[str, Any], path: list[Any], value: Any) -> None:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _histogram(document: dict[str, Any]) -> Any:
    return document["latency_uncorrected"]["histogram"]


def first_latency(document: dict[str, Any], value: Any) -> None:
    """Set the first measured latency, in either version's histogram encoding."""
    histogram = _histogram(document)
    if isinstance(histogram, dict):
        histogram["deltas"][0] = value
    else:
        histogram[0][0] = value


def slowest_latency(document: dict[str, Any], value: int) -> None:
    """Make the slowest measured latency ``value`` µs."""
    histogram = _histogram(document)
    if isinstance(histogram, dict):
        histogram["deltas"][-1] += value - sum(histogram["deltas"])
    else:
        histogram[-1][0] = value


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def correction_of_minutes(document: dict[str, Any]) -> None:
    """A closed-loop run on one connection, whose slowest latency wrk's correction would copy
    at every expected interval below it: billions of values."""
    run = document["runs"][0]
    run.update(rate=None, threads=1, connections=1, timeout=86_400)
    slowest_latency(document, 80_000_000_000)


TARGET = {"method": "GET", "url": "http://127.0.0.1:40801/b", "headers": [], "body": None, "weight": 1, "line": 0}
Damage = Callable[[dict[str, Any]], Any]
# name -> (the damage done to the parsed document, words the line must contain)
DAMAGES: dict[str, tuple[Damage, str]] = {
    "no runs": (lambda d: _set(d, ["runs"], []), "runs: empty"),
    "a URL a byte short": (  # read, then a targets run's report title failed on it (a traceback)
        lambda d: _set(d["runs"][0], ["url"], "http://[27.0.0.1:40801/a"),
        "runs[0].url: not a URL loadgen runs (Invalid IPv6 URL)",
    ),
    "a target's URL a byte short": (  # read, then compare labelled the run's targets by it (a traceback)
        lambda d: _set(d["runs"][0], ["targets"], [{**TARGET, "url": "http://[27.0.0.1:40801/b"}]),
        "runs[0].targets[0].url: not a URL loadgen runs (Invalid IPv6 URL)",
    ),
    "a missing field": (lambda d: d.pop("latency_uncorrected"), "latency_uncorrected: missing"),
    "an unknown field": (lambda d: _set(d, ["surprise"], 1), "surprise: not a field"),
    "an unknown field with a newline": (  # the name was the line's end, "line: not a field..." a second line
        lambda d: _set(d, ["surprise\nline"], 1),
        '["surprise\\nline"]: not a field',
    ),
    "a status code ending in a newline": (  # read as status 200, its count replacing 200's
        lambda d: _set(d["status_counts"], ["200\n"], 1),
        'status_counts["200\\n"]: not a field',
    ),
    "a run id ending in a newline": (
        lambda d: _set(d, ["run_ids"], ["0" * 32 + "\n"]),
        'run_ids[0]: a string ("00000000000000000000000000000000\\n") does not match ^[0-9a-f]{32}$',
    ),
    "requests null": (lambda d: _set(d, ["requests"], None), "requests: expected an integer, found null"),
    "requests a string": (
        lambda d: _set(d, ["requests"], "12"),
        'requests: expected an integer, found a string ("12")',
    ),
    "a float latency": (lambda d: first_latency(d, 150.5), "latency_uncorrected.histogram"),
    "a string latency": (lambda d: first_latency(d, "150"), "latency_uncorrected.histogram"),
    "a latency of 10^30": (lambda d: first_latency(d, 10**30), "latency_uncorrected.histogram"),
    "a latency above the timeout": (lambda d: slowest_latency(d, 3_000_000), "longer than the run's --timeout (2s)"),
    "a correction of minutes": (correction_of_minutes, "wrk's correction for coordinated omission would add"),
    "timeline errors null": (lambda d: _set(d, ["timeline", 0, "errors"], None), "timeline[0].errors: expected an"),
    "a second's reasons not its errors": (  # compare would count idle closes the second did not have
        lambda d: _set(
            d,
            ["timeline", 0, "error_reasons"],
            [{"kind": "read", "stage": "exchange", "cause": "closed while idle", "detail": "", "count": 5}],
        ),
        "timeline[0].error_reasons: 5 read errors by reason, but the second had 0",
    ),
    "a second's errors without their reasons": (
        lambda d: _set(d, ["timeline", 0], {**d["timeline"][0], "errors": {"write": 3}, "error_reasons": []}),
        "timeline[0].error_reasons: 0 write errors by reason, but the second had 3",
    ),
    "negative requests": (lambda d: _set(d, ["requests"], -5), "requests: an integer (-5) is below the minimum, 0"),
    "negative timeouts": (lambda d: _set(d, ["errors", "timeout"], -3), "errors.timeout: an integer (-3) is below"),
    "a count in a string": (lambda d: _set(d, ["status_counts", "200"], "9"), "status_counts.200: expected an"),
    "zero runtime": (lambda d: _set(d, ["runtime_us"], 0), "runtime_us: an integer (0) is below the minimum, 1"),
    "negative runtime": (lambda d: _set(d, ["runtime_us"], -1_000_000), "runtime_us"),
    "absurd runtime": (lambda d: _set(d, ["runtime_us"], 10**15), "runtime_us: an integer (1e+15) is above"),
    "runtime far beyond -d": (lambda d: _set(d, ["runtime_us"], 3_600_000_000), "far longer than the run's duration"),
    "a timeline longer than the run": (lambda d: _set(d, ["runtime_us"], 1_000_000), "seconds in a window of 1s"),
    "responses faster than any client": (lambda d: _set(d, ["requests"], 10**14), "no client measures"),
    "negative duration": (lambda d: _set(d, ["runs", 0, "duration"], -10), "runs[0].duration: an integer (-10) is not"),
    "a negative second": (lambda d: _set(d, ["timeline", 0, "duration_s"], -1), "timeline[0].duration_s"),
    "deeply nested globals": (
        lambda d: _set(d, ["script", "globals"], [{"x": nested(100)}]),
        "script.globals[0]: nested more than 32 deep",
    ),
    "a header of one item": (lambda d: _set(d["runs"][0], ["headers"], [["X-A"]]), "runs[0].headers[0]: fewer than 2"),
    "a header of three items": (
        lambda d: _set(d["runs"][0], ["headers"], [["X-A", "1", "2"]]),
        "runs[0].headers[0]: more than 2 items",
    ),
    "an empty method": (lambda d: _set(d["runs"][0], ["method"], ""), "runs[0].method: empty"),
    "a loop's name too long": (lambda d: _set(d, ["loop"], "x" * 101), "loop: longer than 100 characters"),
    "101 kinds of failure": (
        lambda d: _set(d, ["failures"], {f"kind {n}": 1 for n in range(101)}),
        "failures: more than 100 fields",
    ),
    "a protocol of none": (
        lambda d: _set(d["connections"], ["protocol"], "h3"),
        'connections.protocol: expected one of "http/1.1", "h2", found a string ("h3")',
    ),
    "latency in ms": (
        lambda d: _set(d["latency"], ["unit"], "ms"),
        'latency.unit: expected "us", found a string ("ms")',
    ),
    "a count with a fraction of 0": (
        lambda d: _set(d, ["bytes"], 1000.0),
        "bytes: expected an integer (written without a fraction), found a number (1000.0)",
    ),
    "a count true": (lambda d: _set(d, ["bytes"], True), "bytes: expected an integer, found true"),
    "a count a long string": (
        lambda d: _set(d, ["bytes"], "9" * 41),
        f'bytes: expected an integer, found a string ("{"9" * 40}...")',
    ),
    "a count an array": (lambda d: _set(d, ["bytes"], [1, 2]), "bytes: expected an integer, found an array ([1, 2])"),
    "a count an object": (
        lambda d: _set(d, ["bytes"], {"n": 1}),
        'bytes: expected an integer, found an object ({"n": 1})',
    ),
    "version a string": (lambda d: _set(d, ["version"], "2"), 'version: expected an integer, found a string ("2")'),
    "NaN": (lambda d: _set(d, ["requests_per_sec"], float("nan")), "NaN is not a JSON number"),
}


def damaged(original: Path, target: Path, damage: Damage) -> Path:
    document = json.loads(original.read_text())
    damage(document)
    target.write_text(json.dumps(document))
    return target


def assert_refused(done: Completed, cpu_s: float, path: Path, words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])
    assert len(done.stderr_lines) == 1, done.stderr[-2000:]
    line = done.stderr_lines[0]
    assert f"cannot read {path}: " in line and words in line, line
    assert len(line) - len(str(path)) < 240, line  # a line, whatever the length of the temporary folder's name
    assert cpu_s < CPU_LIMIT_S, f"{cpu_s:.2f}s of CPU: {line}"


@pytest.mark.parametrize("original", ["fresh", "v2-closed", "v2-paced"])
@pytest.mark.parametrize("name", DAMAGES)
def test_every_damage_is_one_line_naming_the_field(name: str, original: str, fresh: Path, tmp_path: Path) -> None:
    """Through the reader the commands use (the commands themselves below): the line names the
    file and the field, and comes within the CPU time allowed."""
    damage, words = DAMAGES[name]
    source = fresh if original == "fresh" else DOCUMENTS / f"{original}.json"
    path = damaged(source, tmp_path / "damaged.json", damage)
    started = time.thread_time()
    with pytest.raises(SetupError) as refused:
        read_result(str(path))
    assert time.thread_time() - started < CPU_LIMIT_S
    line = str(refused.value)
    assert line.startswith(f"cannot read {path}: ") and "\n" not in line
    version_2_words = {  # a version 2 histogram is [value, count] pairs, and the line names the pair
        "a float latency": "latency_uncorrected.histogram[0]: expected a [value, count] pair of integers",
        "a string latency": "latency_uncorrected.histogram[0]: expected a [value, count] pair of integers",
        "a latency of 10^30": "latency_uncorrected.histogram[0]: value 1,000,000,000,000,000,000,000,000,000,000",
    }
    assert (words if original == "fresh" else version_2_words.get(name, words)) in line, line


@pytest.mark.parametrize(
    "name", ["a latency of 10^30", "requests a string", "no runs", "a correction of minutes", "deeply nested globals"]
)
def test_report_merge_and_compare_refuse_it_in_one_line(name: str, fresh: Path, tmp_path: Path) -> None:
    damage, words = DAMAGES[name]
    path = damaged(fresh, tmp_path / "damaged.json", damage)
    for command in (["report", str(path)], ["merge", str(fresh), str(path)], ["compare", str(path), str(fresh)]):
        done, cpu_s = timed_loadgen(*command)
        assert_refused(done, cpu_s, path, words)
        assert done.stdout == ""


BYTES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not UTF-8": (lambda text: text.replace(b'"GET"', b'"G\xffT"', 1), "not UTF-8 text (byte 0xff at offset"),
    "cut in half": (lambda text: text[: len(text) // 2], "not JSON: "),
    "nested as deep as the parser allows": (lambda _: b"[" * 200_000 + b"]" * 200_000, "nested too deep"),
    "empty": (lambda _: b"", "not JSON: "),
    "not a result": (lambda _: b'{"schema": "something else"}', "not a loadgen-result document"),
    "a capacity search's": (
        lambda _: b'{"schema": "loadgen-capacity"}',
        "not a loadgen-result document but a loadgen-capacity",
    ),
    "a later version": (lambda text: text.replace(b'"version":3', b'"version":4', 1), "version 4, but this"),
}


@pytest.mark.parametrize("case", BYTES)
def test_damaged_bytes_are_one_line(case: str, fresh: Path, tmp_path: Path) -> None:
    damage, words = BYTES[case]
    path = tmp_path / "damaged.json"
    path.write_bytes(damage(fresh.read_bytes()))
    commands = [["report", str(path)], ["merge", str(path), str(fresh)], ["compare", str(fresh), str(path)]]
    for command in commands if case == "not UTF-8" else commands[:1]:
        done, cpu_s = timed_loadgen(*command)
        assert_refused(done, cpu_s, path, words)


def test_from_json_raises_a_document_error_naming_the_field(fresh: Path) -> None:
    document = json.loads(fresh.read_text())
    document["requests"] = -5
    with pytest.raises(loadgen.DocumentError, match=r"^requests: an integer \(-5\) is below the minimum, 0$"):
        loadgen.from_json(json.dumps(document))
    document = {**json.loads(fresh.read_text()), "requests_per_sec": 1.5}
    beyond = json.dumps(document).replace('"requests_per_sec": 1.5', '"requests_per_sec": 1e400')  # read as inf
    found = "found a number that is not finite (inf)"  # it said "expected a number, found a number (inf)"
    with pytest.raises(loadgen.DocumentError, match=rf"^requests_per_sec: expected a number, {re.escape(found)}$"):
        loadgen.from_json(beyond)


def test_the_undamaged_documents_read_and_report(fresh: Path) -> None:
    """The control: every document the damages start from is read, and reported."""
    for path in (fresh, DOCUMENTS / "v2-closed.json", DOCUMENTS / "v2-paced.json"):
        result = read_result(str(path))
        assert result.requests > 0
        done = run_loadgen("report", str(path))
        assert (done.returncode, done.stderr) == (0, "") and done.stdout == loadgen.wrk_report(result)
    # version 2 wrote none of the connections' counts that came within 3: read as none counted, not one GOAWAY
    m = result.measured  # the last read: v2-paced
    later = (m.timed_out_us, m.opening_at_end, m.in_flight_at_end, m.begun_at_end, m.window_blocked_at_end)
    later += (m.stalled_at_end, m.goaways, m.replaced_while_draining, m.pings, m.zero_streams_at_end)
    assert (later, m.protocol, m.stream_limits) == ((0,) * 10, "", {})


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(MAX_BYTES + 1)  # sparse: nothing written, nothing to read
    done, cpu_s = timed_loadgen("report", str(huge))
    assert_refused(done, cpu_s, huge, f"larger than {MAX_BYTES:,} bytes")


def test_bytes_past_the_limit_are_refused_by_the_parser() -> None:
    """A pipe is read until it is past the limit (its size is not known before), and ``from_json``
    is given its text whole: either is refused, past the limit, when it is parsed."""
    with pytest.raises(JsonError, match=r"^larger than 2 bytes$"):
        parse_json(b"[1]", 2)
    assert parse_json(b"[1]", 3) == [1]


def test_a_device_or_a_pipe_is_read_only_as_far_as_needed(fresh: Path) -> None:
    done, cpu_s = timed_loadgen("report", "/dev/zero")  # endless: refused after its first bytes
    assert_refused(done, cpu_s, Path("/dev/zero"), "not JSON")
    with subprocess.Popen(["cat", str(fresh)], stdout=subprocess.PIPE) as cat:  # a pipe is read whole
        piped = run_loadgen("report", f"/dev/fd/{cat.stdout.fileno()}", pass_fds=(cat.stdout.fileno(),))
    assert piped.returncode == 0 and piped.stdout == loadgen.wrk_report(loadgen.from_json(fresh.read_text()))


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        ("report", signal.SIGINT),
        ("compare", signal.SIGINT),
        ("merge", signal.SIGINT),
        ("report", signal.SIGTERM),
        ("merge", signal.SIGHUP),
    ],
)
def test_a_stop_signal_while_a_file_is_read_says_so(command: str, signum: signal.Signals, tmp_path: Path) -> None:
    """typer turned a Ctrl-C in a command's own code into exit 130 without a word, and SIGTERM or
    SIGHUP killed the command silently (-15, -1). The file is a pipe no one writes: once this end
    is open, the command is in its read, where the signal lands."""
    pipe = tmp_path / "pending.json"
    os.mkfifo(pipe)
    paths = [str(pipe)] * (1 if command == "report" else 2)
    reading = subprocess.Popen(
        [sys.executable, "-m", "loadgen", command, *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with pipe.open("w"):  # returns once the command has opened it to read
        time.sleep(0.2)  # into its read
        reading.send_signal(signum)
        _, stderr = reading.communicate(timeout=30)
    assert (reading.returncode, stderr) == (130, "loadgen: interrupted\n")
