"""Repetitions end to end: ``--repeat 2`` gives two samples per cell with an interval over both, and
``server-matrix compare`` tells a run from itself and from one whose server was slowed on purpose."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server_matrix.reporting.numbers import plain_rate
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # the cores pinned, the machine's noise judged: tests/alone.py

HERE = Path(__file__).resolve().parent
SLOWED_DELAY_MS = 20  # at most 50 req/s: far below the plain server on a busy machine (5 ms: up to 0.95x)


def probe_mode(tmp_path: Path, name: str, delay_ms: int) -> Path:
    """A modes file with the same mode id, ``probe``, whose server blocks ``delay_ms`` per request."""
    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "probe",
                    "title": f"uvicorn, {delay_ms} ms per request",
                    "args": [str(HERE / "probe_server.py"), "{port}", "slow", str(delay_ms)],
                }
            ]
        )
    )
    return path


def run_probe(matrix: MatrixCommand, tmp_path: Path, name: str, delay_ms: int, chart: bool = False) -> Path:
    out = tmp_path / name
    done = matrix.quick_run(
        out, "--repeat", "2", "--modes-file", str(probe_mode(tmp_path, name, delay_ms)), "--modes", "probe",
        "--endpoints", "json", "--variants", "sync", "--duration", "0.5", chart=chart, timeout=120,
    )  # fmt: skip  # half a second a window: about 25 responses of the slowed server
    assert done.returncode == 0, done.stderr[-3000:]
    assert "round 2" in done.stderr  # a server started afresh for the second round
    return out


@pytest.fixture(scope="module")
def runs(module_matrix: MatrixCommand, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The plain and the slowed server's runs, at once: the slowed server sleeps, the plain one's rate stays far
    above it."""
    tmp_path = tmp_path_factory.mktemp("repetitions")
    with ThreadPoolExecutor(2) as pool:
        plain = pool.submit(run_probe, module_matrix, tmp_path, "plain", 0, chart=True)  # its chart's error bars
        slowed = pool.submit(run_probe, module_matrix, tmp_path, "slowed", SLOWED_DELAY_MS)
        return plain.result(), slowed.result()


def test_two_repetitions_give_two_samples_and_an_interval_over_both(
    runs: tuple[Path, Path], module_matrix: MatrixCommand
) -> None:
    plain, _ = runs
    results = load_results(plain)
    assert_nothing_left(module_matrix, results)
    (cell,) = [cell for cell in results["cells"] if cell["status"] == "ok"]
    rates = [sample["requests_per_sec"] for sample in cell["samples"]]
    assert len(rates) == 2 and [sample["round"] for sample in cell["samples"]] == [1, 2]
    assert all(set(sample) >= {"requests_per_sec", "p50_us", "p99_us", "errors"} for sample in cell["samples"])
    assert len({sample["server"]["pid"] for sample in cell["samples"]}) == 2  # one server per round
    summary = cell["requests_per_sec"]
    low, high = summary["ci95"]
    assert low <= min(rates) and max(rates) <= high
    assert summary["median"] == pytest.approx(sum(rates) / 2) and summary["cv"] is not None
    assert summary["half_width"] > 0 and isinstance(cell["flags"], list) and cell["stopped"] == "repeat"
    report = (plain / "report.md").read_text()
    summary_part = report.split("## Summary", 1)[1].split("## Environment", 1)[0]
    row = next(line for line in summary_part.splitlines() if line.startswith("| probe "))
    assert re.search(r"\| [\d.]+ \[[\d.]+, [\d.]+\] \| 2 repeat \|", row), (
        row
    )  # median [low, high], n and why it stopped
    assert report.index("## Findings") < report.index("## Summary")
    # two repetitions: no median one, so the block shows the slower and its line says the median is their mean
    shown = report.split("#### Sync", 1)[1]
    assert re.search(rf"\nRequests/sec: +{min(rates):.2f}\n", shown.split("```", 3)[1])
    assert f"the slower of the two middle ones by requests/sec: the median, {plain_rate(summary['median'])}," in shown
    assert "LineCollection" in (plain / "chart.svg").read_text()  # the error bars


