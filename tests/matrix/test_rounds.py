"""The rounds end when every cell has stopped, not after --max-repeat rounds: a cell judged precise enough sits out
a round, and may be judged wider again before a later one (its interval draws on the run's spread, which other
cells' repetitions change). It then lacks the round it sat out, and gets it in a round past the last one planned,
rather than being left with fewer repetitions than --max-repeat and no reason (``stopped`` null in a complete
run). A real server; the stopping rule scripted, as the run's spread cannot be steered."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from server_matrix.measuring.progress import PlainProgress, progress_display
from server_matrix.measuring.results import ERROR, OK, SKIPPED, Cell, MatrixResults, Sample
from server_matrix.measuring.runner import MatrixRun
from server_matrix.planning.interpreters import Interpreter, prepare
from server_matrix.planning.modes import MODES, required_modules, select_modes
from server_matrix.planning.modesfile import load_modes_file
from server_matrix.planning.parameters import Repetitions
from server_matrix.planning.plan import build_plan
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.statistics.stopping import FAILED, MAX_REPEAT, PRECISION, TIME_BUDGET, StoppingRule
from tests.matrix.test_report import synthetic_results

HERE = Path(__file__).resolve().parent


class WiderAgain:
    """Precise enough after its second repetition and before round 3, wider again before round 4 (as when the
    run's spread widened), then needing more until --max-repeat (3)."""

    def __init__(self) -> None:
        self.precise = 2  # judgements at two repetitions that say "precise enough"

    def __call__(self, cell: Cell, repetitions: Repetitions) -> str | None:
        runs = len(cell.samples)
        if runs == 2 and self.precise:
            self.precise -= 1
            return PRECISION
        return MAX_REPEAT if runs >= repetitions.most else None


def test_a_cell_judged_wider_again_gets_the_repetition_it_sat_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan is made in this process, which reads DATABASE_URL as a run does: CI exports one for the demo's
    # PostgreSQL tests, and without psycopg for this interpreter its one cell was skipped (0 measurements).
    monkeypatch.delenv("DATABASE_URL", raising=False)
    modes_file = tmp_path / "modes.json"
    probe = str(HERE / "probe_server.py")
    modes_file.write_text(json.dumps([{"id": "steady", "title": "steady", "args": [probe, "{port}", "paced", "20"]}]))
    selected = select_modes([*MODES, *load_modes_file(modes_file)], ["steady"])
    parameters = resolve(
        PROFILES["quick"], modes=("steady",), endpoints=("json",), variants=("sync",), max_repeat=3, duration_s=0.25
    )
    interpreter = prepare(sys.executable, required_modules(selected))
    results = MatrixResults(parameters=parameters.to_json(), interpreters=[interpreter.to_json()])
    groups = build_plan([interpreter], selected, parameters)
    run = MatrixRun(
        groups, parameters, tmp_path, results, progress_display(), lambda _: None, WiderAgain(), TIME_BUDGET
    )
    (cell,) = [cell for cell in run.run().cells.values() if cell.samples and cell.samples[0].result is not None]
    assert results.complete
    assert [sample.round for sample in cell.samples] == [1, 2, 4]  # sat out round 3, measured in a fourth
    assert cell.stopped == MAX_REPEAT


class StopAtThePlan(PlainProgress):
    """Ctrl-C as the plan is announced: after the cells measured with other settings were dropped, before a round."""

    def matrix_started(self, measurements: int, planned_s: float) -> None:
        raise KeyboardInterrupt


def test_a_stop_before_the_first_round_saves_what_the_report_shows(tmp_path: Path) -> None:
    """A Ctrl-C there was outside the rounds' handling: report.md was rendered with the dropped cells gone,
    "incomplete" rather than interrupted, and its time ran backwards ("19:19:13 → 19:11:54"), while results.json was
    not saved and held the 24 cells the report and the last line ("cells kept ...: none") said were gone."""
    earlier = resolve(PROFILES["quick"], modes=("wsgi-sync",), endpoints=("json",), variants=("sync",))
    results = synthetic_results(tmp_path, free_threaded=False, parameters=earlier)
    parameters = resolve(
        PROFILES["quick"], modes=("wsgi-sync",), endpoints=("json",), variants=("sync",), duration_s=0.5
    )
    interpreter = Interpreter(  # synthetic_results' own
        requested="python3",
        executable="/usr/bin/python3",
        version="3.14.7",
        implementation="CPython",
        free_threaded=False,
    )
    groups = build_plan([interpreter], select_modes(MODES, ["wsgi-sync"]), parameters)
    saved: list[MatrixResults] = []
    run = MatrixRun(groups, parameters, tmp_path, results, StopAtThePlan(), saved.append, WiderAgain(), TIME_BUDGET)
    with pytest.raises(KeyboardInterrupt):
        run.run()
    assert saved == [results] and results.interrupted
    assert all(cell.status != "ok" for cell in results.cells.values())  # the old cells dropped, and saved so
    assert results.updated_at is not None and results.started_at is not None
    assert results.updated_at >= results.started_at


def test_a_failed_or_skipped_cell_stops_as_its_reason_says(tmp_path: Path) -> None:
    """A repetition that failed stops the cell ('failed': more runs would not make it a measurement), once it ran its
    least number; a skipped cell measured nothing and has nothing to say, not even a fixed --repeat's count."""
    results = synthetic_results(tmp_path, free_threaded=False)
    measured = next(cell for cell in results.cells.values() if cell.status == OK and cell.window.ceiling_rps is None)
    failed = replace(measured, samples=[*measured.samples, Sample(ERROR, reason="exit 1")])
    skipped = replace(measured, samples=[Sample(SKIPPED), Sample(SKIPPED)])
    rule = StoppingRule(0.05)
    assert (rule(failed, Repetitions(2, 5)), rule(failed, Repetitions(3, 5))) == (FAILED, None)
    assert rule(skipped, Repetitions(2, 2)) is None and rule(skipped, Repetitions(2, 5)) is None
