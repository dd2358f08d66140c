"""The README against the command line: every flag of every command is documented, every flag the
README names exists, an error line it shows is the one loadgen prints, and the metrics it lists are
those loadgen serves and pushes."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer

import loadgen
from loadgen.commands import COMMANDS, WRK_COMMAND
from loadgen.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SHORT = re.compile(r"`(-[A-Za-z])[ ,`]")


def command_flags(module: str) -> set[str]:
    """Every flag a command shows, short and long, both sides of a ``--x/--no-x`` switch included
    (a hidden one, as ``--http2-auto``, is how ``--http2=auto`` is spelled inside)."""
    command = typer.main.get_command(importlib.import_module(module).app)
    shown = [param for param in command.params if not getattr(param, "hidden", False)]
    return {name for param in shown for name in (*param.opts, *param.secondary_opts) if name.startswith("-")}


def all_flags() -> set[str]:
    return set().union(*(command_flags(module) for module in (WRK_COMMAND, *(m for m, _ in COMMANDS.values()))))


def server_matrix_options() -> list[set[str]]:
    """The names of each option of each ``server-matrix`` command, short and long."""
    import server_matrix.cli

    group = typer.main.get_command(server_matrix.cli.app)
    return [
        {name for name in (*param.opts, *param.secondary_opts) if name.startswith("-")}
        for command in group.commands.values()
        for param in command.params
        if not getattr(param, "hidden", False)
    ]


def table_flags() -> set[str]:
    """The flags in the first cell of the README's option tables (rows that start with a flag)."""
    cells = re.findall(r"^\| (`-[^|]*)\|", README, re.M)
    return {flag for cell in cells for flag in (*FLAG.findall(cell), *SHORT.findall(cell))}


def loadgen_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``loadgen ARGS`` run in ``folder``, as the README's examples name their files."""
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args], capture_output=True, text=True, cwd=folder, timeout=60
    )


def test_every_flag_of_every_command_is_in_the_readme() -> None:
    documented = {*FLAG.findall(README), *SHORT.findall(README)}
    assert all_flags() - documented == set()


def test_every_flag_in_the_readme_option_tables_exists() -> None:
    assert table_flags(), "no option table found in README.md"
    assert table_flags() - all_flags() == set()


# The flags the README names of the tools it shows beside loadgen and server-matrix.
OTHER_TOOLS = {
    "-e": "pip install -e",
    "--dist": "pytest-xdist's --dist loadfile",
    "-N": "h2load's connection timeout",
    "-X": "python -X gil=0",
    "--check": "ruff format --check",
    "--disable-keepalive": "oha",
    "--enable-optimizations": "CPython's ./configure",
    "--with-lto": "CPython's ./configure",
    "--http": "granian --http 2",
    "--port": "python -m loadgen.testing.server, dask scheduler",
    "--nworkers": "dask worker",
    "--nthreads": "dask worker",
    "--resources": "dask worker",
    "--conn": "wrk's abbreviation of --connections (getopt_long), which loadgen takes",
    "--lat": "wrk's abbreviation of --latency",
    "--t": "wrk's ambiguous abbreviation (--threads, --timeout)",
}


def test_every_flag_the_readme_names_exists() -> None:
    """In its prose and examples too, not only the option tables: a flag is loadgen's, server-matrix's or
    one of the other tools' above (a flag renamed or dropped leaves no mention behind)."""
    named = {*FLAG.findall(README), *SHORT.findall(README)}
    assert named - all_flags() - set().union(*server_matrix_options()) - set(OTHER_TOOLS) == set()


def test_the_readme_metric_table_is_what_metrics_listen_serves() -> None:
    """The table under ``--metrics-listen`` names every metric the endpoint serves, and no other, each with the
    type it is served as: a second with each one in it (a rate asked, a worker, a worker that died)."""
    from loadgen.export.openmetrics import exposition
    from loadgen.live.second import LiveSecond, LiveWorker, LostWorker
    from loadgen.measurement import WorkerCpu

    table = re.search(r"^\| Metric \| Type \| Labels \|\n\|[-|]+\|\n((?:\|.*\n)+)", README, re.M)
    assert table, "README.md lost its table of metrics"
    documented: dict[str, str] = {}  # each name, and its type as the table says it
    for names, kinds in re.findall(r"^\| ([^|]*) \| ([^|]*) \|", table.group(1), re.M):
        named, typed = re.findall(r"`(loadgen_\w+)`", names), re.findall(r"\b(counter|gauge|histogram|info)\b", kinds)
        documented |= dict(zip(named, typed if len(typed) == len(named) else typed * len(named), strict=True))
    worker = LiveWorker(0, "here", WorkerCpu(cpu_s=0.1, wall_s=1.0), busy=0.1, requests_per_sec=100.0)
    live = replace(
        LiveSecond.before(loadgen.Settings(url="http://127.0.0.1:9/", rate=100.0)),
        second=0,
        elapsed_s=1.0,
        workers=(worker,),
        lost=(LostWorker(1, "here", seconds=1, requests=50),),
    )
    served = dict(re.findall(r"^# TYPE (\w+) (\w+)$", exposition(live, openmetrics=False), re.M))
    assert served == {name: "gauge" if kind == "info" else kind for name, kind in documented.items()}  # 0.0.4: no info
    assert "\n# TYPE loadgen_run info\n" in exposition(live)  # OpenMetrics has it


