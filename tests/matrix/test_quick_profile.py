"""`server-matrix run --profile quick` end to end on the running interpreter: every mode, a real report.

Two endpoints (a plain one, the slowest gateway) and a quarter of a second per cell (WINDOW: each still gets a
few gateway responses and tens to hundreds of others) keep the eleven modes within about a minute: a cell costs
its window and about a second more on a busy machine, a server's start and stop over a second. Brotli's view is
the server's like any other (tests/demo fetch it from each server).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import loadgen
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.planning.modes import MODES
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, headings, load_results, shown

# The run is bounded by its silence (conftest.QUIET_S), not by its total time, which a busy machine doubles.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ENDPOINTS_RUN = ("json", "gateway_10s")
WINDOW = ("--duration", "0.25", "--duration-factor", "0")  # every endpoint, the gateway too (0.1 s a request)
CELL_FIELDS = (
    "stopped",
    "mode",
    "python",
    "free_threaded_build",
    "gil_requested",
    "gil_reported",
    "endpoint",
    "variant",
    "status",
    "reason",
    "flags",
    "requests_per_sec",
    "samples",
)


@pytest.fixture(scope="module")
def quick_run(module_matrix: MatrixCommand) -> tuple[MatrixCommand, Path, object]:
    out = module_matrix.workdir / "quick"
    done = module_matrix.quick_run(out, "--endpoints", ",".join(ENDPOINTS_RUN), *WINDOW, chart=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return module_matrix, out, done


def expected_section_headings(heading: str) -> list[str]:
    lines = [f"## {heading}"]
    for endpoint in ENDPOINTS:
        if endpoint.name in ENDPOINTS_RUN:
            lines += [f"### {endpoint.title}", "#### Sync", "#### Async"]
    return lines


def test_every_mode_runs_and_leaves_nothing_behind(quick_run) -> None:
    command, out, done = quick_run
    results = load_results(out)
    assert_nothing_left(command, results)
    assert done.stdout.split() == [str(out / name) for name in ("results.json", "report.md", "chart.png", "chart.svg")]
    ran = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert {cell["mode"] for cell in ran} == {mode.id for mode in MODES}
    assert len(ran) == len(MODES) * len(ENDPOINTS_RUN) * len(VARIANTS)
    assert not [cell for cell in results["cells"] if cell["status"] == "error"]
    assert results["complete"] and not results["interrupted"]
    # the progress counts the cells that run, not the skipped ones, with the time left; no venv was built
    assert f"server-matrix: {len(ran)} measurements to run, about " in done.stderr
    assert f"[{len(ran)}/{len(ran)}, under 5 s left]" in done.stderr and "venv" not in done.stderr


def test_results_json_has_every_field(quick_run) -> None:
    _, out, _ = quick_run
    results = load_results(out)
    free_threaded = results["interpreters"][0]["free_threaded"]
    for cell in results["cells"]:
        assert all(name in cell for name in CELL_FIELDS), cell.keys()
        assert cell["free_threaded_build"] == free_threaded
        if cell["status"] == "skipped":
            assert cell["reason"] and shown(cell)["result"] is None and cell["requests_per_sec"] is None
            continue
        assert cell["status"] == "ok" and len(cell["samples"]) == 1  # the quick profile runs each cell once
        result = loadgen.from_json(json.dumps(shown(cell)["result"]))
        assert cell["requests_per_sec"]["median"] == result.requests_per_sec == shown(cell)["requests_per_sec"]
        assert_sample_figures_are_its_results(shown(cell))
        assert cell["requests_per_sec"]["ci95"] is None and cell["requests_per_sec"]["cv"] is None  # once: no interval
        assert cell["stopped"] == ("once" if cell["ceiling_rps"] else "repeat")
        # a window without one response (a busy machine, a slow endpoint) is flagged, never a bare 0
        assert (result.requests > 0 or "no-response" in cell["flags"]) and result.url.endswith(cell["path"])
        assert result.connections == results["parameters"]["connections"]
        if not free_threaded:
            assert cell["gil_requested"] is None and cell["gil_reported"] is True
        assert shown(cell)["server"]["worker_timeouts"] == 0 and shown(cell)["server"]["tracebacks"] == 0
    gateway = [cell for cell in results["cells"] if cell["endpoint"] == "gateway_10s" and cell["status"] == "ok"]
    assert gateway and all(cell["ceiling_rps"] == pytest.approx(8 / 0.1) for cell in gateway)


def assert_sample_figures_are_its_results(sample: dict) -> None:
    """A sample's summary figures (results/resultsfile.py's) read from its own loadgen document as it stands: the
    latency percentiles (none without a response), its errors, its busiest worker's busy share."""
    document = sample["result"]
    latency, errors = document["latency"], document["errors"]
    answered = latency["count"] > 0
    assert sample["p50_us"] == (latency["percentiles"]["50"] if answered else None), sample
    assert sample["p99_us"] == (latency["percentiles"]["99"] if answered else None), sample
    assert sample["errors"] == sum(errors.values()), sample  # socket errors (connect, read, write, timeout) + status
    workers = document["client_cpu"]["workers"]
    assert workers and sample["client_busy"] == max(worker["busy"] for worker in workers), sample


