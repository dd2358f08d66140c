"""The HTML report: one self-contained file, opened in a real headless Chromium without network
access, whose charts render without errors. The screenshot is left in ``test-output/`` (or
``$LOADGEN_TEST_OUTPUT``), not committed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import loadgen

from .browser import Browser, missing
from .conftest import run_loadgen

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("LOADGEN_TEST_OUTPUT", ROOT / "test-output"))
SECTIONS = [
    "Settings",
    "Summary (wrk's report)",
    "Latency by percentile",
    "Second by second",
    "Latency phases",
    "Status codes and errors",
]
PAGE_FACTS = """
const charts = [...document.querySelectorAll('figure svg')].map(svg => {
    const box = svg.getBoundingClientRect();
    return {width: box.width, height: box.height, text: svg.textContent,
            lines: [...svg.querySelectorAll('path')].filter(p => p.getTotalLength() > 100).length};
});
return {charts, sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
        resources: performance.getEntriesByType('resource').map(entry => entry.name),
        summaries: [...document.querySelectorAll('pre')].map(pre => pre.textContent)};
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory, server) -> Path:
    """Two real runs drawn together: a closed-loop one and a constant-rate one against a server
    that stalls, so the spectrum has a tail."""
    folder = tmp_path_factory.mktemp("html")
    closed, paced = folder / "closed.json", folder / "paced.json"
    assert run_loadgen("-t1", "-c4", "-d3s", "--json", str(closed), server.url("/delay?ms=2")).returncode == 0
    assert (
        run_loadgen(
            "-t1", "-c4", "-d3s", "-R200", "--json", str(paced), server.url("/stall?period_ms=1000&pause_ms=100")
        ).returncode
        == 0
    )
    page = folder / "report.html"
    done = run_loadgen("report", str(closed), str(paced), "--html", str(page))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    return page


@pytest.fixture
def browser() -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    opened = Browser()
    try:
        yield opened
    finally:
        opened.close()


def test_the_page_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|@import", html)  # nothing to fetch or run
    assert set(re.findall(r'href="(.)', html)) <= {"#"} and set(re.findall(r"url\((.)", html)) <= {"#"}
    assert all(f"<h2>{escaped}</h2>" in html for escaped in (s.replace("'", "&#x27;") for s in SECTIONS))
    assert html.count("<svg") == 2 and "closed.json" in html and "paced.json" in html


def test_the_report_renders_in_a_real_browser_offline(report: Path, browser: Browser) -> None:
    browser.open(report.as_uri())
    facts = browser.run(PAGE_FACTS)
    assert facts["sections"] == SECTIONS
    assert facts["resources"] == []  # not one request left the page
    assert [entry for entry in browser.console() if entry["level"] == "SEVERE"] == []
    spectrum, timeline = facts["charts"]
    for chart in (spectrum, timeline):
        assert chart["width"] > 600 and chart["height"] > 250
        assert "closed.json" in chart["text"] and "paced.json" in chart["text"]  # both on the same axes
    assert spectrum["lines"] >= 3  # closed loop, constant rate, and its uncorrected latency
    assert "99.9%" in spectrum["text"] and "requests/sec" in timeline["text"]
    assert timeline["lines"] >= 4  # requests/sec and p99 of each result
    assert any("Requests/sec:" in summary for summary in facts["summaries"])
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / "html-report.png"
    browser.screenshot(screenshot)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    print(f"screenshot of the HTML report: {screenshot}")


def test_the_offline_check_would_see_a_fetch(browser: Browser, tmp_path: Path) -> None:
    """The control for the test above: a page that does fetch something is caught."""
    page = tmp_path / "fetches.html"
    page.write_text('<!DOCTYPE html><html><body><img src="https://example.invalid/chart.png"></body></html>')
    browser.open(page.as_uri())
    facts = browser.run(PAGE_FACTS)
    errors = [entry for entry in browser.console() if entry["level"] == "SEVERE"]
    assert facts["resources"] or errors


def test_html_on_a_run_leaves_the_report_as_it_was(server, tmp_path: Path) -> None:
    page, document = tmp_path / "run.html", tmp_path / "run.json"
    done = run_loadgen("-t1", "-c2", "-d1s", "--html", str(page), "--json", str(document), server.url("/"))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == loadgen.wrk_report(loadgen.from_json(document.read_text()))  # wrk's, to the byte
    html = page.read_text()
    assert html.count("<svg") == 2 and server.url("/") in html


def test_an_unwritable_html_path_fails_before_the_run(server, tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "report.html"
    done = run_loadgen("-d1s", "--html", str(target), server.url("/"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr_lines == [f"loadgen: cannot write HTML to {target}: No such file or directory"]
