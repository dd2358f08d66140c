"""The code's promises about its own shape: no import cycles, one measured record that every
layer derives from, a JSON schema that names every field, and a README that matches the tree."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import jsonschema
import pytest

import loadgen
from loadgen import ErrorKind, ErrorReason, Measurement, Stage, WorkerCpu
from loadgen.commands import FILES_ONLY
from loadgen.measurement import Interval, TargetMeasurement
from loadgen.report import from_json_judged
from loadgen.result import ConnectionAccount, Counts, Host, Second
from loadgen.settings import LONGEST_TIMEOUT_S

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("loadgen", "server_matrix")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Modules ``path`` imports at run time (imports under ``if TYPE_CHECKING:`` aside)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def class_fields(node: ast.ClassDef) -> set[str]:
    """The names a class body declares with an annotation (a dataclass's fields)."""
    return {
        item.target.id for item in node.body if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
    }


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    return {
        name: {imported for imported in _imports(path, name) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert "loadgen._run.worker" in graph["loadgen._run.workerproc"]  # the graph is really built
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _every_field_set() -> Measurement:
    """A measurement with every field away from its default: what a forgotten field would lose."""
    reason = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "malformed response", "invalid status line")
    sample = Measurement(
        workers=2,
        requests=10,
        bytes=1234,
        timeouts=1,
        timed_out_us=2_500_000,
        status_counts={200: 9, 503: 1},
        error_reasons={reason: 3},
        latency={150: 4, 900: 5},
        latency_from_write={140: 9},
        req_per_sec={5000: 3},
        connections_opened=5,
        connection_responses={3: 2, 4: 1},
        first_response={900: 2, 1500: 1},
        unanswered={2_600_000: 1, 300: 1},
        peak_open=4,
        opening_at_end=2,
        in_flight_at_end=3,
        stalled_at_end=1,
        begun_at_end=2,
        window_blocked_at_end=1,
        protocol="h2",
        goaways=2,
        replaced_while_draining=1,
        pings=7,
        stream_limits={100: 3},
        zero_streams_at_end=1,
        elapsed_us=1_000_000,
        loop="uvloop",
        client_cpu=(WorkerCpu(0.5, 1.0, 0.25), WorkerCpu(0.25, 1.0)),
        script_globals=({"a": 1}, {"b": [2]}),
        script_error="script.py:3: ValueError: no",
        timeline=(
            Interval(1_000_000, 6, 700, {"read": 2}, {150: 2, 900: 4}),
            Interval(500_000, 4, 534, {}, {150: 2, 900: 1}),
        ),
        connect={80: 4, 95: 1},
        tls_handshake={900: 5},
        first_byte_split={120: 2},
        latency_split={900: 2},
        targets=(
            TargetMeasurement("GET /a", 6, 1, 2_500_000, {200: 5, 503: 1}, {reason: 2}, {150: 2, 900: 3}, {140: 5}),
            TargetMeasurement("POST /b", 4, 0, 0, {200: 4}, {reason: 1}, {150: 2, 900: 2}, {140: 4}),
        ),
    )
    defaults = Measurement()
    unset = [f.name for f in fields(Measurement) if getattr(sample, f.name) == getattr(defaults, f.name)]
    assert not unset, f"set these fields in the sample too: {unset}"
    return sample


def _result(measured: Measurement, rate: float | None) -> loadgen.Result:
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=2, connections=4, duration=1.0, rate=rate)
    hosts = (
        Host(0, "tcp://127.0.0.1:40001", "a", 6, 1, WorkerCpu(0.5, 1.0, 0.25), 0.0),
        Host(1, "tcp://127.0.0.1:40002", "b", 4, 0, WorkerCpu(0.25, 1.0), 0.004),
    )
    return loadgen.Result(runs=(settings,), measured=measured, runtime_us=measured.elapsed_us, hosts=hosts)


@pytest.mark.parametrize("rate", [None, 100.0], ids=["closed loop", "constant rate"])
def test_every_measured_field_survives_json(rate: float | None) -> None:
    measured = _every_field_set()
    if rate is None:
        measured.latency_from_write = {}  # kept in constant-rate mode only
        measured.targets = tuple(replace(target, latency_from_write={}) for target in measured.targets)
    result = _result(measured, rate)
    assert loadgen.from_json(loadgen.to_json(result)) == result
    assert loadgen.from_json(loadgen.to_json(result, indent=2).encode()) == result  # for a person to read, or bytes
    assert loadgen.from_document(loadgen.to_document(result)) == result  # a document held in another's (capacity's)
    both = result + _result(measured, rate)  # a merge keeps every run's id, in order
    assert len(set(both.run_ids)) == 2 and loadgen.from_json(loadgen.to_json(both)).run_ids == both.run_ids


def test_the_bodies_and_the_verdicts_survive_json() -> None:
    """A body is any bytes (base64 in the document), the run's and each target's; the verdicts of
    --fail-on are read back beside the result, which the reports show again."""
    target = loadgen.Target("POST", "http://127.0.0.1:1/b", (("X-A", "1"),), b"\x00\xff{}", 2)
    settings = loadgen.Settings("http://127.0.0.1:1/", method="PUT", body=b"\xfe\x00a", targets=(target,), duration=1.0)
    result = replace(_result(_every_field_set(), None), runs=(settings,))
    verdicts = loadgen.check_thresholds(result, ["p99<1ms", "errors<1%"])
    again, judged = from_json_judged(loadgen.to_json(result, thresholds=verdicts))
    assert (again.runs[0].body, again.runs[0].targets[0].body) == (b"\xfe\x00a", b"\x00\xff{}")
    assert again.runs == result.runs and judged == tuple(verdicts) and [v.passed for v in judged] == [True, False]


def test_the_documents_figures_are_the_reports() -> None:
    """The derived figures a reader takes from the document, of 3 responses in 1 ms and 1 in 5 ms:
    wrk's mean, sample stdev, +/- Stdev (3 of 4 within 2 +/- 2 ms) and percentiles (rank
    round(p/100 x count + 0.5)); an empty distribution's +/- Stdev, wrk's NaN, is null; the
    per-connection account's figures, of 100 connections; the connections per worker, none when
    the runs added together had other numbers."""
    measured = Measurement(workers=1, requests=4, status_counts={200: 4}, latency={1000: 3, 5000: 1}, elapsed_us=10**6)
    measured.connection_responses, measured.first_response = {1: 51, 3: 49}, {1000: 51, 2000: 49}  # 100 connections
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=2, duration=1.0)
    result = loadgen.Result(runs=(settings,), measured=measured, runtime_us=10**6)
    document = loadgen.to_document(result)
    other = replace(result, runs=(replace(settings, connections=3),), run_ids=())
    per_worker = [loadgen.to_document(both)["connections"]["per_worker"] for both in (result, result + other)]
    assert per_worker == [2, None]
    latency = document["latency_uncorrected"]
    figures = {"count": 4, "min": 1000, "mean": 2000.0, "stdev": 2000.0, "max": 5000, "within_stdev": 75.0, "hidden": 0}
    assert {key: latency[key] for key in figures} == figures
    assert latency["percentiles"] == {"50": 1000} | dict.fromkeys(
        ["75", "90", "99", "99.9", "99.99", "99.999", "100"], 5000
    )
    assert latency["histogram"] == {"deltas": [1000, 4000], "counts": [3, 1]} and latency["unit"] == "us"
    assert document["connect"]["count"] == 0 and document["connect"]["within_stdev"] is None
    assert (document["connections"]["answered"], document["connections"]["never_answered"]) == (100, 0)
    responses, first = document["connections"]["responses_per_connection"], document["connections"]["first_response_us"]
    assert [responses[key] for key in ("min", "p50", "max", "busiest_tenth_share")] == [1, 1, 3, 30 / 198]
    assert (first["p50"], first["max"]) == (1000, 2000)  # the 51st of 100


