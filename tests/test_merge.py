"""``loadgen merge``: result files of runs made apart, added as if one run had measured them all."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

import loadgen
from loadgen.measurement import Measurement, WorkerCpu
from loadgen.result import Host, WorkerFailure
from loadgen.testing.nginx import Nginx
from loadgen.testing.server import TestServer
from tests.conftest import at_once, run_loadgen, subcommand_together
from tests.test_h2_servers import needs_nginx


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, workers: loadgen.Workers) -> tuple[Path, Path]:
    """Two real runs against one server, as two machines would have written them."""
    folder = tmp_path_factory.mktemp("merge")
    paths = folder / "a.json", folder / "b.json"
    with TestServer() as server:
        results = at_once(
            *[
                partial(loadgen.run, server.url(), threads=1, connections=connections, duration=0.5, workers=workers)
                for connections in (2, 4)
            ]
        )
    for path, result in zip(paths, results, strict=True):
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


merge_together = partial(subcommand_together, "merge")  # several at once: see subcommand_together


def _variant(path: Path, target: Path, **settings: object) -> Path:
    result = _read(path)
    target.write_text(loadgen.to_json(replace(result, runs=(replace(result.runs[0], **settings),))))
    return target


def test_results_of_another_url_or_method_are_refused_unless_forced(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """README: runs of different URLs, methods or protocols are refused unless --force; a --json that
    cannot be written is refused before the report (not a report and then an error, exit 1); one file
    alone is a usage error."""
    a = str(two_runs[0])
    other = _variant(two_runs[1], tmp_path / "other.json", url="http://127.0.0.1:1/elsewhere")
    posted = _variant(two_runs[1], tmp_path / "posted.json", method="POST")
    refused, forced, method, unwritable, alone = merge_together(
        (a, str(other)),
        (a, str(other), "--force"),
        (a, str(posted)),
        (*map(str, two_runs), "--json", str(tmp_path)),
        (a,),
    )
    assert (alone.returncode, alone.stdout, alone.stderr_lines) == (
        1,
        "",
        ["loadgen merge: needs two result files or more"],
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr_lines) == 1 and "different URLs" in refused.stderr and "--force" in refused.stderr
    assert forced.returncode == 0 and "requests in" in forced.stdout
    assert (method.returncode, method.stdout) == (1, "")
    assert method.stderr_lines == [
        f"loadgen merge: cannot merge: {a} and {posted} have different methods (GET, POST): add --force to merge them"
    ]
    assert (unwritable.returncode, unwritable.stdout, len(unwritable.stderr_lines)) == (1, "", 1)
    assert unwritable.stderr.startswith(f"loadgen merge: cannot write JSON to {tmp_path}: ")


@needs_nginx
def test_runs_of_http1_and_http2_are_refused_unless_forced(
    two_runs: tuple[Path, Path], tmp_path: Path, workers: loadgen.Workers
) -> None:
    """An HTTP/2 run of the same URL and method beside an HTTP/1.1 one: one line naming both protocols."""
    with Nginx(http2=True) as nginx:
        result = loadgen.run(
            nginx.url("/"), http2=True, streams=2, threads=1, connections=2, duration=0.3, workers=workers
        )
    h1 = _read(two_runs[0])
    h2 = tmp_path / "h2.json"
    h2.write_text(loadgen.to_json(replace(result, runs=(replace(result.runs[0], url=h1.url),))))
    refused, forced = merge_together(
        (str(two_runs[0]), str(h2)), (str(two_runs[0]), str(h2), "--force", "--json", str(tmp_path / "both.json"))
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr_lines == [
        f"loadgen merge: cannot merge: {two_runs[0]} and {h2} have different protocols (http/1.1, h2): "
        "add --force to merge them"
    ]
    assert forced.returncode == 0 and _read(tmp_path / "both.json").requests == h1.requests + result.requests


def test_a_constant_rate_result_never_merges_with_a_closed_loop_one(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    paced = _variant(two_runs[1], tmp_path / "paced.json", rate=100.0)
    done = run_loadgen("merge", str(two_runs[0]), str(paced), "--force")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr_lines == [
        f"loadgen merge: cannot merge: {two_runs[0]} is a closed-loop run and {paced} a constant-rate run: their "
        "latencies are measured from different moments and cannot be merged"
    ]


def test_a_document_of_another_schema_version_is_refused(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    document = json.loads(two_runs[1].read_text())
    old.write_text(json.dumps({**document, "version": 1}))
    done = run_loadgen("merge", str(two_runs[0]), str(old))
    assert done.returncode == 1 and len(done.stderr_lines) == 1
    assert f"cannot read {old}: loadgen-result version 1, but this loadgen reads versions 2 to 3" in done.stderr


def test_the_same_run_twice_is_refused_unless_forced(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """``merge a.json a.json`` once silently doubled every count; each run now carries an id."""
    a, b = map(str, two_runs)
    run_id = _read(two_runs[0]).run_ids[0]
    assert run_id is not None and run_id != _read(two_runs[1]).run_ids[0]
    copy, merged, doubled = tmp_path / "copy.json", tmp_path / "ab.json", tmp_path / "aa.json"
    copy.write_text(two_runs[0].read_text())
    twice, copied, made, forced = merge_together(
        (a, a), (a, b, str(copy)), (a, b, "--json", str(merged)), (a, a, "--force", "--json", str(doubled))
    )
    assert twice.returncode == 1 and twice.stdout == ""
    assert twice.stderr_lines == [
        f"loadgen merge: cannot merge: {a} is given twice: merging would count each of its responses twice; "
        "add --force to merge anyway"
    ]
    assert f"{a} and {copy} hold the same run ({run_id})" in copied.stderr
    assert made.returncode == 0
    assert _read(merged).run_ids == (run_id, _read(two_runs[1]).run_ids[0])
    assert forced.returncode == 0 and _read(doubled).requests == 2 * _read(two_runs[0]).requests
    again, inside = merge_together((str(merged), b), (str(doubled), b))  # the merged files merged again
    assert again.returncode == 1 and f"{merged} and {b} hold the same run" in again.stderr
    assert inside.returncode == 1 and f"{tmp_path / 'aa.json'} holds run {run_id} twice" in inside.stderr


def test_documents_of_version_2_still_merge_without_ids(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old = Path(__file__).parent / "documents" / "v2-closed.json"
    assert json.loads(old.read_text())["version"] == 2 and loadgen.from_json(old.read_text()).run_ids == (None,)
    out = tmp_path / "merged.json"
    done = run_loadgen("merge", str(old), str(old), str(two_runs[0]), "--force", "--json", str(out))
    assert done.returncode == 0, done.stderr
    merged = _read(out)
    assert merged.run_ids == (None, None, _read(two_runs[0]).run_ids[0])
    assert merged.requests == 2 * loadgen.from_json(old.read_text()).requests + _read(two_runs[0]).requests
    assert json.loads(out.read_text())["version"] == 3


def test_a_version_2_document_given_twice_is_refused_by_its_content(tmp_path: Path) -> None:
    """It has no run id: ``merge v2.json v2.json`` doubled every count."""
    old = str(Path(__file__).parent / "documents" / "v2-closed.json")
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(json.loads(Path(old).read_text()), indent=4))  # the same document, other bytes
    for files, where in [
        ((old, old), f"{old} is given twice"),
        ((old, str(copy)), f"{old} and {copy} hold the same run"),
    ]:
        done = run_loadgen("merge", *files)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr_lines == [
            f"loadgen merge: cannot merge: {where}: merging would count each of its responses twice; "
            "add --force to merge anyway"
        ]


def test_the_api_reads_results_as_python_does(two_runs: tuple[Path, Path]) -> None:
    """sum() adds results as merge() does; the calls given the wrong thing say what they take."""
    a, b = map(_read, two_runs)
    assert sum([a, b]) == a + b == loadgen.merge([a, b])
    with pytest.raises(ValueError, match="at least one result"):
        loadgen.merge([])
    with pytest.raises(TypeError, match="JSON text or bytes, not dict"):
        loadgen.from_json(json.loads(two_runs[0].read_text()))  # type: ignore[arg-type]
    assert loadgen.check_thresholds(a, "p99<10s") == loadgen.check_thresholds(a, ["p99<10s"])  # one, not 'p', '9'...
    with pytest.raises(TypeError, match="judges a loadgen Result, not NoneType"):
        loadgen.check_thresholds(None, ["p99<1s"])  # type: ignore[arg-type]
    # once AttributeError: 'int' object has no attribute 'measured', from inside
    for call in (loadgen.to_json, loadgen.to_document, loadgen.wrk_report):
        with pytest.raises(TypeError, match=rf"^{call.__name__}\(result\) takes a loadgen Result, not int$"):
            call(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^each of merge\(results\) must be a loadgen Result, not str$"):
        loadgen.merge([a, "b.json"])  # type: ignore[list-item]
    # once AttributeError: 'str' object has no attribute 'threshold', from inside
    with pytest.raises(
        TypeError, match=r"^thresholds must be the Verdicts that loadgen.check_thresholds\(.*, not 'p99<1s'$"
    ):
        loadgen.to_json(a, thresholds=["p99<1s"])  # type: ignore[list-item]


def test_a_results_repr_is_one_short_line(two_runs: tuple[Path, Path]) -> None:
    """The dataclass's held every histogram: 92,408 characters for a 3 s run."""
    a, b = map(_read, two_runs)
    both = a + b
    assert repr(both) == (
        f"<loadgen.Result {both.requests:,} requests in {both.runtime_s:.2f}s, {both.requests_per_sec:,.1f} req/s, "
        f"2 workers, {a.url}>"
    )
    assert both == loadgen.from_json(loadgen.to_json(both))  # a dataclass's equality still
    measured = both.measured  # its raw record's: 8,327 characters for a 0.5 s run
    assert repr(measured) == (
        f"<loadgen.Measurement {both.requests:,} requests in {measured.elapsed_us / 1e6:.2f}s, 2 workers, "
        f"{measured.connections_opened:,} connections opened>"
    )