def test_the_readme_names_every_otlp_instrument() -> None:
    """``--otlp-endpoint``'s paragraph names each instrument loadgen creates, and only those and the
    resource's attributes."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from loadgen.export.otlp import OtlpExporter, resource_attributes

    created: list[str] = []

    class Meter:
        def create_observable_counter(self, name: str, *args: object) -> None:
            created.append(name)

        create_observable_gauge = create_observable_counter

    OtlpExporter("http://127.0.0.1:9/")._instruments(Meter())
    paragraph = README.split("**`--otlp-endpoint URL`**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(loadgen\.[\w.]*\w)`", paragraph))
    attributes = resource_attributes(loadgen.Settings(url="http://127.0.0.1:9/", rate=100.0, requests=10))
    assert created and set(created) - named == set()
    assert named - set(created) - set(attributes) == set()


def test_the_damaged_document_example_prints_its_line(tmp_path: Path) -> None:
    shown = re.search(r"^\$ loadgen report damaged\.json\n(.*)$", README, re.M)
    assert shown, "README.md lost its damaged.json example"
    document = json.loads((ROOT / "tests" / "documents" / "v2-closed.json").read_text())
    document["timeline"][0]["errors"] = None
    (tmp_path / "damaged.json").write_text(json.dumps(document))
    done = loadgen_in(tmp_path, "report", "damaged.json")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", shown.group(1) + "\n")


def test_the_targets_file_example_reads_and_its_typo_is_the_line_shown(tmp_path: Path) -> None:
    """The README's targets.txt reads as it says (a weight of 3, headers, a body from ``@order.json``),
    and with the typo of its error example (``Acept application/json``) the command says the line shown."""
    example = re.search(r"^```\n(# targets\.txt\n.*?)^```", README, re.M | re.S)  # its comment is line 1
    shown = re.search(r"^\$ loadgen --targets targets\.txt\n(.*)$", README, re.M)
    assert example and shown, "README.md lost its targets.txt example"
    (tmp_path / "order.json").write_text('{"item": 1}')
    (tmp_path / "targets.txt").write_text(example.group(1))
    targets = loadgen.read_targets(str(tmp_path / "targets.txt"))
    assert [(target.method, target.weight) for target in targets] == [("GET", 3), ("POST", 1), ("GET", 1)]
    assert targets[0].headers == (("Accept", "application/json"),) and targets[1].body == b'{"item": 1}'
    (tmp_path / "targets.txt").write_text(example.group(1).replace("Accept: application", "Acept application"))
    done = loadgen_in(tmp_path, "--targets", "targets.txt")
    assert (done.returncode, done.stderr) == (1, shown.group(1) + "\n")


def test_the_compare_refusals_print_their_lines(tmp_path: Path) -> None:
    """``loadgen compare main.json short.json --fail-above 10`` and the paced one: each example's line,
    exit 1 (main.json a closed-loop run of 3 seconds, short.json its first second, paced.json a -R run)."""
    shown = re.findall(r"^\$ loadgen compare (\S+) (\S+) --fail-above 10\n(loadgen compare: .*)$", README, re.M)
    assert len(shown) == 2, "README.md lost its compare refusals"
    closed = json.loads((ROOT / "tests" / "documents" / "v2-closed.json").read_text())
    (tmp_path / "main.json").write_text(json.dumps(closed))
    (tmp_path / "short.json").write_text(json.dumps({**closed, "timeline": closed["timeline"][:1]}))
    (tmp_path / "paced.json").write_text((ROOT / "tests" / "documents" / "v2-paced.json").read_text())
    with ThreadPoolExecutor(len(shown)) as pool:
        done = list(pool.map(lambda s: loadgen_in(tmp_path, "compare", s[0], s[1], "--fail-above", "10"), shown))
    assert [(d.returncode, d.stdout, d.stderr) for d in done] == [(1, "", line + "\n") for _, _, line in shown]


def test_the_exit_code_table_lists_every_exit_code() -> None:
    table = re.search(r"^\| Exit code \| When \|\n\|[-|]+\|\n((?:\|.*\n)+)", README, re.M)
    assert table, "README.md lost its exit-code table"
    assert [int(code) for code in re.findall(r"^\| (\d+) \|", table.group(1), re.M)] == sorted(ExitCode)


def test_capacity_does_not_offer_the_flags_its_steps_set() -> None:
    """A step runs at the search's constant rate: ``-R``, ``-n`` and the stages are not capacity's."""
    set_by_the_search = {"--rate", "--requests", "--stages", "--stages-connections"}
    assert set_by_the_search & command_flags(COMMANDS["capacity"][0]) == set()
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "capacity", "--slo", "p99<1s", "--stages", "1s:10", "http://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr.startswith("loadgen capacity: No such option: --stages")


def test_every_option_of_server_matrix_is_in_its_readme() -> None:
    """Each option of each ``server-matrix`` command, by one of its names (a switch on by
    default is documented by its ``--no-`` side)."""
    documented = set(FLAG.findall((ROOT / "server_matrix" / "README.md").read_text()))
    options = [{name for name in names if name.startswith("--")} for names in server_matrix_options()]
    assert [names for names in options if names and names != {"--help"} and not names & documented] == []


def test_every_command_takes_h_for_help() -> None:
    """``-h`` as well as ``--help``, as wrk's command line takes it: each named command and server-matrix's."""
    commands = [[sys.executable, "-m", "loadgen", name, "-h"] for name in COMMANDS]
    commands += [[sys.executable, "-m", "server_matrix", *names, "-h"] for names in ([], ["run"], ["compare"])]
    with ThreadPoolExecutor(len(commands)) as pool:  # at once: each prints its usage, nothing is timed
        answers = list(
            pool.map(lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=60), commands)
        )
    for command, done in zip(commands, answers, strict=True):
        assert done.returncode == 0 and "Usage:" in done.stdout and done.stderr == "", (command, done.stderr)
    capacity = answers[list(COMMANDS).index("capacity")].stdout
    assert "of each step [default: 5s]" in capacity, capacity  # the README's "-d (default 5s) each", as 5s not 5.0
    assert "[default: 1M]" in capacity and "[default: 5%]" in capacity, capacity  # --max and --precision as typed


def test_every_flag_a_cell_can_carry_is_in_server_matrixs_readme() -> None:
    """The report explains each flag from ``flags.MEANINGS``; its README's table must list each too."""
    from server_matrix.statistics import flags

    readme = (ROOT / "server_matrix" / "README.md").read_text()
    first_cells = re.findall(r"^  \| ([^|]+) \|", readme, re.M)  # the indented tables' first column
    rows = {name for cell in first_cells for name in re.findall(r"`([a-z-]+)`", cell)}
    assert [flag for flag in flags.MEANINGS if flag not in rows] == []


