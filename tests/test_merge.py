"""``loadgen merge``: result files of runs made apart, added as if one run had measured them all."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import loadgen
from loadgen.testing.server import TestServer
from tests.conftest import run_loadgen


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real runs against one server, as two machines would have written them."""
    folder = tmp_path_factory.mktemp("merge")
    paths = folder / "a.json", folder / "b.json"
    with TestServer() as server:
        for path, connections in zip(paths, (2, 4), strict=True):
            result = loadgen.run(server.url(), threads=1, connections=connections, duration=0.5)
            path.write_text(loadgen.to_json(result))
    return paths


def _read(path: Path) -> loadgen.Result:
    return loadgen.from_json(path.read_text())


def test_merge_prints_the_apis_report_of_the_exact_union(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged.json"
    done = run_loadgen("merge", *map(str, two_runs), "--latency", "--json", str(out))
    assert done.returncode == 0, done.stderr
    a, b = map(_read, two_runs)
    expected = loadgen.merge([a, b])
    assert done.stdout == loadgen.wrk_report(expected, latency=True)
    merged = _read(out)
    assert merged == expected and merged.requests == a.requests + b.requests
    # the union's histogram, hence every percentile, is exact: not an average of percentiles
    union = {
        us: a.latency_uncorrected.counts.get(us, 0) + b.latency_uncorrected.counts.get(us, 0)
        for us in {*a.latency_uncorrected.counts, *b.latency_uncorrected.counts}
    }
    assert dict(merged.latency_uncorrected.counts) == union
    percentiles = json.loads(out.read_text())["latency_uncorrected"]["percentiles"]
    assert percentiles["99"] == loadgen.Distribution(union).percentile(99)


def _variant(path: Path, target: Path, **settings: object) -> Path:
    result = _read(path)
    target.write_text(loadgen.to_json(replace(result, runs=(replace(result.runs[0], **settings),))))
    return target


def test_results_of_another_url_are_refused_unless_forced(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    other = _variant(two_runs[1], tmp_path / "other.json", url="http://127.0.0.1:1/elsewhere")
    refused = run_loadgen("merge", str(two_runs[0]), str(other))
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr_lines) == 1 and "different URLs" in refused.stderr and "--force" in refused.stderr
    forced = run_loadgen("merge", str(two_runs[0]), str(other), "--force")
    assert forced.returncode == 0 and "requests in" in forced.stdout


def test_a_constant_rate_result_never_merges_with_a_closed_loop_one(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    paced = _variant(two_runs[1], tmp_path / "paced.json", rate=100.0)
    done = run_loadgen("merge", str(two_runs[0]), str(paced), "--force")
    assert done.returncode == 1 and len(done.stderr_lines) == 1 and "constant-rate" in done.stderr


def test_a_document_of_another_schema_version_is_refused(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(two_runs[1].read_text().replace('"version": 2', '"version": 1', 1))
    done = run_loadgen("merge", str(two_runs[0]), str(old))
    assert done.returncode == 1 and len(done.stderr_lines) == 1 and "version 1" in done.stderr
