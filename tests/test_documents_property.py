"""Damaged variants of real result documents, drawn by hypothesis: a value of another type, a
field dropped, a value out of range, the bytes cut or corrupted. Whatever the damage, ``loadgen
report``, ``merge`` and ``compare`` (real processes) either read the document (a damage that left
it valid) or refuse it in one line naming the file, exit 1, within a second of CPU; never a
traceback. And the schema check agrees with the jsonschema package on every damaged document."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loadgen
from loadgen.commands.inputs import read_result
from loadgen.errors import SetupError
from loadgen.report.diagnosis import diagnose
from loadgen.report.resultcheck import SCHEMA_PATH, _schema
from loadgen.schemacheck import Schema, Violation
from loadgen.testing.server import TestServer

from .conftest import Completed, at_once, untraced

DOCUMENTS = Path(__file__).resolve().parent / "documents"
CPU_LIMIT_S = 1.0
ODD_VALUES = [None, "x", "", 1.5, -1, 0, 10**30, -(10**30), 1e300, [], {}, True, [[[[1]]]], {"a": {"b": 1}}]
REFERENCE = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("damaged")


@pytest.fixture(scope="module")
def originals(folder: Path, workers: loadgen.Workers) -> dict[str, Path]:
    """Real documents: this loadgen's, closed-loop and constant-rate, one with targets, and version 2's.
    A second each: every field is there after one, and a longer run only grows the histograms, which
    jsonschema (the reference below) walks slowly."""
    paths = {name: DOCUMENTS / f"{name}.json" for name in ("v2-closed", "v2-paced")}
    shape = dict(threads=1, connections=2, duration=1.0, workers=workers)
    with TestServer() as server:
        targets = [server.url("/a"), loadgen.Target("POST", server.url("/b"), (("X-A", "1"),), b"body", 2)]
        runs = {  # at once: each a second
            "closed": partial(loadgen.run, server.url("/"), **shape),
            "paced": partial(loadgen.run, server.url("/"), rate=200.0, **shape),
            "closed-targets": partial(loadgen.run, targets=targets, **shape),
        }
        for name, result in zip(runs, at_once(*runs.values()), strict=True):
            paths[name] = folder / f"{name}.json"
            paths[name].write_text(loadgen.to_json(result))
    return paths


def paths_in(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document (of a long array, its first and last items only)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, (*path, key))
    elif isinstance(value, list):
        for index in sorted({0, len(value) - 1}) if value else ():
            yield from paths_in(value[index], (*path, index))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def damaged_document(draw: st.DrawFn, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A damage to the parsed document: another value somewhere, or a field dropped."""
    places = [path for path in paths_in(document) if path]
    path = draw(st.sampled_from(places))
    damaged = copy.deepcopy(document)
    parent = _parent(damaged, path)
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
        return f"dropped {path}", damaged
    value = draw(st.sampled_from(ODD_VALUES) | st.integers(-(10**20), 10**20) | st.floats(-1e20, 1e20))
    parent[path[-1]] = value
    return f"{path} = {value!r}", damaged


@st.composite
def damaged_bytes(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    where = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        return f"cut at {where}", data[:where]
    corrupt = draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"}", b"[", b'"', b"9" * 30]))
    return f"{corrupt!r} at {where}", data[:where] + corrupt + data[where + 1 :]


@st.composite
def damage(draw: st.DrawFn, originals: dict[str, Path]) -> tuple[str, str, bytes]:
    """(which original, what was done, the damaged file's bytes)."""
    name = draw(st.sampled_from(sorted(originals)))
    data = originals[name].read_bytes()
    if draw(st.integers(0, 4)) == 0:
        what, damaged = draw(damaged_bytes(data))
        return name, what, damaged
    what, document = draw(damaged_document(json.loads(data)))
    return name, what, json.dumps(document).encode()