def test_a_result_is_hashable_as_its_equality_says(two_runs: tuple[Path, Path]) -> None:
    """A frozen dataclass's hash of every field raised 'unhashable type: Measurement': equal
    results (one read twice) hash alike and are one key; others are apart."""
    a, again, b = _read(two_runs[0]), _read(two_runs[0]), _read(two_runs[1])
    assert a == again and a is not again and hash(a) == hash(again)
    assert {a: "a", again: "again", b: "b"} == {a: "again", b: "b"}
    assert len({a, b, a + b, loadgen.from_json(loadgen.to_json(a + b))}) == 3


def test_results_of_targets_sent_in_other_shares_are_refused_unless_forced(
    server: TestServer, workers: loadgen.Workers, tmp_path: Path
) -> None:
    """Once merged silently (merge matched the targets by label only): /a and /b sent 1 in 2 each
    beside 1 in 10 and 9 in 10; runs[].targets records each run's weights. Weights 2 and 2 are 1
    and 1's shares, and merge."""
    shares = {"even": (1, 1), "doubled": (2, 2), "skewed": (1, 9)}
    results = at_once(
        *[
            partial(
                loadgen.run,
                targets=[
                    loadgen.Target("GET", server.url(path), weight=w)
                    for path, w in zip(("/a", "/b"), weights, strict=True)
                ],
                threads=1,
                connections=2,
                duration=0.3,
                workers=workers,
            )
            for weights in shares.values()
        ]
    )
    paths = {name: tmp_path / f"{name}.json" for name in shares}
    for name, result in zip(shares, results, strict=True):
        paths[name].write_text(loadgen.to_json(result))
    even, skewed, doubled = (str(paths[name]) for name in ("even", "skewed", "doubled"))
    refused, forced, same_shares = merge_together((even, skewed), (even, skewed, "--force"), (even, doubled))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr_lines == [
        f"loadgen merge: cannot merge: {paths['even']} and {paths['skewed']} sent a target otherwise ({paths['even']}: "
        f"GET /a weight 1 of 2, GET /b weight 1 of 2; {paths['skewed']}: GET /a weight 1 of 10, GET /b weight 9 of "
        "10): add --force to merge them"
    ]
    assert forced.returncode == 0 and same_shares.returncode == 0