def test_report_follows_the_notes_layout(quick_run) -> None:
    _, out, _ = quick_run
    results = load_results(out)
    report = (out / "report.md").read_text()
    found = headings(report)
    assert found[0] == "# Django Workers"
    ran_sections = {(cell["mode"], cell["gil_requested"]) for cell in results["cells"] if cell["status"] == "ok"}
    blocks = report.split("# Django Workers", 1)[1].count("```bash\nRunning ")
    assert blocks == sum(cell["status"] == "ok" for cell in results["cells"])
    # every section that ran has the notes' endpoint headings, in the notes' order
    for mode in MODES:
        title = next(cell["mode_title"] for cell in results["cells"] if cell["mode"] == mode.id)
        gil = next(gil for mode_id, gil in ran_sections if mode_id == mode.id)
        heading = f"{title} -Xgil={gil}" if gil is not None else f"{title} (default build)"
        start = found.index(f"## {heading}")
        assert found[start : start + 1 + 3 * len(ENDPOINTS_RUN)] == expected_section_headings(heading)
    assert "## Summary" in report and "## Environment" in report and "DEMO_GATEWAY_SCALE=0.01" in report
    if not results["interpreters"][0]["free_threaded"]:  # no GIL comparison: the first lines say how to get one
        assert report.splitlines()[2].startswith("> **No free-threaded interpreter")
        assert "uv python install 3.14t" in report.splitlines()[2]
        assert "None was looked for (`--no-discover`): run again without it" in report.splitlines()[2]
    assert "- Free-threaded interpreters were not looked for (--no-discover)." in report


def test_chart_files(quick_run) -> None:
    _, out, _ = quick_run
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    svg = (out / "chart.svg").read_text()
    assert "<svg" in svg and "JSON performance" in svg


def test_report_command_re_renders_the_same_report(quick_run) -> None:
    command, out, _ = quick_run
    again = command.workdir / "again"
    done = command.run("report", str(out / "results.json"), "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert (again / "report.md").read_text() == (out / "report.md").read_text()
    assert (again / "chart.png").exists()


def test_rerun_keeps_finished_cells(quick_run) -> None:
    command, out, _ = quick_run
    before = (out / "results.json").read_text()
    # the settings the cells were measured with: else they are dropped, not kept
    done = command.quick_run(out, "--modes", "wsgi-sync", "--endpoints", "json", *WINDOW, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("(kept from an earlier run)") == len(VARIANTS)

    def key(cell: dict) -> tuple:
        return cell["mode"], cell["gil_requested"], cell["endpoint"], cell["variant"]

    kept = {key(cell): cell["samples"] for cell in json.loads(before)["cells"]}
    after = load_results(out)["cells"]
    assert len(after) == len(kept)
    assert all(cell["samples"] == kept[key(cell)] for cell in after)
