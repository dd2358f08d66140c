"""Damaged variants of a real results.json (types changed, fields dropped, values out of range, bytes cut): every
one is either rendered, or refused in one line naming the file (exit 2), its check taking less than a second of
CPU; never a traceback, never a command that runs on."""

from __future__ import annotations

import json
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server_matrix.planning.documents import FileError
from server_matrix.reporting.resultsfile import load
from tests.conftest import at_once
from tests.matrix.conftest import MatrixCommand, load_results

pytestmark = pytest.mark.slow

Path_ = tuple[str | int, ...]
ODD_VALUES = ["x", "", 1.5, -1, 0, None, [], {}, True, 10**30, -(10**30), 1e300, [1, 2], {"a": 1}]


@pytest.fixture(scope="module")
def real_results(module_matrix: MatrixCommand, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A results.json written by a real run: one server, a CPU-bound and a gateway endpoint, two rounds."""
    out = tmp_path_factory.mktemp("real")
    done = module_matrix.quick_run(
        out, "--modes", "wsgi-sync", "--endpoints", "json,gateway_1s", "--repeat", "2", "--duration", "0.25",
        "--duration-factor", "0", timeout=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    load(out / "results.json")  # loadgen's reader imported here, not in the first example's second
    return load_results(out)


def paths(value: Any, inside_results: bool, here: Path_ = ()) -> list[Path_]:
    """Every place in ``value``: those inside the embedded loadgen results, or those outside them."""
    found = [here] if here and inside_results == ("result" in here) else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += paths(child, inside_results, (*here, key))
    return found


@st.composite
def damaged(draw: st.DrawFn, data: dict[str, Any]) -> str:
    how = draw(st.sampled_from(["type", "drop", "range", "cut"]))
    text = json.dumps(data)
    if how == "cut":
        return text[: draw(st.integers(0, len(text) - 1))]
    copy = json.loads(text)
    where = draw(st.sampled_from(paths(copy, draw(st.booleans()))))
    parent = copy
    for key in where[:-1]:
        parent = parent[key]
    last = where[-1]
    if how == "drop":
        del parent[last]
    elif how == "range" and isinstance(parent[last], int | float) and not isinstance(parent[last], bool):
        parent[last] = draw(st.sampled_from([-1, -(10**30), 10**30, 1e300, -0.5, 2**63]))
    else:
        parent[last] = draw(st.sampled_from(ODD_VALUES))
    return json.dumps(copy)


def written(directory: Path, text: str) -> Path:
    """``text`` as a results.json in a folder of its own (the report is written beside it)."""
    folder = directory / f"case-{time.monotonic_ns()}"
    folder.mkdir()
    path = folder / "results.json"
    path.write_text(text)
    return path


def read_or_refused(path: Path) -> bool:
    """Whether the reader refuses ``path`` (in one line naming it), in under a second of this thread's CPU time:
    neither a busy machine nor the test's other threads count."""
    started = time.thread_time()
    try:
        load(path)
        refused = False
    except FileError as error:
        refused = True
        assert str(error).startswith(str(path)) and "\n" not in str(error)
    assert time.thread_time() - started < 1.0
    return refused


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_reader_reads_a_damaged_results_json_or_refuses_it_in_one_line(
    data: st.DataObject, real_results: dict[str, Any], tmp_path: Path
) -> None:
    read_or_refused(written(tmp_path, data.draw(damaged(real_results))))


# Fewer: each is a Python start-up, seconds on a busy machine; the reader above takes the many damages. Two an
# example, at once: two cores start two in about one's time (5 examples: the same 10 commands).
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_report_command_renders_a_damaged_results_json_or_refuses_it_in_one_line(
    data: st.DataObject, module_matrix: MatrixCommand, real_results: dict[str, Any], tmp_path: Path
) -> None:
    paths = [written(tmp_path, data.draw(damaged(real_results))) for _ in range(2)]
    refusals = [read_or_refused(path) for path in paths]
    reports = at_once(*[partial(module_matrix.run, "report", str(path), timeout=120) for path in paths])
    for path, refused, done in zip(paths, refusals, reports, strict=True):
        _rendered_or_refused(path, refused, done)


def _rendered_or_refused(path: Path, refused: bool, done: subprocess.CompletedProcess[str]) -> None:
    """The report command's answer to one damaged results.json: rendered, or refused as the reader refused it."""
    assert "Traceback" not in done.stderr, done.stderr
    if refused:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"server-matrix: {path}: "), done.stderr
    else:
        assert done.returncode == 0 and not done.stderr, done.stderr
        assert (path.parent / "report.md").exists()