def test_results_of_other_targets_are_refused_unless_forced(
    server: TestServer, workers: loadgen.Workers, tmp_path: Path
) -> None:
    """Once merged silently into a run of targets neither ran (a run's URL is its first target's, so
    '/a, /b' and '/a, /c' looked alike); a plain run of /a beside targets '/a, /b' too."""
    shape = dict(threads=1, connections=2, duration=0.3, workers=workers)
    runs = {
        "ab": partial(loadgen.run, targets=[server.url("/a"), server.url("/b")], **shape),
        "ac": partial(loadgen.run, targets=[server.url("/a"), server.url("/c")], **shape),
        "plain": partial(loadgen.run, server.url("/a"), **shape),
    }
    paths = {name: tmp_path / f"{name}.json" for name in runs}
    for name, result in zip(runs, at_once(*runs.values()), strict=True):
        paths[name].write_text(loadgen.to_json(result))
    others = (("ac", "GET /c"), ("plain", "none"))
    *merges, itself = merge_together(
        *[(str(paths["ab"]), str(paths[other]), *forced) for other, _ in others for forced in ((), ("--force",))],
        (str(paths["ab"]), str(paths["ab"]), "--force"),
    )
    for (other, only), refused, forced in zip(others, merges[::2], merges[1::2], strict=True):
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr_lines == [
            f"loadgen merge: cannot merge: {paths['ab']} and {paths[other]} ran different targets (only in "
            f"{paths['ab']}: GET /b; only in {paths[other]}: {only}): add --force to merge them"
        ]
        assert forced.returncode == 0
    assert itself.returncode == 0
    # a plain run is its URL's one target in the sum too: the targets' requests add up to the total
    ab, plain = _read(paths["ab"]), _read(paths["plain"])
    for merged in (ab + plain, plain + ab, loadgen.merge([plain, plain, ab])):
        assert sum(target.requests for target in merged.targets) == merged.requests
    a = (ab + plain).target("GET /a")
    assert a is not None and a.requests == ab.targets[0].requests + plain.requests
    assert repr(a) == f"<loadgen.TargetStats GET /a: {a.requests:,} requests, {a.requests_per_sec:,.1f} req/s>"
    assert repr(ab.measured).startswith(f"<loadgen.Measurement {ab.requests:,} requests in ")
    assert repr(ab.measured).endswith(" connections opened, 2 targets>")


