"""loadgen and real wrk, same flags, same server: the same lines, in the same order, same columns."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from .conftest import Completed, each_selected, run_unchecked, untraced

pytestmark = pytest.mark.alone  # wrk's figures beside loadgen's: tests/alone.py

_VALUE = re.compile(r"\d+(?:\.\d+)?(?:us|ms|s|m|k|M|G|T|K|B)?|-nan|inf")


def field_edges(line: str) -> tuple[int, ...]:
    """Where each value's field ends: wrk pads a value by 2 minus its unit's letters."""
    return tuple(m.end() + 2 - sum(c.isalpha() for c in m.group()[-2:]) for m in _VALUE.finditer(line))


def layout(report: str) -> list[tuple[str, object]]:
    """Each line reduced to what must not change between two runs: its wording with the
    numbers taken out, and for the table rows the column where each field ends."""
    shape = []
    for line in report.splitlines():
        if line.startswith(("    Latency", "    Req/Sec")):
            shape.append((line[:14], field_edges(line)))
        elif re.match(r" {3,}\d+%", line):  # a percentile row: label, then one right-aligned value
            shape.append((line[:8], field_edges(line)))
        elif line.startswith(("Requests/sec:", "Transfer/sec:")):
            shape.append((line[:14], len(line)))
        else:
            shape.append((_VALUE.sub("#", line), None))
    return shape


CASES = {
    "plain": ["-t2", "-c10", "-d1s"],
    "latency": ["-t1", "-c4", "-d1s", "--latency"],
    "not found": ["-t2", "-c4", "-d1s", "--latency"],
    "server closes": ["-t1", "-c2", "-d1s"],
    "timeouts": ["-t1", "-c2", "-d2s", "--timeout", "1s", "--latency"],
}
PATHS = {
    "plain": "/",
    "latency": "/delay?ms=2",
    "not found": "/status/404",
    "server closes": "/drop",
    "timeouts": "/delay?ms=1100",
}


@pytest.fixture(scope="module")
def reports(request: pytest.FixtureRequest, wrk: str, server) -> dict[str, Future[tuple[Completed, str]]]:
    """Each selected case's loadgen and wrk at once, and the cases a few at once: what is compared is the layout,
    not the figures, and the cases take about one run's time each in all, not two. By case: loadgen's run, wrk's
    report."""

    def both(case: str) -> tuple[Completed, str]:
        url = server.url(PATHS[case])
        with ThreadPoolExecutor(1) as pool:
            wrks = pool.submit(subprocess.run, [wrk, *CASES[case], url], capture_output=True, text=True, timeout=60)
            return run_unchecked(*CASES[case], url), wrks.result().stdout

    return each_selected(request, "test_same_report_layout_as_wrk", both)


@pytest.mark.parametrize("case", CASES)
def test_same_report_layout_as_wrk(
    reports: dict[str, Future[tuple[Completed, str]]], request: pytest.FixtureRequest, case: str
) -> None:
    done, theirs = reports[request.node.callspec.id].result()
    ours = untraced(done).stdout
    assert layout(ours) == layout(theirs), f"wrk:\n{theirs}\nloadgen:\n{ours}"