def test_a_second_of_the_timeline_starts_where_the_one_before_ended() -> None:
    """The last second may be shorter: its 4 requests in 0.5 s are 8 per second; the rate asked."""
    result = _result(_every_field_set(), None)
    assert [(second.start_s, second.duration_s, second.requests_per_sec) for second in result.timeline] == [
        (0.0, 1.0, 6.0),
        (1.0, 0.5, 8.0),
    ]
    assert Second(2, Interval(0, requests=3), 1_500_000).requests_per_sec == 0.0  # a second of no time: no rate
    # the read-only counts are hashable, equal ones alike, as a frozen value is
    assert hash(result.status_counts) == hash(Counts(dict(result.status_counts)))
    # the rate asked in each: none in a closed loop, -R's under it
    paced = _result(_every_field_set(), 100.0)
    assert [(result.asked_per_sec(s), paced.asked_per_sec(s)) for s in result.timeline] == [(None, 100.0)] * 2


def test_a_second_that_kept_kinds_only_has_each_reasons_share_rounded() -> None:
    """A document written before the timeline kept reasons: each second's read errors are taken in the run's
    shares (2/3 resets, 1/3 malformed); over two seconds of one each, 4/3 and 2/3, rounded to 1 and 1."""
    reset = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "ECONNRESET")
    malformed = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "malformed response", "invalid status line")
    second = Interval(1_000_000, requests=5, errors={ErrorKind.READ: 1})
    measured = Measurement(workers=1, requests=15, error_reasons={reset: 2, malformed: 1}, timeline=(second,) * 3)
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=1, connections=1, duration=3)
    result = loadgen.Result(runs=(settings,), measured=measured, runtime_us=3_000_000)
    assert result.reasons(lambda reason: True, result.timeline[:2]) == [(reset, 1), (malformed, 1)]