def _timed(*args: str, timeout: float = 60) -> tuple[Completed, float]:
    """``loadgen ARGS`` as :func:`run_loadgen` runs it, and the CPU time it took: its own (wait4's), not that of a
    command run beside it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        with ThreadPoolExecutor(1) as pool:
            stderr = pool.submit(process.stderr.read)  # type: ignore[union-attr]
            stdout = process.stdout.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return untraced(Completed(process.returncode, stdout, stderr.result())), usage.ru_utime + usage.ru_stime


# Each example runs two commands at once (two damages): each is mostly an interpreter's start-up, and two cores
# start two in about one's time.
@pytest.mark.slow
@settings(max_examples=18, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_report_merge_and_compare_read_it_or_refuse_it_in_one_line(
    originals: dict[str, Path], folder: Path, data
) -> None:
    cases = []
    for index in range(2):
        name, what, damaged = data.draw(damage(originals))
        command = data.draw(st.sampled_from(["report", "merge", "compare"]))
        path = folder / f"damaged-{index}.json"
        path.write_bytes(damaged)
        other = str(originals["closed" if "closed" in name else "paced"])
        args = {"report": [str(path)], "merge": [other, str(path)], "compare": [str(path), other]}[command]
        cases.append((name, what, command, path, args))
    ran = at_once(*[partial(_timed, command, *args) for _, _, command, _, args in cases])  # asserts no traceback
    for (name, what, command, path, _), (done, cpu_s) in zip(cases, ran, strict=True):
        _one_line_or_read(name, what, command, path, done, cpu_s)


def _one_line_or_read(name: str, what: str, command: str, path: Path, done: Completed, cpu_s: float) -> None:
    """One command of the test above: within a second of CPU, and either read or refused in one line."""
    context = (name, what, command, done.returncode, done.stderr[-600:])
    assert cpu_s < CPU_LIMIT_S, (cpu_s, *context)
    if done.returncode == 0:  # report says again what the run said after it, of the document as it reads
        said = list(diagnose(read_result(str(path))).lines) if command == "report" else []
        assert done.stdout and done.stderr_lines == said, context
        return
    assert len(done.stderr_lines) == 1, context
    line = done.stderr_lines[0]
    if done.returncode == 3:  # a valid document whose run has no response: compare has nothing to compare
        refusal = f"loadgen compare: cannot compare: {path} has not one response"
        assert command == "compare" and line.startswith(refusal), context
        return
    assert done.returncode == 1 and str(path) in line and done.stdout == "", context


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_reader_refuses_in_one_line_within_a_second(originals: dict[str, Path], folder: Path, data) -> None:
    """The same damages, many more of them, through the reader the commands use, in this process."""
    name, what, damaged = data.draw(damage(originals))
    path = folder / "damaged-in-process.json"
    path.write_bytes(damaged)
    started = time.thread_time()
    try:
        result = read_result(str(path))
    except SetupError as refused:
        line = str(refused)
        assert line.startswith(f"cannot read {path}: ") and "\n" not in line and len(line) < 400, (name, what, line)
    else:
        loadgen.wrk_report(result)  # a document that reads is one that reports
    assert time.thread_time() - started < CPU_LIMIT_S, (name, what)


def test_a_histogram_of_a_million_values_is_checked_at_c_speed() -> None:
    """An array of bounded integers is checked at C speed (the schema check's docstring), not item by
    item: a million values and a million counts in 0.06 s of CPU, where one by one took 1.3 s."""
    histogram = Schema({"$defs": json.loads(SCHEMA_PATH.read_text())["$defs"], "$ref": "#/$defs/histogram"})
    values = [1] * 1_000_000
    started = time.thread_time()
    histogram.check({"deltas": values, "counts": values})
    assert time.thread_time() - started < 0.4


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_schema_check_agrees_with_jsonschema(originals: dict[str, Path], data) -> None:
    """loadgen checks the schema with its own compiled checks (jsonschema costs ~70 ms of start-up
    and is slow on big histograms); on damaged documents of this version, both say the same."""
    document = json.loads(originals[data.draw(st.sampled_from(["closed", "paced", "closed-targets"]))].read_text())
    what, damaged = data.draw(damaged_document(document))
    theirs = next(REFERENCE.iter_errors(damaged), None)
    try:
        _schema()[0].check(damaged)
        ours = None
    except Violation as violation:
        ours = violation
    if ours is not None and theirs is None:  # stricter on purpose, in one way: 1.0 is not an integer here
        assert "written without a fraction" in str(ours), (what, str(ours))
        return
    assert (ours is None) == (theirs is None), (what, str(ours), theirs and theirs.message)