def test_the_python_api_calls_in_the_readme_name_real_arguments() -> None:
    """A call the README shows, as ``check_open_files(per_worker, ...)``, of a public callable names
    only arguments it takes (a user copying ``name=value`` would get a TypeError)."""
    import inspect

    import loadgen

    wrong = []
    for name, args in re.findall(r"`(?:loadgen\.)?([A-Za-z_]+)\(([^`()]*)\)", README):
        if name in loadgen.__all__ and callable(getattr(loadgen, name)):
            taken = inspect.signature(getattr(loadgen, name)).parameters
            named = (arg.split("=")[0].strip() for arg in args.split(","))
            wrong += [f"{name}({arg})" for arg in named if arg.isidentifier() and arg not in taken]
    assert wrong == []


def test_the_readme_gives_run_its_own_signature() -> None:
    """``run(url, *, threads=2, ...)`` in the README: every keyword, in order, with its default."""
    import ast
    import inspect

    import loadgen

    shown = re.search(r"`run\(url, \*, ([^`]*)\)` \(the", README)
    assert shown, "README.md lost run()'s signature"
    documented = [arg.split("=", 1) for arg in shown.group(1).replace("\n", " ").split(", ")]
    real = [(p.name, p.default) for p in inspect.signature(loadgen.run).parameters.values() if p.name != "url"]
    assert [(name, ast.literal_eval(default)) for name, default in documented] == real


def test_every_json_field_path_in_the_readme_is_in_the_schema() -> None:
    """``connections.peak_open``, ``runs[].warmup``, ...: each path the README names is a property of
    ``loadgen/result.schema.json`` (followed through its ``$ref``s and arrays)."""
    schema = json.loads((ROOT / "loadgen" / "result.schema.json").read_text())

    def resolved(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def step(node: Any, name: str) -> Any:
        node = resolved(node)
        return node.get("items") if name == "[]" else node.get("properties", {}).get(name)

    nested = [name for name, node in schema["properties"].items() if {"properties", "items"} & set(resolved(node))]
    paths = set(re.findall(rf"`((?:{'|'.join(nested)})(?:\[\])?(?:\.[a-z_0-9]+(?:\[\])?)+)`", README))
    assert paths, "no JSON field path found in README.md"
    missing = []
    for path in sorted(paths):
        node = schema
        for name in re.findall(r"\[\]|[a-z_0-9]+", path):
            node = step(node, name) if node is not None else None
        if node is None:
            missing.append(path)
    assert missing == []