def test_a_connection_account_says_a_share_of_one_percent_or_more() -> None:
    """1% or more of the connections never answered, or answered then left waiting past the
    timeout at the end, is worth a word; less is not (1 of 200 is 0.5%: neither line)."""
    for opened, never, stalled, said in ((100, 1, 1, True), (200, 1, 1, False), (100, 0, 0, False)):
        responses = loadgen.Distribution({0: never, 5: opened - never})
        account = ConnectionAccount(opened, responses, responses, loadgen.Distribution(), 2_000_000, 1.0, stalled)
        assert (account.never_answered_worth_a_word, account.stalled_worth_a_word) == (said, said)


def test_every_result_field_is_in_the_document() -> None:
    """Besides the measurement: the settings, the window, the failures, the hosts and the run ids."""
    result = _result(_every_field_set(), None)
    document = json.loads(loadgen.to_json(result))
    keys = {"runs": "runs", "measured": "requests", "runtime_us": "runtime_us", "interrupted": "interrupted"}
    keys |= {"worker_failures": "worker_failures", "hosts": "hosts", "run_ids": "run_ids"}
    assert {f.name for f in fields(loadgen.Result)} == set(keys), "a new Result field: add it to the JSON"
    assert all(key in document for key in keys.values())
    assert document["run_ids"] == list(result.run_ids) and len(result.run_ids[0] or "") == 32
    assert document["failures"] == {"malformed": 3}  # the server's faults, by their cause's first word


def test_the_schema_describes_every_key_the_document_has() -> None:
    schema = json.loads((Path(loadgen.__file__).parent / "result.schema.json").read_text())
    result = _result(_every_field_set(), 100.0)
    verdicts = loadgen.check_thresholds(result, ["p99<1ms", "errors<1%", "rps>=1k", "non2xx==0"])
    document = json.loads(loadgen.to_json(result, thresholds=verdicts))
    jsonschema.validate(document, schema)  # additionalProperties is false at the top level
    assert [entry["verdict"] for entry in document["thresholds"]] == ["passed", "failed", "failed", "failed"]
    assert set(schema["required"]) == set(document)