@pytest.fixture(scope="module")
def other_first_targets(tmp_path_factory: pytest.TempPathFactory, workers: loadgen.Workers) -> tuple[Path, Path]:
    """Runs of targets '/a, /b' and '/c, /b': their URLs, each its first target's, differ too."""
    folder = tmp_path_factory.mktemp("other-first")
    paths = folder / "ab.json", folder / "cb.json"
    shape = dict(threads=1, connections=2, duration=0.3, workers=workers)
    with TestServer() as server:
        results = at_once(
            *[partial(loadgen.run, targets=[server.url(first), server.url("/b")], **shape) for first in ("/a", "/c")]
        )
    for path, result in zip(paths, results, strict=True):
        path.write_text(loadgen.to_json(result))
    return paths


def test_runs_of_other_first_targets_are_refused_as_other_targets(other_first_targets: tuple[Path, Path]) -> None:
    """Refused as 'different URLs (http://127.0.0.1:PORT/a, http://127.0.0.1:PORT/c)', the first
    targets' URLs, which named neither run's targets nor what the one lacked of the other's."""
    ab, cb = other_first_targets
    refused = run_loadgen("merge", str(ab), str(cb))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr_lines == [
        f"loadgen merge: cannot merge: {ab} and {cb} ran different targets (only in {ab}: GET /a; only in {cb}: "
        "GET /c): add --force to merge them"
    ]