def test_a_tight_cell_stops_at_the_least_and_a_noisy_one_goes_on_to_the_most(
    module_matrix: MatrixCommand, tmp_path: Path
) -> None:
    """Adaptive repetitions: a server that answers each request after 50 ms without using the CPU measures the same
    every round (connections / delay), one whose delay alternates between 5 and 200 ms from one start to the next
    never gets a tight interval. The precision is wide (40%), so that a busy machine does not keep the steady cell
    going: at 20%, a machine loaded 15-20 deep on its 2 cores took it to 4 rounds in 2 runs of 4 (its interval
    105-151 req/s, for 160 on a quiet machine; two rounds 0.55 wide, once). The noisy cell's third round, two
    fast starts and a slow one, stays about half the fast rate wide whatever the load while fast / slow is above
    5: 1,090-1,125 against 32 req/s at that load (5 and 50 ms left a loaded machine a ratio of about 8)."""
    modes = tmp_path / "modes.json"
    probe, starts = str(HERE / "probe_server.py"), str(tmp_path / "starts")
    modes.write_text(
        json.dumps(
            [
                {"id": "steady", "title": "steady", "args": [probe, "{port}", "paced", "50"]},
                {
                    "id": "noisy",
                    "title": "noisy",
                    "args": [probe, "{port}", "alternate", starts, "5", "200"],
                },
            ]
        )
    )
    out = tmp_path / "adaptive"
    done = module_matrix.quick_run(
        out, "--precision", "0.4", "--max-repeat", "4", "--modes-file", str(modes), "--modes", "steady,noisy",
        "--endpoints", "json", "--variants", "sync", timeout=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cells = {cell["mode"]: cell for cell in load_results(out)["cells"] if cell["status"] == "ok"}
    steady, noisy = cells["steady"], cells["noisy"]
    assert (len(steady["samples"]), steady["stopped"]) == (2, "precision"), steady["requests_per_sec"]
    assert steady["requests_per_sec"]["half_width"] <= 0.4
    assert (len(noisy["samples"]), noisy["stopped"]) == (4, "max-repeat"), noisy["requests_per_sec"]
    assert [sample["round"] for sample in noisy["samples"]] == [1, 2, 3, 4]
    assert "round 3: another repetition for 1 cell whose interval is still wider than --precision" in done.stderr
    assert "server-matrix: 4 measurements to run, about " in done.stderr  # 2 cells, 2 rounds: not "4 cells"
    assert "[4/4, " in done.stderr and "[6/6, " in done.stderr  # the count grew with the rounds added
    report = (out / "report.md").read_text()
    assert "max-repeat" in report and "precision" in report


def test_a_time_budget_ends_the_rounds_at_the_least(module_matrix: MatrixCommand, tmp_path: Path) -> None:
    """A precision no cell can reach and a budget the least rounds already use up: two rounds, not five, and each
    cell says why it stopped there."""
    modes = tmp_path / "modes.json"
    modes.write_text(
        json.dumps(
            [{"id": "steady", "title": "steady", "args": [str(HERE / "probe_server.py"), "{port}", "paced", "50"]}]
        )
    )
    out = tmp_path / "budget"
    done = module_matrix.quick_run(
        out, "--precision", "0.000001", "--max-repeat", "5", "--time-budget", "1", "--modes-file", str(modes),
        "--modes", "steady", "--endpoints", "json", "--variants", "sync", "--duration", "0.5", timeout=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    (cell,) = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert (len(cell["samples"]), cell["stopped"]) == (2, "time-budget"), cell["requests_per_sec"]
    assert results["parameters"]["time_budget_s"] == 1
    assert (
        "round 3: no more repetitions for 1 cell whose interval is still wider than --precision: another round would "
        "end past --time-budget (1 s)" in done.stderr
    )
    assert "time-budget" in (out / "report.md").read_text()


def compare(matrix: MatrixCommand, base: Path, new: Path, *options: str):
    return compare_each(matrix, base, new, options)[0]


def compare_each(
    matrix: MatrixCommand, base: Path, new: Path, *option_sets: tuple[str, ...]
) -> list[subprocess.CompletedProcess[str]]:
    """``compare`` of the two runs once per set of options, all at once (they only read the files), in order."""
    files = (str(base / "results.json"), str(new / "results.json"))
    # a few seconds on a quiet machine, but over a minute was seen on a loaded one
    return matrix.run_together(*[("compare", *files, *options) for options in option_sets], timeout=180)


def test_compare_a_run_with_itself_finds_no_change(runs: tuple[Path, Path], module_matrix: MatrixCommand) -> None:
    plain, _ = runs
    table, as_json = compare_each(module_matrix, plain, plain, ("--fail-above", "0"), ("--json",))
    assert table.returncode == 0, table.stderr
    assert "| probe default build json sync |" in table.stdout and "✱" not in table.stdout.split("\n\n")[0]
    document = json.loads(as_json.stdout)
    (cell,) = document["cells"]
    assert cell["requests_per_sec"]["ratio"]["significant"] is False and cell["slowdown"] is None
    low, high = cell["requests_per_sec"]["ratio"]["ci95"]
    assert low <= 1 <= high and document["failed"] is False


def test_compare_finds_the_slowed_server_significantly_slower(
    runs: tuple[Path, Path], module_matrix: MatrixCommand
) -> None:
    plain, slowed = runs
    done, as_json, lenient = compare_each(
        module_matrix, plain, slowed, ("--fail-above", "20"), ("--json",), ("--fail-above", "100000")
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✱" in done.stdout and "slower: req/s -" in done.stdout and "fails" in done.stdout
    document = json.loads(as_json.stdout)
    (cell,) = document["cells"]
    change = cell["requests_per_sec"]["ratio"]
    assert change["significant"] and change["ci95"][1] < 0.8, change
    assert lenient.returncode == 0  # not that much slower


def test_compare_refuses_a_file_that_is_not_results(
    tmp_path: Path, runs: tuple[Path, Path], module_matrix: MatrixCommand
) -> None:
    (tmp_path / "results.json").write_text("{}")
    done = compare(module_matrix, runs[0], tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not a server-matrix results file" in done.stderr and "Traceback" not in done.stderr