def test_the_schema_takes_the_longest_run_the_settings_allow() -> None:
    """A run of a year (LONGEST_S) must write a document its own schema accepts: the two bounds are one fact."""
    schema = json.loads((Path(loadgen.__file__).parent / "result.schema.json").read_text())
    longest = loadgen.Settings(
        "http://127.0.0.1:1/",
        duration=loadgen.LONGEST_S,
        warmup=loadgen.LONGEST_S,
        script_timeout=loadgen.LONGEST_S,
        timeout=LONGEST_TIMEOUT_S,
    )
    result = replace(_result(_every_field_set(), None), runs=(longest,))
    jsonschema.validate(json.loads(loadgen.to_json(result)), schema)
    timeline = schema["properties"]["timeline"]
    last_second = timeline["items"]["properties"]["second"]["maximum"]
    assert timeline["maxItems"] > loadgen.LONGEST_S and last_second >= loadgen.LONGEST_S


def test_measurements_add_field_by_field() -> None:
    a = _every_field_set()
    total = a + a
    assert total.requests == 20 and total.elapsed_us == a.elapsed_us and total.loop == "uvloop"
    assert total.latency == {150: 8, 900: 10} and len(total.client_cpu) == 4
    assert [second.requests for second in total.timeline] == [12, 8] and total.timeline[1].duration_us == 500_000
    assert Measurement.sum([a, a]) == total
    # two workers' seconds as the live view adds them: every count added, as long as the longer
    both = a.timeline[0] + a.timeline[1]
    assert both == Interval(1_000_000, 10, 1234, {"read": 2}, {150: 4, 900: 5})


def test_the_readme_layout_names_only_modules_that_exist() -> None:
    section = re.search(r"## How the code is organised\n(.*?)\n## ", (ROOT / "README.md").read_text(), re.S)
    assert section, "the README needs a 'How the code is organised' section"
    named = re.findall(r"`((?:loadgen|server_matrix|demo)/[\w/.]*)`", section.group(1))
    assert len(named) >= 20
    missing = [name for name in named if not (ROOT / name).exists()]
    assert not missing, f"the README names modules that do not exist: {missing}"
    modules = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "loadgen").rglob("*.py") if path.name != "__init__.py"
    }
    unnamed = sorted(modules - set(named))
    assert not unnamed, f"modules the README's layout does not mention: {unnamed}"


def test_the_public_names_are_the_lazy_exports_and_all_resolve() -> None:
    assert set(loadgen.__all__) == {"__version__", *loadgen._EXPORTS}
    for name in loadgen.__all__:
        assert getattr(loadgen, name) is not None


# -- the protocol seam ----------------------------------------------------------------------------

PROTOCOL_PACKAGES = ("loadgen._run.http1", "loadgen._run.http2")


def test_protocols_are_reached_only_through_the_table() -> None:
    """No module outside a protocol's package imports it: the engine looks protocols up by name."""
    graph = import_graph()
    assert "loadgen._run.http1.connection" in graph["loadgen._run.http1"]  # the packages are really in the graph
    reaching = sorted(
        f"{module} -> {target}"
        for module, imported in graph.items()
        for target in imported
        for package in PROTOCOL_PACKAGES
        if (target == package or target.startswith(package + "."))
        and not (module == package or module.startswith(package + "."))
    )
    assert not reaching, f"imports of a protocol's package from outside it: {reaching}"


def test_the_table_names_every_protocol_and_each_has_the_interface() -> None:
    import inspect

    from loadgen._run.protocols import DEFAULT, PROTOCOLS, WireProtocol, protocol_named

    assert DEFAULT == "http/1.1" and DEFAULT in PROTOCOLS
    wanted = {name for name, _ in inspect.getmembers(WireProtocol, inspect.isfunction) if not name.startswith("_")}
    assert {"check", "exchange", "encode", "connection", "tls_context"} <= wanted
    for name in PROTOCOLS:
        protocol = protocol_named(name)
        assert protocol.name == name
        missing = [method for method in wanted if not callable(getattr(protocol, method, None))]
        assert not missing, f"{name} lacks {missing}"