def test_a_forced_merge_of_other_targets_counts_them_all_in_its_first_line(
    other_first_targets: tuple[Path, Path],
) -> None:
    """'/a, /b' and '/c, /b' merged with --force: the report's first line said '(2 targets)', the
    first run's count, above a table of 3."""
    ab, cb = other_first_targets
    merged = run_loadgen("merge", "--force", str(ab), str(cb))
    assert merged.returncode == 0
    assert merged.stdout.splitlines()[0].endswith(" (3 targets)")
    assert [line.split()[1] for line in merged.stdout.splitlines()[-3:]] == ["/a", "/b", "/c"]
    assert repr(_read(ab) + _read(cb)).endswith(" (3 targets)>")


def _two_worker_run(measured: int, failures: tuple[WorkerFailure, ...] = ()) -> loadgen.Result:
    """A -t2 Dask run of which ``measured`` workers came home, the others' failures given."""
    cpu = (WorkerCpu(0.5, 1.0),) * measured
    hosts = tuple(Host(index, f"tcp://127.0.0.1:{index}", "here", 1, 0, cpu[0], index / 4) for index in range(2))
    return loadgen.Result(
        runs=(loadgen.Settings("http://127.0.0.1:1/", threads=2, connections=2, duration=1),),
        measured=Measurement(workers=measured, requests=measured, client_cpu=cpu, elapsed_us=1_000_000),
        runtime_us=1_000_000,
        worker_failures=failures,
        hosts=hosts,
    )


LOST_FIRST = (WorkerFailure(0, 123, "was killed by SIGKILL", lost=True),)


def test_merged_runs_number_their_workers_across_the_runs() -> None:
    """-t2 and -t2 whose second run lost its worker 0: the merged figures are workers 0, 1 and 3, and the failure
    worker 2's (it stayed worker 0, so the CPU figures were named 1, 2, 3 and the busy line the first run's worker);
    their hosts keep each run's start offsets."""
    merged = _two_worker_run(2) + _two_worker_run(1, LOST_FIRST)
    assert [merged.worker_at(position) for position in range(3)] == [0, 1, 3]
    # the share of the rate asked the figures describe: 3 of the 4 workers' (each run's own: all, and 1 of 2)
    shares = [run.reported_share for run in (_two_worker_run(2), _two_worker_run(1, LOST_FIRST), merged)]
    assert shares == [1.0, 0.5, 0.75] and merged.reported_workers == 3
    assert str(merged.worker_failures[0]) == "worker 2 (pid 123) was killed by SIGKILL"
    assert [host.worker for host in merged.hosts] == [0, 1, 2, 3]
    # each run's start skew from its own earliest worker (README): a document holds no clock time to do better
    assert [host.start_offset_s for host in merged.hosts] == [0.0, 0.25, 0.0, 0.25]


def test_merge_says_what_its_runs_lost_as_a_run_does(tmp_path: Path) -> None:
    """A run that lost a worker says so after its report, and so does ``loadgen report`` of the merged file:
    ``loadgen merge`` printed the report alone, so the union's missing worker went unsaid."""
    paths = tmp_path / "a.json", tmp_path / "b.json"
    for path, result in zip(paths, (_two_worker_run(2), _two_worker_run(1, LOST_FIRST)), strict=True):
        path.write_text(loadgen.to_json(result))
    merged = run_loadgen("merge", *map(str, paths))
    assert merged.returncode == 0 and merged.stdout.startswith("Running 1s test @ http://127.0.0.1:1/")
    assert merged.stderr_lines == ["loadgen: worker 2 (pid 123) was killed by SIGKILL"]
