"""Files server-matrix reads (modes files, results.json) are checked before use: a damaged one is one line on
stderr naming the file and the field, exit 2, never a traceback, and never a run for minutes."""

from __future__ import annotations

import copy
import json
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server_matrix.planning.documents import FileError
from server_matrix.planning.modesfile import load_modes_file
from tests.matrix.conftest import MatrixCommand
from tests.matrix.test_report import synthetic_results

# CPU seconds for a whole refused command: Python's start-up and imports (under one), and the check. CPU, not
# wall time: a busy machine stretched the same command to 15 s of wall time.
QUICK = 3.0
GOOD_MODE = {"id": "extra", "title": "An extra server", "args": ["-m", "http.server", "{port}"]}


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2 and one line on stderr, prefixed, holding ``words``; returns that line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("server-matrix: "), done.stderr
    assert "Traceback" not in done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def timed(matrix: MatrixCommand, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The command, and the CPU time (user + system) its process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = matrix.run(*args, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- modes files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"args": ["-m", "x", "{nope}"]}, ["[0].args[2]", "{nope}"]),
        ({"title": "A {colour} server"}, ["[0].title", "{colour}"]),
        ({"args": ["-m", "x", "{port"]}, ["[0].args[2]"]),
        ({"boots": 2}, ["[0].boots", "string"]),
        ({"boots": "{workers} workers"}, ["[0].boots"]),
        ({"refuses": {"gil2": "no"}}, ["[0].refuses", "gil2"]),
        ({"slots": ["workers", "cores"]}, ["[0].slots[1]", "cores"]),
        ({"id": 7}, ["[0].id", "string"]),
        ({"args": "-m http.server {port}"}, ["[0].args", "array"]),
        ({"id": "../../x"}, ["[0].id", "../../x"]),
        ({"id": "wsgi-sync"}, ["[0].id", "wsgi-sync", "built-in"]),
        ({"meaningful_on": ["gil3"]}, ["[0].meaningful_on[0]", "gil3"]),
        ({"colour": "red"}, ["[0]", "colour"]),
        ({"args": []}, ["[0].args"]),
        ({"h2c_args": ["-m", "x", "{nope}"]}, ["[0].h2c_args[2]", "{nope}"]),
        ({"h2c_args": []}, ["[0].h2c_args"]),
    ],
)
def test_a_bad_modes_file_is_one_line_naming_the_field(
    matrix: MatrixCommand, tmp_path: Path, change: dict[str, Any], words: list[str]
) -> None:
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([{**GOOD_MODE, **change}]))
    out = tmp_path / "out"
    done, elapsed = timed(matrix, "run", "--no-discover", "--modes-file", str(modes_file), "--out", str(out))
    assert_refused(done, str(modes_file), *words)
    assert elapsed < QUICK
    assert not out.exists() and not (tmp_path.parent / "x").exists()  # refused before anything was written


def test_the_readmes_example_modes_file_listens_on_the_runs_address(tmp_path: Path) -> None:
    """Its uvicorn listened on uvicorn's default, 127.0.0.1, whatever --bind said."""
    readme = (Path(__file__).resolve().parents[2] / "server_matrix" / "README.md").read_text()
    example = tmp_path / "modes.json"
    example.write_text(readme.split("```json\n", 1)[1].split("```", 1)[0])
    (mode,) = load_modes_file(example)
    assert mode.id == "uvicorn-h11"
    assert {"{host}", "{port}"} <= set(mode.args)


def test_a_command_line_of_one_item_is_a_mode(tmp_path: Path) -> None:
    """``args`` and ``h2c_args`` may not be empty, and one item is enough: a server that is one script."""
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([{**GOOD_MODE, "args": ["serve.py"], "h2c_args": ["serve_h2c.py"]}]))
    (mode,) = load_modes_file(modes_file)
    assert (mode.args, mode.h2c_args) == (("serve.py",), ("serve_h2c.py",))


def test_two_modes_with_one_id_are_refused(matrix: MatrixCommand, tmp_path: Path) -> None:
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([GOOD_MODE, GOOD_MODE]))
    done = matrix.run("run", "--no-discover", "--modes-file", str(modes_file), "--out", str(tmp_path / "o"), timeout=60)
    assert_refused(done, str(modes_file), "[1].id", "extra")


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([{**GOOD_MODE, "id": "wsgi-sync-h2"}], ["[0].id", "wsgi-sync-h2", "wsgi-sync's HTTP/2 sibling"]),
        ([{**GOOD_MODE, "id": "extra-h2"}, GOOD_MODE], ["[0].id", "extra-h2", "extra's HTTP/2 sibling"]),
        ([{**GOOD_MODE, "boots": "{workers}\u00b2"}], ["[0].boots", "not a count of boot lines"]),
    ],
)
def test_an_http2_siblings_id_and_a_count_int_cannot_read_are_refused(
    tmp_path: Path, entries: list[dict[str, Any]], words: list[str]
) -> None:
    """Under --http2 an extra mode "extra-h2" beside "extra" had the id of extra's sibling measured over HTTP/2:
    results.json listed the mode twice and kept the cells of one of the two. A superscript two is a digit to isdigit(),
    not to int(): ``"boots": "{workers}\u00b2"`` passed, and the first server's start ended in a ValueError traceback.
    (The check's FileError is the command's one line: test_a_bad_modes_file_is_one_line_naming_the_field.)"""
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps(entries))
    with pytest.raises(FileError) as refused:
        load_modes_file(modes_file)
    assert str(refused.value).startswith(f"{modes_file}: ")
    assert all(word in str(refused.value) for word in words), refused.value