def test_the_worker_is_split_by_job_and_never_reassigns_a_method() -> None:
    run = ROOT / "loadgen" / "_run"
    for module in ("pool.py", "schedule.py", "sampling.py", "protocols.py"):
        assert (run / module).exists(), module
    assert len((run / "worker.py").read_text().splitlines()) < 250
    reassigned = []
    for path in (ROOT / "loadgen").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
            for item in ast.walk(node):
                if isinstance(item, ast.Assign):
                    for target in item.targets:
                        self_attribute = isinstance(target, ast.Attribute) and getattr(target.value, "id", "") == "self"
                        if self_attribute and getattr(target, "attr", "") in methods:
                            reassigned.append(f"{path.name}:{node.name}.{getattr(target, 'attr', '')}")
    assert not reassigned, f"methods reassigned at run time: {reassigned}"


def test_one_definition_of_an_error_status() -> None:
    """ "status > 399" is decided once (measurement.is_error_status); every count of errors uses it."""

    def decides(node: ast.AST) -> bool:
        if not isinstance(node, ast.Compare) or len(node.ops) != 1:
            return False
        bound = node.comparators[0]
        return isinstance(bound, ast.Constant) and (
            (isinstance(node.ops[0], ast.Gt) and bound.value == 399)
            or (isinstance(node.ops[0], ast.GtE) and bound.value == 400)
        )

    deciding = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "loadgen").rglob("*.py")
        if any(decides(node) for node in ast.walk(ast.parse(path.read_text())))
    )
    assert deciding == ["loadgen/measurement.py"], deciding


def test_the_timeline_counts_errors_by_kind() -> None:
    """Error kinds are an enum end to end: in the worker's seconds and in a document read back."""
    result = _result(_every_field_set(), None)
    for second in loadgen.from_json(loadgen.to_json(result)).measured.timeline:
        assert all(type(kind) is ErrorKind for kind in second.errors)
    tls = ErrorReason(ErrorKind.CONNECT, Stage.TLS, "CERTIFICATE_VERIFY_FAILED")  # a reason's stage, as its text
    text = loadgen.to_json(replace(result, measured=replace(result.measured, error_reasons={tls: 1})))
    assert json.loads(text)["error_reasons"][0]["stage"] == "TLS handshake"
    assert loadgen.from_json(text).error_reasons == {tls: 1}
    # equal results are one document: their reasons in one order, whichever a worker or a merge met first
    refused = ErrorReason(ErrorKind.CONNECT, Stage.CONNECT, "ECONNREFUSED")
    orders = ({tls: 2, refused: 2}, {refused: 2, tls: 2})
    texts = {loadgen.to_json(replace(result, measured=replace(result.measured, error_reasons=o))) for o in orders}
    assert len(texts) == 1
    measured = Measurement(timeouts=2, status_counts={200: 5, 404: 1, 503: 2})
    assert measured.error_counts() == {ErrorKind.TIMEOUT: 2, ErrorKind.STATUS: 3}


# -- loadgen's house: one door, options declared once, names that say one thing, layers ---------------

LOADGEN = ROOT / "loadgen"
# The layers, each importing only those before it (imports for type checking aside). The plain
# modules at the top come first; testing/ is equipment and stands apart; cli.py and __main__.py
# (the entry) may import anything.
LAYERS = ("base", "engine", "api", "report", "commands")
ENGINE_DOOR = {"prepare", "execute", "execute_on_cluster"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "loadgen" or len(parts) == 1 or parts[1] in ("testing", "cli", "__main__"):
        return None
    return {"_run": "engine", "api": "api", "report": "report", "commands": "commands"}.get(parts[1], "base")


def _loadgen_modules() -> list[Path]:
    return sorted(LOADGEN.rglob("*.py"))


def test_loadgen_imports_run_with_the_layers() -> None:
    """The engine imports no command, no renderer and not its door; a renderer imports no command
    and no engine; a command reaches the engine only through api.py."""
    against = []
    for module, imported in import_graph().items():
        mine = _layer(module)
        if mine is None:
            continue
        for target in imported:
            theirs = _layer(target)
            allowed = LAYERS[: LAYERS.index(mine) + 1] if mine != "commands" else ("base", "api", "report", "commands")
            if mine == "report":
                allowed = ("base", "report")
            if theirs is not None and theirs not in allowed:
                against.append(f"{module} -> {target}")
    assert not against, against


def test_the_layer_check_sees_a_wrong_import() -> None:
    assert _layer("loadgen._run.plan") == "engine" and _layer("loadgen.commands.usage") == "commands"
    assert _layer("loadgen.settings") == "base" and _layer("loadgen.cli") is None
    assert "loadgen._run.plan" in import_graph()["loadgen.api"]  # the door is really seen


def _calls(path: Path, names: set[str]) -> list[str]:
    """``function:called`` for every call in ``path`` of a function named in ``names``."""
    found = []
    for function in ast.walk(ast.parse(path.read_text())):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    called = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    if called in names:
                        found.append(f"{function.name}:{called}")
    return found


def test_the_engine_has_one_door() -> None:
    """Outside the engine, only api.run_settings prepares and executes a run."""
    callers = {
        f"{path.relative_to(ROOT)}:{call}"
        for path in _loadgen_modules()
        if "_run" not in path.parts
        for call in _calls(path, ENGINE_DOOR)
    }
    assert callers == {
        "loadgen/api.py:run_settings:prepare",
        "loadgen/api.py:run_settings:execute",
        "loadgen/api.py:run_settings:execute_on_cluster",
    }


# the command as ``python -m loadgen`` runs it, then the engine's modules it imported (asyncio, loadgen._run) on stderr
ENGINE_IMPORTED = """\
import sys
from loadgen.__main__ import entry
sys.argv = ["loadgen", *sys.argv[1:]]
entry()
print(sorted(name for name in sys.modules if name == "asyncio" or name.startswith("loadgen._run")), file=sys.stderr)
"""


def test_the_commands_that_only_read_files_import_no_engine() -> None:
    """compare, merge and report run no load: the engine's imports (asyncio, uvloop, the workers)
    were a fifth of their start-up's CPU (compare 153 -> 120 ms, report 159 -> 121 ms); wrk's command imports them."""
    document = str(ROOT / "tests" / "documents" / "v2-closed.json")
    imported = {}
    for command in (*sorted(FILES_ONLY), "-v"):
        done = subprocess.run(
            [sys.executable, "-c", ENGINE_IMPORTED, command, *([document] * 2 * (command != "-v"))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        imported[command] = done.stderr.splitlines()[-1]
    assert imported.pop("-v") != "[]"  # the check sees the engine where it is imported
    assert imported == dict.fromkeys(FILES_ONLY, "[]")


def test_no_two_loadgen_modules_share_a_file_name() -> None:
    names = [path.name for path in _loadgen_modules() if path.name != "__init__.py"]
    twins = sorted({name for name in names if names.count(name) > 1})
    assert not twins, f"modules with the same file name in loadgen/: {twins}"


def test_every_run_option_is_declared_once() -> None:
    """Settings' fields are the one declaration: each (but the URL) is an option, no other class or
    function lists them again, and each is a keyword of run() and a flag of every command that runs load. One
    list is allowed, for want of a way to derive it: RunOptions, the forms a caller may give for a type
    checker, which Settings' stored types are not (tests/test_api_types.py keeps its names equal to them)."""
    import inspect
    from dataclasses import fields

    import typer.main

    from loadgen.commands.capacity import SET_BY_THE_SEARCH
    from loadgen.commands.capacity import app as capacity_app
    from loadgen.commands.run import app as wrk_app
    from loadgen.commands.usage import usage_text
    from loadgen.options import declared

    settings = {field.name for field in fields(loadgen.Settings)}
    options = dict(declared(loadgen.Settings))
    assert set(options) == settings - {"url"}, "a Settings field declared without option()"
    elsewhere = []
    for path in _loadgen_modules():
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = class_fields(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = {arg.arg for arg in [*node.args.args, *node.args.kwonlyargs]}
            else:
                continue
            if (path.name, node.name) == ("run_options.py", "RunOptions"):
                continue
            if len(names & set(options)) >= 4:  # a request's parts share a few names; four are a second list
                elsewhere.append(f"{path.relative_to(ROOT)}:{node.name} {sorted(names & set(options))}")
    assert not elsewhere, f"the run's options listed again: {elsewhere}"
    assert settings <= set(inspect.signature(loadgen.run).parameters)
    assert settings <= set(inspect.signature(loadgen.run_async).parameters)
    wrk_flags = {name for param in typer.main.get_command(wrk_app).params for name in param.opts}
    capacity_flags = {name for param in typer.main.get_command(capacity_app).params for name in param.opts}
    usage = usage_text()
    for name, option in options.items():
        for flag in option.flags:
            assert set(flag.names[-1].split("/")[:1]) <= wrk_flags, (
                f"{name}: {flag.names} is not a flag of wrk's command"
            )
            assert name in SET_BY_THE_SEARCH or set(flag.names) <= capacity_flags, f"{name}: not a flag of capacity"
            assert flag.names[-1].split("/")[0] in usage, f"{name}: {flag.names} is not in the usage text"


def test_every_flag_of_a_command_that_runs_load_is_declared() -> None:
    """wrk's command and capacity write no flag by hand: each comes from an option() declaration
    (the run's Settings, or the command's own, as Output and capacity's Bounds)."""
    import typer.main

    from loadgen.commands.capacity import Bounds
    from loadgen.commands.capacity import app as capacity_app
    from loadgen.commands.run import Output
    from loadgen.commands.run import app as wrk_app
    from loadgen.options import declared

    for app, classes in ((wrk_app, (loadgen.Settings, Output)), (capacity_app, (loadgen.Settings, Bounds))):
        flags = [flag for cls in classes for _, option in declared(cls) for flag in option.flags]
        names = {name for flag in flags for name in (*flag.names[0].split("/"), *flag.names[1:], *flag.aliases)}
        names |= {f"{flag.names[-1]}-{value}" for flag in flags for value in flag.values}  # --http2-auto
        by_hand = [opt for param in typer.main.get_command(app).params for opt in param.opts if opt.startswith("-")]
        assert set(by_hand) - names <= {"-h", "--help"}, set(by_hand) - names


def test_server_matrix_uses_only_loadgen_public_api() -> None:
    """server_matrix imports ``loadgen`` itself and names only what ``loadgen.__all__`` offers;
    its cells hold Result objects, read without writing them out as JSON again."""
    private = []
    for path in _matrix_modules():
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("loadgen"):
                if node.module != "loadgen" or any(alias.name not in loadgen.__all__ for alias in node.names):
                    private.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                private += [f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("loadgen.")]
            elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "loadgen":
                private += [f"{path.name}: loadgen.{node.attr}"] if node.attr not in loadgen.__all__ else []
        if re.search(r"from_json\(json\.dumps", text):
            private.append(f"{path.name}: a Result read back through json.dumps")
    assert not private, private


# -- server_matrix ---------------------------------------------------------------------------------

MATRIX = ROOT / "server_matrix"
# The rooms in the order data flows through a run; a room may import only the rooms before it. The command
# (cli.py, __main__.py) sits above them all.
MATRIX_LAYERS = ("planning", "servers", "measuring", "statistics", "reporting")
MATRIX_TOP = {"__init__.py", "__main__.py", "cli.py"}
MAX_LINES = 400


def _matrix_modules() -> list[Path]:
    return sorted(MATRIX.rglob("*.py"))


def test_server_matrix_is_in_rooms_each_with_its_opening_docstring() -> None:
    rooms = sorted(path.name for path in MATRIX.iterdir() if path.is_dir() and path.name != "__pycache__")
    assert rooms == sorted(MATRIX_LAYERS)
    loose = sorted(path.name for path in MATRIX.glob("*.py"))
    assert set(loose) == MATRIX_TOP, f"modules outside the rooms: {set(loose) - MATRIX_TOP}"
    for room in MATRIX_LAYERS:
        opening = ast.get_docstring(ast.parse((MATRIX / room / "__init__.py").read_text()))
        assert opening and len(opening.split()) >= 20, f"server_matrix/{room}/__init__.py needs an opening docstring"
    undocumented = [
        str(p.relative_to(ROOT)) for p in _matrix_modules() if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not undocumented, f"modules without an opening docstring: {undocumented}"


def test_no_server_matrix_file_is_above_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in _matrix_modules() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_server_matrix_imports_run_with_the_phases() -> None:
    """A room imports only the rooms before it; no room imports the command."""
    graph = import_graph()
    against = []
    for module, imported in graph.items():
        parts = module.split(".")
        if parts[0] != "server_matrix" or len(parts) < 3:
            continue
        mine = MATRIX_LAYERS.index(parts[1])
        for target in imported:
            target_parts = target.split(".")
            if target_parts[0] != "server_matrix" or len(target_parts) < 2:
                continue
            room = target_parts[1]
            if room not in MATRIX_LAYERS or MATRIX_LAYERS.index(room) > mine:
                against.append(f"{module} -> {target}")
    assert "server_matrix.measuring.runner" in graph and graph["server_matrix.reporting.report"]  # really built
    assert not against, against


def test_a_runs_parameters_are_declared_once() -> None:
    """Parameters' fields are the only declaration: the options, the schema and the cell's record come from it."""
    import typer.main

    from server_matrix.cli import app
    from server_matrix.planning.parameters import KNOBS, Parameters
    from server_matrix.reporting.resultsfile import PARAMETERS

    declared_elsewhere = []
    for path in _matrix_modules():
        if path.name == "parameters.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = class_fields(node)
                twins = names & set(KNOBS)  # one shared word is a coincidence; two are a second list of them
                if len(twins) >= 2:
                    declared_elsewhere.append(f"{path.name}:{node.name} {sorted(twins)}")
    assert not declared_elsewhere, f"parameters declared outside planning/parameters.py: {declared_elsewhere}"
    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    options = {name for param in run.params for name in param.opts}
    flags = {knob.flag for knob in KNOBS.values() if knob.flag}
    assert flags <= options, f"parameters without their option: {flags - options}"
    cli_text = (MATRIX / "cli.py").read_text()
    assert not [flag for flag in flags if f'"{flag}' in cli_text], "cli.py spells out a parameter's option"
    assert set(PARAMETERS["properties"]) == set(KNOBS) == set(Parameters().to_json())
    measured = Parameters(timeout_s=1, client_threads=1, connections=1, workers=1, threads=1, server_timeout_s=1)
    assert set(measured.measured()) == {name for name, knob in KNOBS.items() if knob.measured}


def test_the_readme_layout_names_every_server_matrix_module() -> None:
    layout = (MATRIX / "README.md").read_text().split("## Code", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line.split("|")[1] for line in layout.splitlines() if line.startswith("| `"))
    named = set(re.findall(r"`([\w/]+\.py)`", rows))
    modules = {str(p.relative_to(MATRIX)) for p in _matrix_modules() if p.name != "__init__.py"}
    assert not modules - named, f"server_matrix/README.md's Code table does not name: {sorted(modules - named)}"
    assert not named - modules, f"it names modules that do not exist: {sorted(named - modules)}"