def test_a_modes_file_that_is_not_json(matrix: MatrixCommand, tmp_path: Path) -> None:
    modes_file = tmp_path / "modes.json"
    modes_file.write_bytes(b'[{"id": \xff')
    done = matrix.run("run", "--no-discover", "--modes-file", str(modes_file), "--out", str(tmp_path / "o"), timeout=60)
    assert_refused(done, str(modes_file))


# -- results.json ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A results.json as `server-matrix run` writes it (synthetic loadgen results, the real writer)."""
    from server_matrix.reporting.resultsfile import save

    directory = tmp_path_factory.mktemp("good")
    save(synthetic_results(directory, free_threaded=True), directory / "results.json")
    data: dict[str, Any] = json.loads((directory / "results.json").read_text())
    return data


def damage(data: dict[str, Any], how: str) -> dict[str, Any]:
    damaged = copy.deepcopy(data)
    cell = next(cell for cell in damaged["cells"] if cell["samples"][0]["result"] is not None)
    result = cell["samples"][0]["result"]
    match how:
        case "cells not a list":
            damaged["cells"] = {"a": 1}
        case "samples empty":
            cell["samples"] = []
        case "no parameters":
            del damaged["parameters"]
        case "parameters timeout a string":
            damaged["parameters"]["timeout_s"] = "2s"
        case "variant unknown":
            cell["variant"] = "threaded"
        case "embedded result not a loadgen document":
            cell["samples"][0]["result"] = {"requests": 1}
        case "embedded result count a string":
            result["requests"] = "many"
        case "embedded result negative count":
            result["errors"]["timeout"] = -4
        case "embedded result latency huge":
            result["latency_uncorrected"]["histogram"] = [[10**30, 1]]
        case "embedded result count huge":  # found by the property test: the bootstrap's draws overflowed
            result["latency_uncorrected"]["histogram"] = [[1000, 2**63]]
        case "sample server port a string":
            cell["samples"][0]["server"]["port"] = "http"
        case "machine share a list":
            cell["samples"][0]["machine"] = {"other_share": [1], "steal_share": 0, "ours_share": 0, "window_s": 1}
        case "interpreter without label":
            del damaged["interpreters"][0]["label"]
        case "mode args a string":
            damaged["modes"][0]["args"] = "gunicorn"
        case "cell twice":
            damaged["cells"].append(copy.deepcopy(damaged["cells"][0]))
        case "discovery found null":
            damaged["environment"]["discovery"] = {"searched": True, "places": [], "found": None, "reason": None}
        case _:
            raise AssertionError(how)
    return damaged


DAMAGES = [
    ("cells not a list", "cells"),
    ("samples empty", "cells[0].samples"),
    ("no parameters", "parameters"),
    ("parameters timeout a string", "parameters.timeout_s"),
    ("variant unknown", "variant"),
    ("embedded result not a loadgen document", "samples[0].result"),
    ("embedded result count a string", "samples[0].result"),
    ("embedded result negative count", "samples[0].result"),
    ("embedded result latency huge", "samples[0].result"),
    ("embedded result count huge", "samples[0].result"),
    ("sample server port a string", "samples[0].server.port"),
    ("machine share a list", "samples[0].machine.other_share"),
    ("interpreter without label", "interpreters[0]"),
    ("mode args a string", "modes[0].args"),
    ("discovery found null", "environment.discovery.found"),
    ("cell twice", "the same cell as cells[0]"),
]


@pytest.mark.parametrize(("how", "field"), DAMAGES, ids=[how for how, _ in DAMAGES])
def test_report_refuses_a_damaged_results_json_in_one_line(
    matrix: MatrixCommand, tmp_path: Path, good_results: dict[str, Any], how: str, field: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(damage(good_results, how)))
    done, elapsed = timed(matrix, "report", str(path))
    assert_refused(done, str(path), field)
    assert elapsed < QUICK
    assert not (tmp_path / "report.md").exists()


@pytest.mark.parametrize("how", ["cells not a list", "samples empty", "embedded result count a string"])
def test_compare_and_run_refuse_a_damaged_results_json(
    matrix: MatrixCommand, tmp_path: Path, good_results: dict[str, Any], how: str
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "out" / "results.json"
    bad.parent.mkdir()
    good.write_text(json.dumps(good_results))
    bad.write_text(json.dumps(damage(good_results, how)))
    for done in matrix.run_together(
        ("compare", str(good), str(bad)), ("compare", str(bad), str(good)), matrix.quick(bad.parent)
    ):
        assert_refused(done, str(bad))


def test_results_json_with_nan_or_cut_short(
    matrix: MatrixCommand, tmp_path: Path, good_results: dict[str, Any]
) -> None:
    text = json.dumps(good_results)
    path = tmp_path / "results.json"
    path.write_text(text.replace('"duration_s":', '"duration_s": NaN, "x":', 1))
    assert_refused(matrix.run("report", str(path), timeout=60), str(path))
    path.write_text(text[: len(text) // 2])
    assert_refused(matrix.run("report", str(path), timeout=60), str(path))
